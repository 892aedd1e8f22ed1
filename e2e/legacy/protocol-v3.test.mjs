// Engine.IO v3 / Socket.IO protocol v4 on the wire, through raw HTTP (fetch) and raw WebSocket
// (ws): the EIO version check with allowEIO3, the v3 handshake, client pings, text payloads with
// lengths in UTF-16 code units, the binary payload and the base64 mode (b64=1), JSONP, the v3
// upgrade, namespace packets, and malformed payloads (each closes its own session only). The
// bytes asserted are the ones Node's engine.io 6 / socket.io 4.8 give with allowEIO3: true.
// After each case two bystander 2.x clients (polling and WebSocket) connected from the start
// must still answer, and a fresh 2.x client must connect.
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { sleep } from "../node/helpers.mjs";
import { SETUPS, ENGINE_ID, connectV2, ask1, closeAllV2, makeV2, serverDisconnectsV2 } from "./helpers-v2.mjs";
import {
  v3Url,
  http,
  decodeText,
  encodeText,
  encodeBinary,
  decodeBinary,
  v3Open,
  v3Get,
  v3Post,
  v3Send,
  v3Collect,
  v3Connected,
  expectV3Closed,
  v3WsOpen,
  nextNonPong,
  RawWs,
  UNKNOWN_SID,
} from "./raw-v3.mjs";

const TEXT_TYPE = "text/plain; charset=UTF-8";
const OPEN_KEYS = { upgrades: ["websocket"], pingInterval: 400, pingTimeout: 800, maxPayload: 100000 };
const PLACEHOLDER = '{"_placeholder":true,"num":0}';

let bystanders = [];
before(async () => {
  // this file calls closeAllV2() only at the end: the bystanders live through every test
  for (const setup of [SETUPS[0], SETUPS[1]]) {
    const { socket } = await connectV2(setup);
    bystanders.push(socket);
  }
});
after(() => {
  closeAllV2();
  for (const s of bystanders) {
    s.disconnect();
    s.io.close();
  }
});

/** After each case: the bystanders are up and a fresh 2.x client connects and echoes. */
async function assertHealthy() {
  for (const b of bystanders) {
    assert.equal(b.connected, true, "a bystander client was disconnected");
    assert.equal(await ask1(b, "echo-ack", "bystander"), "bystander");
  }
  const fresh = makeV2(SETUPS[1]);
  try {
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("a fresh client did not connect")), 5000);
      fresh.once("connect", () => (clearTimeout(t), resolve()));
    });
    assert.equal(await ask1(fresh, "echo-ack", "fresh"), "fresh");
  } finally {
    fresh.disconnect();
    fresh.io.close();
  }
}

/** The open packet framed as a v3 text payload: `<length>:0<json>`; returns the parsed JSON. */
function parseOpenPayload(body) {
  const m = /^(\d+):0(\{[^]*\})$/.exec(body);
  assert.ok(m, `not a single v3 open packet: ${JSON.stringify(body)}`);
  assert.equal(Number(m[1]), 1 + m[2].length, "the length prefix counts the packet");
  return JSON.parse(m[2]);
}

