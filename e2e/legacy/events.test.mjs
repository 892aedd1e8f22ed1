// socket.io-client 2.2.0: events with several args both ways, acks both ways, binary (Buffer)
// in events and acks, disconnect reasons; over polling, WebSocket and polling-then-upgrade.
// (2.x in Node polls in base64 mode, `b64=1`: its XMLHttpRequest has no binary support.)
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { bytesOf, isBinary, withTimeout, STEP_MS } from "../node/helpers.mjs";
import { SETUPS, connectV2, askV2, ask1, closeAllV2, once, serverDisconnectsV2 } from "./helpers-v2.mjs";

const MIXED = [
  "text with unicode: héllo ✓ 😀 𝕊 \"quotes\" \\ and \n newline",
  42,
  -3.5,
  true,
  false,
  null,
  { nested: { list: [1, "two", { three: [null, false] }] }, empty: {}, arr: [] },
  ["a", ["b", ["c"]]],
];

for (const setup of SETUPS) {
  describe(`legacy events [${setup.name}]`, () => {
    afterEach(closeAllV2);

    it("echo: an event with several args comes back with the same args", async () => {
      const { socket } = await connectV2(setup);
      const back = once(socket, "echo");
      socket.emit("echo", ...MIXED);
      assert.deepEqual(await back, MIXED);
    });

    it("echo: an event without args comes back without args", async () => {
      const { socket } = await connectV2(setup);
      const back = once(socket, "echo");
      socket.emit("echo");
      assert.deepEqual(await back, []);
    });

    it("events keep their order", async () => {
      const { socket } = await connectV2(setup);
      const got = [];
      const done = withTimeout(
        new Promise((resolve) =>
          socket.on("echo", (n) => {
            got.push(n);
            if (got.length === 30) resolve();
          }),
        ),
        STEP_MS,
        "30 echoes",
      );
      for (let i = 0; i < 30; i++) socket.emit("echo", i);
      await done;
      assert.deepEqual(got, [...Array(30).keys()]);
    });

    it("ack from the server with several args", async () => {
      const { socket } = await connectV2(setup);
      assert.deepEqual(await askV2(socket, "echo-ack", ...MIXED), MIXED);
    });

    it("concurrent acks each get their own answer", async () => {
      const { socket } = await connectV2(setup);
      const answers = await Promise.all([...Array(10).keys()].map((i) => ask1(socket, "echo-ack", `n${i}`)));
      assert.deepEqual(answers, [...Array(10).keys()].map((i) => `n${i}`));
    });

    it("ack from the client: the server's `ask` gets the client's answer", async () => {
      const { socket } = await connectV2(setup);
      socket.on("question", (data, ack) => {
        assert.equal(typeof ack, "function");
        ack(`answer to ${data}`);
      });
      assert.deepEqual(await ask1(socket, "ask", "q1"), { answer: "answer to q1" });
    });

    it("the server's `ask` times out when the client does not answer", async () => {
      const { socket } = await connectV2(setup);
      socket.on("question", () => {});
      assert.deepEqual(await ask1(socket, "ask", "ignored"), { error: "timeout" });
    });

    it("binary: Buffers in an event, nested and at the top level, come back byte for byte", async () => {
      const { socket } = await connectV2(setup);
      const a = Buffer.from([0, 1, 2, 255, 254]);
      const b = Buffer.from("héllo 𝕊", "utf8");
      const back = once(socket, "echo");
      socket.emit("echo", a, { nested: { b, list: [1, b] } }, "text");
      const [x, y, z] = await back;
      assert.ok(isBinary(x), "top-level attachment is binary");
      assert.deepEqual([...bytesOf(x)], [...a]);
      assert.deepEqual([...bytesOf(y.nested.b)], [...b]);
      assert.equal(y.nested.list[0], 1);
      assert.deepEqual([...bytesOf(y.nested.list[1])], [...b]);
      assert.equal(z, "text");
    });

    it("binary: empty and 60 kB buffers", async () => {
      const { socket } = await connectV2(setup);
      const big = Buffer.alloc(60000);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
      const [e, g] = await askV2(socket, "echo-ack", Buffer.alloc(0), big);
      assert.equal(bytesOf(e).length, 0);
      assert.ok(bytesOf(g).equals(big));
    });

    it("binary in an ack from the server and in an ack from the client", async () => {
      const { socket } = await connectV2(setup);
      const [bin, label] = await askV2(socket, "echo-ack", Buffer.from([7, 7, 7]), "label");
      assert.deepEqual([...bytesOf(bin)], [7, 7, 7]);
      assert.equal(label, "label");
      socket.on("question", (data, ack) => ack(Buffer.from([1, 2, 3, data.n])));
      const { answer } = await ask1(socket, "ask", { n: 9 });
      assert.deepEqual([...bytesOf(answer)], [1, 2, 3, 9]);
    });

    it("binary interleaved with text keeps the order", async () => {
      const { socket } = await connectV2(setup);
      const got = [];
      const done = withTimeout(
        new Promise((resolve) =>
          socket.on("echo", (x) => {
            got.push(isBinary(x) ? `bin:${[...bytesOf(x)].join(",")}` : x);
            if (got.length === 6) resolve();
          }),
        ),
        STEP_MS,
        "6 echoes",
      );
      for (let i = 0; i < 3; i++) {
        socket.emit("echo", `t${i}`);
        socket.emit("echo", Buffer.from([i, i + 1]));
      }
      await done;
      assert.deepEqual(got, ["t0", "bin:0,1", "t1", "bin:1,2", "t2", "bin:2,3"]);
    });

    it("message: send() is answered with a `message` event", async () => {
      const { socket } = await connectV2(setup);
      const back = once(socket, "message");
      socket.send({ hello: "v2" });
      assert.deepEqual(await back, [{ hello: "v2" }]);
    });
  });

  describe(`legacy disconnect [${setup.name}]`, () => {
    afterEach(closeAllV2);

    it("client disconnect(): `io client disconnect`; the server records `client namespace disconnect`", async () => {
      const observer = (await connectV2(setup)).socket;
      const { socket } = await connectV2(setup);
      const id = socket.id;
      const reason = once(socket, "disconnect");
      socket.disconnect();
      assert.deepEqual(await reason, ["io client disconnect"]);
      const [entry] = await serverDisconnectsV2(observer, [id]);
      assert.deepEqual(entry, { id, nsp: "/", reason: "client namespace disconnect" });
    });

    it("server-disconnect: `io server disconnect` on both sides", async () => {
      const observer = (await connectV2(setup)).socket;
      const { socket } = await connectV2(setup);
      const id = socket.id;
      const reason = once(socket, "disconnect");
      socket.emit("server-disconnect");
      assert.deepEqual(await reason, ["io server disconnect"]);
      const [entry] = await serverDisconnectsV2(observer, [id]);
      assert.deepEqual(entry, { id, nsp: "/", reason: "server namespace disconnect" });
    });

    it("server-close (disconnect(true)): 2.x reports `io server disconnect`, and the engine closes", async () => {
      const observer = (await connectV2(setup)).socket;
      const { socket } = await connectV2(setup);
      const id = socket.id;
      const reason = once(socket, "disconnect");
      const engineClosed = once(socket.io.engine, "close");
      socket.emit("server-close");
      assert.deepEqual(await reason, ["io server disconnect"]);
      await engineClosed;
      const [entry] = await serverDisconnectsV2(observer, [id]);
      assert.deepEqual(entry, { id, nsp: "/", reason: "server namespace disconnect" });
    });

    it("the client closing its engine: 2.x reports `forced close`; the server `transport close`", async () => {
      const observer = (await connectV2(setup)).socket;
      const { socket } = await connectV2(setup);
      const id = socket.id;
      const reason = once(socket, "disconnect");
      socket.io.engine.close();
      assert.deepEqual(await reason, ["forced close"]);
      const [entry] = await serverDisconnectsV2(observer, [id]);
      assert.deepEqual(entry, { id, nsp: "/", reason: "transport close" });
    });
  });
}
