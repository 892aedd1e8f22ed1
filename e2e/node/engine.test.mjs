// The engine's options and events (CONTRACT.md, "Engine server", on /engine/), and the
// transport a socket uses with its upgrade event (the contract's `transport` handler):
// allowUpgrades: false, the session cookie, CORS with an origin function and its other options,
// an asynchronous allowRequest refusing with a message, connection_error with Node's codes,
// initial_headers and headers. Raw HTTP (fetch) and WebSocket (ws) peers, and socket.io-client.
import { after, afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { io } from "socket.io-client";
import {
  BASE,
  SETUPS,
  STEP_MS,
  closeAll,
  connect,
  nonce,
  sleep,
  track,
  withTimeout,
} from "./helpers.mjs";
import { SEP, http } from "./raw.mjs";

const ENGINE_PATH = "/engine/";
const ALLOWED = "http://allowed.example";
const OTHER = "http://other.example";

after(closeAll);

/** The URL of the engine server with these query parameters. */
function engineUrl(params, { ws = false } = {}) {
  const q = new URLSearchParams(params).toString();
  return `${ws ? BASE.replace(/^http/, "ws") : BASE}${ENGINE_PATH}?${q}`;
}

/** A polling handshake on the engine server; resolves { res, sid, open }. */
async function handshake(params = {}, init = {}) {
  const res = await http(engineUrl({ EIO: "4", transport: "polling", ...params }), init);
  assert.equal(res.status, 200, res.body);
  assert.ok(res.body.startsWith("0{"), res.body);
  const open = JSON.parse(res.body.slice(1));
  return { res, sid: open.sid, open };
}

/**
 * A raw WebSocket to the engine server; resolves { ws, headers, messages } once open (headers:
 * the 101's; messages: every text message so far, kept from the start), or { status, body }
 * when the upgrade is refused.
 */
function rawWs(params) {
  const ws = new WebSocket(engineUrl(params, { ws: true }));
  const messages = [];
  ws.on("error", () => {});
  ws.on("message", (m) => messages.push(m.toString()));
  return withTimeout(
    new Promise((resolve) => {
      let headers;
      ws.once("upgrade", (res) => (headers = res.headers));
      ws.once("open", () => resolve({ ws, headers, messages }));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode, body }));
      });
    }),
    STEP_MS,
    "WebSocket to the engine server",
  );
}

/** Takes the first message of `messages` that `pred` accepts, waiting for it (bounded). */
async function take(messages, pred = () => true) {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const i = messages.findIndex(pred);
    if (i >= 0) return messages.splice(i, 1)[0];
    if (Date.now() > deadline) throw new Error(`no such WebSocket message; got ${JSON.stringify(messages)}`);
    await sleep(10);
  }
}

/** A socket.io-client socket on the engine server's `/`, connected (or its connect_error). */
function engineClient(opts = {}) {
  const socket = track(
    io(BASE, { path: ENGINE_PATH, forceNew: true, reconnection: false, timeout: STEP_MS, ...opts }),
  );
  return withTimeout(
    new Promise((resolve) => {
      socket.once("connect", () => resolve({ socket }));
      socket.once("connect_error", (error) => resolve({ socket, error }));
    }),
    STEP_MS,
    "connect to the engine server",
  );
}

const hookHeaders = (h) => ({ initial: h.get("x-e2e-initial"), every: h.get("x-e2e-every") });

describe("socket.conn: the transport and its upgrade event", () => {
  afterEach(closeAll);

  for (const setup of SETUPS) {
    it(`${setup.name}: the server sees the transport in use and each upgrade`, async () => {
      const { socket } = await connect(setup);
      const got = await socket.timeout(STEP_MS).emitWithAck("transport");
      const want = {
        polling: { transport: "polling", upgrades: [] },
        websocket: { transport: "websocket", upgrades: [] },
        upgrade: { transport: "websocket", upgrades: ["websocket"] },
      }[setup.name];
      assert.deepEqual(got, want);
    });
  }
});

