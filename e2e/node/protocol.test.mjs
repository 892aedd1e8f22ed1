// Engine.IO / Socket.IO wire-level behaviour through raw HTTP (fetch) and raw WebSocket (ws):
// handshake errors, the open packet, session errors, hostile packets, limits and CORS. Status
// codes and bodies are the ones Node's engine.io gives. After every case a fresh client must
// still connect and echo, and a bystander client connected from the start must stay up.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { SETUPS, connect, ask, closeAll, sleep, STEP_MS } from "./helpers.mjs";
import {
  eioUrl,
  http,
  pollOpen,
  pollGet,
  pollPost,
  packets,
  pollCollect,
  expectSessionClosed,
  UNKNOWN_SID,
  RawWs,
  wsOpen,
  wsConnect,
  SEP,
} from "./raw.mjs";

const MAX = 100000; // maxHttpBufferSize of the contract
const json = (code, message) => JSON.stringify({ code, message });
const BAD_REQUEST = json(3, "Bad request");
// Where Sockeye differs from Node on purpose, a test asserts each server's own answer.
const SOCKEYE = process.env.E2E_TARGET === "sockeye";

let bystander;
before(async () => {
  // Not tracked by closeAll(): it must live through every test of this file.
  bystander = await connectUntracked();
});
after(() => {
  bystander?.disconnect();
  closeAll();
});

async function connectUntracked() {
  const { io } = await import("socket.io-client");
  const { BASE } = await import("./helpers.mjs");
  const s = io(BASE, { forceNew: true, reconnection: false, transports: ["websocket"] });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("bystander did not connect")), STEP_MS);
    s.once("connect", () => (clearTimeout(t), resolve()));
    s.once("connect_error", (e) => (clearTimeout(t), reject(e)));
  });
  return s;
}

/** After each hostile case: the bystander is up and fresh clients still work. */
async function assertHealthy() {
  assert.equal(bystander.connected, true, "the bystander client was disconnected");
  assert.equal(await ask(bystander, "echo-ack", "bystander"), "bystander");
  for (const setup of [SETUPS[0], SETUPS[1]]) {
    const { socket } = await connect(setup);
    assert.equal(await ask(socket, "echo-ack", `fresh ${setup.name}`), `fresh ${setup.name}`);
    socket.disconnect();
  }
}

/**
 * A polling session connected to `/`: CONNECT sent, its answer and the welcome event read.
 * Resolves { sid, id }.
 */
