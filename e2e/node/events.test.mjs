// Events both ways and acknowledgements both ways, over each transport setup.
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { SETUPS, connect, ask, askAll, once, closeAll, withTimeout, nonce, STEP_MS } from "./helpers.mjs";

const MIXED = [
  "text with unicode: héllo ✓ 😀 \"quotes\" \\ and \n newline",
  42,
  -3.5,
  true,
  false,
  null,
  { nested: { list: [1, "two", { three: [null, false] }] }, empty: {}, arr: [] },
  ["a", ["b", ["c"]]],
];

for (const setup of SETUPS) {
  describe(`events [${setup.name}]`, () => {
    afterEach(closeAll);

    it("echo: an event with several args comes back with the same args", async () => {
      const { socket } = await connect(setup);
      const back = once(socket, "echo");
      socket.emit("echo", ...MIXED);
      assert.deepEqual(await back, MIXED);
    });

    it("echo: an event without args comes back without args", async () => {
      const { socket } = await connect(setup);
      const back = once(socket, "echo");
      socket.emit("echo");
      assert.deepEqual(await back, []);
    });

    it("events keep their order", async () => {
      const { socket } = await connect(setup);
      const got = [];
      const done = withTimeout(
        new Promise((resolve) =>
          socket.on("echo", (n) => {
            got.push(n);
            if (got.length === 50) resolve();
          }),
        ),
        STEP_MS,
        "50 echoes",
      );
      for (let i = 0; i < 50; i++) socket.emit("echo", i);
      await done;
      assert.deepEqual(got, [...Array(50).keys()]);
    });

    it("echo-ack: emitWithAck resolves with the first arg", async () => {
      const { socket } = await connect(setup);
      const id = nonce();
      assert.deepEqual(await ask(socket, "echo-ack", { id, list: [1, 2] }), { id, list: [1, 2] });
    });

    it("echo-ack: an ack callback gets every arg", async () => {
      const { socket } = await connect(setup);
      assert.deepEqual(await askAll(socket, "echo-ack", ...MIXED), MIXED);
    });

    it("echo-ack: an ack without args", async () => {
      const { socket } = await connect(setup);
      assert.deepEqual(await askAll(socket, "echo-ack"), []);
    });

    it("concurrent acks each resolve with their own value", async () => {
      const { socket } = await connect(setup);
      const answers = await Promise.all([...Array(20).keys()].map((i) => ask(socket, "echo-ack", i)));
      assert.deepEqual(answers, [...Array(20).keys()]);
    });

    it("message: send() comes back as a `message` event", async () => {
      const { socket } = await connect(setup);
      const back = once(socket, "message");
      const data = { hello: "world", n: nonce() };
      socket.send(data);
      assert.deepEqual(await back, [data]);
    });

    it("server-to-client ack: the server's `ask` gets the client's answer", async () => {
      const { socket } = await connect(setup);
      socket.on("question", (data, cb) => {
        cb({ echoed: data, by: "client" }, "ignored second arg");
      });
      const data = { q: nonce() };
      assert.deepEqual(await ask(socket, "ask", data), { answer: { echoed: data, by: "client" } });
    });

    it("server-to-client ack: the question carries the data and an ack callback", async () => {
      const { socket } = await connect(setup);
      const question = once(socket, "question");
      const reply = ask(socket, "ask", ["x", 1]);
      const [data, cb] = await question;
      assert.deepEqual(data, ["x", 1]);
      assert.equal(typeof cb, "function");
      cb("late but in time");
      assert.deepEqual(await reply, { answer: "late but in time" });
    });

    it("server-to-client ack: a client that does not answer makes the server time out", async () => {
      const { socket } = await connect(setup);
      const asked = once(socket, "question"); // deliberately never acked
      const started = Date.now();
      const reply = await ask(socket, "ask", "are you there?");
      const elapsed = Date.now() - started;
      const [data, cb] = await asked;
      assert.equal(data, "are you there?");
      assert.equal(typeof cb, "function");
      assert.deepEqual(reply, { error: "timeout" });
      assert.ok(elapsed >= 900, `timed out too early: ${elapsed} ms`);
      assert.ok(elapsed < 3000, `timed out too late: ${elapsed} ms`);
      // the connection is still fine afterwards
      assert.equal(await ask(socket, "echo-ack", "after"), "after");
    });

    it("client-side timeout: an event the server never acks rejects emitWithAck", async () => {
      const { socket } = await connect(setup);
      const started = Date.now();
      await assert.rejects(
        withTimeout(socket.timeout(300).emitWithAck("no-such-event", 1), STEP_MS, "client timeout"),
        (err) => err instanceof Error && err.message === "operation has timed out",
      );
      assert.ok(Date.now() - started >= 250);
      assert.equal(socket.connected, true);
      assert.equal(await ask(socket, "echo-ack", "still up"), "still up");
    });

    it("client-side timeout with a callback: the callback gets an Error", async () => {
      const { socket } = await connect(setup);
      const args = await withTimeout(
        new Promise((resolve) => socket.timeout(300).emit("no-such-event", "x", (...a) => resolve(a))),
        STEP_MS,
        "timeout callback",
      );
      assert.equal(args.length, 1);
      assert.ok(args[0] instanceof Error);
      assert.equal(args[0].message, "operation has timed out");
    });
  });
}
