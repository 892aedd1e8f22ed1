// Hostile input to the msgpack server (path /msgpack/): raw WebSocket and polling peers send
// bytes that are not msgpack, lengths far past the message, nesting past any stack, packets of
// the wrong shape, and text. Each case must close that client's connection (as Node's
// socket.io with socket.io-msgpack-parser 3.0.2 does) and nothing else: a bystander msgpack
// client connected from the start stays up, and fresh clients still connect and echo.
//
// (Sockeye refuses more than Node here, as its JSON parser does: reserved or non-string event
// names, an EVENT with no name, an ACK without id, a negative id, nesting past 128. Node's
// parser lets those through, and an object as event name throws an uncaught exception in
// Node. Those cases are in crates/sockeye/tests/parser_msgpack.rs, not here.)
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import notepack from "notepack.io";
import parser from "socket.io-msgpack-parser";
import { BASE, WS_BASE, STEP_MS, ask, connect, SETUPS, closeAll, withTimeout } from "./helpers.mjs";
import { RawWs, http, packets } from "./raw.mjs";

const PATH = "/msgpack/";
const MSGPACK = { path: PATH, parser };
const url = (params, ws = false) => `${ws ? WS_BASE : BASE}${PATH}?${new URLSearchParams(params)}`;

const str = (s) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([0xa0 | b.length]), b]);
};
/** `{type, nsp: "/", data: ["echo", <raw>]}` with `raw` as the second element's bytes. */
const eventWith = (raw) =>
  Buffer.concat([
    Buffer.from([0x83]),
    str("type"),
    Buffer.from([0x02]),
    str("nsp"),
    str("/"),
    str("data"),
    Buffer.from([0x92]),
    str("echo"),
    raw,
  ]);

/** The hostile messages: [name, bytes (a Buffer is sent binary, a string as text)]. */
const CASES = [
  ["a text message", '42["echo","text"]'],
  ["a text message that is valid JSON CONNECT", "40"],
  ["not msgpack: the unused type byte 0xc1", Buffer.from([0xc1])],
  ["an array of 2^32-1 items declared, nothing after", Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])],
  [
    "a namespace of 2^32-1 bytes declared",
    Buffer.concat([Buffer.from([0x82]), str("type"), Buffer.from([0x02]), str("nsp"), Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x2f])]),
  ],
  ["binary of 2^32-1 bytes declared inside the data", eventWith(Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 1, 2]))],
  ["a map of 2^31 entries declared inside the data", eventWith(Buffer.from([0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0]))],
  ["nesting 70,000 arrays deep (under the 100 kB limit in base64 too)", eventWith(Buffer.concat([Buffer.alloc(70_000, 0x91), Buffer.from([0xc0])]))],
  ["a valid packet then a trailing byte", Buffer.concat([notepack.encode({ type: 2, data: ["echo"], nsp: "/" }), Buffer.from([0xc0])])],
  ["a truncated packet", notepack.encode({ type: 2, data: ["echo", "x".repeat(50)], nsp: "/" }).subarray(0, 30)],
  ["not a map: an array", notepack.encode([2, ["echo"], "/"])],
  ["not a map: a string", notepack.encode("2")],
  ["an unknown packet type", notepack.encode({ type: 9, data: ["echo"], nsp: "/" })],
  ["a packet type as text", notepack.encode({ type: "2", data: ["echo"], nsp: "/" })],
  ["a CONNECT_ERROR from a client", notepack.encode({ type: 4, data: "x", nsp: "/" })],
  ["a BINARY_EVENT (no such type in msgpack)", notepack.encode({ type: 5, data: ["echo"], nsp: "/" })],
  ["no namespace", notepack.encode({ type: 2, data: ["echo"] })],
  ["a namespace that is a number", notepack.encode({ type: 2, data: ["echo"], nsp: 1 })],
  ["an EVENT whose data is a string", notepack.encode({ type: 2, data: "echo", nsp: "/" })],
  ["an id that is nil", notepack.encode({ type: 2, data: ["echo"], nsp: "/", id: null })],
  ["an id that is text", notepack.encode({ type: 2, data: ["echo"], nsp: "/", id: "1" })],
  [
    "a CONNECT whose auth is nil",
    Buffer.concat([Buffer.from([0x83]), str("type"), Buffer.from([0x00]), str("nsp"), str("/admin"), str("data"), Buffer.from([0xc0])]),
  ],
  ["a CONNECT whose auth is an array", notepack.encode({ type: 0, data: [1], nsp: "/admin" })],
  ["a DISCONNECT with data", notepack.encode({ type: 1, data: "bye", nsp: "/" })],
];

