// Engine.IO session behaviour that clients and proxies notice, each compared with Node's
// engine.io on the same raw requests (issue 16): heartbeat deadlines to the millisecond, a
// client's close while a poll waits, a second WebSocket for an upgraded session, polls during
// an upgrade, percent-encoded query values, and the WebSocket close handshake.
// The contract's timing: pingInterval 400 ms, pingTimeout 800 ms, upgradeTimeout 1000 ms.
import { describe, it, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { SETUPS, connect, ask, closeAll, sleep } from "./helpers.mjs";
import {
  eioUrl,
  http,
  pollOpen,
  pollGet,
  pollPost,
  packets,
  UNKNOWN_SID,
  RawWs,
  FrameWs,
} from "./raw.mjs";

const PING_INTERVAL = 400;
const PING_TIMEOUT = 800;
// How late a deadline may be seen by the client: the server's timer, the HTTP round trip and
// the test's own event loop. A heartbeat that acts on periodic wake-ups is late by up to its
// period (tens of milliseconds at these settings), so the median of many deadlines must be
// within MEDIAN_LATE_MS; any one may be later by the machine's load, but not beyond MAX_LATE_MS.
const MEDIAN_LATE_MS = 15;
const MAX_LATE_MS = 200;
// Sessions opened 37 ms apart: their deadlines fall at every phase of a periodic wake-up, and
// over a third of a second, so that one stall of a loaded machine delays only a few of them.
const STAGGER = Array.from({ length: 10 }, (_, i) => i * 37);
const BAD_REQUEST = JSON.stringify({ code: 3, message: "Bad request" });

after(closeAll);

/** After each case a fresh client still connects and echoes, over polling and WebSocket. */
async function assertHealthy() {
  for (const setup of [SETUPS[0], SETUPS[1]]) {
    const { socket } = await connect(setup);
    assert.equal(await ask(socket, "echo-ack", `fresh ${setup.name}`), `fresh ${setup.name}`);
    socket.disconnect();
  }
}

/** A polling handshake, with the times it was sent and answered. */
async function timedOpen() {
  const sent = Date.now();
  const { sid } = await pollOpen();
  return { sid, sent, answered: Date.now() };
}

/**
 * Asserts that deadlines came on time: each `at` at least `due` ms after `sent` (never
 * early), and the lateness after `answered` within the bounds above (the median, and each).
 */
function assertOnTime(what, samples) {
  const late = [];
  for (const { at, sent, answered, due } of samples) {
    assert.ok(at - sent >= due - 2, `${what} came early: ${at - sent} ms after the request (due at ${due})`);
    late.push(at - answered - due);
  }
  late.sort((a, b) => a - b);
  const median = late[Math.floor(late.length / 2)];
  const all = `lateness of each, in ms: ${late.join(", ")}`;
  assert.ok(median <= MEDIAN_LATE_MS, `${what}: median ${median} ms late; ${all}`);
  assert.ok(late[late.length - 1] <= MAX_LATE_MS, `${what}: one came ${late[late.length - 1]} ms late; ${all}`);
}

/**
 * Waits for the next ping (a GET waits for it) and answers it; resolves when the pong was
 * sent and when it was answered.
 */
async function pingPong(sid) {
  for (let i = 0; i < 5; i++) {
    const g = await pollGet(sid);
    assert.equal(g.status, 200);
    if (packets(g.body).includes("2")) {
      const sent = Date.now();
      assert.equal((await pollPost(sid, "3")).body, "ok");
      return { sent, answered: Date.now() };
    }
  }
  throw new Error("no ping");
}

describe("session: heartbeat deadlines", () => {
  afterEach(assertHealthy);

  it("polling: pings leave at pingInterval and a silent client is closed at pingInterval + pingTimeout", async () => {
    const runs = await Promise.all(
      STAGGER.map(async (delay) => {
        await sleep(delay);
        const open = await timedOpen();
        const ping = await pollGet(open.sid);
        const pingAt = Date.now();
        const close = await pollGet(open.sid); // no pong: it waits for the close
        const closeAt = Date.now();
        const after = await pollGet(open.sid);
        return { open, ping, pingAt, close, closeAt, after };
      }),
    );
    for (const { ping, close, after } of runs) {
      assert.deepEqual([ping.status, ping.body], [200, "2"]);
      assert.deepEqual([close.status, close.body], [200, "1"], "the waiting poll ends with a close");
      assert.deepEqual([after.status, after.body], [400, UNKNOWN_SID]);
    }
    assertOnTime(
      "pings",
      runs.map((r) => ({ at: r.pingAt, ...r.open, due: PING_INTERVAL })),
    );
    assertOnTime(
      "ping timeouts",
      runs.map((r) => ({ at: r.closeAt, ...r.open, due: PING_INTERVAL + PING_TIMEOUT })),
    );
  });

  it("polling: a session nobody polls is gone at pingInterval + pingTimeout, not before", async () => {
    const early = await timedOpen();
    const late = await timedOpen();
    const life = PING_INTERVAL + PING_TIMEOUT;
    await sleep(early.sent + life - 200 - Date.now());
    const before = await pollGet(early.sid);
    assert.deepEqual([before.status, before.body], [200, "2"], "alive before its deadline");
    await sleep(late.answered + life + 100 - Date.now());
    const gone = await pollGet(late.sid);
    assert.deepEqual([gone.status, gone.body], [400, UNKNOWN_SID], "gone after its deadline");
  });

  it("polling: after a pong the next ping leaves a pingInterval later", async () => {
    const { sid } = await pollOpen();
    // Joined to `/`, so that the connect timeout does not end it first.
    assert.equal((await pollPost(sid, "40")).body, "ok");
    const samples = [];
    for (let i = 0; i < 5; i++) {
      const pong = await pingPong(sid);
      const g = await pollGet(sid);
      assert.deepEqual([g.status, g.body], [200, "2"]);
      samples.push({ at: Date.now(), ...pong, due: PING_INTERVAL });
      assert.equal((await pollPost(sid, "3")).body, "ok");
    }
    assertOnTime("pings after a pong", samples);
    assert.equal((await pollPost(sid, "1")).body, "ok");
  });

  it("websocket: the ping at pingInterval, the close at pingInterval + pingTimeout", async () => {
    const runs = await Promise.all(
      STAGGER.map(async (delay) => {
        await sleep(delay);
        const sent = Date.now();
        const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket" }, { ws: true }));
        const first = await ws.next();
        const open = { sent, answered: Date.now() };
        const ping = await ws.next(2000);
        const pingAt = Date.now();
        const { at } = await ws.waitClosed(2000, false);
        return { first, open, ping, pingAt, closeAt: at };
      }),
    );
    for (const { first, ping } of runs) {
      assert.match(first, /^0\{/);
      assert.equal(ping, "2");
    }
    assertOnTime(
      "pings",
      runs.map((r) => ({ at: r.pingAt, ...r.open, due: PING_INTERVAL })),
    );
    assertOnTime(
      "ping timeouts",
      runs.map((r) => ({ at: r.closeAt, ...r.open, due: PING_INTERVAL + PING_TIMEOUT })),
    );
  });
});

describe("session: a client's close over polling while a poll waits", () => {
  afterEach(assertHealthy);

  it("the waiting GET is answered with a noop (6), then requests get 400", async () => {
    const { sid } = await pollOpen();
    const waiting = pollGet(sid);
    await sleep(100); // let the server park the GET
    const p = await pollPost(sid, "1");
    assert.deepEqual([p.status, p.body], [200, "ok"]);
    const g = await waiting;
    assert.deepEqual([g.status, g.body], [200, "6"], "Node sends `1` only when the server closes");
    const next = await pollGet(sid);
    assert.deepEqual([next.status, next.body], [400, UNKNOWN_SID]);
    const post = await pollPost(sid, '42["echo","late"]');
    assert.deepEqual([post.status, post.body], [400, UNKNOWN_SID]);
  });
});

/** Opens a WebSocket for `sid` and runs the probe; resolves the RawWs. */
async function probe(sid) {
  const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket", sid }, { ws: true }));
  await ws.opened;
  ws.send("2probe");
  assert.equal(await ws.next(), "3probe");
  return ws;
}

/** Resolves whether a WebSocket for `sid` opened, and how it closed. */
async function secondWebSocket(sid) {
  const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket", sid }, { ws: true }));
  const errors = [];
  ws.ws.on("error", (e) => errors.push(e.message));
  const opened = await ws.opened.then(
    () => true,
    (e) => `refused: ${e.status ?? ""} ${e.message}`,
  );
  const { code } = await ws.waitClosed();
  return { opened, code, errors, messages: ws.queue };
}

describe("session: a second WebSocket for a session", () => {
  afterEach(assertHealthy);

  it("after the upgrade: it opens (101) and is closed at once; the session is untouched", async () => {
    const { sid } = await pollOpen();
    await pingPong(sid);
    const ws = await probe(sid);
    try {
      ws.send("5");
      ws.send("40");
      assert.match(await ws.nextNonPing(), /^40\{/);
      assert.match(await ws.nextNonPing(), /^42\["welcome"/);
      const second = await secondWebSocket(sid);
      assert.equal(second.opened, true, "the handshake is completed, as Node does");
      assert.equal(second.code, 1005, "closed without a status code");
      assert.deepEqual(second.errors, [], "no error event on the client");
      assert.deepEqual(second.messages, [], "nothing of the session reached it");
      ws.send('42["echo","still the first"]');
      assert.equal(await ws.nextNonPing(), '42["echo","still the first"]');
    } finally {
      ws.terminate();
    }
  });

  it("during the upgrade: it opens and is closed at once; the first one still upgrades", async () => {
    const { sid } = await pollOpen();
    await pingPong(sid);
    const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket", sid }, { ws: true }));
    try {
      await ws.opened;
      const second = await secondWebSocket(sid);
      assert.equal(second.opened, true);
      assert.equal(second.code, 1005);
      assert.deepEqual(second.errors, []);
      ws.send("2probe");
      assert.equal(await ws.next(), "3probe");
      ws.send("5");
      ws.send("40");
      assert.match(await ws.nextNonPing(), /^40\{/);
    } finally {
      ws.terminate();
    }
  });
});

describe("session: polls during an upgrade", () => {
  afterEach(assertHealthy);

  it("after 2probe/3probe every GET ends at once with a noop, until 5", async () => {
    const { sid } = await pollOpen();
    // Right after a pong, so that the next ping is a pingInterval away.
    await pingPong(sid);
    const ws = await probe(sid);
    try {
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const g = await pollGet(sid);
        const took = Date.now() - started;
        assert.equal(g.status, 200);
        // Node's engine.io ends them on its 100 ms upgrade check; a held poll would wait for
        // the next ping (400 ms) or the end of the upgrade.
        assert.ok(took < 250, `GET ${i + 1} during the upgrade took ${took} ms (${JSON.stringify(g.body)})`);
        const ps = packets(g.body);
        assert.ok(ps.includes("6") || ps.includes("2"), `GET ${i + 1}: ${JSON.stringify(g.body)}`);
        if (ps.includes("2")) assert.equal((await pollPost(sid, "3")).body, "ok");
      }
      ws.send("5");
      await sleep(50);
      const g = await pollGet(sid);
      assert.deepEqual([g.status, g.body], [400, BAD_REQUEST], "polling is over after 5");
      ws.send("40");
      assert.match(await ws.nextNonPing(), /^40\{/);
    } finally {
      ws.terminate();
    }
  });
});

describe("session: percent-encoded query values", () => {
  afterEach(assertHealthy);

  const encodeAll = (s) => [...s].map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join("");

  it("EIO=%34 is version 4, transport=%70olling is polling, and an encoded sid is the sid", async () => {
    const r = await http(eioUrl({}).replace(/\?.*$/, "") + "?EIO=%34&transport=%70olling");
    assert.equal(r.status, 200);
    assert.match(r.body, /^0\{"sid":"/, "a v4 open packet (a v3 one has a length prefix)");
    const { sid } = JSON.parse(r.body.slice(1));
    const url = (extra) => eioUrl({}).replace(/\?.*$/, "") + `?EIO=4&transport=polling&sid=${encodeAll(sid)}${extra}`;
    const p = await http(url(""), { method: "POST", body: "40", headers: { "content-type": "text/plain" } });
    assert.deepEqual([p.status, p.body], [200, "ok"]);
    const g = await http(url(""));
    assert.equal(g.status, 200);
    assert.match(packets(g.body)[0], /^40\{"sid":/);
    assert.equal((await pollPost(sid, "1")).body, "ok");
  });
});

describe("session: the WebSocket close handshake", () => {
  afterEach(assertHealthy);

  const closeCode = (f) => (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null);

  it("a close frame whose reason is not UTF-8 is answered with 1007", async () => {
    const ws = await FrameWs.open("EIO=4&transport=websocket");
    try {
      assert.match((await ws.next()).payload.toString(), /^0\{/);
      ws.send(8, Buffer.from([0x03, 0xe8, 0xff, 0xfe]));
      assert.equal(closeCode(await ws.nextClose()), 1007);
    } finally {
      ws.destroy();
    }
  });

  it("the peer's close code and reason are echoed", async () => {
    for (const [code, reason] of [
      [4001, "bye"],
      [1000, ""],
      [1001, "going away"],
    ]) {
      const ws = await FrameWs.open("EIO=4&transport=websocket");
      try {
        await ws.next();
        const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
        payload.writeUInt16BE(code, 0);
        payload.write(reason, 2);
        ws.send(8, payload);
        const f = await ws.nextClose();
        assert.equal(closeCode(f), code);
        assert.equal(f.payload.subarray(2).toString(), reason);
      } finally {
        ws.destroy();
      }
    }
  });

  it("a close frame without a code is answered without one", async () => {
    const ws = await FrameWs.open("EIO=4&transport=websocket");
    try {
      await ws.next();
      ws.send(8, Buffer.alloc(0));
      assert.equal((await ws.nextClose()).payload.length, 0);
    } finally {
      ws.destroy();
    }
  });
});
