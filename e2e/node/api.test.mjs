// The rest of the server API, through socket.io-client 4.8 (see CONTRACT.md, namespace /api):
// catch-all listeners both ways, packet middlewares and their error, volatile / compress /
// local flags, broadcasts from a socket, socketsJoin / socketsLeave / disconnectSockets,
// fetching ids and sockets, socket data and extensions, leaving every room, `disconnecting`,
// broadcasts with acks, dynamic namespaces matched by an async function, `new_namespace`, the
// parent namespace of a dynamic family, and a second server with a custom path and transports.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  BASE,
  SETUPS,
  STEP_MS,
  connect,
  connectError,
  makeManager,
  makeSocket,
  waitConnected,
  ask,
  once,
  collect,
  closeAll,
  nonce,
  sleep,
  track,
  withTimeout,
  nextDisconnect,
  serverDisconnects,
} from "./helpers.mjs";
import { io } from "socket.io-client";
import { http, pollOpen, pollPost, pollCollect } from "./raw.mjs";

const api = (setup, opts = {}) => connect(setup, { nsp: "/api", ...opts }).then((r) => r.socket);

/** Proves `sockets` got nothing more: a round trip each, then a short grace period. */
async function settle(...sockets) {
  await Promise.all(sockets.map((s) => ask(s, "rooms")));
  await sleep(100);
}

/**
 * `ask(socket, ...args)` until its answer deep-equals `want` (at most 2 s): with E2E_REDIS=1,
 * Node's Redis adapter applies socketsJoin/socketsLeave to its own sockets only when its
 * message comes back from Redis, so their effect is not there yet when the ack is; otherwise
 * (the in-process adapters, and Sockeye's Redis one, which applies them here first) the
 * answer must be right at once.
 */
async function askUntil(want, socket, ...args) {
  const deadline = Date.now() + (process.env.E2E_REDIS === "1" ? 2000 : 0);
  for (;;) {
    const got = await ask(socket, ...args);
    let same = true;
    try {
      assert.deepEqual(got, want);
    } catch {
      same = false;
    }
    if (same || Date.now() >= deadline) return got;
    await sleep(20);
  }
}

/** Whether `promise` rejects (within `ms`): an ack that never comes. */
async function neverAnswered(socket, event, ms = 400) {
  try {
    await socket.timeout(ms).emitWithAck(event);
    return false;
  } catch {
    return true;
  }
}

/** An observer of `/` for the server's disconnect records. */
let observer;
before(async () => {
  observer = (await connect(SETUPS[1])).socket;
});
after(closeAll);