describe("legacy protocol: the EIO version and the v3 handshake", () => {
  afterEach(assertHealthy);

  it("GET ?EIO=3&transport=polling: 200 text/plain, one open packet `<len>:0{...}` and nothing else", async () => {
    const r = await http(v3Url({ transport: "polling" }));
    assert.equal(r.status, 200);
    assert.equal(r.type, TEXT_TYPE);
    const open = parseOpenPayload(r.body);
    assert.match(open.sid, ENGINE_ID);
    assert.deepEqual(open, { sid: open.sid, ...OPEN_KEYS });
  });

  it("the next GET carries the automatic CONNECT `2:40` and the welcome event", async () => {
    const { sid } = await v3Open();
    const r = await v3Get(sid);
    assert.equal(r.status, 200);
    assert.equal(r.type, TEXT_TYPE);
    assert.ok(r.body.startsWith("2:40"), JSON.stringify(r.body));
    const ps = decodeText(r.body);
    assert.equal(ps.length, 2, JSON.stringify(ps));
    assert.equal(ps[0], "40");
    assert.ok(ps[1].startsWith("42"));
    assert.deepEqual(JSON.parse(ps[1].slice(2)), ["welcome", { id: sid, auth: {}, foo: null }]);
  });

  it("the query reaches handshake.query of / (foo in welcome)", async () => {
    const { welcome, sid } = await v3Connected({ foo: "raw v3" });
    assert.deepEqual(welcome, ["welcome", { id: sid, auth: {}, foo: "raw v3" }]);
  });

  it("b64=1 gives the same handshake", async () => {
    const r = await http(v3Url({ transport: "polling", b64: "1" }));
    assert.equal(r.status, 200);
    assert.equal(r.type, TEXT_TYPE);
    const open = parseOpenPayload(r.body);
    assert.deepEqual(open, { sid: open.sid, ...OPEN_KEYS });
  });

  it("EIO=3 over WebSocket: open packet (upgrades []), then `40` and welcome", async () => {
    const { ws, open } = await v3WsOpen();
    try {
      assert.match(open.sid, ENGINE_ID);
      assert.deepEqual(open, { sid: open.sid, ...OPEN_KEYS, upgrades: [] });
      assert.equal(await nextNonPong(ws), "40");
      const w = await nextNonPong(ws);
      assert.deepEqual(JSON.parse(w.slice(2)), ["welcome", { id: open.sid, auth: {}, foo: null }]);
    } finally {
      ws.terminate();
    }
  });

  it("with allowEIO3, Node serves every EIO other than 4 as v3: EIO=5, EIO=2 and a missing EIO", async () => {
    for (const eio of ["5", "2", null]) {
      const r = await http(v3Url({ transport: "polling" }, { eio }));
      assert.equal(r.status, 200, `EIO=${eio}`);
      const open = parseOpenPayload(r.body);
      assert.deepEqual(open, { sid: open.sid, ...OPEN_KEYS }, `EIO=${eio}`);
    }
  });

  it("EIO=5 over WebSocket opens a v3 session too", async () => {
    const ws = new RawWs(v3Url({ transport: "websocket" }, { ws: true, eio: "5" }));
    try {
      await ws.opened;
      const first = await ws.next();
      assert.ok(first.startsWith("0{"), first);
      ws.send("2");
      assert.equal(await ws.next(), "40");
    } finally {
      ws.terminate();
    }
  });
});

describe("legacy protocol: heartbeat (the client pings)", () => {
  afterEach(assertHealthy);

  it("POST `1:2` is answered `ok`, and the next GET is exactly `1:3`", async () => {
    const { sid } = await v3Connected();
    const p = await v3Post(sid, "1:2");
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    assert.equal(p.type, "text/html");
    const r = await v3Get(sid);
    assert.equal(r.status, 200);
    assert.equal(r.body, "1:3");
  });

  it("over WebSocket each ping `2` gets a pong `3`; the server never pings; pings keep the session up", async () => {
    const { ws } = await v3WsOpen();
    try {
      assert.equal(await ws.next(), "40");
      await ws.next(); // welcome
      // 6 pings 300 ms apart: 1.8 s, longer than pingInterval + pingTimeout (1.2 s)
      for (let i = 0; i < 6; i++) {
        ws.send("2");
        assert.equal(await ws.next(), "3", `pong ${i}`);
        await sleep(300);
      }
      assert.deepEqual(ws.queue, [], "the server sent something unasked (a ping?)");
      ws.send('42["echo","alive"]');
      assert.equal(await ws.next(), '42["echo","alive"]');
    } finally {
      ws.terminate();
    }
  });

  it("no ping within pingInterval + pingTimeout: the session is closed (`ping timeout`)", async () => {
    const { sid } = await v3Connected();
    await sleep(1600);
    await expectV3Closed(sid);
    const [entry] = await serverDisconnectsV2(bystanders[1], [sid]);
    assert.deepEqual(entry, { id: sid, nsp: "/", reason: "ping timeout" });
  });

  it("a pong `3` from the client is a protocol error in v3: the session is closed", async () => {
    const { sid } = await v3Connected();
    const p = await v3Post(sid, "1:3");
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    await expectV3Closed(sid);
    const [entry] = await serverDisconnectsV2(bystanders[1], [sid]);
    // A transport error comes with a description (Node: "invalid heartbeat direction").
    const { description, ...rest } = entry;
    assert.deepEqual(rest, { id: sid, nsp: "/", reason: "transport error" });
    assert.equal(typeof description, "string");
    assert.ok(description.length > 0);
  });
});

