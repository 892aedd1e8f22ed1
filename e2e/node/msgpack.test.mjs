// The msgpack parser: socket.io-client 4.8 with socket.io-msgpack-parser 3.0.2 against the
// contract's msgpack server (path /msgpack/, see CONTRACT.md), over each transport setup:
// events with several args of every kind, binary (inline, no attachments), acks both ways,
// rooms and broadcasts, namespaces, connect errors and disconnects; and the official
// socket.io.msgpack.min.js bundle in headless Chromium, through a proxy that reads the frames.
import { describe, it, afterEach, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import parser from "socket.io-msgpack-parser";
import { startFrameProxy } from "./deflate.mjs";
import { launchChromium, pageWithBundle } from "../browser/chromium.mjs";
import {
  SETUPS,
  connect,
  connectError,
  makeManager,
  waitConnected,
  ask,
  askAll,
  once,
  collect,
  closeAll,
  nonce,
  sleep,
  bytesOf,
  isBinary,
  nextDisconnect,
  serverDisconnects,
  track,
  STEP_MS,
} from "./helpers.mjs";

export const MSGPACK = { path: "/msgpack/", parser };

/** A connected msgpack client of `/` (or `nsp`): { socket, welcome }. */
const mp = (setup, options = {}) => connect(setup, { ...MSGPACK, ...options });

function assertBytes(got, want, what = "value") {
  assert.ok(isBinary(got), `${what} is not binary: ${JSON.stringify(got)}`);
  assert.ok(bytesOf(got).equals(Buffer.from(want)), `${what}: bytes differ`);
}

/** Every kind of value msgpack carries (notepack: ints, floats, text, maps, arrays, nil). */
const KINDS = [
  "plain",
  "ünïcödé 𝕊 \u0000 \n",
  "",
  0,
  -1,
  127,
  128,
  -33,
  65535,
  4294967296,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  1.5,
  -0.25,
  1.2345e-300,
  true,
  false,
  null,
  [],
  {},
  [1, "two", [3, [4]], { five: 5 }],
  { nested: { deep: { list: [null, true, 2.5] } }, "key with space": "v", ok: "x".repeat(300) },
];

for (const setup of SETUPS) {
  describe(`msgpack [${setup.name}]`, () => {
    afterEach(closeAll);

    it("connects; welcome carries the id and the auth object, through msgpack both ways", async () => {
      const auth = { token: "ok", n: 1.5, list: [1, "a", null], nested: { t: true } };
      const { socket, welcome } = await mp(setup, { auth });
      assert.deepEqual(welcome, { id: socket.id, auth, foo: null });
    });

    it("echo: several args of every kind, and zero args, come back equal", async () => {
      const { socket } = await mp(setup);
      const back = once(socket, "echo");
      socket.emit("echo", ...KINDS);
      assert.deepEqual(await back, KINDS);
      const none = once(socket, "echo");
      socket.emit("echo");
      assert.deepEqual(await none, []);
    });

    it("events keep their order", async () => {
      const { socket } = await mp(setup);
      const got = collect(socket, "echo");
      for (let i = 0; i < 50; i++) socket.emit("echo", i);
      await got.seen(() => got.got.length === 50);
      assert.deepEqual(
        got.got.map((a) => a[0]),
        [...Array(50).keys()],
      );
    });

    it("binary: every byte value, empty, 60 kB, several and nested, byte for byte", async () => {
      const { socket } = await mp(setup);
      const all = Buffer.from([...Array(256).keys()]);
      const big = randomBytes(60_000);
      const [a, b] = [randomBytes(7), randomBytes(1)];
      const back = once(socket, "echo");
      socket.emit("echo", all, Buffer.alloc(0), { a, list: [b, { big }], n: 1 }, "after");
      const [gotAll, gotEmpty, obj, text] = await back;
      assertBytes(gotAll, all, "all");
      assertBytes(gotEmpty, Buffer.alloc(0), "empty");
      assertBytes(obj.a, a, "a");
      assertBytes(obj.list[0], b, "list[0]");
      assertBytes(obj.list[1].big, big, "big");
      assert.equal(obj.n, 1);
      assert.equal(text, "after");
    });

    it("acks from the server: several args, binary included (callback and emitWithAck)", async () => {
      const { socket } = await mp(setup);
      const bin = randomBytes(100);
      const args = await askAll(socket, "echo-ack", "x", 2, [3], bin, null);
      assert.equal(args.length, 5);
      assert.deepEqual(args.slice(0, 3), ["x", 2, [3]]);
      assertBytes(args[3], bin);
      assert.equal(args[4], null);
      assert.deepEqual(await ask(socket, "echo-ack", { k: "v" }), { k: "v" });
    });

    it("acks from the client: the server's question is answered (binary too), or times out", async () => {
      const { socket } = await mp(setup);
      const bin = randomBytes(32);
      socket.once("question", (q, cb) => cb(["answer to", q, bin]));
      const reply = await ask(socket, "ask", "what?");
      assert.equal(reply.answer[0], "answer to");
      assert.equal(reply.answer[1], "what?");
      assertBytes(reply.answer[2], bin);
      socket.once("question", () => {}); // never answered
      assert.deepEqual(await ask(socket, "ask", "silence"), { error: "timeout" });
    });

    it("rooms: join and leave, to-room reaches the members only, to-room-except", async () => {
      const [{ socket: a }, { socket: b }, { socket: c }] = await Promise.all([mp(setup), mp(setup), mp(setup)]);
      const room = `room-${nonce()}`;
      const rest = `rest-${nonce()}`;
      assert.deepEqual(await ask(a, "join", room), [a.id, room].sort());
      assert.deepEqual(await ask(b, "join", room), [b.id, room].sort());
      await ask(b, "join", rest);
      const gotA = collect(a, "news");
      const gotB = collect(b, "news");
      const gotC = collect(c, "news");
      const tag = nonce();
      c.emit("to-room", room, "news", { tag, bin: Buffer.from([1, 2]) });
      await gotA.seen((x) => x.tag === tag);
      await gotB.seen((x) => x.tag === tag);
      assertBytes(gotA.got[0][0].bin, [1, 2]);
      const tag2 = nonce();
      c.emit("to-room-except", room, rest, "news", { tag: tag2 });
      await gotA.seen((x) => x.tag === tag2);
      await sleep(150);
      assert.ok(!gotB.has((x) => x.tag === tag2), "the excepted member got it");
      assert.ok(!gotC.has(() => true), "a non-member got a room broadcast");
      assert.deepEqual(await ask(a, "leave", room), [a.id]);
    });

    it("broadcast reaches everyone but the sender; emit-all reaches every msgpack client", async () => {
      const [{ socket: a }, { socket: b }] = await Promise.all([mp(setup), mp(setup)]);
      const gotA = collect(a, "broadcast");
      const gotB = collect(b, "broadcast");
      const tag = nonce();
      a.emit("broadcast", { tag });
      await gotB.seen((x) => x.tag === tag);
      await sleep(150);
      assert.ok(!gotA.has((x) => x.tag === tag), "the sender got its own broadcast");
      const allA = collect(a, "all");
      const allB = collect(b, "all");
      const tag2 = nonce();
      b.emit("emit-all", [tag2, 1.25, Buffer.from("bin")]);
      await allA.seen((x) => x[0] === tag2);
      await allB.seen((x) => x[0] === tag2);
      assert.equal(allA.got.find((x) => x[0][0] === tag2)[0][1], 1.25);
      assertBytes(allA.got.find((x) => x[0][0] === tag2)[0][2], Buffer.from("bin"));
    });

    it("namespaces: /admin refused and accepted, a dynamic one, an unknown one", async () => {
      const refused = await connectError(setup, { ...MSGPACK, nsp: "/admin", auth: { role: "user" } });
      assert.equal(refused.message, "forbidden");
      assert.equal(refused.data, undefined);
      const { socket: admin } = await mp(setup, { nsp: "/admin", auth: { role: "admin" } });
      assert.equal(await ask(admin, "whoami"), "admin");
      const { socket: dyn } = await mp(setup, { nsp: "/dyn-42" });
      assert.equal(await ask(dyn, "name"), "/dyn-42");
      const unknown = await connectError(setup, { ...MSGPACK, nsp: "/nope" });
      assert.equal(unknown.message, "Invalid namespace");
    });

    it("a middleware's refusal carries its message and data", async () => {
      const err = await connectError(setup, { ...MSGPACK, auth: { token: "bad" } });
      assert.equal(err.message, "unauthorized");
      assert.deepEqual(err.data, { reason: "bad token" });
    });

    it("several namespaces multiplexed on one connection", async () => {
      const manager = makeManager(setup, MSGPACK);
      const root = track(manager.socket("/"));
      const admin = track(manager.socket("/admin", { auth: { role: "admin" } }));
      const dyn = track(manager.socket("/dyn-7"));
      const welcome = once(root, "welcome");
      await Promise.all([waitConnected(setup, root), waitConnected(setup, admin), waitConnected(setup, dyn)]);
      assert.equal((await welcome)[0].id, root.id);
      assert.equal(await ask(admin, "whoami"), "admin");
      assert.equal(await ask(dyn, "name"), "/dyn-7");
      assert.deepEqual(await ask(root, "echo-ack", "root"), "root");
      assert.equal(root.io.engine.id, admin.io.engine.id);
    });

    it("disconnects: by the server, and by the client (reasons on both sides)", async () => {
      const { socket: observer } = await mp(setup);
      const { socket: a } = await mp(setup);
      const idA = a.id;
      const gone = nextDisconnect(a);
      a.emit("server-disconnect");
      assert.equal(await gone, "io server disconnect");
      const { socket: b } = await mp(setup);
      const idB = b.id;
      b.disconnect();
      const seen = await serverDisconnects(observer, [idA, idB]);
      assert.deepEqual(
        seen.map((e) => [e.id, e.nsp, e.reason]),
        [
          [idA, "/", "server namespace disconnect"],
          [idB, "/", "client namespace disconnect"],
        ],
      );
    });
  });
}

describe("msgpack: the client's parser must match the server's", () => {
  afterEach(closeAll);

  it("a JSON client gets no connection from the msgpack server", async () => {
    // Its CONNECT is a text message, which the msgpack parser refuses: the connection closes
    // before any `connect`.
    const { makeSocket } = await import("./helpers.mjs");
    const s = makeSocket(SETUPS[1], { path: "/msgpack/" });
    const outcome = await new Promise((resolve) => {
      const t = setTimeout(() => resolve("nothing"), STEP_MS);
      s.once("connect", () => (clearTimeout(t), resolve("connect")));
      s.once("connect_error", () => (clearTimeout(t), resolve("connect_error")));
      s.once("disconnect", (reason) => (clearTimeout(t), resolve(`disconnect: ${reason}`)));
    });
    assert.equal(outcome, "disconnect: transport close");
  });
});

describe("headless Chromium with the official socket.io.msgpack.min.js bundle", () => {
  const require = createRequire(import.meta.url);
  const DIST = join(dirname(require.resolve("socket.io-client/package.json")), "dist");
  const BUNDLE = readFileSync(join(DIST, "socket.io.msgpack.min.js"));
  let browser;
  before(async () => {
    browser = await launchChromium(["--disable-features=LocalNetworkAccessChecks"]);
  });
  after(async () => {
    await browser?.close();
  });

  for (const transports of [["websocket"], ["polling", "websocket"]]) {
    it(`events, binary and acks both ways, every WebSocket frame binary [${transports.join(" then ")}]`, async () => {
      const proxy = await startFrameProxy();
      let page;
      try {
        page = await pageWithBundle(browser, proxy.url, "msgpack", "socket.io.msgpack.min.js", BUNDLE);
        const r = await page.evaluate(
          ({ path, transports }) =>
            new Promise((resolve, reject) => {
              const socket = io({ path, transports, forceNew: true, reconnection: false });
              const t = setTimeout(() => reject(new Error("no answer")), 5000);
              socket.on("connect_error", (e) => reject(new Error(`connect_error ${e.message}`)));
              // An ArrayBuffer: the bundle's encoder writes it as msgpack `bin` (a Uint8Array
              // it would write as a map of its indices, in Node's server as in Sockeye).
              const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]).buffer;
              const upgraded = () =>
                socket.io.engine.transport.name === "websocket"
                  ? Promise.resolve()
                  : new Promise((ok) => socket.io.engine.once("upgrade", ok));
              socket.on("connect", async () => {
                await upgraded();
                socket.emit("echo", "ünï", 4294967296, 1.5, null, { a: [1, "b"] }, bytes);
                socket.once("echo", (...got) => {
                  socket.emit("echo-ack", "x", bytes, (...acked) => {
                    clearTimeout(t);
                    // notepack's decoder hands binary over as an ArrayBuffer or a view of one.
                    const hex = (b) =>
                      b instanceof ArrayBuffer
                        ? `ArrayBuffer ${Array.from(new Uint8Array(b)).join(",")}`
                        : ArrayBuffer.isView(b)
                          ? `${b.constructor.name} ${Array.from(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).join(",")}`
                          : `${Object.prototype.toString.call(b)} ${JSON.stringify(b)}`;
                    resolve({
                      echo: got.slice(0, 5),
                      echoBin: hex(got[5]),
                      ack0: acked[0],
                      ackBin: hex(acked[1]),
                      transport: socket.io.engine.transport.name,
                    });
                    socket.close();
                  });
                });
              });
            }),
          { path: MSGPACK.path, transports },
        );
        assert.equal(r.transport, "websocket");
        assert.deepEqual(r.echo, ["ünï", 4294967296, 1.5, null, { a: [1, "b"] }]);
        assert.match(r.echoBin, /^(ArrayBuffer|Uint8Array) 0,1,2,253,254,255$/);
        assert.equal(r.ack0, "x");
        assert.match(r.ackBin, /^(ArrayBuffer|Uint8Array) 0,1,2,253,254,255$/);
        await sleep(50);
        // Socket.IO packets travel as binary messages (opcode 2) both ways, the binary
        // arguments inline (no attachments); Engine.IO's own packets (open, ping, the
        // upgrade probe, 6 bytes at most from the client) stay text.
        // Over WebSocket alone, the CONNECT and the server's `welcome` take that path too;
        // after polling, they may have gone over polling before the upgrade, so only the
        // events sent after it (`echo` and `echo-ack` up, their answers down) are certain.
        const least = transports.length === 1 ? 3 : 2;
        const up = proxy.frames.filter((f) => f.dir === "up" && f.op === 2);
        const down = proxy.frames.filter((f) => f.dir === "down" && f.op === 2);
        assert.ok(up.length >= least, `binary messages up: ${up.length}`);
        assert.ok(down.length >= least, `binary messages down: ${down.length}`);
        const text = proxy.frames.filter((f) => f.op === 1 && f.dir === "up");
        assert.ok(
          text.every((f) => f.length <= 6),
          "only Engine.IO packets as text from the client",
        );
      } finally {
        await page?.close();
        proxy.close();
      }
    });
  }
});
