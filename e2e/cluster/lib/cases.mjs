// The cross-node cases every cluster variant runs (classic, classic with a key and the
// specific response channel, sharded). Each operation is triggered on every node in turn (or
// on every node at once when it waits for a timeout) and checked on the clients of every node,
// so a mixed cluster exercises Rust -> Node, Node -> Rust and Rust -> Rust.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { decode } from "notepack.io";
import {
  KINDS,
  bytesOf,
  call,
  callOk,
  connect,
  eventually,
  nonce,
  once,
  sleep,
  startCluster,
  binaryArg,
  startEmitter,
  startMonitor,
  startRedis,
  stopAll,
  waitFormed,
} from "./harness.mjs";
import { disconnectWithin, makeFixture, roomsEventually, roomsOf, timed } from "./fixture.mjs";

const N = KINDS.length;
const LAST = N - 1;
const NODES = [...Array(N).keys()];
const sortIds = (list) => list.map((s) => s.id).sort();
const next = (i) => (i + 1) % N;

/**
 * Registers the cluster cases under `describe(label)`.
 * opts: the cluster options (startCluster); `sseTimeout`: how long serverSideEmitWithAck waits
 * on that variant (classic: requestsTimeout; sharded: Node's fixed 5000 ms).
 */
export function clusterCases(label, opts, { sseTimeout, emitter = false }) {
  const key = opts.key || "socket.io";
  describe(label, () => {
    let redis;
    let nodes;
    let fx;
    let spy;
    let em;

    before(async () => {
      redis = await startRedis();
      nodes = await startCluster(redis.url, opts);
      await waitFormed(nodes);
      fx = await makeFixture(nodes);
      spy = await startSpy(redis, key, !!opts.sharded);
      await settleRoomChannels(spy, "red", N);
      await settleRoomChannels(spy, "blue", N);
      if (emitter) em = await startEmitter(redis.url, { key: opts.key });
    });
    after(stopAll);

    if (emitter) emitterCases(() => ({ fx, em, spy, nodes }));

    it("server count: every node counts every node, in / and in /other", async () => {
      for (const i of NODES) {
        assert.deepEqual(await call(fx.a[i], "server-count"), { count: N }, `node ${i} in /`);
        assert.deepEqual(await call(fx.o[i], "server-count"), { count: N }, `node ${i} in /other`);
      }
    });

    describe("broadcast", () => {
      it("to all: every / client on every node, once, with the arguments; no /other client", async () => {
        for (const i of NODES) {
          const tag = `all-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [tag, i, "text", { n: 1.5, list: [null, true] }] });
          await fx.assertDelivered(i, tag, fx.all);
          for (const s of fx.all) {
            assert.deepEqual(fx.args(s, tag)[0], [tag, i, "text", { n: 1.5, list: [null, true] }]);
          }
        }
      });

      it("from a socket (socket.broadcast): every / client but the sender", async () => {
        for (const i of NODES) {
          const tag = `from-socket-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [tag], fromSocket: true });
          await fx.assertDelivered(
            i,
            tag,
            fx.all.filter((s) => s !== fx.a[i]),
          );
        }
      });

      it("to one room, and to two rooms (a member of both gets it once)", async () => {
        for (const i of NODES) {
          const one = `red-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [one], rooms: ["red"] });
          await fx.assertDelivered(i, one, fx.red);
          const two = `red-blue-${nonce()}`;
          await callOk(fx.b[i], "broadcast", { event: "m", args: [two], rooms: ["red", "blue"] });
          await fx.assertDelivered(i, two, fx.all);
        }
      });

      it("except: rooms minus the excepted rooms, and everyone minus a room", async () => {
        for (const i of NODES) {
          const t1 = `red-except-blue-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [t1], rooms: ["red"], except: ["blue"] });
          await fx.assertDelivered(i, t1, fx.a);
          const t2 = `except-red-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [t2], except: ["red"] });
          await fx.assertDelivered(
            i,
            t2,
            fx.b.filter((_, j) => j % 2 === 0),
          );
        }
      });

      it("a socket id as the room reaches that socket only", async () => {
        for (const i of NODES) {
          const target = fx.b[next(i)];
          const tag = `to-id-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [tag], rooms: [target.id] });
          await fx.assertDelivered(i, tag, [target]);
        }
      });

      it("binary arguments arrive byte for byte on every node", async () => {
        for (const i of NODES) {
          const tag = `bin-${nonce()}`;
          const big = randomBytes(3000);
          const small = Buffer.from([0, 1, 127, 128, 255]);
          await callOk(fx.a[i], "broadcast", {
            event: "m",
            args: [tag, big, { nested: { bin: small, empty: Buffer.alloc(0) }, n: 7 }, "after", [small]],
          });
          await fx.assertDelivered(i, tag, fx.all);
          for (const s of fx.all) {
            const [args] = fx.args(s, tag);
            assert.equal(args.length, 5);
            assert.ok(bytesOf(args[1]).equals(big), `${fx.label(s)}: the 3000 bytes`);
            assert.ok(bytesOf(args[2].nested.bin).equals(small));
            assert.equal(bytesOf(args[2].nested.empty).length, 0);
            assert.equal(args[2].n, 7);
            assert.equal(args[3], "after");
            assert.ok(bytesOf(args[4][0]).equals(small));
          }
        }
      });

      it("volatile: delivered to connected clients on every node", async () => {
        for (const i of NODES) {
          const tag = `volatile-${nonce()}`;
          await callOk(fx.a[i], "broadcast", {
            event: "m",
            args: [tag],
            volatile: true,
            rooms: ["red"],
            except: ["blue"],
          });
          await fx.assertDelivered(i, tag, fx.a);
        }
      });

      it("local: only the clients of the node it was emitted on", async () => {
        for (const i of NODES) {
          const t1 = `local-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [t1], local: true });
          await fx.assertDelivered(i, t1, [fx.a[i], fx.b[i]]);
          const t2 = `local-blue-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [t2], local: true, rooms: ["blue"] });
          await fx.assertDelivered(i, t2, [fx.b[i]]);
        }
      });

      it("namespace isolation: a broadcast in /other reaches /other clients only", async () => {
        for (const i of NODES) {
          const tag = `other-${nonce()}`;
          await callOk(fx.o[i], "broadcast", { event: "m", args: [tag] });
          await fx.assertDelivered(i, tag, fx.o);
        }
      });
    });

    describe("broadcast with acks", () => {
      it("collects one ack from every recipient on every node, before the timeout", async () => {
        await Promise.all(
          NODES.map(async (i) => {
            const tag = `ack-${nonce()}`;
            const { value, ms } = await timed(() =>
              call(fx.a[i], "broadcast-with-ack", { event: "ask", args: [tag], rooms: ["red"], timeout: 4000 }),
            );
            assert.equal(value.timedOut, false, `from node ${i}: ${JSON.stringify(value)}`);
            assert.deepEqual(value.responses.map((r) => r.id).sort(), sortIds(fx.red));
            for (const r of value.responses) assert.deepEqual(r.args, [tag]);
            assert.ok(ms < 4000, `completed on the counts (${ms} ms), not at the timeout`);
          }),
        );
      });

      it("to all but the excepted, with binary arguments in the question", async () => {
        for (const i of [0, LAST]) {
          const bin = randomBytes(64);
          const value = await call(fx.b[i], "broadcast-with-ack", {
            event: "ask",
            args: [bin],
            except: ["red"],
            timeout: 4000,
          });
          assert.equal(value.timedOut, false);
          assert.deepEqual(value.responses.map((r) => r.id).sort(), sortIds(fx.b.filter((_, j) => j % 2 === 0)));
          for (const r of value.responses) assert.ok(bytesOf(r.args[0]).equals(bin));
        }
      });

      it("to nobody: resolves at once with no response", async () => {
        for (const i of NODES) {
          const { value, ms } = await timed(() =>
            call(fx.a[i], "broadcast-with-ack", {
              event: "ask",
              args: [],
              rooms: [`nobody-${nonce()}`],
              timeout: 4000,
            }),
          );
          assert.deepEqual(value, { timedOut: false, responses: [] });
          assert.ok(ms < 4000, `${ms} ms`);
        }
      });

      it("times out when a client on another node does not answer; the answers that came are reported", async () => {
        const quiet = fx.b[1];
        fx.silent.add(quiet);
        try {
          await Promise.all(
            [...new Set([0, LAST])].map(async (i) => {
              const { value, ms } = await timed(() =>
                call(fx.a[i], "broadcast-with-ack", { event: "ask-slow", args: ["q"], rooms: ["blue"], timeout: 1000 }),
              );
              assert.equal(value.timedOut, true, JSON.stringify(value));
              assert.deepEqual(value.responses.map((r) => r.id).sort(), sortIds(fx.b.filter((s) => s !== quiet)));
              assert.ok(ms >= 950 && ms < 3000, `answered after ${ms} ms (timeout 1000)`);
            }),
          );
        } finally {
          fx.silent.delete(quiet);
        }
      });
    });

    describe("fetchSockets", () => {
      it("lists every / socket of the cluster with its handshake, rooms and data", async () => {
        for (const i of NODES) {
          const { sockets } = await callOk(fx.a[i], "fetch-sockets", {});
          assert.deepEqual(
            sockets.map((s) => s.id),
            sortIds(fx.all),
            `from node ${i}`,
          );
          for (const [j, s] of fx.a.entries()) {
            const got = sockets.find((x) => x.id === s.id);
            checkHandshake(got.handshake, { foo: `f${j}`, auth: { token: `t${j}` }, header: `h${j}` });
            assert.deepEqual(got.rooms, [s.id, "red"].sort());
            assert.deepEqual(got.data, { node: j, tag: "a" });
            assert.equal(got.remote, j !== i, `a${j} seen from node ${i}: remote`);
          }
          for (const [j, s] of fx.b.entries()) {
            const got = sockets.find((x) => x.id === s.id);
            checkHandshake(got.handshake, { foo: undefined, auth: {}, header: undefined });
            assert.deepEqual(got.rooms, (j % 2 === 1 ? [s.id, "red", "blue"] : [s.id, "blue"]).sort());
            assert.deepEqual(got.data, {}, "socket.data defaults to {}");
            assert.equal(got.remote, j !== i);
          }
        }
      });

      it("with rooms and except, and local", async () => {
        for (const i of NODES) {
          const r1 = await callOk(fx.a[i], "fetch-sockets", { rooms: ["blue"], except: ["red"] });
          assert.deepEqual(
            r1.sockets.map((s) => s.id),
            sortIds(fx.b.filter((_, j) => j % 2 === 0)),
          );
          const r2 = await callOk(fx.a[i], "fetch-sockets", { rooms: ["red", "blue"], except: [fx.a[next(i)].id] });
          assert.deepEqual(
            r2.sockets.map((s) => s.id),
            sortIds(fx.all.filter((s) => s !== fx.a[next(i)])),
          );
          const r3 = await callOk(fx.a[i], "fetch-sockets", { local: true });
          assert.deepEqual(
            r3.sockets.map((s) => s.id),
            sortIds([fx.a[i], fx.b[i]]),
          );
          assert.ok(r3.sockets.every((s) => s.remote === false));
        }
      });

      it("in /other: the /other sockets only", async () => {
        for (const i of NODES) {
          const { sockets } = await callOk(fx.o[i], "fetch-sockets", {});
          assert.deepEqual(
            sockets.map((s) => s.id),
            sortIds(fx.o),
          );
          for (const s of sockets) assert.equal(s.handshake.auth && typeof s.handshake.auth, "object");
        }
      });
    });

    describe("remote sockets (from fetchSockets)", () => {
      it("emit and emit with ack reach the socket on its node", async () => {
        for (const i of NODES) {
          const target = fx.a[next(i)];
          const tag = `remote-emit-${nonce()}`;
          const r = await callOk(fx.a[i], "remote-socket", { id: target.id, op: "emit", event: "m", args: [tag, 1] });
          assert.deepEqual(r, { found: true, remote: true });
          await fx.assertDelivered(i, tag, [target]);
          assert.deepEqual(fx.args(target, tag)[0], [tag, 1]);
          const ack = await callOk(fx.a[i], "remote-socket", {
            id: target.id,
            op: "emit-with-ack",
            event: "ask",
            args: [tag],
            timeout: 3000,
          });
          assert.deepEqual(ack, {
            found: true,
            remote: true,
            timedOut: false,
            response: { id: target.id, args: [tag] },
          });
        }
      });

      it("emit with ack times out when the remote client does not answer", async () => {
        const quiet = fx.b[next(0)];
        fx.silent.add(quiet);
        try {
          const { value, ms } = await timed(() =>
            call(fx.a[0], "remote-socket", {
              id: quiet.id,
              op: "emit-with-ack",
              event: "ask-slow",
              args: [],
              timeout: 800,
            }),
          );
          assert.equal(value.timedOut, true, JSON.stringify(value));
          assert.ok(ms >= 750 && ms < 2800, `${ms} ms`);
        } finally {
          fx.silent.delete(quiet);
        }
      });

      it("join and leave act on the socket's node", async () => {
        for (const i of NODES) {
          const target = fx.b[next(i)];
          const room = `rjoin-${nonce()}`;
          assert.deepEqual(await callOk(fx.a[i], "remote-socket", { id: target.id, op: "join", rooms: [room] }), {
            found: true,
            remote: true,
          });
          await roomsEventually([target], (rooms) => rooms.includes(room), `joined ${room}`);
          await settleRoomChannels(spy, room, 1);
          const tag = `in-rjoin-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [tag], rooms: [room] });
          await fx.assertDelivered(i, tag, [target]);
          await callOk(fx.a[i], "remote-socket", { id: target.id, op: "leave", room });
          await roomsEventually([target], (rooms) => !rooms.includes(room), `left ${room}`);
        }
      });

      it("an unknown id is not found", async () => {
        const r = await callOk(fx.a[0], "remote-socket", { id: "no-such-socket-id", op: "emit", event: "m", args: [] });
        assert.deepEqual(r, { found: false });
      });

      it("disconnect, without and with closing the connection", async () => {
        for (const close of [false, true]) {
          const i = close ? LAST : 0;
          const j = next(i);
          const { root, other } = await multiplexed(nodes[j]);
          const rootReason = disconnectWithin(root, 3000);
          const otherReason = disconnectWithin(other, close ? 3000 : 500);
          const r = await callOk(fx.a[i], "remote-socket", { id: root.id, op: "disconnect", close });
          assert.deepEqual(r, { found: true, remote: true });
          assert.equal(await rootReason, "io server disconnect");
          if (close) {
            assert.equal(await otherReason, "io server disconnect", "close: the whole connection");
          } else {
            assert.equal(await otherReason, null, "the /other socket of the connection stays");
            assert.equal((await callOk(other, "whoami")).nsp, "/other");
            other.disconnect();
          }
        }
      });
    });

    describe("socketsJoin / socketsLeave", () => {
      it("with rooms and except, from every node; then socketsLeave", async () => {
        for (const i of NODES) {
          const room = `sj-${nonce()}`;
          const members = fx.b.filter((_, j) => j % 2 === 0);
          await callOk(fx.a[i], "sockets-join", { rooms: ["blue"], except: ["red"], targets: [room] });
          await roomsEventually(members, (rooms) => rooms.includes(room), `joined ${room}`);
          await joinBarrier(fx, i);
          for (const s of fx.all.filter((s) => !members.includes(s))) {
            assert.ok(!(await roomsOf(s)).includes(room), `${fx.label(s)} must not be in ${room}`);
          }
          await callOk(fx.a[i], "sockets-leave", { targets: [room] });
          await roomsEventually(members, (rooms) => !rooms.includes(room), `left ${room}`);
        }
      });

      it("several target rooms at once, then leave one of them in one room only", async () => {
        const i = LAST;
        const r1 = `sj1-${nonce()}`;
        const r2 = `sj2-${nonce()}`;
        await callOk(fx.a[i], "sockets-join", { targets: [r1, r2] });
        await roomsEventually(fx.all, (rooms) => rooms.includes(r1) && rooms.includes(r2), "joined both");
        await callOk(fx.a[0], "sockets-leave", { rooms: ["red"], targets: [r2] });
        await roomsEventually(fx.red, (rooms) => !rooms.includes(r2), `red left ${r2}`);
        await joinBarrier(fx, 0);
        for (const s of fx.all) {
          const rooms = await roomsOf(s);
          assert.ok(rooms.includes(r1));
          assert.equal(rooms.includes(r2), !fx.red.includes(s), fx.label(s));
        }
        await callOk(fx.a[0], "sockets-leave", { targets: [r1, r2] });
        await roomsEventually(fx.all, (rooms) => !rooms.includes(r1) && !rooms.includes(r2), "left both");
      });

      it("local: only the sockets of the node it was called on", async () => {
        for (const i of NODES) {
          const room = `sj-local-${nonce()}`;
          await callOk(fx.a[i], "sockets-join", { local: true, targets: [room] });
          await roomsEventually([fx.a[i], fx.b[i]], (rooms) => rooms.includes(room), "local join");
          await joinBarrier(fx, i);
          for (const s of fx.all.filter((s) => s !== fx.a[i] && s !== fx.b[i])) {
            assert.ok(!(await roomsOf(s)).includes(room), `${fx.label(s)} must not be in ${room}`);
          }
          await callOk(fx.a[i], "sockets-leave", { local: true, targets: [room] });
          await roomsEventually([fx.a[i], fx.b[i]], (rooms) => !rooms.includes(room), "local leave");
        }
      });

      it("a broadcast to a room joined through socketsJoin reaches its new members on every node", async () => {
        const room = `sj-bcast-${nonce()}`;
        await callOk(fx.a[0], "sockets-join", { rooms: [...fx.a.map((s) => s.id)], targets: [room] });
        await roomsEventually(fx.a, (rooms) => rooms.includes(room), "joined");
        await settleRoomChannels(spy, room, N);
        for (const i of NODES) {
          const tag = `sj-b-${nonce()}`;
          await callOk(fx.b[i], "broadcast", { event: "m", args: [tag], rooms: [room] });
          await fx.assertDelivered(i, tag, fx.a);
        }
        await callOk(fx.a[0], "sockets-leave", { targets: [room] });
      });
    });

    describe("disconnectSockets", () => {
      for (const close of [false, true]) {
        it(`close ${close}: the sockets in the room on every node; ${close ? "their connections close" : "their connections stay"}`, async () => {
          const i = close ? LAST : 0;
          const room = `dc-${nonce()}`;
          const extra = await Promise.all(nodes.map((n) => multiplexed(n)));
          await Promise.all(extra.map(({ root }) => callOk(root, "join", { rooms: [room] })));
          const reasons = extra.map(({ root }) => disconnectWithin(root, 3000));
          const others = extra.map(({ other }) => disconnectWithin(other, close ? 3000 : 500));
          await callOk(fx.a[i], "disconnect-sockets", { rooms: [room], close });
          for (const r of reasons) assert.equal(await r, "io server disconnect");
          for (const r of others) assert.equal(await r, close ? "io server disconnect" : null);
          for (const s of fx.everyone) assert.ok(s.connected, `${fx.label(s)} must stay connected`);
          for (const { other } of extra) other.disconnect();
          // the cluster no longer lists them
          const { sockets } = await callOk(fx.a[i], "fetch-sockets", { rooms: [room] });
          assert.deepEqual(sockets, []);
        });
      }

      it("local: only the node it was called on", async () => {
        const i = 0;
        const room = `dc-local-${nonce()}`;
        const extra = await Promise.all(nodes.map((n) => connect(n)));
        await Promise.all(extra.map((s) => callOk(s, "join", { rooms: [room] })));
        const mine = once(extra[i], "disconnect");
        await callOk(fx.a[i], "disconnect-sockets", { rooms: [room], local: true });
        assert.equal((await mine)[0], "io server disconnect");
        await joinBarrier(fx, i);
        for (const [j, s] of extra.entries()) {
          if (j !== i) assert.ok(s.connected, `the socket on node ${j} must stay`);
          s.disconnect();
        }
      });
    });

    describe("serverSideEmit", () => {
      it("every other node receives it once, the sender does not", async () => {
        for (const i of NODES) {
          const tag = `sse-${nonce()}`;
          await callOk(fx.a[i], "server-side-emit", { event: "sse", args: [tag, i, { deep: [1, "x"] }] });
          for (const j of NODES.filter((j) => j !== i)) {
            const recs = await eventually(async () => {
              const { received } = await callOk(fx.a[j], "server-side-received");
              const mine = received.filter((r) => r.args[0] === tag);
              return mine.length > 0 ? mine : null;
            }, `node ${j} receives ${tag}`);
            assert.deepEqual(recs, [{ event: "sse", args: [tag, i, { deep: [1, "x"] }], withAck: false }]);
          }
          const { received } = await callOk(fx.a[i], "server-side-received");
          assert.equal(received.filter((r) => r.args[0] === tag).length, 0, "the sender does not receive its own");
        }
      });

      it("with ack: one answer from every other node", async () => {
        await Promise.all(
          NODES.map(async (i) => {
            const tag = `sse-ack-${nonce()}`;
            const { value, ms } = await timed(() =>
              call(fx.a[i], "server-side-emit-with-ack", { event: "sse-ack", args: [tag] }, sseTimeout + 5000),
            );
            assert.equal(value.timedOut, false, JSON.stringify(value));
            const names = nodes
              .filter((n) => n.index !== i)
              .map((n) => n.name)
              .sort();
            assert.deepEqual(value.responses.map((r) => r.node).sort(), names);
            for (const r of value.responses) assert.deepEqual(r.args, [tag]);
            assert.ok(ms < sseTimeout, `${ms} ms`);
            for (const j of NODES.filter((j) => j !== i)) {
              const { received } = await callOk(fx.a[j], "server-side-received");
              assert.deepEqual(
                received.filter((r) => r.args[0] === tag),
                [{ event: "sse-ack", args: [tag], withAck: true }],
              );
            }
          }),
        );
      });

      it(`with ack: times out (${sseTimeout} ms) when no node answers`, async () => {
        await Promise.all(
          [...new Set([0, LAST])].map(async (i) => {
            const tag = `sse-silent-${nonce()}`;
            const { value, ms } = await timed(() =>
              call(fx.a[i], "server-side-emit-with-ack", { event: "sse-silent", args: [tag] }, sseTimeout + 5000),
            );
            assert.equal(value.timedOut, true, JSON.stringify(value));
            assert.deepEqual(value.responses, []);
            assert.ok(ms >= sseTimeout - 100 && ms < sseTimeout + 2500, `answered after ${ms} ms`);
          }),
        );
      });

      it("namespace isolation: an event in /other is received in /other, not in /", async () => {
        const i = 0;
        const tag = `sse-other-${nonce()}`;
        await callOk(fx.o[i], "server-side-emit", { event: "sse", args: [tag] });
        await eventually(async () => {
          const { received } = await callOk(fx.o[LAST], "server-side-received");
          return received.some((r) => r.args[0] === tag);
        }, "received in /other");
        const tag2 = `sse-barrier-${nonce()}`;
        await callOk(fx.a[i], "server-side-emit", { event: "sse", args: [tag2] });
        for (const j of NODES.filter((j) => j !== i)) {
          await eventually(async () => {
            const { received } = await callOk(fx.a[j], "server-side-received");
            return received.some((r) => r.args[0] === tag2);
          }, "barrier");
          const { received } = await callOk(fx.a[j], "server-side-received");
          assert.ok(!received.some((r) => r.args[0] === tag), `node ${j}: not in /`);
        }
      });
    });

    describe("wire format (what each node publishes, read by a spy on Redis)", () => {
      it("broadcasts", async () => {
        for (const i of NODES) {
          const t1 = `w-all-${nonce()}`;
          const bin = Buffer.from([1, 2, 3]);
          await callOk(fx.a[i], "broadcast", { event: "m", args: [t1, 5, bin] });
          const t2 = `w-room-${nonce()}`;
          await callOk(fx.a[i], "broadcast", {
            event: "m",
            args: [t2],
            rooms: ["red"],
            except: ["blue"],
            volatile: true,
          });
          const t3 = `w-rooms-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [t3], rooms: ["red", "blue"] });
          const t4 = `w-other-${nonce()}`;
          await callOk(fx.o[i], "broadcast", { event: "m", args: [t4] });
          const t5 = `w-local-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [t5], local: true });
          await fx.flush(i);
          const m1 = await spy.broadcastOf(t1);
          const m2 = await spy.broadcastOf(t2);
          const m3 = await spy.broadcastOf(t3);
          const m4 = await spy.broadcastOf(t4);
          if (opts.sharded) {
            checkSharded(m1, {
              channel: `${key}#/#`,
              nsp: "/",
              json: false,
              data: ["m", t1, 5, bin],
              rooms: [],
              except: [],
            });
            checkSharded(m2, {
              channel: `${key}#/#red#`,
              nsp: "/",
              json: true,
              data: ["m", t2],
              rooms: ["red"],
              except: ["blue"],
              volatile: true,
            });
            checkSharded(m3, {
              channel: `${key}#/#`,
              nsp: "/",
              json: true,
              data: ["m", t3],
              rooms: ["red", "blue"],
              except: [],
            });
            checkSharded(m4, {
              channel: `${key}#/other#`,
              nsp: "/other",
              json: true,
              data: ["m", t4],
              rooms: [],
              except: [],
            });
          } else {
            checkClassic(m1, { channel: `${key}#/#`, nsp: "/", data: ["m", t1, 5, bin], rooms: [], except: [] });
            checkClassic(m2, {
              channel: `${key}#/#red#`,
              nsp: "/",
              data: ["m", t2],
              rooms: ["red"],
              except: ["blue"],
              volatile: true,
            });
            checkClassic(m3, { channel: `${key}#/#`, nsp: "/", data: ["m", t3], rooms: ["red", "blue"], except: [] });
            checkClassic(m4, { channel: `${key}#/other#`, nsp: "/other", data: ["m", t4], rooms: [], except: [] });
          }
          assert.equal(spy.find(t5).length, 0, "a local broadcast is not published");
          const uids = new Set([m1, m2, m3].map((m) => m.uid));
          assert.equal(uids.size, 1, "one uid per node and namespace");
        }
        const perNode = new Set(
          spy.messages.filter((m) => m.kind === "broadcast" && m.nsp === "/" && m.uid !== "emitter").map((m) => m.uid),
        );
        assert.equal(perNode.size, N, "every node has its own uid");
      });

      it("requests and their responses", async () => {
        const sharded = !!opts.sharded;
        const v = (m) => m.value || {};
        // sharded: every message is a ClusterMessage {uid, nsp, type, data} on <key>#<nsp>#, the
        // responses on <key>#<nsp>#<requester uid>#; classic: requests on <key>-request#<nsp>#,
        // responses on <key>-response#<nsp># (or …#<requester uid># with the specific option).
        const reqChannel = sharded ? `${key}#/#` : `${key}-request#/#`;
        const respChannel = (uid, always) =>
          sharded ? `${key}#/#${uid}#` : `${key}-response#/#` + (opts.specific && !always ? `${uid}#` : "");
        const T = sharded
          ? { fetch: 7, fetchResp: 8, sse: 9, sseResp: 10, bcast: 3, count: 11, ack: 12, join: 4, leave: 5, dc: 6 }
          : {
              fetch: 5,
              fetchResp: undefined,
              sse: 6,
              sseResp: 6,
              bcast: 7,
              count: 8,
              ack: 9,
              join: 2,
              leave: 3,
              dc: 4,
            };
        const body = (m) => (sharded ? v(m).data || {} : v(m));
        const checkRequest = (m, type, format) => {
          assert.equal(m.channel, reqChannel);
          assert.equal(m.format, format);
          assert.equal(v(m).type, type);
          assert.equal(typeof v(m).uid, "string");
          if (sharded) assert.equal(v(m).nsp, "/");
        };
        const responsesTo = async (req, count) => {
          const id = body(req).requestId;
          assert.equal(typeof id, "string");
          return eventually(async () => {
            const found = spy.messages.filter((m) => m !== req && body(m).requestId === id);
            return found.length >= count ? found : null;
          }, `${count} responses to ${id}`);
        };
        for (const i of [...new Set([0, LAST])]) {
          // fetchSockets
          const room = `w-fetch-${nonce()}`;
          await callOk(fx.a[i], "fetch-sockets", { rooms: [room] });
          const fetch = await spy.one((m) => v(m).type === T.fetch && (body(m).opts || {}).rooms?.[0] === room);
          checkRequest(fetch, T.fetch, "json");
          assert.deepEqual(body(fetch).opts.except, []);
          for (const r of await responsesTo(fetch, N - 1)) {
            assert.equal(r.channel, respChannel(v(fetch).uid));
            assert.equal(r.format, "json");
            if (T.fetchResp !== undefined) assert.equal(v(r).type, T.fetchResp);
            assert.deepEqual(body(r).sockets, []);
          }
          // serverSideEmit with ack: classic answers on the shared response channel, whatever the option
          const tag = `w-sse-${nonce()}`;
          await callOk(fx.a[i], "server-side-emit-with-ack", { event: "sse-ack", args: [tag] });
          const sse = await spy.one((m) => v(m).type === T.sse && (sharded ? body(m).packet : v(m).data)?.[1] === tag);
          checkRequest(sse, T.sse, "json");
          assert.deepEqual(sharded ? body(sse).packet : v(sse).data, ["sse-ack", tag]);
          for (const r of await responsesTo(sse, N - 1)) {
            assert.equal(r.channel, respChannel(v(sse).uid, true));
            assert.equal(r.format, "json");
            assert.equal(v(r).type, T.sseResp);
            assert.deepEqual((sharded ? body(r).packet : v(r).data).args, [tag]);
          }
          // serverSideEmit without ack: no requestId
          const tag2 = `w-sse2-${nonce()}`;
          await callOk(fx.a[i], "server-side-emit", { event: "sse", args: [tag2] });
          const sse2 = await spy.one(
            (m) => v(m).type === T.sse && (sharded ? body(m).packet : v(m).data)?.[1] === tag2,
          );
          checkRequest(sse2, T.sse, "json");
          assert.equal(body(sse2).requestId, undefined);
          // broadcast with acks: the request in msgpack (classic), the count in JSON, each ack in msgpack (classic)
          const tag3 = `w-bwa-${nonce()}`;
          await callOk(fx.a[i], "broadcast-with-ack", { event: "ask", args: [tag3], rooms: ["red"], timeout: 3000 });
          const bwa = await spy.one((m) => v(m).type === T.bcast && (body(m).packet || {}).data?.[1] === tag3);
          checkRequest(bwa, T.bcast, sharded ? "json" : "msgpack");
          assert.deepEqual(body(bwa).packet.data, ["ask", tag3]);
          assert.deepEqual(body(bwa).opts.rooms, ["red"]);
          assert.equal(body(bwa).opts.flags.timeout, 3000);
          const remoteRed = fx.red.filter((s) => fx.a.indexOf(s) !== i && fx.b.indexOf(s) !== i);
          const answers = await responsesTo(bwa, N - 1 + remoteRed.length);
          const counts = answers.filter((r) => v(r).type === T.count);
          const acks = answers.filter((r) => v(r).type === T.ack);
          assert.equal(counts.length, N - 1);
          assert.equal(acks.length, remoteRed.length);
          for (const r of answers) assert.equal(r.channel, respChannel(v(bwa).uid));
          for (const r of counts) assert.equal(r.format, "json");
          for (const r of acks) assert.equal(r.format, sharded ? "json" : "msgpack");
          assert.equal(
            counts.reduce((n, r) => n + body(r).clientCount, 0),
            remoteRed.length,
          );
          assert.deepEqual(acks.map((r) => body(r).packet.id).sort(), sortIds(remoteRed));
          // socketsJoin / socketsLeave / disconnectSockets: no requestId, no response
          const target = `w-sj-${nonce()}`;
          await callOk(fx.a[i], "sockets-join", { rooms: ["blue"], except: ["red"], targets: [target] });
          const sj = await spy.one((m) => v(m).type === T.join && body(m).rooms?.[0] === target);
          checkRequest(sj, T.join, "json");
          assert.deepEqual(body(sj).opts.rooms, ["blue"]);
          assert.deepEqual(body(sj).opts.except, ["red"]);
          assert.equal(body(sj).requestId, undefined);
          await callOk(fx.a[i], "sockets-leave", { rooms: ["blue"], targets: [target] });
          const sl = await spy.one((m) => v(m).type === T.leave && body(m).rooms?.[0] === target);
          checkRequest(sl, T.leave, "json");
          const dcRoom = `w-dc-${nonce()}`;
          await callOk(fx.a[i], "disconnect-sockets", { rooms: [dcRoom], close: true });
          const dc = await spy.one((m) => v(m).type === T.dc && (body(m).opts || {}).rooms?.[0] === dcRoom);
          checkRequest(dc, T.dc, "json");
          assert.equal(body(dc).close, true);
        }
      });
    });

    it("no node logged an uncaught error", async () => {
      for (const i of NODES) {
        const st = await callOk(fx.a[i], "stats");
        assert.equal(st.kind, KINDS[i]);
        assert.equal(st.node, nodes[i].name);
        assert.equal(st.uncaught, 0, `node ${i} (${KINDS[i]})`);
      }
    });
  });
}

