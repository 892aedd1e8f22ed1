// Connection state recovery (Node's connectionStateRecovery), against the contract's recovery
// servers: `/recovery/` (skipMiddlewares true) and `/recovery-mw/` (skipMiddlewares false),
// both with maxDisconnectionDuration 3000 ms. A client whose connection drops comes back with
// its id, rooms and data, and gets the broadcasts it missed, in order, once, before its
// `connect` event. The network cut is a TCP proxy of the test's own that resets every
// connection through it (a load balancer restarting) and refuses new ones until released.
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { io } from "socket.io-client";
import {
  BASE,
  SETUPS,
  STEP_MS,
  ask,
  once,
  sleep,
  nonce,
  withTimeout,
  track,
  closeAll,
  isBinary,
  bytesOf,
} from "./helpers.mjs";

const RECOVERY = "/recovery/";
const RECOVERY_MW = "/recovery-mw/";
const WINDOW_MS = 3000;

const proxies = new Set();

/**
 * A TCP proxy to the server. cut() resets every connection through it at once, on both
 * sides, and refuses (resets) new ones until release().
 */
async function startProxy() {
  const target = new URL(BASE);
  const pairs = new Set();
  let holding = false;
  const server = net.createServer((client) => {
    if (holding) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on("error", end);
      s.on("close", end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy = {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      holding = true;
      const n = pairs.size;
      for (const { client, upstream } of pairs) {
        upstream.resetAndDestroy();
        client.resetAndDestroy();
      }
      pairs.clear();
      return n;
    },
    release() {
      holding = false;
    },
    close() {
      proxy.cut();
      server.close();
    },
  };
  proxies.add(proxy);
  return proxy;
}

function cleanup() {
  closeAll();
  for (const p of proxies) p.close();
  proxies.clear();
}

/** A client that reconnects on its own, quickly, as applications run it. */
function client(setup, { url = BASE, path = RECOVERY, nsp = "/", auth } = {}) {
  const socket = io(url + nsp, {
    forceNew: true,
    path,
    reconnectionDelay: 100,
    reconnectionDelayMax: 100,
    randomizationFactor: 0,
    timeout: STEP_MS,
    ...setup.opts,
    ...(auth !== undefined ? { auth } : {}),
  });
  return track(socket);
}

/**
 * Waits for the socket's (next) connect; for the upgrade setup, until it runs on WebSocket.
 * `retrying`: failed reconnection attempts (a `connect_error` each) are expected meanwhile.
 */
async function connected(setup, socket, { retrying = false } = {}) {
  if (!socket.connected) {
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        if (!retrying) socket.once("connect_error", reject);
      }),
      STEP_MS,
      `connect of the ${setup.name} client`,
    );
  }
  const engine = socket.io.engine;
  if (setup.name === "upgrade") {
    if (engine.transport.name !== "websocket") {
      await withTimeout(
        new Promise((resolve) => engine.once("upgrade", resolve)),
        STEP_MS,
        "upgrade to websocket",
      );
    }
  }
  const want = setup.name === "polling" ? "polling" : "websocket";
  assert.equal(engine.transport.name, want, "transport");
}

/** Every `event` the socket gets, each as its list of arguments. */
function record(socket, event) {
  const got = [];
  socket.on(event, (...args) => got.push(args));
  return got;
}

/** Resolves once `pred()` holds (checked every 20 ms), bounded. */
async function until(pred, what, ms = STEP_MS) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(20);
  }
}

/**
 * Waits until the server recorded the disconnect of socket `id` (so that it kept its session
 * before the client comes back); returns the reason it recorded.
 */
async function serverSaw(observer, id) {
  for (let i = 0; i < 100; i++) {
    const all = await ask(observer, "disconnect-reasons");
    const mine = all.find((e) => e.id === id);
    if (mine) return mine.reason;
    await sleep(50);
  }
  throw new Error(`the server recorded no disconnect of ${id}`);
}

/** A connected socket of the recovery server used to broadcast and observe. */
async function sender(path = RECOVERY) {
  const setup = SETUPS.find((s) => s.name === "websocket");
  const socket = client(setup, { path });
  await connected(setup, socket);
  return socket;
}

/** The offset (a string, the last argument) of a packet, checked. */
function offsetOf(args) {
  const last = args[args.length - 1];
  assert.equal(typeof last, "string", `the last argument is an offset: ${JSON.stringify(args)}`);
  return last;
}

