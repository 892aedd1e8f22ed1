// The end-to-end scenario: a client connects over polling, upgrades to WebSocket, emits with
// an ack and gets it, and receives a room broadcast sent by another client. Plus the server's
// `message` log line, when run.sh tells where the server's stdout goes (E2E_SERVER_LOG).
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { SETUPS, makeSocket, waitConnected, connect, ask, once, collect, closeAll, nonce, sleep } from "./helpers.mjs";

const UPGRADE = SETUPS.find((s) => s.name === "upgrade");
const POLLING = SETUPS.find((s) => s.name === "polling");
const WEBSOCKET = SETUPS.find((s) => s.name === "websocket");

describe("end-to-end scenario", () => {
  afterEach(closeAll);

  it("polling → upgrade → ack → room broadcast from another client", async () => {
    const socket = makeSocket(UPGRADE, { auth: { user: "alice" } });
    const transports = [];
    socket.io.once("open", () => {
      const engine = socket.io.engine;
      transports.push(engine.transport.name);
      engine.on("upgrade", (t) => transports.push(t.name));
    });
    const welcome = once(socket, "welcome");
    await waitConnected(UPGRADE, socket); // asserts the `upgrade` event and the final transport
    assert.deepEqual(transports, ["polling", "websocket"]);
    assert.equal(socket.io.engine.transport.name, "websocket");
    assert.deepEqual((await welcome)[0], { id: socket.id, auth: { user: "alice" }, foo: null });

    // after the upgrade, an ack round trip goes over the WebSocket
    const payload = { text: "hello", bytes: Buffer.from([1, 2, 3]) };
    const [ackText, ackBytesHolder] = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no ack")), 5000);
      socket.emit("echo-ack", payload.text, { b: payload.bytes }, (...args) => {
        clearTimeout(t);
        resolve(args);
      });
    });
    assert.equal(ackText, "hello");
    assert.deepEqual([...Buffer.from(ackBytesHolder.b)], [1, 2, 3]);

    const room = `scenario-${nonce()}`;
    assert.deepEqual(await ask(socket, "join", room), [room, socket.id].sort());

    // another client, on plain polling, sends to the room
    const bob = (await connect(POLLING, { auth: { user: "bob" } })).socket;
    const news = collect(socket, "news");
    const n = nonce();
    bob.emit("to-room", room, "news", { from: "bob", n });
    await news.seen((d) => d && d.n === n);
    assert.deepEqual(
      news.got.find(([d]) => d && d.n === n),
      [{ from: "bob", n }],
    );
    assert.equal(socket.io.engine.transport.name, "websocket", "still on websocket");
  });

  it("the server prints `message <id> <json>` for each `message` it receives", async (t) => {
    const logPath = process.env.E2E_SERVER_LOG;
    if (!logPath) {
      t.skip("E2E_SERVER_LOG is not set (run.sh sets it to the server's stdout)");
      return;
    }
    const { socket } = await connect(WEBSOCKET);
    const data = { n: nonce(), text: "logged ✓", list: [1, null] };
    const back = once(socket, "message");
    socket.send(data);
    assert.deepEqual(await back, [data]);
    const prefix = `message ${socket.id} `;
    let line;
    for (let i = 0; i < 30 && !line; i++) {
      line = readFileSync(logPath, "utf8")
        .split("\n")
        .find((l) => l.startsWith(prefix));
      if (!line) await sleep(100);
    }
    assert.ok(line, `no line starting with "${prefix}" in ${logPath}`);
    assert.deepEqual(JSON.parse(line.slice(prefix.length)), data);
  });
});