for (const setup of SETUPS) {
  describe(`api [${setup.name}]`, () => {
    afterEach(() => {
      for (const s of [observer]) assert.equal(s.connected, true, "the observer was disconnected");
    });

    it("onAny sees every event first (prependAny before onAny), and offAny removes one", async () => {
      const s = await api(setup);
      s.emit("unhandled-1", 1);
      assert.deepEqual(await ask(s, "log"), ["first:unhandled-1", "any:unhandled-1", "first:log", "any:log"]);
      assert.equal(await ask(s, "off-any"), true);
      s.emit("unhandled-2");
      const log = await ask(s, "log");
      assert.deepEqual(log.slice(4), ["first:off-any", "any:off-any", "first:unhandled-2", "first:log"]);
    });

    it("a packet middleware's refusal: no handler, no ack, the error reaches the socket's error listener", async () => {
      const s = await api(setup);
      const errors = collect(s, "use-error");
      assert.equal(await neverAnswered(s, "forbidden"), true, "the refused event was answered");
      await errors.seen((m) => m === "not allowed");
      // The catch-all listeners saw it (they run before the middlewares), and the error
      // listener's emit went out.
      const log = await ask(s, "log");
      assert.ok(log.includes("any:forbidden"), JSON.stringify(log));
      assert.ok(log.includes("out:use-error"), JSON.stringify(log));
      assert.equal(errors.got.length, 1);
    });

    it("an async packet middleware delays the event, then its handler answers", async () => {
      const s = await api(setup);
      const started = Date.now();
      assert.equal(await ask(s, "slow"), "slow ran");
      assert.ok(Date.now() - started >= 40, `answered after ${Date.now() - started} ms`);
    });

    it("onAnyOutgoing sees the socket's own emits and the broadcasts that reach it, not acks", async () => {
      const s = await api(setup);
      const n = nonce();
      const self = once(s, "self");
      const viaRoom = once(s, "via-room");
      s.emit("emit-self", n);
      assert.deepEqual(await self, [n]);
      assert.deepEqual(await viaRoom, [n]);
      const out = (await ask(s, "log")).filter((e) => e.startsWith("out:"));
      assert.deepEqual(out, ["out:self", "out:via-room"]);
    });

    it("socket.to and socket.except leave the sender out", async () => {
      const [a, b, c] = [await api(setup), await api(setup), await api(setup)];
      const room = `r-${nonce()}`;
      await ask(a, "join", room);
      await ask(b, "join", room);
      const to = [a, b, c].map((x) => collect(x, "socket-to"));
      const n = nonce();
      a.emit("socket-to", room, n);
      await to[1].seen((d) => d === n);
      await settle(a, b, c);
      assert.equal(to[0].has((d) => d === n), false, "the sender (a member) got socket.to");
      assert.equal(to[2].has((d) => d === n), false, "a non-member got socket.to");
      const ex = [a, b, c].map((x) => collect(x, "socket-except"));
      const m = nonce();
      a.emit("socket-except", room, m);
      await ex[2].seen((d) => d === m);
      await settle(a, b, c);
      assert.equal(ex[0].has((d) => d === m), false, "the sender got socket.except");
      assert.equal(ex[1].has((d) => d === m), false, "a member of the excepted room got it");
    });

    it("socketsJoin and socketsLeave move the sockets of a room; fetch-ids follows", async () => {
      const [a, b, c] = [await api(setup), await api(setup), await api(setup)];
      const r1 = `r1-${nonce()}`;
      const r2 = `r2-${nonce()}`;
      await ask(a, "join", r1);
      await ask(b, "join", r1);
      assert.equal(await ask(c, "sockets-join", r1, r2), true);
      assert.deepEqual(await askUntil([a.id, r1, r2].sort(), a, "rooms"), [a.id, r1, r2].sort());
      assert.deepEqual(await ask(b, "rooms"), [b.id, r1, r2].sort());
      assert.deepEqual(await ask(c, "rooms"), [c.id]);
      assert.deepEqual(await ask(c, "fetch-ids", r2), [a.id, b.id].sort());
      assert.equal(await ask(c, "sockets-leave", r1, r2), true);
      assert.deepEqual(await askUntil([a.id, r1].sort(), a, "rooms"), [a.id, r1].sort());
      assert.deepEqual(await ask(c, "fetch-ids", r2), []);
      assert.deepEqual(await ask(c, "fetch-ids", a.id), [a.id]);
    });

    it("socket data: {} until set; fetchSockets gives each socket's id, rooms, data and auth; a fetched socket can be emitted to", async () => {
      const a = await api(setup, { auth: { who: "a" } });
      const b = await api(setup);
      const room = `r-${nonce()}`;
      await ask(a, "join", room);
      await ask(b, "join", room);
      assert.deepEqual(await ask(a, "get-data"), {});
      assert.equal(await ask(a, "set-data", { user: "ada", n: [1, 2] }), true);
      assert.deepEqual(await ask(a, "get-data"), { user: "ada", n: [1, 2] });
      const found = await ask(b, "fetch-sockets", room);
      const want = [
        { id: a.id, rooms: [a.id, room].sort(), data: { user: "ada", n: [1, 2] }, auth: { who: "a" } },
        { id: b.id, rooms: [b.id, room].sort(), data: {}, auth: {} },
      ].sort((x, y) => (x.id < y.id ? -1 : 1));
      assert.deepEqual(found, want);
      const got = [a, b].map((x) => collect(x, "remote"));
      const n = nonce();
      b.emit("remote-emit", room, "remote", n);
      for (const g of got) await g.seen((d) => d === n);
    });

    it("socket extensions: null until set, then the value", async () => {
      const s = await api(setup);
      assert.equal(await ask(s, "get-ext"), null);
      assert.equal(await ask(s, "set-ext", { k: "v" }), true);
      assert.deepEqual(await ask(s, "get-ext"), { k: "v" });
    });

    it("leave-all leaves every room but the socket's own", async () => {
      const s = await api(setup);
      await ask(s, "join", `a-${nonce()}`);
      await ask(s, "join", `b-${nonce()}`);
      assert.equal((await ask(s, "rooms")).length, 3);
      assert.deepEqual(await ask(s, "leave-all"), [s.id]);
    });

    it("`disconnecting` runs while the socket is still in its rooms", async () => {
      const s = await api(setup);
      const probe = await api(setup);
      const room = `r-${nonce()}`;
      await ask(s, "join", room);
      const id = s.id;
      s.disconnect();
      await serverDisconnects(observer, [id]);
      const log = await ask(probe, "disconnecting-log");
      const mine = log.filter((e) => e.id === id);
      assert.deepEqual(mine, [{ id, reason: "client namespace disconnect", rooms: [id, room].sort() }]);
    });

    it("disconnectSockets: without close, the namespace only; with close, the whole connection", async () => {
      const m1 = makeManager(setup);
      const root1 = m1.socket("/");
      const api1 = m1.socket("/api");
      await waitConnected(setup, root1);
      await waitConnected(setup, api1);
      const driver = await api(setup);
      const r1 = `r1-${nonce()}`;
      await ask(api1, "join", r1);
      const reason1 = nextDisconnect(api1);
      driver.emit("disconnect-sockets", r1, false);
      assert.equal(await reason1, "io server disconnect");
      assert.equal(root1.connected, true, "the other namespace of the connection went down");
      assert.equal(await ask(root1, "echo-ack", "still here"), "still here");

      const m2 = makeManager(setup);
      const root2 = m2.socket("/");
      const api2 = m2.socket("/api");
      await waitConnected(setup, root2);
      await waitConnected(setup, api2);
      const r2 = `r2-${nonce()}`;
      await ask(api2, "join", r2);
      const ids = [root2.id, api2.id];
      const engineClosed = once(m2.engine, "close");
      const reasons = [nextDisconnect(root2), nextDisconnect(api2)];
      driver.emit("disconnect-sockets", r2, true);
      assert.deepEqual(await Promise.all(reasons), ["io server disconnect", "io server disconnect"]);
      await engineClosed;
      const entries = await serverDisconnects(observer, ids);
      assert.deepEqual(entries.map((e) => e.reason).sort(), ["server namespace disconnect", "server namespace disconnect"]);
      assert.equal(driver.connected, true);
    });

    it("a broadcast with acks to a room: each answer, and the timeout when one member stays silent", async () => {
      const members = [await api(setup), await api(setup), await api(setup)];
      const asker = await api(setup);
      const room = `r-${nonce()}`;
      for (const m of members) await ask(m, "join", room);
      for (const m of members.slice(0, 2)) m.on("question", (q, cb) => cb(m.id));
      const started = Date.now();
      const partial = await ask(asker, "ask-room", room, 500);
      assert.ok(Date.now() - started >= 450, `answered after ${Date.now() - started} ms`);
      assert.deepEqual(partial, { timedOut: true, responses: [members[0].id, members[1].id].sort() });
      members[2].on("question", (q, cb) => cb(members[2].id));
      const all = await ask(asker, "ask-room", room, 2000);
      assert.deepEqual(all, { timedOut: false, responses: members.map((m) => m.id).sort() });
    });

    it("compress(false) and local: the packets arrive as usual", async () => {
      const a = await api(setup);
      const b = await api(setup);
      const n = nonce();
      const compressed = once(a, "compressed");
      a.emit("compress-off", n);
      assert.deepEqual(await compressed, [n]);
      const locals = [a, b].map((x) => collect(x, "local"));
      a.emit("local-all", n);
      for (const l of locals) await l.seen((d) => d === n);
    });

    it("a function-matched dynamic namespace: created for the client whose auth names it", async () => {
      const tenant = nonce();
      const refused = await connectError(setup, { nsp: `/tenant-${tenant}`, auth: { tenant: "someone-else" } });
      assert.equal(refused.message, "Invalid namespace");
      const s = (await connect(setup, { nsp: `/tenant-${tenant}`, auth: { tenant } })).socket;
      assert.equal(await ask(s, "name"), `/tenant-${tenant}`);
    });

    it("new_namespace: a dynamic namespace is announced once when it is created", async () => {
      const name = `/dyn-${Date.now()}${Math.floor(Math.random() * 1000)}`;
      const first = (await connect(setup, { nsp: name })).socket;
      const second = (await connect(setup, { nsp: name })).socket;
      assert.equal(await ask(second, "name"), name);
      const probe = await api(setup);
      const names = await ask(probe, "new-namespaces");
      assert.equal(names.filter((x) => x === name).length, 1, JSON.stringify(names));
      assert.ok(names.includes("/admin") && names.includes("/api"), JSON.stringify(names));
      assert.equal(first.connected, true);
    });

    it("the parent namespace of a dynamic family reaches every child, and its rooms", async () => {
      const base = Date.now();
      const x = (await connect(setup, { nsp: `/dyn-${base}1` })).socket;
      const y = (await connect(setup, { nsp: `/dyn-${base}2` })).socket;
      const root = (await connect(setup)).socket;
      const driver = await api(setup);
      const room = `r-${nonce()}`;
      assert.equal(await ask(x, "join", room), true);
      const parent = [x, y, root, driver].map((s) => collect(s, "parent"));
      const n = nonce();
      driver.emit("parent-emit", n);
      await parent[0].seen((d) => d === n);
      await parent[1].seen((d) => d === n);
      await settle(driver);
      await ask(root, "echo-ack", "barrier");
      assert.equal(parent[2].has((d) => d === n), false, "a socket of / got the parent's emit");
      assert.equal(parent[3].has((d) => d === n), false, "a socket of /api got the parent's emit");
      const to = [x, y].map((s) => collect(s, "parent-to"));
      const m = nonce();
      driver.emit("parent-to", room, m);
      await to[0].seen((d) => d === m);
      await ask(y, "name");
      await sleep(100);
      assert.equal(to[1].has((d) => d === m), false, "a child socket outside the room got it");
    });
  });
}