describe("legacy protocol: text payloads", () => {
  afterEach(assertHealthy);

  it("lengths count UTF-16 code units: `15:42[\"echo\",\"𝕊\"]` (17 bytes) comes back as sent", async () => {
    const { sid } = await v3Connected();
    const ev = '42["echo","𝕊"]';
    assert.equal(ev.length, 15);
    assert.equal(Buffer.byteLength(ev), 17);
    await v3Send(sid, [ev]);
    const r = await v3Get(sid);
    assert.equal(r.type, TEXT_TYPE);
    assert.equal(r.body, `15:${ev}`);
  });

  it("mixed BMP and non-BMP text: é (1 unit) 😀 (2 units) 𝕊 (2 units)", async () => {
    const { sid } = await v3Connected();
    const ev = '42["echo","é😀𝕊 ok"]';
    await v3Send(sid, [ev]);
    const r = await v3Get(sid);
    assert.equal(r.body, `${ev.length}:${ev}`);
    assert.equal(ev.length, 21);
  });

  it("several packets in one POST are handled in order; the GET batches the answers", async () => {
    const { sid } = await v3Connected();
    await v3Send(sid, ["2", '42["echo",1]', '42["echo","two"]', "2", '421["echo-ack",3]']);
    await sleep(100);
    const r = await v3Get(sid);
    const ps = decodeText(r.body);
    // (Node writes the pongs at once and the Socket.IO answers a tick later: "3","3" first)
    assert.deepEqual(
      ps.filter((p) => p !== "3"),
      ['42["echo",1]', '42["echo","two"]', "431[3]"],
    );
    assert.equal(ps.filter((p) => p === "3").length, 2, "two pongs");
  });

  it("an event with an ack id: `421[\"echo-ack\",\"x\"]` → `431[\"x\"]`", async () => {
    const { sid } = await v3Connected();
    await v3Send(sid, ['421["echo-ack","x"]']);
    const ps = await v3Collect(sid, (g) => g.length >= 1);
    assert.deepEqual(ps, ['431["x"]']);
  });
});