let bystander;
before(async () => {
  // Not tracked by closeAll(): it must live through every test of this file.
  bystander = io(BASE, { ...MSGPACK, forceNew: true, reconnection: false, transports: ["websocket"] });
  await withTimeout(
    new Promise((resolve, reject) => {
      bystander.once("connect", resolve);
      bystander.once("connect_error", reject);
    }),
    STEP_MS,
    "bystander connect",
  );
});
after(() => {
  bystander?.disconnect();
  closeAll();
});

async function assertHealthy() {
  assert.equal(bystander.connected, true, "the bystander client was disconnected");
  assert.equal(await ask(bystander, "echo-ack", "bystander"), "bystander");
  for (const setup of [SETUPS[0], SETUPS[1]]) {
    const { socket } = await connect(setup, MSGPACK);
    assert.equal(await ask(socket, "echo-ack", `fresh ${setup.name}`), `fresh ${setup.name}`);
    socket.disconnect();
  }
}

/** A raw WebSocket peer connected to `/` of the msgpack server (CONNECT answered). */
async function wsConnected() {
  const ws = new RawWs(url({ EIO: "4", transport: "websocket" }, true));
  await ws.opened;
  const open = await ws.next();
  assert.match(open, /^0\{/);
  ws.send(notepack.encode({ type: 0, nsp: "/" }));
  const connected = notepack.decode(await ws.nextNonPing());
  assert.equal(connected.type, 0);
  assert.equal(connected.nsp, "/");
  assert.equal(typeof connected.data.sid, "string");
  const welcome = notepack.decode(await ws.nextNonPing());
  assert.deepEqual(welcome.data[0], "welcome");
  // The connection works: an echo comes back, as one binary message.
  ws.send(notepack.encode({ type: 2, data: ["echo", "ready", Buffer.from([7])], nsp: "/" }));
  const echo = notepack.decode(await ws.nextNonPing());
  assert.equal(echo.data[1], "ready");
  assert.ok(Buffer.from(echo.data[2]).equals(Buffer.from([7])));
  return ws;
}

/** A polling session connected to `/` of the msgpack server; resolves its sid. */
async function pollConnected() {
  const open = await http(url({ EIO: "4", transport: "polling" }));
  assert.equal(open.status, 200);
  const sid = JSON.parse(open.body.slice(1)).sid;
  const connect = `b${Buffer.from(notepack.encode({ type: 0, nsp: "/" })).toString("base64")}`;
  const post = await http(url({ EIO: "4", transport: "polling", sid }), { method: "POST", body: connect });
  assert.equal(post.body, "ok");
  const got = [];
  for (let i = 0; i < 5 && got.length < 2; i++) {
    const r = await http(url({ EIO: "4", transport: "polling", sid }));
    assert.equal(r.status, 200);
    got.push(...packets(r.body).filter((p) => p !== "2"));
  }
  // Binary messages over polling are base64 (`b...`).
  assert.ok(got.length >= 2 && got.every((p) => p.startsWith("b")), JSON.stringify(got));
  assert.equal(notepack.decode(Buffer.from(got[0].slice(1), "base64")).type, 0);
  return sid;
}

describe("msgpack: hostile input closes that client only [websocket]", () => {
  for (const [name, bytes] of CASES) {
    it(name, async () => {
      const ws = await wsConnected();
      ws.send(bytes);
      // Rejects when the connection stays open.
      await ws.waitClosed();
      await assertHealthy();
    });
  }
});

describe("msgpack: hostile input closes that client only [polling]", () => {
  for (const [name, bytes] of CASES) {
    it(name, async () => {
      const sid = await pollConnected();
      const body = typeof bytes === "string" ? bytes : `b${Buffer.from(bytes).toString("base64")}`;
      const post = await http(url({ EIO: "4", transport: "polling", sid }), { method: "POST", body });
      // The POST itself is fine at the Engine.IO level; the session is then closed.
      assert.equal(post.status, 200);
      let closed = false;
      for (let i = 0; i < 5 && !closed; i++) {
        const r = await http(url({ EIO: "4", transport: "polling", sid }));
        if (r.status === 400) {
          assert.equal(r.body, JSON.stringify({ code: 1, message: "Session ID unknown" }));
          closed = true;
        } else {
          assert.equal(r.status, 200);
          assert.ok(
            packets(r.body).every((p) => p === "6" || p === "1" || p === "2"),
            `still delivering: ${r.body}`,
          );
        }
      }
      assert.ok(closed, "the session is still open");
      await assertHealthy();
    });
  }
});