/**
 * @socket.io/redis-emitter (or the emitter under test, E2E_CLUSTER_EMITTER) publishing into the
 * cluster from outside: every operation it has, checked on the clients of every node.
 */
function emitterCases(get) {
  describe("the emitter (E2E_CLUSTER_EMITTER)", () => {
    /** Waits until everything the emitter published so far was delivered (see fx.flush). */
    async function flushEmitter() {
      const { fx, em } = get();
      const tag = `em-sentinel-${nonce()}`;
      await em.send({ op: "emit", event: "m", args: [tag] });
      await em.send({ op: "emit", nsp: "/other", event: "m", args: [tag] });
      await Promise.all(fx.everyone.map((s) => fx.seen(s, tag)));
    }
    async function delivered(tag, expected) {
      const { fx } = get();
      await Promise.all(expected.map((s) => fx.seen(s, tag)));
      await flushEmitter();
      for (const s of fx.everyone) {
        const want = expected.includes(s) ? 1 : 0;
        assert.equal(fx.count(s, tag), want, `${fx.label(s)} got "${tag}" ${fx.count(s, tag)} times, expected ${want}`);
      }
    }

    it("emit to all: every / client on every node, once; no /other client", async () => {
      const { fx, em } = get();
      const tag = `em-all-${nonce()}`;
      await em.send({ op: "emit", event: "m", args: [tag, 1, { x: [true, null] }] });
      await delivered(tag, fx.all);
      for (const s of fx.all) assert.deepEqual(fx.args(s, tag)[0], [tag, 1, { x: [true, null] }]);
    });

    it("to a room, to two rooms, except", async () => {
      const { fx, em } = get();
      const t1 = `em-red-${nonce()}`;
      await em.send({ op: "emit", rooms: ["red"], event: "m", args: [t1] });
      await delivered(t1, fx.red);
      const t2 = `em-red-blue-${nonce()}`;
      await em.send({ op: "emit", rooms: ["red", "blue"], event: "m", args: [t2] });
      await delivered(t2, fx.all);
      const t3 = `em-red-except-blue-${nonce()}`;
      await em.send({ op: "emit", rooms: ["red"], except: ["blue"], event: "m", args: [t3] });
      await delivered(t3, fx.a);
      const t4 = `em-except-red-${nonce()}`;
      await em.send({ op: "emit", except: ["red"], event: "m", args: [t4] });
      await delivered(
        t4,
        fx.b.filter((_, j) => j % 2 === 0),
      );
      const target = fx.b[LAST];
      const t5 = `em-id-${nonce()}`;
      await em.send({ op: "emit", rooms: [target.id], event: "m", args: [t5] });
      await delivered(t5, [target]);
    });

    it("binary arguments arrive byte for byte", async () => {
      const { fx, em } = get();
      const tag = `em-bin-${nonce()}`;
      const bytes = randomBytes(2000);
      await em.send({ op: "emit", event: "m", args: [tag, binaryArg(bytes), { inner: binaryArg(Buffer.from([7])) }] });
      await delivered(tag, fx.all);
      for (const s of fx.all) {
        const [args] = fx.args(s, tag);
        assert.ok(bytesOf(args[1]).equals(bytes));
        assert.ok(bytesOf(args[2].inner).equals(Buffer.from([7])));
      }
    });

    it("volatile, to one room: delivered, and published as Node's emitter does", async () => {
      const { fx, em, spy } = get();
      const tag = `em-volatile-${nonce()}`;
      await em.send({ op: "emit", volatile: true, rooms: ["blue"], except: ["red"], event: "m", args: [tag] });
      await delivered(
        tag,
        fx.b.filter((_, j) => j % 2 === 0),
      );
      const m = await spy.broadcastOf(tag);
      assert.equal(m.channel, `${spy.key}#/#blue#`);
      assert.equal(m.format, "msgpack");
      const [uid, packet, o] = m.value;
      assert.equal(uid, "emitter");
      assert.deepEqual(packet, { type: 2, data: ["m", tag], nsp: "/" });
      assert.deepEqual(o.rooms, ["blue"]);
      assert.deepEqual(o.except, ["red"]);
      assert.equal(o.flags.volatile, true);
    });

    it("namespace /other: its clients only", async () => {
      const { fx, em } = get();
      const tag = `em-other-${nonce()}`;
      await em.send({ op: "emit", nsp: "/other", event: "m", args: [tag] });
      await delivered(tag, fx.o);
    });

    it("socketsJoin and socketsLeave, with rooms and except", async () => {
      const { fx, em } = get();
      const room = `em-sj-${nonce()}`;
      const members = fx.b.filter((_, j) => j % 2 === 0);
      await em.send({ op: "sockets-join", rooms: ["blue"], except: ["red"], targets: [room] });
      await roomsEventually(members, (rooms) => rooms.includes(room), `joined ${room}`);
      const barrier = `em-barrier-${nonce()}`;
      await em.send({ op: "sockets-join", targets: [barrier] });
      await roomsEventually(fx.all, (rooms) => rooms.includes(barrier), "barrier");
      for (const s of fx.all.filter((s) => !members.includes(s))) {
        assert.ok(!(await roomsOf(s)).includes(room), `${fx.label(s)} must not be in ${room}`);
      }
      await em.send({ op: "sockets-leave", targets: [room, barrier] });
      await roomsEventually(fx.all, (rooms) => !rooms.includes(room) && !rooms.includes(barrier), "left");
    });

    for (const close of [false, true]) {
      it(`disconnectSockets, close ${close}`, async () => {
        const { fx, em, nodes } = get();
        const room = `em-dc-${nonce()}`;
        const extra = await Promise.all(nodes.map((n) => multiplexed(n)));
        await Promise.all(extra.map(({ root }) => callOk(root, "join", { rooms: [room] })));
        const reasons = extra.map(({ root }) => disconnectWithin(root, 3000));
        const others = extra.map(({ other }) => disconnectWithin(other, close ? 3000 : 500));
        await em.send({ op: "disconnect-sockets", rooms: [room], close });
        for (const r of reasons) assert.equal(await r, "io server disconnect");
        for (const r of others) assert.equal(await r, close ? "io server disconnect" : null);
        for (const s of fx.everyone) assert.ok(s.connected, `${fx.label(s)} must stay connected`);
        for (const { other } of extra) other.disconnect();
      });
    }

    it("serverSideEmit: every node receives it once", async () => {
      const { fx, em } = get();
      const tag = `em-sse-${nonce()}`;
      await em.send({ op: "server-side-emit", event: "sse", args: [tag, { k: 1 }] });
      for (const i of NODES) {
        const recs = await eventually(async () => {
          const { received } = await callOk(fx.a[i], "server-side-received");
          const mine = received.filter((r) => r.args[0] === tag);
          return mine.length > 0 ? mine : null;
        }, `node ${i} receives ${tag}`);
        assert.deepEqual(recs, [{ event: "sse", args: [tag, { k: 1 }], withAck: false }]);
      }
    });
  });
}

