// Disconnect reasons, as the client sees them and as the server records them
// (`disconnect-reasons`), over each transport setup; ping timeouts with raw peers.
// The server's list only grows, so every test looks up its own socket ids.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  SETUPS,
  connect,
  makeManager,
  waitConnected,
  ask,
  once,
  closeAll,
  nextDisconnect,
  serverDisconnects,
  sleep,
} from "./helpers.mjs";
import { wsConnect, pollOpen, pollGet, pollPost, pollCollect, expectSessionClosed } from "./raw.mjs";

/** An observer of `/` that asks the server what it recorded. */
let observer;
before(async () => {
  observer = (await connect(SETUPS[1])).socket;
});
after(closeAll);

const reasonsOf = (entries) => Object.fromEntries(entries.map((e) => [e.id, { nsp: e.nsp, reason: e.reason }]));

for (const setup of SETUPS) {
  describe(`disconnect reasons [${setup.name}]`, () => {
    afterEach(async () => {
      assert.equal(observer.connected, true, "the observer was disconnected");
    });

    it("client disconnect(): `io client disconnect` here, `client namespace disconnect` there", async () => {
      const { socket } = await connect(setup);
      const id = socket.id;
      const reason = nextDisconnect(socket);
      socket.disconnect();
      assert.equal(await reason, "io client disconnect");
      assert.equal(socket.connected, false);
      const [entry] = await serverDisconnects(observer, [id]);
      assert.deepEqual(entry, { id, nsp: "/", reason: "client namespace disconnect" });
    });

    it("disconnecting one namespace of a multiplexed connection leaves the other up", async () => {
      const manager = makeManager(setup);
      const root = manager.socket("/");
      const admin = manager.socket("/admin", { auth: { role: "admin" } });
      await waitConnected(setup, root);
      await waitConnected(setup, admin);
      const adminId = admin.id;
      admin.disconnect();
      const [entry] = await serverDisconnects(observer, [adminId]);
      assert.deepEqual(entry, { id: adminId, nsp: "/admin", reason: "client namespace disconnect" });
      assert.equal(root.connected, true);
      assert.equal(await ask(root, "echo-ack", "root alive"), "root alive");
      root.disconnect();
    });

    it("server-disconnect: `io server disconnect` here, `server namespace disconnect` there", async () => {
      const { socket } = await connect(setup);
      const id = socket.id;
      const reason = nextDisconnect(socket);
      socket.emit("server-disconnect");
      assert.equal(await reason, "io server disconnect");
      const [entry] = await serverDisconnects(observer, [id]);
      assert.deepEqual(entry, { id, nsp: "/", reason: "server namespace disconnect" });
    });

    it("server-disconnect ends only that namespace: /admin on the same connection stays up", async () => {
      const manager = makeManager(setup);
      const root = manager.socket("/");
      const admin = manager.socket("/admin", { auth: { role: "admin" } });
      await waitConnected(setup, root);
      await waitConnected(setup, admin);
      const reason = nextDisconnect(root);
      root.emit("server-disconnect");
      assert.equal(await reason, "io server disconnect");
      assert.equal(admin.connected, true);
      assert.equal(await ask(admin, "whoami"), "admin");
      assert.equal(manager.engine.readyState, "open");
      admin.disconnect();
    });

    it("server-close: every namespace of the connection is disconnected and the transport closes", async () => {
      const manager = makeManager(setup);
      const root = manager.socket("/");
      const admin = manager.socket("/admin", { auth: { role: "admin" } });
      await waitConnected(setup, root);
      await waitConnected(setup, admin);
      const ids = [root.id, admin.id];
      const engine = manager.engine;
      const engineClosed = once(engine, "close");
      const rootReason = nextDisconnect(root);
      const adminReason = nextDisconnect(admin);
      root.emit("server-close");
      assert.equal(await rootReason, "io server disconnect");
      assert.equal(await adminReason, "io server disconnect");
      await engineClosed;
      const got = reasonsOf(await serverDisconnects(observer, ids));
      assert.deepEqual(got, {
        [ids[0]]: { nsp: "/", reason: "server namespace disconnect" },
        [ids[1]]: { nsp: "/admin", reason: "server namespace disconnect" },
      });
    });

    it("the client closes its transport: `forced close` here, `transport close` there", async () => {
      const { socket } = await connect(setup);
      const id = socket.id;
      const reason = nextDisconnect(socket);
      socket.io.engine.close();
      assert.equal(await reason, "forced close");
      const [entry] = await serverDisconnects(observer, [id]);
      assert.deepEqual(entry, { id, nsp: "/", reason: "transport close" });
    });

    it("disconnects are recorded in the order they happen", async () => {
      const a = (await connect(setup)).socket;
      const b = (await connect(setup)).socket;
      const ids = [a.id, b.id];
      a.disconnect();
      await serverDisconnects(observer, [ids[0]]);
      b.disconnect();
      const entries = await serverDisconnects(observer, ids);
      assert.deepEqual(
        entries.map((e) => e.id),
        ids,
      );
    });
  });
}