describe("api: volatile", () => {
  afterEach(closeAll);

  /** A raw polling client of /api: its id, and nothing parked on the server. */
  async function rawApi() {
    const { sid } = await pollOpen();
    assert.equal((await pollPost(sid, "40/api,")).body, "ok");
    const ps = await pollCollect(sid, (g) => g.some((p) => p.startsWith("40/api,")));
    const id = JSON.parse(ps.find((p) => p.startsWith("40/api,")).slice("40/api,".length)).sid;
    return { sid, id };
  }

  const seqOf = (ps, n) =>
    ps
      .filter((p) => p.startsWith('42/api,["seq"'))
      .map((p) => JSON.parse(p.slice("42/api,".length)))
      .filter(([, tag]) => tag === n)
      .map(([, , k]) => k);

  it("a volatile broadcast is dropped for a client that has not read the previous packet", async () => {
    const raw = await rawApi();
    const driver = await api(SETUPS[1]);
    const n = nonce();
    // Acked once the three emits are done (with a Redis adapter an emit waits for the
    // publish, and an event sent after this one could be handled in between).
    assert.equal(await ask(driver, "volatile-seq", raw.id, n), true);
    const ps = await pollCollect(raw.sid, (g) => seqOf(g, n).includes(3));
    assert.deepEqual(seqOf(ps, n), [1, 3]);
    assert.equal((await pollPost(raw.sid, "1")).body, "ok");
  });

  it("a volatile emit on the socket is dropped the same way", async () => {
    const raw = await rawApi();
    const n = nonce();
    assert.equal((await pollPost(raw.sid, `42/api,["volatile-self-seq","${n}"]`)).body, "ok");
    const ps = await pollCollect(raw.sid, (g) => seqOf(g, n).includes(3));
    assert.deepEqual(seqOf(ps, n), [1, 3]);
    assert.equal((await pollPost(raw.sid, "1")).body, "ok");
  });

  it("a volatile emit to an idle WebSocket client arrives", async () => {
    const s = await api(SETUPS[1]);
    const n = nonce();
    const vol = once(s, "vol");
    s.emit("volatile-one", n);
    assert.deepEqual(await vol, [n]);
  });
});

describe("api: a second server with path /custom-io/ and WebSocket only", () => {
  afterEach(closeAll);

  it("a WebSocket client on the custom path reaches the second server", async () => {
    const s = track(io(BASE, { path: "/custom-io/", transports: ["websocket"], forceNew: true, reconnection: false }));
    await withTimeout(once(s, "connect"), STEP_MS, "connect on /custom-io/");
    assert.equal(await ask(s, "where"), "custom");
    assert.equal(s.io.engine.transport.name, "websocket");
  });

  it("polling is refused there (Transport unknown), and the main path has no `where`", async () => {
    const r = await http(`${BASE}/custom-io/?EIO=4&transport=polling`);
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { code: 0, message: "Transport unknown" });
    const polling = makeSocket(SETUPS[0], { path: "/custom-io/" });
    const err = await withTimeout(once(polling, "connect_error"), STEP_MS, "connect_error on polling");
    assert.ok(err[0] instanceof Error);
    const main = (await connect(SETUPS[1])).socket;
    assert.equal(await neverAnswered(main, "where"), true);
  });
});