/** A "/" socket and an "/other" socket sharing one connection (one Manager) on `node`. */
export async function multiplexed(node) {
  const root = await connect(node);
  const other = root.io.socket("/other"); // connects at once (the manager's autoConnect)
  if (!other.connected) await once(other, "connect");
  return { root, other };
}

/**
 * Waits until requests node i published so far were applied everywhere: a socketsJoin of a
 * fresh room from node i, applied on every socket (the requests of one node arrive in order).
 */
export async function joinBarrier(fx, i) {
  const room = `barrier-${nonce()}`;
  await callOk(fx.a[i], "sockets-join", { targets: [room] });
  await roomsEventually(fx.all, (rooms) => rooms.includes(room), "barrier room");
  await callOk(fx.a[i], "sockets-leave", { targets: [room] });
}

/**
 * Sharded adapter, dynamic subscription mode: a node subscribes to a room's channel after the
 * room's first local join, asynchronously; waits until `count` nodes are subscribed (a
 * broadcast published before would not reach that node, in Node as well).
 */
export async function settleRoomChannels(spy, room, count) {
  if (!spy.sharded) return;
  const channel = `${spy.key}#/#${room}#`;
  await eventually(async () => {
    const reply = await spy.pub.sendCommand(["PUBSUB", "SHARDNUMSUB", channel]);
    return Number(reply[1]) >= count;
  }, `${count} subscribers of ${channel}`);
}

