// Binary payloads (Buffer, Uint8Array) in events and acks, top level and nested, over each
// transport setup. Every round trip is compared byte for byte.
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  SETUPS,
  connect,
  ask,
  askAll,
  once,
  closeAll,
  bytesOf,
  isBinary,
  withTimeout,
  STEP_MS,
} from "./helpers.mjs";

const ALL_BYTES = Buffer.from([...Array(256).keys()]);

/** Asserts `got` is binary with exactly the bytes of `want`. */
function assertBytes(got, want, what = "value") {
  assert.ok(isBinary(got), `${what} is not binary: ${JSON.stringify(got)}`);
  assert.ok(bytesOf(got).equals(Buffer.from(want)), `${what}: bytes differ`);
}

for (const setup of SETUPS) {
  describe(`binary [${setup.name}]`, () => {
    afterEach(closeAll);

    it("a Buffer with every byte value round-trips through echo", async () => {
      const { socket } = await connect(setup);
      const back = once(socket, "echo");
      socket.emit("echo", ALL_BYTES);
      const args = await back;
      assert.equal(args.length, 1);
      assertBytes(args[0], ALL_BYTES);
    });

    it("a Uint8Array round-trips through echo", async () => {
      const { socket } = await connect(setup);
      const data = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 10, 13, 0x1e]);
      const back = once(socket, "echo");
      socket.emit("echo", data);
      const [got] = await back;
      assertBytes(got, data);
    });

    it("an empty Buffer round-trips", async () => {
      const { socket } = await connect(setup);
      const back = once(socket, "echo");
      socket.emit("echo", Buffer.alloc(0), "after-empty");
      const [got, text] = await back;
      assertBytes(got, Buffer.alloc(0));
      assert.equal(text, "after-empty");
    });

    it("several attachments, nested in objects and arrays, mixed with JSON", async () => {
      const { socket } = await connect(setup);
      const a = randomBytes(33);
      const b = randomBytes(1);
      const c = randomBytes(500);
      const d = Buffer.from("not text, bytes");
      const payload = { a, list: [b, { deep: c, n: 1 }, "str"], meta: { name: "x", none: null } };
      const back = once(socket, "echo");
      socket.emit("echo", payload, d, 7);
      const [got, gotD, seven] = await back;
      assertBytes(got.a, a, "a");
      assertBytes(got.list[0], b, "list[0]");
      assertBytes(got.list[1].deep, c, "list[1].deep");
      assert.equal(got.list[1].n, 1);
      assert.equal(got.list[2], "str");
      assert.deepEqual(got.meta, { name: "x", none: null });
      assertBytes(gotD, d, "second arg");
      assert.equal(seven, 7);
    });

    it("the same Buffer twice in one event makes two attachments, both intact", async () => {
      const { socket } = await connect(setup);
      const x = randomBytes(16);
      const back = once(socket, "echo");
      socket.emit("echo", [x, x]);
      const [[p, q]] = await back;
      assertBytes(p, x, "first");
      assertBytes(q, x, "second");
    });

    it("a 60 kB Buffer round-trips", async () => {
      const { socket } = await connect(setup);
      const big = randomBytes(60000);
      const back = once(socket, "echo");
      socket.emit("echo", big);
      const [got] = await back;
      assertBytes(got, big);
    });

    it("binary in an ack: echo-ack answers with the same bytes", async () => {
      const { socket } = await connect(setup);
      const x = randomBytes(64);
      const y = randomBytes(3);
      const args = await askAll(socket, "echo-ack", x, { inner: [y] }, "t");
      assert.equal(args.length, 3);
      assertBytes(args[0], x, "ack arg 0");
      assertBytes(args[1].inner[0], y, "ack arg 1");
      assert.equal(args[2], "t");
    });

    it("binary both ways through the server's ack (`ask`)", async () => {
      const { socket } = await connect(setup);
      const question = randomBytes(20);
      const answer = randomBytes(40);
      let asked;
      socket.on("question", (data, cb) => {
        asked = data;
        cb({ bytes: answer });
      });
      const reply = await ask(socket, "ask", { bytes: question });
      assertBytes(asked.bytes, question, "question");
      assertBytes(reply.answer.bytes, answer, "answer");
    });

    it("binary and text events interleave in order", async () => {
      const { socket } = await connect(setup);
      const got = [];
      const done = new Promise((resolve) =>
        socket.on("echo", (v) => {
          got.push(v);
          if (got.length === 6) resolve();
        }),
      );
      const sent = ["t0", Buffer.from([1]), "t2", Buffer.from([3, 3]), { b: Buffer.from([4]) }, "t5"];
      for (const v of sent) socket.emit("echo", v);
      await withTimeout(done, STEP_MS, "6 echoes");
      assert.equal(got.length, 6);
      assert.equal(got[0], "t0");
      assertBytes(got[1], [1]);
      assert.equal(got[2], "t2");
      assertBytes(got[3], [3, 3]);
      assertBytes(got[4].b, [4]);
      assert.equal(got[5], "t5");
    });
  });
}