describe("legacy protocol: binary payloads and b64", () => {
  afterEach(assertHealthy);

  const header = `451-["echo",${PLACEHOLDER},"é𝕊"]`;

  it("without b64, a batch with binary is an application/octet-stream binary payload (string lengths in UTF-8 bytes)", async () => {
    const { sid } = await v3Connected();
    // the client sends the attachment base64-encoded in a text payload (`b4` + base64)
    await v3Send(sid, [header, "b4AQL/"]);
    const r = await v3Get(sid);
    assert.equal(r.status, 200);
    assert.equal(r.type, "application/octet-stream");
    const hb = Buffer.from(header, "utf8");
    assert.equal(hb.length, 51); // 51 bytes, 48 UTF-16 code units
    const expected = Buffer.concat([
      Buffer.from([0x00, 5, 1, 0xff]),
      hb,
      Buffer.from([0x01, 4, 0xff, 0x04, 0x01, 0x02, 0xff]),
    ]);
    assert.deepEqual([...r.buf], [...expected]);
  });

  it("a batch of text and binary packets is one binary payload; its text packets count UTF-8 bytes", async () => {
    const { sid } = await v3Connected();
    await v3Send(sid, ['42["echo","𝕊"]', `451-["echo",${PLACEHOLDER}]`, "b4AQL/", '42["echo","z"]']);
    await sleep(150);
    const r = await v3Get(sid);
    assert.equal(r.type, "application/octet-stream");
    assert.deepEqual(decodeBinary(r.buf), [
      { string: true, data: '42["echo","𝕊"]' },
      { string: true, data: `451-["echo",${PLACEHOLDER}]` },
      { string: false, data: Buffer.from([4, 1, 2, 0xff]) },
      { string: true, data: '42["echo","z"]' },
    ]);
    assert.equal(r.buf[1] * 10 + r.buf[2], 17, "the first string packet: 17 UTF-8 bytes");
    assert.equal(r.buf[3], 0xff);
  });

  it("a binary payload POST (application/octet-stream) from the client is understood", async () => {
    const { sid } = await v3Connected();
    const body = encodeBinary([`451-9["echo-ack",${PLACEHOLDER},"𝕊"]`, Buffer.from([4, 7, 8, 9])]);
    const p = await v3Post(sid, body);
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    const ps = await v3Collect(sid, (g) => g.length >= 2);
    assert.deepEqual(ps, [`461-9[${PLACEHOLDER},"𝕊"]`, Buffer.from([4, 7, 8, 9])]);
  });

  it("with b64=1 the same batch is a text payload with `b4<base64>` packets (lengths in UTF-16 units)", async () => {
    const { sid } = await v3Connected({ b64: "1" });
    await v3Send(sid, [header, "b4AQL/"]);
    const r = await v3Get(sid);
    assert.equal(r.type, TEXT_TYPE);
    assert.equal(r.body, `48:${header}6:b4AQL/`);
  });

  it("b64 is decided by the handshake request: later requests' b64 changes nothing", async () => {
    const a = await v3Connected({ b64: "1" });
    await v3Send(a.sid, [header, "b4AQL/"]);
    const ra = await v3Get(a.sid); // no b64 on this GET (2.x sends b64 on the handshake only)
    assert.equal(ra.type, TEXT_TYPE);
    assert.equal(ra.body, `48:${header}6:b4AQL/`);

    const b = await v3Connected();
    await v3Send(b.sid, [header, "b4AQL/"]);
    const rb = await v3Get(b.sid, { b64: "1" });
    assert.equal(rb.type, "application/octet-stream");
    assert.equal(decodeBinary(rb.buf).length, 2);
  });

  it("a binary ack: `451-12[\"echo-ack\",<placeholder>,\"x\"]` → `461-12[<placeholder>,\"x\"]` + attachment", async () => {
    const { sid } = await v3Connected({ b64: "1" });
    await v3Send(sid, [`451-12["echo-ack",${PLACEHOLDER},"x"]`, "b4AQL/"]);
    const ps = await v3Collect(sid, (g) => g.length >= 2, { extra: {} });
    assert.deepEqual(ps, [`461-12[${PLACEHOLDER},"x"]`, "b4AQL/"]);
  });

  it("over WebSocket: attachments are binary frames with the type byte 0x04 first; with b64=1, `b4` text frames", async () => {
    for (const [extra, expected] of [
      [{}, Buffer.from([4, 9, 8])],
      [{ b64: "1" }, "b4CQg="],
    ]) {
      const { ws } = await v3WsOpen(extra);
      try {
        assert.equal(await nextNonPong(ws), "40");
        await nextNonPong(ws); // welcome
        ws.send(`451-["echo",${PLACEHOLDER}]`);
        ws.send(Buffer.from([4, 9, 8]));
        assert.equal(await nextNonPong(ws), `451-["echo",${PLACEHOLDER}]`);
        assert.deepEqual(await nextNonPong(ws), expected);
      } finally {
        ws.terminate();
      }
    }
  });
});