for (const setup of SETUPS) {
  describe(`connection state recovery [${setup.name}]`, () => {
    afterEach(cleanup);

    it("after a network cut the client gets back its id, rooms and data, and every missed broadcast in order, once, before connect", async () => {
      const proxy = await startProxy();
      const b = await sender();
      const a = client(setup, { url: proxy.url });
      await connected(setup, a);
      assert.equal(a.recovered, false, "a first connection is not recovered");
      // socket.io-client keeps the pid of the CONNECT acknowledgement here.
      assert.equal(typeof a._pid, "string", "the CONNECT acknowledgement has a pid");
      const room = `r-${nonce()}`;
      const tag = nonce();
      assert.deepEqual(await ask(a, "join", room), [a.id, room].sort());
      await ask(a, "set-data", { tag });
      const news = record(a, "news");
      const all = record(a, "all");
      const bins = record(a, "bin");
      await ask(b, "to-room", room, "news", "before");
      await until(() => news.length === 1, "the first broadcast");
      assert.equal(news[0][0], "before");
      const firstOffset = offsetOf(news[0]);
      const oldId = a.id;

      const dropped = once(a, "disconnect");
      assert.ok(proxy.cut() > 0, "the proxy had connections to cut");
      const [reason] = await dropped;
      assert.match(reason, /^transport (close|error)$/);
      await serverSaw(b, oldId);

      // While it is away: 20 packets to its room, one with binary, one to another room, one
      // to everybody, one volatile to everybody.
      await ask(b, "burst", room, "news", 20);
      await ask(b, "to-room", room, "bin", Buffer.from([1, 2, 3]));
      await ask(b, "to-room", `other-${nonce()}`, "news", "not for a");
      await ask(b, "volatile-all", `volatile-${tag}`);
      await ask(b, "emit-all", `all-${tag}`);

      let atConnect = null;
      a.once("connect", () => {
        atConnect = { news: news.length, all: all.length, bins: bins.length };
      });
      proxy.release();
      await connected(setup, a, { retrying: true });
      assert.equal(a.recovered, true, "recovered");
      assert.equal(a.id, oldId, "the same id");
      // Every missed packet was handed over before the connect event.
      assert.deepEqual(atConnect, { news: 21, all: 1, bins: 1 });
      assert.deepEqual(
        news.slice(1).map((args) => args[0]),
        Array.from({ length: 20 }, (_, i) => i),
        "the missed packets, in order, once",
      );
      const offsets = [firstOffset, ...news.slice(1).map(offsetOf)];
      assert.equal(new Set(offsets).size, offsets.length, "each packet has its own offset");
      assert.ok(isBinary(bins[0][0]), "binary stays binary");
      assert.deepEqual([...bytesOf(bins[0][0])], [1, 2, 3]);
      offsetOf(bins[0]);
      assert.deepEqual(
        all.map((args) => args[0]),
        [`all-${tag}`],
        "the broadcast to everybody, not the volatile one",
      );
      assert.deepEqual(await ask(a, "state"), {
        id: oldId,
        recovered: true,
        rooms: [oldId, room].sort(),
        data: { tag },
      });

      // Live again, in its room, once.
      await ask(b, "to-room", room, "news", "after");
      await until(() => news.length === 22, "the broadcast after recovery");
      await ask(a, "state");
      assert.equal(news.length, 22);
      assert.equal(news[21][0], "after");
    });

    it("broadcasts that keep coming while the client is away and while it comes back arrive once each, in order", async () => {
      const proxy = await startProxy();
      const b = await sender();
      const a = client(setup, { url: proxy.url });
      await connected(setup, a);
      const room = `r-${nonce()}`;
      await ask(a, "join", room);
      const seq = record(a, "seq");
      const total = 80;
      // The stream runs on its own, one packet every 30 ms, through the cut and the return.
      const stream = (async () => {
        for (let i = 0; i < total; i++) {
          b.emit("to-room", room, "seq", i);
          await sleep(30);
        }
        await ask(b, "state"); // after the last one
      })();
      await until(() => seq.length >= 15, "the first packets");
      const oldId = a.id;
      const dropped = once(a, "disconnect");
      proxy.cut();
      await dropped;
      await serverSaw(b, oldId);
      proxy.release();
      await connected(setup, a, { retrying: true });
      assert.equal(a.recovered, true);
      assert.equal(a.id, oldId);
      await stream;
      await until(() => seq.length >= total, `${total} packets`, 2 * STEP_MS);
      await ask(a, "state");
      assert.deepEqual(
        seq.map((args) => args[0]),
        Array.from({ length: total }, (_, i) => i),
      );
    });

    it("after the client closes its own transport (io.engine.close()) it recovers its session and what it missed", async () => {
      const b = await sender();
      const a = client(setup);
      await connected(setup, a);
      const room = `r-${nonce()}`;
      await ask(a, "join", room);
      const news = record(a, "news");
      await ask(b, "to-room", room, "news", "before");
      await until(() => news.length === 1, "the first broadcast");
      const oldId = a.id;
      // Reconnected by hand below, once the server has seen the drop.
      a.io.reconnection(false);
      const dropped = once(a, "disconnect");
      a.io.engine.close();
      await dropped;
      await serverSaw(b, oldId);
      await ask(b, "burst", room, "news", 5);
      a.io.reconnection(true);
      a.connect();
      await connected(setup, a);
      assert.equal(a.recovered, true);
      assert.equal(a.id, oldId);
      assert.deepEqual(
        news.map((args) => args[0]),
        ["before", 0, 1, 2, 3, 4],
      );
      assert.deepEqual((await ask(a, "state")).rooms, [oldId, room].sort());
    });
  });
}

