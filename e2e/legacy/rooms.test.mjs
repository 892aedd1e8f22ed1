// socket.io-client 2.2.0 in rooms and broadcasts, side by side with socket.io-client 4.x
// clients on the same server: `join`/`leave`, `to-room`, `broadcast`, `emit-all`. Every payload
// carries a nonce, so the broadcasts of tests running beside these cannot be mistaken for them.
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  SETUPS as V4_SETUPS,
  connect as connectV4,
  ask as askV4,
  closeAll as closeAllV4,
  collect,
  nonce,
  sleep,
  bytesOf,
} from "../node/helpers.mjs";
import { SETUPS, connectV2, ask1, closeAllV2 } from "./helpers-v2.mjs";

/** A round trip through the server on each socket, then a short grace period. */
async function settle(v2s, v4s = []) {
  await Promise.all([
    ...v2s.map((s) => ask1(s, "echo-ack", "barrier")),
    ...v4s.map((s) => askV4(s, "echo-ack", "barrier")),
  ]);
  await sleep(100);
}

const other = (setup) => SETUPS[(SETUPS.indexOf(setup) + 1) % SETUPS.length];
const v4Setup = (setup) => V4_SETUPS.find((s) => s.name === setup.name);

for (const setup of SETUPS) {
  describe(`legacy rooms [${setup.name}]`, () => {
    afterEach(() => {
      closeAllV2();
      closeAllV4();
    });

    it("join and leave answer the sorted rooms, which include the engine id", async () => {
      const { socket } = await connectV2(setup);
      const r1 = `room-b-${nonce()}`;
      const r2 = `room-a-${nonce()}`;
      assert.deepEqual(await ask1(socket, "join", r1), [r1, socket.id].sort());
      assert.deepEqual(await ask1(socket, "join", r2), [r1, r2, socket.id].sort());
      assert.deepEqual(await ask1(socket, "leave", r1), [r2, socket.id].sort());
      assert.deepEqual(await ask1(socket, "leave", r2), [socket.id]);
    });

    it("to-room reaches the v2 and v4 members (binary included) and nobody else", async () => {
      const a = (await connectV2(setup)).socket;
      const b = (await connectV2(other(setup))).socket;
      const c = (await connectV4(v4Setup(setup))).socket;
      const outsider = (await connectV2(setup)).socket;
      const room = `r-${nonce()}`;
      const data = { n: nonce(), bin: Buffer.from([9, 8, 7]) };
      await ask1(a, "join", room);
      await ask1(b, "join", room);
      await askV4(c, "join", room);
      const seen = [a, b, c].map((s) => collect(s, "news"));
      const seenOut = collect(outsider, "news");
      a.emit("to-room", room, "news", data);
      const mine = (d) => d && d.n === data.n;
      for (const s of seen) await s.seen(mine);
      await settle([outsider, a, b], [c]);
      assert.equal(seenOut.has(mine), false, "the outsider got the room message");
      for (const s of seen) {
        assert.equal(s.got.filter(([d]) => mine(d)).length, 1, "each member got it once");
        assert.deepEqual([...bytesOf(s.got.find(([d]) => mine(d))[0].bin)], [9, 8, 7]);
      }
    });

    it("a socket id (the engine id) is a room", async () => {
      const target = (await connectV2(setup)).socket;
      const sender = (await connectV4(v4Setup(other(setup)))).socket;
      const seen = collect(target, "direct");
      const n = nonce();
      sender.emit("to-room", target.id, "direct", { n });
      await seen.seen((d) => d && d.n === n);
    });

    it("broadcast reaches v2 and v4 clients but not the v2 sender", async () => {
      const sender = (await connectV2(setup)).socket;
      const v2 = (await connectV2(other(setup))).socket;
      const v4 = (await connectV4(v4Setup(setup))).socket;
      const seenSender = collect(sender, "broadcast");
      const seenV2 = collect(v2, "broadcast");
      const seenV4 = collect(v4, "broadcast");
      const n = nonce();
      const mine = (d) => d && d.n === n;
      sender.emit("broadcast", { n });
      await seenV2.seen(mine);
      await seenV4.seen(mine);
      await settle([sender, v2], [v4]);
      assert.equal(seenSender.has(mine), false, "the sender got its own broadcast");
    });

    it("emit-all from a v2 client reaches v2 and v4 clients together (and the sender)", async () => {
      const sender = (await connectV2(setup)).socket;
      const v2 = (await connectV2(other(setup))).socket;
      const v4a = (await connectV4(v4Setup(setup))).socket;
      const v4b = (await connectV4(v4Setup(other(setup)))).socket;
      const all = [sender, v2, v4a, v4b].map((s) => collect(s, "all"));
      const n = nonce();
      sender.emit("emit-all", { n, text: "to everyone 𝕊", bin: Buffer.from([1, 2, 3]) });
      for (const c of all) await c.seen((d) => d && d.n === n);
      for (const c of all) {
        const [d] = c.got.find(([x]) => x && x.n === n);
        assert.equal(d.text, "to everyone 𝕊");
        assert.deepEqual([...bytesOf(d.bin)], [1, 2, 3]);
      }
    });

    it("emit-all from a v4 client reaches the v2 clients", async () => {
      const v2 = (await connectV2(setup)).socket;
      const sender = (await connectV4(v4Setup(other(setup)))).socket;
      const seen = collect(v2, "all");
      const n = nonce();
      sender.emit("emit-all", { n });
      await seen.seen((d) => d && d.n === n);
    });

    it("namespace isolation: emit-all on / does not reach a v2 socket of /dyn-3", async () => {
      const root = (await connectV2(setup)).socket;
      const dyn = (await connectV2(setup, { nsp: "/dyn-3" })).socket;
      const seenDyn = collect(dyn, "all");
      const seenRoot = collect(root, "all");
      const n = nonce();
      root.emit("emit-all", { n });
      await seenRoot.seen((d) => d && d.n === n);
      await settle([root]);
      assert.equal(await ask1(dyn, "name"), "/dyn-3");
      assert.equal(seenDyn.has((d) => d && d.n === n), false);
    });
  });
}