describe("legacy protocol: JSONP polling (j=N)", () => {
  afterEach(assertHealthy);

  /** The payload inside `___eio[<j>]("...");`. */
  function unwrap(body, j) {
    const m = new RegExp(`^___eio\\[${j}\\]\\(("[^]*")\\);$`).exec(body);
    assert.ok(m, `not a JSONP answer: ${JSON.stringify(body)}`);
    return JSON.parse(m[1]);
  }

  it("handshake, a form POST `d=<payload>` with a ping and an event, and the JSONP answers", async () => {
    const h = await http(v3Url({ transport: "polling", j: "3" }));
    assert.equal(h.status, 200);
    assert.equal(h.type, TEXT_TYPE);
    const open = parseOpenPayload(unwrap(h.body, 3));
    const sid = open.sid;
    const url = v3Url({ transport: "polling", j: "3", sid });
    const g = await http(url);
    const [c, w] = decodeText(unwrap(g.body, 3));
    assert.equal(c, "40");
    assert.deepEqual(JSON.parse(w.slice(2)), ["welcome", { id: sid, auth: {}, foo: null }]);

    const ev = '42["echo","q \\"x\\" 𝕊\u2028é"]';
    const p = await http(url, {
      method: "POST",
      body: `d=${encodeURIComponent(encodeText(["2", ev]))}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(p.status, 200);
    assert.equal(p.body, "ok");
    await sleep(50);
    const g2 = await http(url);
    assert.equal(g2.type, TEXT_TYPE);
    // U+2028 is not valid in a JavaScript string literal of old engines: Node escapes it
    assert.ok(!g2.body.includes("\u2028"), "a raw U+2028 in the JSONP answer");
    assert.ok(g2.body.includes("\\u2028"));
    assert.deepEqual(decodeText(unwrap(g2.body, 3)), ["3", ev]);
  });
});

describe("legacy protocol: the v3 upgrade", () => {
  afterEach(assertHealthy);

  it("2probe → 3probe, the parked GET gets a noop `1:6`, 5 upgrades, then polling is refused", async () => {
    const { sid } = await v3Connected();
    const parked = v3Get(sid);
    await sleep(50);
    const ws = new RawWs(v3Url({ transport: "websocket", sid }, { ws: true }));
    try {
      await ws.opened;
      ws.send("2probe");
      assert.equal(await ws.next(), "3probe");
      const r = await parked;
      assert.equal(r.status, 200);
      assert.equal(r.body, "1:6");
      ws.send("5");
      ws.send('42["echo","over ws"]');
      assert.equal(await nextNonPong(ws), '42["echo","over ws"]');
      ws.send("2");
      assert.equal(await ws.next(), "3");
      const after = await v3Get(sid);
      assert.equal(after.status, 400);
      assert.equal(after.body, '{"code":3,"message":"Bad request"}');
    } finally {
      ws.terminate();
    }
  });
});

describe("legacy protocol: namespaces (Socket.IO v4 packets)", () => {
  afterEach(assertHealthy);

  it("/ refused by the middleware (token=bad in the handshake query): `44{\"reason\":\"bad token\"}`, no `40`", async () => {
    const { sid } = await v3Open({ token: "bad" });
    const ps = await v3Collect(sid, (g) => g.length >= 1);
    assert.equal(ps.length, 1, JSON.stringify(ps));
    assert.ok(ps[0].startsWith("44{"), ps[0]);
    assert.deepEqual(JSON.parse(ps[0].slice(2)), { reason: "bad token" });
  });

  it("/admin refused: `40/admin?role=user,` → `44/admin,\"forbidden\"` (a plain string)", async () => {
    const { sid } = await v3Connected();
    await v3Send(sid, ["40/admin?role=user,"]);
    assert.deepEqual(await v3Collect(sid, (g) => g.length >= 1), ['44/admin,"forbidden"']);
  });

  it("unknown namespace: `40/nope,` → `44/nope,{\"message\":\"Invalid namespace\"}`", async () => {
    const { sid } = await v3Connected();
    await v3Send(sid, ["40/nope,"]);
    // Every dynamic namespace is asked first, one of them by an async function (20 ms).
    await sleep(100);
    const ps = await v3Collect(sid, (g) => g.length >= 1);
    assert.equal(ps.length, 1);
    assert.ok(ps[0].startsWith("44/nope,"), ps[0]);
    assert.deepEqual(JSON.parse(ps[0].slice("44/nope,".length)), { message: "Invalid namespace" });
  });

  it("/admin with the role in the CONNECT query: `40/admin,`; then an ack `43/admin,7[\"admin\"]`", async () => {
    const { sid } = await v3Connected();
    await v3Send(sid, ["40/admin?role=admin,"]);
    assert.deepEqual(await v3Collect(sid, (g) => g.length >= 1), ["40/admin,"]);
    await v3Send(sid, ['42/admin,7["whoami"]']);
    assert.deepEqual(await v3Collect(sid, (g) => g.length >= 1), ['43/admin,7["admin"]']);
  });

  it("DISCONNECT `41` of / is recorded as `client namespace disconnect`", async () => {
    const { sid } = await v3Connected();
    await v3Send(sid, ["41"]);
    const [entry] = await serverDisconnectsV2(bystanders[1], [sid]);
    assert.deepEqual(entry, { id: sid, nsp: "/", reason: "client namespace disconnect" });
  });
});

describe("legacy protocol: a malformed v3 payload closes that session only", () => {
  afterEach(assertHealthy);

  // [name, body, the disconnect reasons the server may record]
  const CASES = [
    // Node's engine.io takes the 2 code units "4\uD835" as a message; socket.io then fails
    // to decode it and closes (`forced close`); a server that checks the split first may
    // record `parse error`.
    ["a length that splits a surrogate pair: `2:4𝕊`", "2:4𝕊", ["forced close", "parse error"]],
    ["no length prefix: `abc`", "abc", ["parse error"]],
    ["a huge length: `99999999999999999999:4a`", "99999999999999999999:4a", ["parse error"]],
    ["a length beyond the payload: `5:4a`", "5:4a", ["parse error"]],
    ["a length counted in UTF-8 bytes: `17:42[\"echo\",\"𝕊\"]`", '17:42["echo","𝕊"]', ["parse error"]],
    ["an empty text payload", "", ["parse error"]],
    ["a binary payload without the 0xFF length terminator", Buffer.from([0x00, 0x03]), ["parse error"]],
    // Node does not check the length either: it takes the 2 bytes left as a lone attachment,
    // which socket.io refuses (`forced close`).
    ["a truncated binary packet (9 bytes announced, 3 sent)", Buffer.from([0x01, 9, 0xff, 0x04, 0x01, 0x02]), ["forced close", "parse error"]],
  ];

  for (const [name, body, reasons] of CASES) {
    it(`${name}: the POST is answered 200 ok, then the session is gone`, async () => {
      const { sid } = await v3Connected();
      const p = await v3Post(sid, body);
      assert.equal(p.status, 200);
      assert.equal(p.body, "ok");
      const seen = await expectV3Closed(sid);
      assert.equal(seen.at(-1), `400 ${JSON.stringify(UNKNOWN_SID)}`);
      const [entry] = await serverDisconnectsV2(bystanders[1], [sid]);
      assert.equal(entry.nsp, "/");
      assert.ok(reasons.includes(entry.reason), `reason ${entry.reason}, expected one of ${reasons}`);
    });
  }
});