function checkHandshake(hs, { foo, auth, header }) {
  assert.equal(typeof hs, "object");
  assert.equal(hs.query.foo, foo);
  assert.equal(hs.query.EIO, "4");
  assert.equal(hs.query.transport, "websocket");
  assert.deepEqual(hs.auth, auth);
  assert.equal(hs.headers["x-e2e"], header);
  assert.equal(typeof hs.headers.host, "string");
  assert.equal(hs.address, "127.0.0.1");
  assert.equal(hs.secure, false);
  assert.equal(hs.xdomain, false);
  assert.equal(typeof hs.issued, "number");
  assert.ok(Math.abs(Date.now() - hs.issued) < 10 * 60 * 1000, `issued ${hs.issued}`);
  assert.equal(typeof hs.time, "string");
  const t = Date.parse(hs.time);
  assert.ok(!Number.isNaN(t) && Math.abs(t - hs.issued) < 2000, `time "${hs.time}" vs issued ${hs.issued}`);
  assert.match(hs.url, /^\/socket\.io\/\?/);
  if (foo !== undefined) assert.ok(hs.url.includes(`foo=${foo}`), hs.url);
}

function sameSet(a, b, what) {
  assert.deepEqual([...a].sort(), [...b].sort(), what);
}

function checkFlags(flags, volatile) {
  assert.equal(typeof flags, "object");
  assert.equal(!!(flags && flags.volatile), !!volatile, "flags.volatile");
  assert.ok(!(flags && flags.local), "flags.local is never published");
}