async function pollConnect() {
  const { sid } = await pollOpen();
  assert.equal((await pollPost(sid, "40")).body, "ok");
  const ps = await pollCollect(sid, (got) => got.length >= 2);
  assert.match(ps[0], /^40\{"sid":"[^"]+"\}$/);
  const id = JSON.parse(ps[0].slice(2)).sid;
  assert.deepEqual(JSON.parse(ps[1].slice(2)), ["welcome", { id, auth: {}, foo: null }]);
  assert.equal(ps.length, 2);
  return { sid, id };
}

describe("protocol: handshake errors", () => {
  afterEach(assertHealthy);

  // The EIO version check (EIO=3, EIO=5, a missing EIO) is in legacy/protocol-v3.test.mjs:
  // with the contract's allowEIO3 on, Node serves every EIO other than 4 as Engine.IO v3.

  it("an unknown transport is refused: 400 code 0", async () => {
    const r = await http(eioUrl({ EIO: "4", transport: "carrier-pigeon" }));
    assert.equal(r.status, 400);
    assert.equal(r.body, json(0, "Transport unknown"));
  });

  it("a missing transport is refused: 400 code 0", async () => {
    const r = await http(eioUrl({ EIO: "4" }));
    assert.equal(r.status, 400);
    assert.equal(r.body, json(0, "Transport unknown"));
  });

  it("transport=websocket over a plain GET (no upgrade) is refused: 400 code 3", async () => {
    const r = await http(eioUrl({ EIO: "4", transport: "websocket" }));
    assert.equal(r.status, 400);
    assert.equal(r.body, json(3, "Bad request"));
  });

  it("a POST without sid is refused: 400 code 2", async () => {
    const r = await http(eioUrl({ EIO: "4", transport: "polling" }), { method: "POST", body: "40" });
    assert.equal(r.status, 400);
    assert.equal(r.body, json(2, "Bad handshake method"));
  });

  it("an unknown sid is refused: 400 code 1 (GET and POST)", async () => {
    const g = await pollGet("no-such-sid");
    assert.equal(g.status, 400);
    assert.equal(g.body, UNKNOWN_SID);
    const p = await pollPost("no-such-sid", "40");
    assert.equal(p.status, 400);
    assert.equal(p.body, UNKNOWN_SID);
  });

  it("refuse=1 is refused by allowRequest: 403 code 4", async () => {
    const r = await http(eioUrl({ EIO: "4", transport: "polling", refuse: "1" }));
    assert.equal(r.status, 403);
    assert.equal(r.body, json(4, "Forbidden"));
    assert.match(r.headers.get("content-type"), /^application\/json/);
  });

  it("refuse=1 on a WebSocket handshake: the upgrade is refused with an HTTP error", async () => {
    const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket", refuse: "1" }, { ws: true }));
    const err = await ws.opened.then(
      () => null,
      (e) => e,
    );
    assert.ok(err, "the WebSocket opened");
    // Node answers the refused upgrade with "400 Bad Request" and the message as text.
    assert.equal(err.status, 400);
    assert.equal(err.body, "Forbidden");
  });
});

describe("protocol: the open packet", () => {
  afterEach(assertHealthy);

  it("over polling: exactly sid, upgrades [websocket], pingInterval, pingTimeout, maxPayload", async () => {
    const { open, res } = await pollOpen();
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/plain/);
    assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.equal(typeof open.sid, "string");
    assert.ok(open.sid.length > 0);
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.pingInterval, 400);
    assert.equal(open.pingTimeout, 800);
    assert.equal(open.maxPayload, MAX);
    assert.equal(packets(res.body).length, 1, "the handshake answer holds the open packet only");
  });

  it("over WebSocket: the same keys with upgrades []", async () => {
    const { ws, open } = await wsOpen();
    try {
      assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
      assert.deepEqual(open.upgrades, []);
      assert.equal(open.pingInterval, 400);
      assert.equal(open.pingTimeout, 800);
      assert.equal(open.maxPayload, MAX);
    } finally {
      ws.terminate();
    }
  });

  it("every handshake gets a new sid", async () => {
    const a = await pollOpen();
    const b = await pollOpen();
    assert.notEqual(a.sid, b.sid);
  });
});