describe("engine: allowUpgrades, cookie and the headers events", () => {
  afterEach(closeAll);

  it("the polling handshake offers no upgrade, sets the io cookie, and gets both header events", async () => {
    const { res, sid, open } = await handshake();
    assert.deepEqual(open.upgrades, []);
    assert.equal(res.headers.get("set-cookie"), `io=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    assert.deepEqual(hookHeaders(res.headers), { initial: "1", every: "GET" });
  });

  it("a session's POSTs and polls get `headers` only, and no cookie", async () => {
    const { sid } = await handshake();
    const url = engineUrl({ EIO: "4", transport: "polling", sid });
    const post = await http(url, { method: "POST", body: "40", headers: { "content-type": "text/plain" } });
    assert.equal(post.body, "ok");
    assert.deepEqual(hookHeaders(post.headers), { initial: null, every: "POST" });
    assert.equal(post.headers.get("set-cookie"), null);
    const get = await http(url);
    assert.equal(get.status, 200);
    assert.ok(get.body.split(SEP).some((p) => p.startsWith("40{")), get.body);
    assert.deepEqual(hookHeaders(get.headers), { initial: null, every: "GET" });
    assert.equal(get.headers.get("set-cookie"), null);
  });

  it("an error answer gets neither header event", async () => {
    const r = await http(engineUrl({ EIO: "4", transport: "polling", sid: "no-such-session" }));
    assert.equal(r.status, 400);
    assert.deepEqual(hookHeaders(r.headers), { initial: null, every: null });
  });

  it("a WebSocket handshake gets both header events and no cookie", async () => {
    const { ws, headers, messages } = await rawWs({ EIO: "4", transport: "websocket" });
    try {
      assert.equal(headers["x-e2e-initial"], "1");
      assert.equal(headers["x-e2e-every"], "GET");
      assert.equal(headers["set-cookie"], undefined, "Node's engine sets no cookie on a WebSocket handshake");
      const open = JSON.parse((await take(messages)).slice(1));
      assert.deepEqual(open.upgrades, []);
    } finally {
      ws.terminate();
    }
  });

  it("socket.io-client stays on polling", async () => {
    const { socket, error } = await engineClient();
    assert.equal(error, undefined);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await socket.timeout(STEP_MS).emitWithAck("transport"), {
        transport: "polling",
        upgrades: [],
      });
      await sleep(100);
    }
    assert.equal(socket.io.engine.transport.name, "polling");
  });

  it("an upgrade a client asks for anyway goes through, as Node does (its 101 gets `headers` only)", async () => {
    const { sid } = await handshake();
    const url = engineUrl({ EIO: "4", transport: "polling", sid });
    assert.equal((await http(url, { method: "POST", body: "40" })).body, "ok");
    const { ws, headers, messages } = await rawWs({ EIO: "4", transport: "websocket", sid });
    try {
      assert.equal(headers["x-e2e-initial"], undefined);
      assert.equal(headers["x-e2e-every"], "GET");
      ws.send("2probe");
      assert.equal(await take(messages), "3probe");
      ws.send("5");
      // The session now runs on this WebSocket: its `/` socket answers here.
      ws.send('421["transport"]');
      const answer = await take(messages, (m) => m.startsWith("431"));
      assert.deepEqual(JSON.parse(answer.slice(3)), [{ transport: "websocket", upgrades: ["websocket"] }]);
    } finally {
      ws.terminate();
    }
  });
});

describe("engine: allowRequest", () => {
  afterEach(closeAll);

  it("refuses a polling handshake with its message (403, code 4), or Node's own when it has none", async () => {
    let r = await http(engineUrl({ EIO: "4", transport: "polling", deny: "go away" }));
    assert.equal(r.status, 403);
    assert.equal(r.headers.get("content-type"), "application/json");
    assert.equal(r.body, '{"code":4,"message":"go away"}');
    r = await http(engineUrl({ EIO: "4", transport: "polling", deny: "" }));
    assert.equal(r.status, 403);
    assert.equal(r.body, '{"code":4,"message":"Forbidden"}');
  });

  it("refuses a WebSocket handshake with 400 and the message as text", async () => {
    const r = await rawWs({ EIO: "4", transport: "websocket", deny: "no sockets" });
    if (r.ws) r.ws.terminate();
    assert.equal(r.status, 400);
    assert.equal(r.body, "no sockets");
  });

  for (const transports of [["polling"], ["websocket"]]) {
    it(`socket.io-client (${transports[0]}): refused, then accepted without deny`, async () => {
      const refused = await engineClient({ transports, query: { deny: "nope" } });
      assert.ok(refused.error, "connected although refused");
      const ok = await engineClient({ transports });
      assert.equal(ok.error, undefined);
      assert.equal(ok.socket.connected, true);
    });
  }
});

describe("engine: connection_error", () => {
  afterEach(closeAll);

  it("reports each refused request with Node's code and message, the refusal and the URL", async () => {
    const n = nonce();
    const requests = [
      [engineUrl({ EIO: "4", transport: "carrier-pigeon", n }), {}, 400],
      [engineUrl({ EIO: "4", transport: "polling", sid: "no-such-session", n }), {}, 400],
      [engineUrl({ EIO: "4", transport: "polling", n }), { method: "POST", body: "40" }, 400],
      [engineUrl({ EIO: "4", transport: "websocket", n }), {}, 400],
      [engineUrl({ EIO: "4", transport: "polling", deny: "go away", n }), {}, 403],
      [engineUrl({ EIO: "4", transport: "polling", deny: "", n }), {}, 403],
      [engineUrl({ EIO: "3", transport: "polling", n }), {}, 400],
    ];
    for (const [url, init, status] of requests) {
      const r = await http(url, init);
      assert.equal(r.status, status, `${url}: ${r.body}`);
    }
    const ws = await rawWs({ EIO: "4", transport: "websocket", deny: "no sockets", n });
    if (ws.ws) ws.ws.terminate();
    assert.equal(ws.status, 400);

    const { socket, error } = await engineClient();
    assert.equal(error, undefined);
    const all = await socket.timeout(STEP_MS).emitWithAck("connection-errors");
    const mine = all.filter((e) => e.url.includes(`n=${n}`));
    assert.deepEqual(
      mine.map(({ code, message, refusal }) => ({ code, message, refusal })),
      [
        { code: 0, message: "Transport unknown", refusal: null },
        { code: 1, message: "Session ID unknown", refusal: null },
        { code: 2, message: "Bad handshake method", refusal: null },
        { code: 3, message: "Bad request", refusal: null },
        { code: 4, message: "Forbidden", refusal: "go away" },
        { code: 4, message: "Forbidden", refusal: null },
        { code: 5, message: "Unsupported protocol version", refusal: null },
        { code: 4, message: "Forbidden", refusal: "no sockets" },
      ],
    );
    for (const e of mine) assert.ok(e.url.startsWith(ENGINE_PATH), e.url);
    assert.ok(mine[0].url.includes("transport=carrier-pigeon"), mine[0].url);
  });
});

describe("engine: CORS with an origin function and the cors package's options", () => {
  afterEach(closeAll);

  it("an allowed origin is reflected, with credentials and the exposed headers", async () => {
    const { res } = await handshake({}, { headers: { Origin: ALLOWED } });
    assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(res.headers.get("access-control-allow-credentials"), "true");
    assert.equal(res.headers.get("access-control-expose-headers"), "x-e2e-exposed");
    assert.ok((res.headers.get("vary") || "").includes("Origin"));
    assert.equal(res.headers.get("access-control-max-age"), null, "max-age is for preflights");
  });

  it("its preflight gets the methods, the allowed headers and the max age", async () => {
    const r = await http(engineUrl({ EIO: "4", transport: "polling" }), {
      method: "OPTIONS",
      headers: {
        Origin: ALLOWED,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-e2e, x-other",
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(r.headers.get("access-control-allow-credentials"), "true");
    assert.equal(r.headers.get("access-control-allow-methods"), "GET,POST");
    assert.equal(r.headers.get("access-control-allow-headers"), "x-e2e");
    assert.equal(r.headers.get("access-control-max-age"), "600");
    assert.equal(r.headers.get("access-control-expose-headers"), "x-e2e-exposed");
  });

  it("an origin the function refuses gets no CORS header at all", async () => {
    const { res } = await handshake({}, { headers: { Origin: OTHER } });
    const cors = [...res.headers.keys()].filter((k) => k.startsWith("access-control-"));
    assert.deepEqual(cors, []);
    const pre = await http(engineUrl({ EIO: "4", transport: "polling" }), {
      method: "OPTIONS",
      headers: { Origin: OTHER, "Access-Control-Request-Method": "POST" },
    });
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
  });
});