function checkData(got, want) {
  assert.equal(got.length, want.length);
  for (const [k, w] of want.entries()) {
    if (Buffer.isBuffer(w)) assert.ok(Buffer.isBuffer(got[k]) && got[k].equals(w), `binary argument ${k}`);
    else assert.deepEqual(got[k], w);
  }
}

/** @socket.io/redis-adapter createAdapter: msgpack [uid, packet, opts] on key#nsp# or key#nsp#room#. */
function checkClassic(m, want) {
  assert.equal(m.channel, want.channel);
  assert.equal(m.format, "msgpack");
  const [uid, packet, opts, ...rest] = m.value;
  assert.equal(rest.length, 0, "three elements");
  assert.equal(typeof uid, "string");
  assert.ok(uid.length > 0 && uid !== "emitter");
  assert.equal(packet.type, 2);
  assert.equal(packet.nsp === undefined ? "/" : packet.nsp, want.nsp);
  assert.equal(packet.id, undefined);
  checkData(packet.data, want.data);
  sameSet(opts.rooms, want.rooms, "opts.rooms");
  sameSet(opts.except, want.except, "opts.except");
  checkFlags(opts.flags, want.volatile);
}

/** createShardedAdapter: ClusterMessage {uid, nsp, type: 3, data: {packet, opts}}; JSON unless binary. */
function checkSharded(m, want) {
  assert.equal(m.channel, want.channel);
  assert.equal(m.format, want.json ? "json" : "msgpack");
  const msg = m.value;
  assert.equal(msg.type, 3);
  assert.equal(msg.nsp, want.nsp);
  assert.equal(typeof msg.uid, "string");
  assert.equal(msg.data.requestId, undefined);
  assert.equal(msg.data.packet.type, 2);
  checkData(msg.data.packet.data, want.data);
  sameSet(msg.data.opts.rooms, want.rooms, "opts.rooms");
  sameSet(msg.data.opts.except, want.except, "opts.except");
  checkFlags(msg.data.opts.flags, want.volatile);
}