describe("disconnect reasons: raw peers", () => {
  it("a WebSocket peer that ignores pings: `ping timeout` within pingInterval + pingTimeout", async () => {
    const { ws, id } = await wsConnect();
    const started = Date.now();
    // read (and never answer) whatever comes: welcome, pings
    const pings = [];
    const reader = (async () => {
      for (let i = 0; i < 20; i++) {
        const m = await ws.next(3000).catch(() => null);
        if (m === null) return;
        if (m === "2") pings.push(Date.now() - started);
      }
    })();
    const { at } = await ws.waitClosed(4000, false);
    await reader;
    const elapsed = at - started;
    assert.ok(pings.length >= 1, "no ping was sent");
    // 400 ms interval + 800 ms timeout = 1200 ms; allow scheduling slack
    assert.ok(elapsed >= 1000, `closed too early: ${elapsed} ms`);
    assert.ok(elapsed < 3000, `closed too late: ${elapsed} ms`);
    const [entry] = await serverDisconnects(observer, [id]);
    assert.deepEqual(entry, { id, nsp: "/", reason: "ping timeout" });
  });

  it("a polling peer that stops polling: `ping timeout`, then the sid is unknown", async () => {
    // measured from before the handshake: the server's timer (400 + 800 ms) starts at the open
    // or at the last pong, never before; the handshake and CONNECT may be slow on a busy machine
    const started = Date.now();
    const { sid } = await pollOpen();
    assert.equal((await pollPost(sid, "40")).body, "ok");
    const ps = await pollCollect(sid, (g) => g.length >= 1);
    const id = JSON.parse(ps[0].slice(2)).sid;
    const entries = await serverDisconnects(observer, [id], { tries: 40, gapMs: 100 });
    const elapsed = Date.now() - started;
    assert.deepEqual(entries[0], { id, nsp: "/", reason: "ping timeout" });
    assert.ok(elapsed >= 900, `timed out too early: ${elapsed} ms`);
    await expectSessionClosed(sid);
  });

  it("a WebSocket peer that vanishes (TCP close without a close frame): `transport close`", async () => {
    const { ws, id } = await wsConnect();
    ws.terminate();
    const [entry] = await serverDisconnects(observer, [id]);
    assert.deepEqual(entry, { id, nsp: "/", reason: "transport close" });
  });

  it("overlapping GETs: `transport error`, with a description (Node's second argument); other reasons have none", async () => {
    const { sid } = await pollOpen();
    assert.equal((await pollPost(sid, "40")).body, "ok");
    const ps = await pollCollect(sid, (g) => g.length >= 2);
    const id = JSON.parse(ps[0].slice(2)).sid;
    const first = pollGet(sid);
    await sleep(100); // the first GET is parked
    assert.equal((await pollGet(sid)).status, 400);
    await first;
    const [entry] = await serverDisconnects(observer, [id]);
    assert.equal(entry.reason, "transport error");
    assert.equal(typeof entry.description, "string");
    assert.ok(entry.description.length > 0);
    // The other tests of this file compare whole entries: none of them has a description.
  });

  it("server-close over raw WebSocket: the DISCONNECT packet, then the server closes the socket", async () => {
    const { ws, id } = await wsConnect();
    assert.match(await ws.nextNonPing(), /^42\["welcome"/);
    ws.send('42["server-close"]');
    assert.equal(await ws.nextNonPing(), "41");
    await ws.waitClosed();
    const [entry] = await serverDisconnects(observer, [id]);
    assert.deepEqual(entry, { id, nsp: "/", reason: "server namespace disconnect" });
  });

  it("server-disconnect over raw polling: the DISCONNECT packet, the session stays open", async () => {
    const { sid } = await pollOpen();
    assert.equal((await pollPost(sid, "40")).body, "ok");
    const ps = await pollCollect(sid, (g) => g.length >= 2);
    const id = JSON.parse(ps[0].slice(2)).sid;
    assert.equal((await pollPost(sid, '42["server-disconnect"]')).body, "ok");
    assert.deepEqual(await pollCollect(sid, (g) => g.length >= 1), ["41"]);
    const [entry] = await serverDisconnects(observer, [id]);
    assert.deepEqual(entry, { id, nsp: "/", reason: "server namespace disconnect" });
    // the Engine.IO session is still there: a new CONNECT on it works
    assert.equal((await pollPost(sid, "40")).body, "ok");
    const again = await pollCollect(sid, (g) => g.length >= 2);
    assert.match(again[0], /^40\{"sid":"[^"]+"\}$/);
    assert.notEqual(JSON.parse(again[0].slice(2)).sid, id);
    assert.equal((await pollPost(sid, "1")).body, "ok"); // close it
  });
});
