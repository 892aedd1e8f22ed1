// Rooms, room broadcasts, broadcast-to-others and emit-to-all, over each transport setup.
// Clients of other setups join in, so messages cross transports. Every payload carries a
// nonce, so tests running beside these (which broadcast too) cannot be mistaken for them.
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { SETUPS, connect, ask, collect, closeAll, nonce, sleep, bytesOf } from "./helpers.mjs";

/**
 * Proves `socket` got nothing more: a round trip through the server (which delivers in order
 * on one connection), then a short grace period for servers that fan out asynchronously.
 */
async function settle(...sockets) {
  await Promise.all(sockets.map((s) => ask(s, "echo-ack", "barrier")));
  await sleep(100);
}

const other = (setup) => SETUPS[(SETUPS.indexOf(setup) + 1) % SETUPS.length];

for (const setup of SETUPS) {
  describe(`rooms [${setup.name}]`, () => {
    afterEach(closeAll);

    it("join and leave answer the sorted rooms, which include the socket's own id", async () => {
      const { socket } = await connect(setup);
      const r1 = `room-b-${nonce()}`;
      const r2 = `room-a-${nonce()}`;
      assert.deepEqual(await ask(socket, "join", r1), [r1, socket.id].sort());
      assert.deepEqual(await ask(socket, "join", r2), [r1, r2, socket.id].sort());
      assert.deepEqual(await ask(socket, "join", r2), [r1, r2, socket.id].sort(), "joining twice");
      assert.deepEqual(await ask(socket, "leave", r1), [r2, socket.id].sort());
      assert.deepEqual(await ask(socket, "leave", "never-joined"), [r2, socket.id].sort());
      assert.deepEqual(await ask(socket, "leave", r2), [socket.id]);
    });

    it("to-room reaches the members (sender included when a member) and nobody else", async () => {
      const a = (await connect(setup)).socket;
      const b = (await connect(other(setup))).socket;
      const outsider = (await connect(setup)).socket;
      const room = `r-${nonce()}`;
      const data = { n: nonce(), bin: Buffer.from([9, 8, 7]) };
      await ask(a, "join", room);
      await ask(b, "join", room);
      const seenA = collect(a, "news");
      const seenB = collect(b, "news");
      const seenOut = collect(outsider, "news");
      a.emit("to-room", room, "news", data);
      const mine = (d) => d && d.n === data.n;
      await seenA.seen(mine);
      await seenB.seen(mine);
      await settle(outsider, a, b);
      assert.equal(seenOut.has(mine), false, "the outsider got the room message");
      assert.equal(seenA.got.filter(([d]) => mine(d)).length, 1, "a got it once");
      assert.equal(seenB.got.filter(([d]) => mine(d)).length, 1, "b got it once");
      assert.deepEqual([...bytesOf(seenB.got.find(([d]) => mine(d))[0].bin)], [9, 8, 7]);
    });

    it("a non-member can send to a room; after leave the room no longer reaches the socket", async () => {
      const member = (await connect(setup)).socket;
      const leaver = (await connect(setup)).socket;
      const sender = (await connect(other(setup))).socket;
      const room = `r-${nonce()}`;
      await ask(member, "join", room);
      await ask(leaver, "join", room);
      await ask(leaver, "leave", room);
      const seenMember = collect(member, "ping-room");
      const seenLeaver = collect(leaver, "ping-room");
      const seenSender = collect(sender, "ping-room");
      const n = nonce();
      sender.emit("to-room", room, "ping-room", n);
      await seenMember.seen((d) => d === n);
      await settle(leaver, sender);
      assert.equal(seenLeaver.has((d) => d === n), false, "left the room but still got it");
      assert.equal(seenSender.has((d) => d === n), false, "the non-member sender got it");
    });

    it("a socket id is a room: to-room on an id reaches that socket only", async () => {
      const target = (await connect(setup)).socket;
      const bystander = (await connect(setup)).socket;
      const seenT = collect(target, "direct");
      const seenB = collect(bystander, "direct");
      const n = nonce();
      bystander.emit("to-room", target.id, "direct", n);
      await seenT.seen((d) => d === n);
      await settle(bystander);
      assert.equal(seenB.has((d) => d === n), false);
    });

    it("to-room-except skips the members of the excepted room", async () => {
      const a = (await connect(setup)).socket;
      const b = (await connect(other(setup))).socket;
      const c = (await connect(setup)).socket;
      const room = `r-${nonce()}`;
      const vip = `vip-${nonce()}`;
      for (const s of [a, b, c]) await ask(s, "join", room);
      await ask(b, "join", vip);
      const seen = [a, b, c].map((s) => collect(s, "partial"));
      const n = nonce();
      b.emit("to-room-except", room, vip, "partial", { n });
      const mine = (d) => d && d.n === n;
      await seen[0].seen(mine);
      await seen[2].seen(mine);
      await settle(b);
      assert.equal(seen[1].has(mine), false, "a member of the excepted room got it");
    });

    it("broadcast reaches the others but not the sender", async () => {
      const sender = (await connect(setup)).socket;
      const peers = [];
      for (const s of SETUPS) peers.push((await connect(s)).socket);
      const seenSender = collect(sender, "broadcast");
      const seenPeers = peers.map((p) => collect(p, "broadcast"));
      const n = nonce();
      sender.emit("broadcast", { n, list: [1, 2] });
      const mine = (d) => d && d.n === n;
      for (const s of seenPeers) await s.seen(mine);
      await settle(sender);
      assert.equal(seenSender.has(mine), false, "the sender got its own broadcast");
      assert.deepEqual(seenPeers[0].got.find(([d]) => mine(d)), [{ n, list: [1, 2] }]);
    });

    it("emit-all reaches everyone, the sender and clients on every transport", async () => {
      const sender = (await connect(setup)).socket;
      const peers = [];
      for (const s of SETUPS) peers.push((await connect(s)).socket);
      const everyone = [sender, ...peers];
      const seen = everyone.map((s) => collect(s, "all"));
      const n = nonce();
      sender.emit("emit-all", { n, bin: Buffer.from("all") });
      const mine = (d) => d && d.n === n;
      for (const s of seen) await s.seen(mine);
      await settle(...everyone);
      for (const s of seen) assert.equal(s.got.filter(([d]) => mine(d)).length, 1, "exactly once");
      for (const s of seen) assert.equal(bytesOf(s.got.find(([d]) => mine(d))[0].bin).toString(), "all");
    });

    it("namespaces are separate: emit-all in / does not reach a /dyn-3 socket", async () => {
      const sender = (await connect(setup)).socket;
      const dyn = (await connect(setup, { nsp: "/dyn-3" })).socket;
      const seenSender = collect(sender, "all");
      const seenDyn = collect(dyn, "all");
      const n = nonce();
      sender.emit("emit-all", n);
      await seenSender.seen((d) => d === n);
      await ask(dyn, "name");
      await sleep(100);
      assert.equal(seenDyn.has((d) => d === n), false);
    });
  });
}