/**
 * A spy on what the nodes publish: Redis' MONITOR stream (it subscribes to nothing, so server
 * counts are unchanged), every PUBLISH/SPUBLISH decoded.
 */
export async function startSpy(redis, key, sharded) {
  const pub = await redis.client();
  const messages = [];
  await startMonitor(redis.port, (argv) => {
    const cmd = argv[0].toString().toUpperCase();
    if ((cmd !== "PUBLISH" && cmd !== "SPUBLISH") || argv.length !== 3) return;
    const channel = argv[1].toString();
    if (!channel.startsWith(key)) return;
    const raw = argv[2];
    let value;
    let format;
    try {
      if (raw[0] === 0x7b) {
        value = JSON.parse(raw.toString());
        format = "json";
      } else {
        value = decode(raw);
        format = "msgpack";
      }
    } catch {
      value = null;
      format = "garbage";
    }
    const m = {
      command: cmd,
      channel,
      raw,
      value,
      format,
      kind: "other",
      tag: undefined,
      uid: undefined,
      nsp: undefined,
    };
    if (sharded && value && value.type === 3 && value.data && value.data.packet) {
      m.kind = "broadcast";
      m.tag = (value.data.packet.data || [])[1];
      m.uid = value.uid;
      m.nsp = value.nsp;
    } else if (!sharded && Array.isArray(value) && value.length === 3 && value[1] && Array.isArray(value[1].data)) {
      m.kind = "broadcast";
      m.tag = value[1].data[1];
      m.uid = value[0];
      m.nsp = value[1].nsp === undefined ? "/" : value[1].nsp;
    }
    messages.push(m);
  });
  const spy = {
    key,
    sharded,
    pub,
    messages,
    find: (tag) => messages.filter((m) => m.kind === "broadcast" && m.tag === tag),
    /** The one message matching `pred` (waits for it, then asserts there is exactly one). */
    async one(pred) {
      await eventually(async () => messages.some(pred), "the spy sees the message");
      const found = messages.filter(pred);
      assert.equal(found.length, 1, `exactly one message, got ${found.length}`);
      return found[0];
    },
    async broadcastOf(tag) {
      await eventually(async () => spy.find(tag).length > 0, `the spy sees the broadcast ${tag}`);
      const found = spy.find(tag);
      assert.equal(found.length, 1, `one message for ${tag}`);
      assert.equal(found[0].command, sharded ? "SPUBLISH" : "PUBLISH");
      return found[0];
    },
  };
  return spy;
}

export { sleep };