describe("protocol: polling sessions", () => {
  afterEach(assertHealthy);

  it("a POST is answered 200 `ok`, and the CONNECT answer and welcome come on the next GET", async () => {
    const { sid } = await pollOpen();
    const p = await pollPost(sid, "40");
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    const ps = await pollCollect(sid, (got) => got.length >= 2);
    assert.match(ps[0], /^40\{"sid":"[^"]+"\}$/);
    const id = JSON.parse(ps[0].slice(2)).sid;
    assert.notEqual(id, sid, "the Socket.IO id differs from the Engine.IO sid");
    assert.deepEqual(JSON.parse(ps[1].slice(2)), ["welcome", { id, auth: {}, foo: null }]);
  });

  it("several packets in one POST are all processed, in order", async () => {
    const { sid } = await pollConnect();
    const p = await pollPost(sid, ['42["echo",1]', '42["echo",2]', '421["echo-ack","x"]'].join(SEP));
    assert.equal(p.body, "ok");
    const got = await pollCollect(sid, (g) => g.length >= 3);
    assert.deepEqual(got, ['42["echo",1]', '42["echo",2]', '431["x"]']);
  });

  it("a POST of exactly maxHttpBufferSize bytes is accepted", async () => {
    const { sid } = await pollConnect();
    const head = '42["echo","';
    const tail = '"]';
    const body = head + "x".repeat(MAX - head.length - tail.length) + tail;
    assert.equal(Buffer.byteLength(body), MAX);
    const p = await pollPost(sid, body);
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    assert.deepEqual(await pollCollect(sid, (g) => g.length >= 1), [body]);
  });

  it("a POST over maxHttpBufferSize is answered 413 (Node keeps the session)", async () => {
    const { sid } = await pollConnect();
    const body = '42["echo","' + "x".repeat(MAX) + '"]';
    const p = await pollPost(sid, body).catch((e) => ({ status: "error", body: String(e) }));
    assert.equal(p.status, 413);
    // Node's engine.io drops the body but not the session: it still works afterwards.
    const p2 = await pollPost(sid, '42["echo","after 413"]');
    assert.equal(p2.status, 200);
    assert.deepEqual(await pollCollect(sid, (g) => g.length >= 1), ['42["echo","after 413"]']);
  });

  it("an invalid Engine.IO packet (`abc`) closes the session", async () => {
    const { sid } = await pollConnect();
    const p = await pollPost(sid, "abc");
    // The request itself is fine: 200 `ok`, then the session is closed.
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    await expectSessionClosed(sid);
  });

  it("a second concurrent GET closes the session: the first gets `1`, the second 400", async () => {
    const { sid } = await pollConnect();
    const first = pollGet(sid);
    await sleep(100); // let the first GET be parked by the server
    const second = await pollGet(sid);
    const firstRes = await first;
    assert.equal(second.status, 400);
    assert.equal(firstRes.status, 200);
    assert.equal(firstRes.body, "1");
    const third = await pollGet(sid);
    assert.equal(third.status, 400);
    assert.equal(third.body, UNKNOWN_SID);
  });

  it("an unsupported method on a session (PUT) is refused", async () => {
    const { sid } = await pollOpen();
    const r = await http(eioUrl({ EIO: "4", transport: "polling", sid }), { method: "PUT", body: "x" });
    if (SOCKEYE) {
      // Sockeye: 400 Bad request (a deliberate difference: Node answers 500 with no body).
      assert.equal(r.status, 400);
      assert.equal(r.body, BAD_REQUEST);
    } else {
      assert.equal(r.status, 500);
      assert.equal(r.body, "");
    }
  });

  it("`42[\"m\"]` before CONNECT closes the session", async () => {
    const { sid } = await pollOpen();
    assert.equal((await pollPost(sid, '42["m"]')).body, "ok");
    await expectSessionClosed(sid);
  });

  it("`42{}` (an event that is not an array) closes the session", async () => {
    const { sid } = await pollConnect();
    assert.equal((await pollPost(sid, "42{}")).body, "ok");
    await expectSessionClosed(sid);
  });

  it("answering pings keeps a polling session alive past pingInterval + pingTimeout", async () => {
    const { sid } = await pollConnect();
    const started = Date.now();
    let pings = 0;
    for (let i = 0; i < 10 && Date.now() - started < 1600; i++) {
      const g = await pollGet(sid);
      assert.equal(g.status, 200);
      for (const p of packets(g.body)) {
        if (p === "2") {
          pings++;
          assert.equal((await pollPost(sid, "3")).body, "ok");
        }
      }
    }
    assert.ok(pings >= 2, `expected at least 2 pings, got ${pings}`);
    assert.equal((await pollPost(sid, '42["echo","alive"]')).body, "ok");
    assert.deepEqual(await pollCollect(sid, (g) => g.length >= 1), ['42["echo","alive"]']);
  });
});

describe("protocol: upgrade", () => {
  afterEach(assertHealthy);

  it("probe, upgrade, then polling on that sid is refused with 400 code 3", async () => {
    const { sid } = await pollConnect();
    const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket", sid }, { ws: true }));
    try {
      await ws.opened;
      ws.send("2probe");
      assert.equal(await ws.nextNonPing(), "3probe");
      ws.send("5");
      await sleep(100);
      ws.send('42["echo","over ws"]');
      assert.equal(await ws.nextNonPing(), '42["echo","over ws"]');
      const g = await pollGet(sid);
      assert.equal(g.status, 400);
      assert.equal(g.body, json(3, "Bad request"));
      const p = await pollPost(sid, '42["echo","x"]');
      assert.equal(p.status, 400);
      assert.equal(p.body, json(3, "Bad request"));
      // a second WebSocket on the upgraded sid is not accepted either
      const ws2 = new RawWs(eioUrl({ EIO: "4", transport: "websocket", sid }, { ws: true }));
      const opened2 = await ws2.opened.then(
        () => true,
        () => false,
      );
      if (opened2) await ws2.waitClosed();
      ws.send('42["echo","still the first"]');
      assert.equal(await ws.nextNonPing(), '42["echo","still the first"]');
    } finally {
      ws.terminate();
    }
  });

  it("a WebSocket on an unknown sid is refused", async () => {
    const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket", sid: "no-such-sid" }, { ws: true }));
    const err = await ws.opened.then(
      () => null,
      (e) => e,
    );
    assert.ok(err, "the WebSocket opened");
    assert.equal(err.status, 400);
    assert.equal(err.body, "Session ID unknown");
  });
});

describe("protocol: WebSocket sessions", () => {
  afterEach(assertHealthy);

  it("CONNECT, then an event and an ack round trip in text frames", async () => {
    const { ws, id } = await wsConnect({ token: "raw" });
    try {
      const welcome = JSON.parse((await ws.nextNonPing()).slice(2));
      assert.deepEqual(welcome, ["welcome", { id, auth: { token: "raw" }, foo: null }]);
      ws.send('427["echo-ack",{"a":[1,2]},"b"]');
      assert.equal(await ws.nextNonPing(), '437[{"a":[1,2]},"b"]');
    } finally {
      ws.terminate();
    }
  });

  it("a binary event: the placeholder packet, then the attachment as a binary frame", async () => {
    const { ws } = await wsConnect();
    try {
      assert.match(await ws.nextNonPing(), /^42\["welcome"/);
      ws.send('451-["echo",{"_placeholder":true,"num":0}]');
      ws.send(Buffer.from([0, 1, 2, 250]));
      assert.equal(await ws.nextNonPing(), '451-["echo",{"_placeholder":true,"num":0}]');
      const att = await ws.nextNonPing();
      assert.ok(Buffer.isBuffer(att), "the attachment is not a binary frame");
      assert.deepEqual([...att], [0, 1, 2, 250]);
    } finally {
      ws.terminate();
    }
  });

  it("`42[\"m\"]` before CONNECT closes the WebSocket", async () => {
    const { ws } = await wsOpen();
    ws.send('42["m"]');
    await ws.waitClosed();
  });

  it("`42{}` closes the WebSocket", async () => {
    const { ws } = await wsConnect();
    ws.send("42{}");
    await ws.waitClosed();
  });

  it("an invalid Engine.IO packet (`abc`) closes the WebSocket", async () => {
    const { ws } = await wsConnect();
    ws.send("abc");
    await ws.waitClosed();
  });

  it("a text message over maxPayload closes the WebSocket with 1009", async () => {
    const { ws } = await wsConnect();
    ws.send('42["echo","' + "x".repeat(MAX) + '"]');
    const { code } = await ws.waitClosed();
    assert.equal(code, 1009);
  });

  it("a text message of exactly maxPayload bytes is accepted", async () => {
    const { ws } = await wsConnect();
    try {
      const head = '42["echo","';
      const tail = '"]';
      const msg = head + "x".repeat(MAX - head.length - tail.length) + tail;
      assert.equal(Buffer.byteLength(msg), MAX);
      assert.match(await ws.nextNonPing(), /^42\["welcome"/);
      ws.send(msg);
      assert.equal(await ws.nextNonPing(), msg);
    } finally {
      ws.terminate();
    }
  });

  it("no CONNECT within connectTimeout: the server closes the connection", async () => {
    const { ws } = await wsOpen();
    const started = Date.now();
    // answer pings, so that only the connect timeout can end the session
    const watcher = (async () => {
      for (let i = 0; i < 20; i++) {
        const m = await ws.next(3000).catch(() => null);
        if (m === null) return;
        if (m === "2") ws.send("3");
      }
    })();
    const { at } = await ws.waitClosed(4000);
    await watcher;
    const elapsed = at - started;
    assert.ok(elapsed >= 1200, `closed too early: ${elapsed} ms`);
    assert.ok(elapsed < 3000, `closed too late: ${elapsed} ms`);
  });

  it("answering pings keeps a WebSocket session alive; pings come every ~pingInterval", async () => {
    const { ws } = await wsConnect();
    try {
      const pingTimes = [];
      const started = Date.now();
      for (let i = 0; i < 20 && Date.now() - started < 1500; i++) {
        const m = await ws.next(2000);
        if (m === "2") {
          pingTimes.push(Date.now());
          ws.send("3");
        }
      }
      assert.ok(pingTimes.length >= 2, `expected at least 2 pings, got ${pingTimes.length}`);
      const gaps = pingTimes.slice(1).map((t, i) => t - pingTimes[i]);
      for (const gap of gaps) assert.ok(gap >= 250 && gap < 1500, `ping gap ${gap} ms`);
      ws.send('42["echo","alive"]');
      assert.equal(await ws.nextNonPing(), '42["echo","alive"]');
    } finally {
      ws.terminate();
    }
  });
});

describe("protocol: CORS", () => {
  afterEach(assertHealthy);

  const ALLOWED = "http://allowed.example";
  const OTHER = "http://other.example";

  it("the allowed origin is reflected with credentials on the handshake", async () => {
    const { res } = await pollOpen({}, { headers: { Origin: ALLOWED } });
    assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
  });

  it("the allowed origin is reflected on requests of an open session", async () => {
    const { sid } = await pollOpen();
    const p = await pollPost(sid, "40", { headers: { Origin: ALLOWED, "content-type": "text/plain" } });
    assert.equal(p.body, "ok");
    assert.equal(p.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(p.headers.get("access-control-allow-credentials"), "true");
  });

  it("another origin is not reflected", async () => {
    const { res } = await pollOpen({}, { headers: { Origin: OTHER } });
    const acao = res.headers.get("access-control-allow-origin");
    assert.notEqual(acao, OTHER);
    assert.notEqual(acao, "*");
  });

  it("WebSocket and Origin: Node opens any origin; Sockeye refuses a foreign one (CVE-2019-13611)", async () => {
    if (SOCKEYE) {
      // A page on another origin must not open a WebSocket with the visitor's cookies.
      const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket" }, { ws: true }), { origin: OTHER });
      const err = await ws.opened.then(
        () => null,
        (e) => e,
      );
      assert.ok(err, "a WebSocket from a foreign origin opened");
      assert.equal(err.status, 400);
      assert.equal(err.body, "Forbidden");
    }
    // The allowed origin, and the server's own origin (what python-socketio's websocket-client
    // sends), open on both servers.
    const own = new URL(eioUrl({})).origin;
    for (const origin of SOCKEYE ? [ALLOWED, own] : [OTHER, ALLOWED, own]) {
      const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket" }, { ws: true }), { origin });
      try {
        await ws.opened;
        const first = await ws.next();
        assert.match(first, /^0\{"sid":/, `origin ${origin}`);
      } finally {
        ws.terminate();
      }
    }
  });

  it("an OPTIONS preflight is answered 204 with the CORS headers", async () => {
    const r = await http(eioUrl({ EIO: "4", transport: "polling" }), {
      method: "OPTIONS",
      headers: {
        Origin: ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.body, "");
    assert.equal(r.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(r.headers.get("access-control-allow-credentials"), "true");
    const methods = (r.headers.get("access-control-allow-methods") || "").split(",").map((m) => m.trim());
    assert.ok(methods.includes("GET") && methods.includes("POST"), `allow-methods: ${methods}`);
  });

  it("an OPTIONS preflight from another origin does not reflect it", async () => {
    const r = await http(eioUrl({ EIO: "4", transport: "polling" }), {
      method: "OPTIONS",
      headers: { Origin: OTHER, "Access-Control-Request-Method": "POST" },
    });
    assert.notEqual(r.headers.get("access-control-allow-origin"), OTHER);
  });
});