describe("connection state recovery: sessions", () => {
  afterEach(cleanup);
  const setup = SETUPS.find((s) => s.name === "websocket");

  /** Drops `a`'s transport, waits until the server saw it, runs `away`, reconnects. */
  async function dropAndReturn(a, observer, away = async () => {}) {
    const oldId = a.id;
    a.io.reconnection(false);
    const dropped = once(a, "disconnect");
    a.io.engine.close();
    await dropped;
    await serverSaw(observer, oldId);
    await away();
    a.io.reconnection(true);
    const back = new Promise((resolve) => {
      a.once("connect", () => resolve("connect"));
      a.once("connect_error", (err) => resolve(err));
    });
    a.connect();
    return withTimeout(back, STEP_MS, "reconnection");
  }

  it("emits that may be asked for again carry an offset (broadcasts, local, to one socket); volatile ones and those with an ack do not", async () => {
    const b = await sender();
    const a = client(setup);
    await connected(setup, a);
    const tag = nonce();
    const self = record(a, "self");
    const all = record(a, "all");
    const bc = record(a, "broadcast");
    const questions = [];
    a.on("question", (...args) => {
      questions.push(args);
      const ack = args[args.length - 1];
      if (typeof ack === "function") ack("answer");
    });
    await ask(a, "emit-self", `self-${tag}`);
    await ask(b, "emit-all", `all-${tag}`);
    await ask(b, "local-all", `local-${tag}`);
    await ask(b, "broadcast", `bc-${tag}`);
    // Sent once the client read everything before it, so that nothing makes it drop.
    await until(() => all.length === 2 && bc.length === 1, "the packets before the volatile one");
    await ask(b, "volatile-all", `volatile-${tag}`);
    assert.deepEqual(await ask(a, "ask-self", `q-${tag}`), { answer: "answer" });
    await ask(b, "ask-all", `qa-${tag}`);
    await until(() => all.length === 3 && questions.length === 2, "every packet");
    await ask(a, "state");
    assert.equal(self.length, 1);
    assert.equal(self[0].length, 2);
    assert.equal(self[0][0], `self-${tag}`);
    offsetOf(self[0]);
    assert.equal(bc.length, 1);
    assert.equal(bc[0][0], `bc-${tag}`);
    offsetOf(bc[0]);
    const byData = Object.fromEntries(all.map((args) => [args[0], args]));
    assert.equal(byData[`all-${tag}`].length, 2);
    offsetOf(byData[`all-${tag}`]);
    assert.equal(byData[`local-${tag}`].length, 2);
    offsetOf(byData[`local-${tag}`]);
    assert.deepEqual(byData[`volatile-${tag}`], [`volatile-${tag}`], "a volatile packet has no offset");
    for (const q of questions) {
      assert.equal(q.length, 2, `a packet with an ack has no offset: ${JSON.stringify(q)}`);
      assert.equal(typeof q[1], "function");
    }
    assert.deepEqual(
      questions.map((q) => q[0]),
      [`q-${tag}`, `qa-${tag}`],
    );
  });

  it("a client away longer than maxDisconnectionDuration gets a new session", async () => {
    const b = await sender();
    const a = client(setup);
    await connected(setup, a);
    const room = `r-${nonce()}`;
    await ask(a, "join", room);
    await ask(a, "set-data", { tag: nonce() });
    await ask(a, "emit-self", "an offset");
    const oldId = a.id;
    const back = await dropAndReturn(a, b, () => sleep(WINDOW_MS + 500));
    assert.equal(back, "connect");
    await connected(setup, a);
    assert.equal(a.recovered, false);
    assert.notEqual(a.id, oldId);
    assert.deepEqual(await ask(a, "state"), { id: a.id, recovered: false, rooms: [a.id], data: null });
  });

  it("a client that got no offset yet gets a new session", async () => {
    const b = await sender();
    const a = client(setup);
    await connected(setup, a);
    const oldId = a.id;
    assert.equal(await dropAndReturn(a, b), "connect");
    assert.equal(a.recovered, false);
    assert.notEqual(a.id, oldId);
  });

  it("leaving on purpose keeps nothing: the client's disconnect() and the server's", async () => {
    const b = await sender();
    const a = client(setup);
    await connected(setup, a);
    await ask(a, "emit-self", "an offset");
    const first = a.id;
    a.disconnect();
    await sleep(100);
    a.connect();
    await connected(setup, a);
    assert.equal(a.recovered, false, "after the client's disconnect()");
    assert.notEqual(a.id, first);
    await ask(a, "emit-self", "an offset");
    const second = a.id;
    const gone = once(a, "disconnect");
    a.emit("server-disconnect");
    assert.equal((await gone)[0], "io server disconnect");
    await serverSaw(b, second);
    a.connect();
    await connected(setup, a);
    assert.equal(a.recovered, false, "after the server's disconnect()");
    assert.notEqual(a.id, second);
  });

  it("a session stays for the whole window: leaving on purpose after a recovery, then coming back, recovers it again as it was kept (Node's in-memory adapter)", async () => {
    const b = await sender();
    const a = client(setup);
    await connected(setup, a);
    const kept = `kept-${nonce()}`;
    await ask(a, "join", kept);
    await ask(a, "set-data", { v: 1 });
    await ask(a, "emit-self", "an offset");
    const oldId = a.id;
    assert.equal(await dropAndReturn(a, b), "connect");
    assert.equal(a.recovered, true);
    const later = `later-${nonce()}`;
    await ask(a, "join", later);
    await ask(a, "set-data", { v: 2 });
    // Not a drop: no new session is kept, and the one kept at the drop is still there.
    a.disconnect();
    await sleep(100);
    a.connect();
    await connected(setup, a);
    assert.equal(a.recovered, true);
    assert.deepEqual(await ask(a, "state"), {
      id: oldId,
      recovered: true,
      rooms: [oldId, kept].sort(),
      data: { v: 1 },
    });
  });

  it("a client of a dynamic namespace, its only socket there, comes back to it", async () => {
    const b = await sender();
    const nsp = `/dyn-${Date.now()}${Math.floor(Math.random() * 1000)}`;
    const a = client(setup, { nsp });
    await connected(setup, a);
    const room = `r-${nonce()}`;
    await ask(a, "join", room);
    const self = record(a, "self");
    await ask(a, "emit-self", "an offset");
    const oldId = a.id;
    // Nobody else is in that namespace while the client is away.
    assert.equal(await dropAndReturn(a, b), "connect");
    assert.equal(a.recovered, true);
    assert.deepEqual(await ask(a, "state"), {
      id: oldId,
      recovered: true,
      rooms: [oldId, room].sort(),
      data: null,
    });
    assert.equal(self.length, 1);
  });

  it("skipMiddlewares true: a recovered client skips the middlewares; a new one meets them", async () => {
    const b = await sender();
    // The middleware refuses `deny: true`.
    const refused = client(setup, { auth: { deny: true } });
    const err = await withTimeout(
      new Promise((resolve) => refused.once("connect_error", resolve)),
      STEP_MS,
      "connect_error",
    );
    assert.equal(err.message, "denied");
    const a = client(setup, { auth: { deny: false } });
    await connected(setup, a);
    await ask(a, "emit-self", "an offset");
    const oldId = a.id;
    a.auth = { deny: true };
    assert.equal(await dropAndReturn(a, b), "connect");
    assert.equal(a.recovered, true);
    assert.equal(a.id, oldId);
  });

  it("skipMiddlewares false: the middlewares run for a recovered client too", async () => {
    const b = await sender(RECOVERY_MW);
    const a = client(setup, { path: RECOVERY_MW, auth: { deny: false } });
    await connected(setup, a);
    await ask(a, "emit-self", "an offset");
    const oldId = a.id;
    // They let it through: recovered.
    assert.equal(await dropAndReturn(a, b), "connect");
    assert.equal(a.recovered, true);
    assert.equal(a.id, oldId);
    await ask(a, "emit-self", "an offset");
    // They refuse it: not connected, although its session was there.
    a.auth = { deny: true };
    const back = await dropAndReturn(a, b);
    assert.ok(back instanceof Error, "refused");
    assert.equal(back.message, "denied");
  });
});
