// Garbage published on every channel the adapters use: random bytes, truncated msgpack, huge
// declared lengths, deep nesting, wrong JSON shapes, valid-looking requests with wrong types.
//
// Every item is also a probe of Node's adapter, whose effect the tests assert for Node nodes
// (that proves the item reaches the adapter and is decoded as intended; PUBLISH's receiver
// count proves it reached every node). What Node does is not always what a node should do, so
// the effect required of a Sockeye node is the same for every item: it stays up (no panic),
// keeps every client, and keeps working. Node's effects:
//   drop    ignored, or its error caught by the adapter;
//   reject  the adapter's async handler rejects: an unhandled rejection (fatal in Node unless
//           the application handles it; the reference node counts it) and nothing else;
//   throw   thrown inside the Redis client's message callback: fatal without a handler; with
//           one, the subscriber connection's RESP decoder has lost its place and the node
//           misses or garbles cluster messages until it reconnects (the test restarts it);
//   harm    forwarded or obeyed: a malformed packet sent to the node's clients (they close
//           with "parse error"), or a malformed request treated as "every socket".
// See e2e/cluster/README.md. The garbage clusters have two nodes, of the first and the last
// kind of E2E_CLUSTER_NODES.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { encode } from "notepack.io";
import {
  KINDS,
  call,
  callOk,
  closeSockets,
  nonce,
  sleep,
  startCluster,
  startRedis,
  stopAll,
  waitFormed,
} from "./lib/harness.mjs";
import { makeFixture } from "./lib/fixture.mjs";
import { settleRoomChannels } from "./lib/cases.mjs";

const GKINDS = [KINDS[0], KINDS[KINDS.length - 1]];
const N = GKINDS.length;
const NODES = [...Array(N).keys()];
const isNode = (i) => GKINDS[i] === "node";

// --- the items -------------------------------------------------------------------------------

const J = (x) => Buffer.from(JSON.stringify(x));
/** n nested one-element msgpack arrays around 1 (fixarray 0x91). */
const deepMsgpack = (n) => Buffer.concat([Buffer.alloc(n, 0x91), Buffer.from([0x01])]);
/** JSON with n nested arrays at `pre`…`post`. */
const deepJson = (n, pre, post) => Buffer.from(pre + "[".repeat(n) + "1" + "]".repeat(n) + post);

const BYTES = {
  random: Buffer.from([0x93, 0xff, 0x00, 0xc1, 0x12, 0x9f]),
  truncated: encode(["abcdef", { type: 2, data: ["m", "x"], nsp: "/" }, { rooms: [], except: [] }]).subarray(0, 12),
  str32: Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x41]), // a 4 GiB string, 1 byte present
  array32: Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]), // 4G elements, 1 present
  map32: Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]),
  bin32: Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x01]),
  badJson: Buffer.from('{"type":5,"uid":'),
  number: encode(5),
  nil: Buffer.from([0xc0]),
  deepMsgpack: deepMsgpack(100000),
  deepMsgpack1k: deepMsgpack(1000),
};

/** Items for the classic adapter: bytes, and Node's effect per channel (absent: not sent there). */
const CLASSIC = [
  // undecodable or wrongly shaped bytes
  {
    name: "random bytes",
    bytes: BYTES.random,
    on: { bcast: "throw", req: "drop", resp: "drop", spec: "drop", unknownRoom: "drop" },
  },
  { name: "truncated msgpack", bytes: BYTES.truncated, on: { req: "drop", resp: "drop", spec: "drop" } },
  {
    name: "a 4 GiB msgpack str32",
    bytes: BYTES.str32,
    on: { bcast: "throw", req: "drop", resp: "drop", spec: "drop" },
  },
  {
    name: "a 4G-element msgpack array32",
    bytes: BYTES.array32,
    on: { room: "throw", req: "drop", resp: "drop", spec: "drop" },
  },
  { name: "a 4G-entry msgpack map32", bytes: BYTES.map32, on: { req: "drop", resp: "drop", spec: "drop" } },
  { name: "a 4 GiB msgpack bin32", bytes: BYTES.bin32, on: { req: "drop", resp: "drop", spec: "drop" } },
  { name: "truncated JSON", bytes: BYTES.badJson, on: { req: "drop", resp: "drop", spec: "drop" } },
  { name: "msgpack 5 (not an array)", bytes: BYTES.number, on: { req: "drop", resp: "drop", spec: "drop" } },
  { name: "msgpack nil", bytes: BYTES.nil, on: { req: "reject", resp: "reject", spec: "reject" } },
  {
    name: "msgpack nested 100000 deep",
    bytes: BYTES.deepMsgpack,
    on: { bcast: "throw", req: "drop", resp: "drop", spec: "drop" },
  },
  { name: "msgpack nested 1000 deep", bytes: BYTES.deepMsgpack1k, on: { bcast: "drop", room: "drop", req: "drop" } },
  { name: "JSON nested 100000 deep", bytes: deepJson(100000, '{"type":', "}"), on: { req: "drop", resp: "drop" } },
  // broadcasts of the wrong shape
  { name: "broadcast [uid] (too short)", bytes: encode(["x"]), on: { bcast: "drop", room: "drop" } },
  {
    name: "broadcast with a nil packet",
    bytes: encode(["x", null, { rooms: [], except: [] }]),
    on: { bcast: "drop", room: "drop" },
  },
  {
    name: "broadcast for another namespace",
    bytes: encode(["x", { type: 2, data: ["m", "g"], nsp: "/nope" }, { rooms: [], except: [] }]),
    on: { bcast: "drop", room: "drop" },
  },
  {
    name: "broadcast whose opts is 5",
    bytes: encode(["x", { type: 2, data: ["m", "g"], nsp: "/" }, 5]),
    on: { bcast: "throw" },
  },
  {
    name: "broadcast whose opts.rooms is 5",
    bytes: encode(["x", { type: 2, data: ["m", "g"], nsp: "/" }, { rooms: 5, except: [] }]),
    on: { room: "throw" },
  },
  {
    name: "broadcast whose packet data is a string",
    bytes: encode(["x", { type: 2, data: "str", nsp: "/" }, { rooms: [], except: [] }]),
    on: { bcast: "harm", req: "drop" },
    harm: "parse error",
  },
  // requests of the wrong shape or types
  {
    name: "fetchSockets request without opts",
    bytes: J({ type: 5, uid: "u", requestId: "r1" }),
    on: { req: "reject", resp: "drop" },
  },
  {
    name: "fetchSockets request whose rooms is 5",
    bytes: J({ type: 5, uid: "u", requestId: "r2", opts: { rooms: 5, except: [] } }),
    on: { req: "reject" },
  },
  { name: "serverSideEmit whose data is 5", bytes: J({ type: 6, uid: "u", data: 5 }), on: { req: "reject" } },
  {
    name: "serverSideEmit with ack whose data is a string",
    bytes: J({ type: 6, uid: "u", requestId: "r3", data: "s" }),
    on: { req: "reject" },
  },
  {
    name: "broadcast-with-ack request whose packet is 5 (msgpack)",
    bytes: encode({
      type: 7,
      uid: "u",
      requestId: "r4",
      packet: 5,
      opts: { rooms: [], except: [], flags: { timeout: 100 } },
    }),
    on: { req: "reject" },
  },
  {
    name: "legacy allSockets request whose rooms is 5",
    bytes: J({ type: 0, uid: "u", requestId: "r5", rooms: 5 }),
    on: { req: "reject" },
  },
  {
    name: "socketsJoin whose rooms is 5",
    bytes: J({ type: 2, uid: "u", opts: { rooms: ["nobody"], except: [] }, rooms: 5 }),
    on: { req: "drop" },
  },
  {
    name: "legacy remote join of an unknown sid",
    bytes: J({ type: 2, uid: "u", requestId: "r6", sid: "nope", room: "x" }),
    on: { req: "drop" },
  },
  { name: "request of unknown type 42", bytes: J({ type: 42, uid: "u" }), on: { req: "drop" } },
  {
    name: "disconnectSockets whose opts is a string",
    bytes: J({ type: 4, uid: "u", opts: "x", close: false }),
    on: { req: "harm" },
    harm: "io server disconnect",
  },
  // responses nobody asked for
  {
    name: "response to an unknown request",
    bytes: J({ requestId: "nope", sockets: [] }),
    on: { resp: "drop", spec: "drop" },
  },
  {
    name: "client count response with a string count",
    bytes: J({ type: 8, requestId: "nope", clientCount: "x" }),
    on: { resp: "drop", spec: "drop" },
  },
  {
    name: "broadcast ack response (msgpack)",
    bytes: encode({ type: 9, requestId: "nope", packet: [1] }),
    on: { resp: "drop", spec: "drop" },
  },
];

/** Items for the sharded adapter (ClusterMessage); channels main, room, resp (every node's). */
const M = (type, data, extra = {}) =>
  J({ uid: "x", nsp: "/", type, ...(data === undefined ? {} : { data }), ...extra });
const SHARDED = [
  { name: "random bytes", bytes: BYTES.random, on: { main: "drop", room: "drop", resp: "drop" } },
  { name: "truncated JSON", bytes: Buffer.from('{"uid":"x",'), on: { main: "drop", room: "drop", resp: "drop" } },
  { name: "a 4 GiB msgpack str32", bytes: BYTES.str32, on: { main: "drop", room: "drop", resp: "drop" } },
  { name: "a 4G-element msgpack array32", bytes: BYTES.array32, on: { main: "drop", room: "drop", resp: "drop" } },
  { name: "a 4G-entry msgpack map32", bytes: BYTES.map32, on: { main: "drop", resp: "drop" } },
  { name: "a 4 GiB msgpack bin32", bytes: BYTES.bin32, on: { main: "drop", resp: "drop" } },
  { name: "msgpack 5", bytes: BYTES.number, on: { main: "drop", room: "drop" } },
  { name: "msgpack nil", bytes: BYTES.nil, on: { main: "throw" } },
  { name: "JSON [1,2]", bytes: J([1, 2]), on: { main: "drop", room: "drop", resp: "drop" } },
  { name: "msgpack nested 100000 deep", bytes: BYTES.deepMsgpack, on: { main: "drop", room: "drop", resp: "drop" } },
  { name: "msgpack nested 1000 deep", bytes: BYTES.deepMsgpack1k, on: { main: "drop", room: "drop" } },
  {
    name: "JSON nested 100000 deep",
    bytes: deepJson(100000, '{"uid":"x","nsp":"/","type":99,"data":', "}"),
    on: { main: "drop", room: "drop", resp: "drop" },
  },
  {
    name: "message for another namespace",
    bytes: J({ uid: "x", nsp: "/nope", type: 3, data: {} }),
    on: { main: "drop", room: "drop", resp: "drop" },
  },
  { name: "message of unknown type 99", bytes: M(99), on: { main: "drop", room: "drop", resp: "throw" } },
  { name: "broadcast without data", bytes: M(3), on: { main: "throw" } },
  {
    name: "broadcast whose opts.rooms is 5",
    bytes: M(3, { packet: { type: 2, data: ["m", "g"] }, opts: { rooms: 5, except: [] } }),
    on: { room: "throw" },
  },
  { name: "serverSideEmit whose packet is 5", bytes: M(9, { packet: 5 }), on: { main: "throw" } },
  {
    name: "socketsJoin whose rooms is 5",
    bytes: M(4, { opts: { rooms: ["nobody"], except: [] }, rooms: 5 }),
    on: { main: "drop" },
  },
  { name: "response without data", bytes: M(8), on: { resp: "throw" } },
  {
    name: "response to an unknown request",
    bytes: M(8, { requestId: "nope", sockets: [] }),
    on: { main: "drop", resp: "drop" },
  },
  {
    name: "broadcast whose packet data is a string",
    bytes: M(3, { packet: { type: 2, data: "str" }, opts: { rooms: [], except: [] } }),
    on: { main: "harm" },
    harm: "parse error",
  },
];

// --- the test --------------------------------------------------------------------------------

function garbageCases(label, sharded, items) {
  describe(label, () => {
    let redis;
    let nodes;
    let fx;
    let raw; // the test's own Redis client
    let spy; // { pub, sharded, key } for settleRoomChannels

    async function rebuild({ restartNodeKinds }) {
      closeSockets();
      if (restartNodeKinds) await Promise.all(nodes.filter((n) => n.kind === "node").map((n) => n.restart()));
      await waitFormed(nodes);
      fx = await makeFixture(nodes);
      await settleRoomChannels(spy, "red", N);
    }

    /** The channels of `where` (one name, or every node's response channel). */
    async function channels(where) {
      if (sharded) {
        if (where === "main") return ["socket.io#/#"];
        if (where === "room") return ["socket.io#/#red#"];
        const list = (await raw.sendCommand(["PUBSUB", "SHARDCHANNELS", "socket.io#/#*"])).map(String);
        const resp = list.filter((c) => c !== "socket.io#/#" && c !== "socket.io#/#red#" && c !== "socket.io#/#blue#");
        assert.equal(resp.length, N, `one response channel per node: ${JSON.stringify(list)}`);
        return resp;
      }
      if (where === "bcast") return ["socket.io#/#"];
      if (where === "room") return ["socket.io#/#red#"];
      if (where === "unknownRoom") return ["socket.io#/#no-such-room#"];
      if (where === "req") return ["socket.io-request#/#"];
      if (where === "resp") return ["socket.io-response#/#"];
      const list = (await raw.sendCommand(["PUBSUB", "CHANNELS", "socket.io-response#/#?*"])).map(String);
      assert.equal(list.length, N, `one specific response channel per node: ${JSON.stringify(list)}`);
      return list;
    }

    /** Publishes on the channels of `where`; asserts Redis delivered it to every node there. */
    async function publish(where, bytes) {
      const perNode = where === "spec" || (where === "resp" && sharded);
      for (const ch of await channels(where)) {
        const receivers = sharded ? await raw.sPublish(ch, bytes) : await raw.publish(ch, bytes);
        // a channel of a room nobody has may reach no node (Node's pattern subscription gets it)
        if (where !== "unknownRoom") assert.equal(receivers, perNode ? 1 : N, `receivers of ${ch}`);
      }
    }

    async function uncaught() {
      return Promise.all(NODES.map(async (i) => (await callOk(fx.a[i], "stats")).uncaught));
    }

    /** Every node's broadcast reaches every client; fetchSockets and serverSideEmitWithAck work. */
    async function assertWorking() {
      for (const i of NODES) {
        const tag = `ok-${nonce()}`;
        await callOk(fx.a[i], "broadcast", { event: "m", args: [tag] });
        await fx.assertDelivered(i, tag, fx.all);
      }
      for (const i of NODES) {
        const { sockets } = await callOk(fx.a[i], "fetch-sockets", {});
        assert.equal(sockets.length, fx.all.length, `node ${i}: fetchSockets`);
        const sse = await callOk(fx.a[i], "server-side-emit-with-ack", { event: "sse-ack", args: [] }, 12000);
        assert.equal(sse.timedOut, false, `node ${i}: serverSideEmitWithAck ${JSON.stringify(sse)}`);
        assert.deepEqual(await call(fx.a[i], "server-count"), { count: N });
      }
    }

    function assertSockeyeUnharmed(before) {
      for (const i of NODES) {
        if (isNode(i)) continue;
        assert.ok(nodes[i].proc.alive, `node ${i} (sockeye) is alive`);
        assert.equal(before[i], 0, `node ${i} (sockeye): no panic`);
        for (const s of [fx.a[i], fx.b[i], fx.o[i]]) assert.ok(s.connected, `${fx.label(s)} keeps its connection`);
      }
    }

    before(async () => {
      redis = await startRedis();
      nodes = await startCluster(redis.url, { sharded, tag: sharded ? "gs" : "gc" }, GKINDS);
      await waitFormed(nodes);
      raw = await redis.client();
      spy = { pub: raw, sharded, key: "socket.io" };
      fx = await makeFixture(nodes);
      await settleRoomChannels(spy, "red", N);
    });
    after(stopAll);

    it("items Node drops or rejects, on every channel: every node stays up and keeps working", async (t) => {
      const expected = NODES.map(() => 0);
      let sent = 0;
      for (const item of items) {
        for (const [where, effect] of Object.entries(item.on)) {
          if (effect !== "drop" && effect !== "reject") continue;
          const chans = await channels(where);
          await publish(where, item.bytes);
          sent += chans.length;
          // a shared channel reaches every node, and each node has its own specific response
          // channel: either way one rejection per node
          if (effect === "reject") for (const i of NODES) expected[i] += 1;
        }
      }
      t.diagnostic(`${sent} messages published`);
      await sleep(300);
      await assertWorking();
      const got = await uncaught();
      for (const i of NODES) {
        if (isNode(i)) assert.equal(got[i], expected[i], `node ${i} (Node): one unhandled rejection per "reject" item`);
        else assert.equal(got[i], 0, `node ${i} (sockeye): no panic`);
        assert.ok(nodes[i].proc.alive);
      }
      for (const s of fx.everyone) assert.ok(s.connected, `${fx.label(s)} keeps its connection`);
    });

    for (const item of items) {
      for (const [where, effect] of Object.entries(item.on)) {
        if (effect !== "throw") continue;
        it(`${item.name} on the ${where} channel: Node's adapter throws; a Sockeye node shrugs`, async () => {
          const before = await uncaught();
          await publish(where, item.bytes);
          await sleep(200);
          const counts = await uncaught();
          for (const j of NODES) {
            if (isNode(j)) assert.ok(counts[j] - before[j] >= 1, `node ${j} (Node): the exception is thrown`);
          }
          // every node broadcasts a probe: a Sockeye node's clients get every probe (a Node node's
          // may not: its subscriber connection has lost its place)
          const probes = NODES.map(() => `probe-${nonce()}`);
          for (const i of NODES) await callOk(fx.a[i], "broadcast", { event: "m", args: [probes[i]] });
          for (const j of NODES) {
            if (isNode(j)) continue;
            for (const s of [fx.a[j], fx.b[j]]) for (const i of NODES) await fx.seen(s, probes[i]);
          }
          assertSockeyeUnharmed(counts);
          await rebuild({ restartNodeKinds: true });
        });
      }
    }

    for (const item of items) {
      for (const [where, effect] of Object.entries(item.on)) {
        if (effect !== "harm") continue;
        it(`${item.name} on the ${where} channel: Node's clients get "${item.harm}"; a Sockeye node's clients stay`, async () => {
          const reasons = new Map();
          for (const s of fx.all) s.once("disconnect", (r) => reasons.set(s, r));
          await publish(where, item.bytes);
          for (const j of NODES) {
            for (const s of [fx.a[j], fx.b[j]]) {
              if (isNode(j)) {
                const t0 = Date.now();
                while (!reasons.has(s) && Date.now() - t0 < 5000) await sleep(20);
                assert.equal(reasons.get(s), item.harm, `${fx.label(s)} (Node)`);
              }
            }
          }
          await sleep(300);
          const counts = await Promise.all(
            NODES.filter((i) => !isNode(i)).map(async (i) => [i, (await callOk(fx.a[i], "stats")).uncaught]),
          );
          const before = NODES.map(() => 0);
          for (const [i, c] of counts) before[i] = c;
          assertSockeyeUnharmed(before);
          for (const j of NODES.filter((j) => !isNode(j))) {
            assert.equal(reasons.has(fx.a[j]) || reasons.has(fx.b[j]), false, `node ${j} (sockeye) keeps its clients`);
          }
          await rebuild({ restartNodeKinds: false });
        });
      }
    }

    it("afterwards: every node is up and the cluster works", async () => {
      await assertWorking();
      for (const i of NODES) {
        assert.ok(nodes[i].proc.alive, `node ${i} alive`);
        if (!isNode(i)) assert.equal((await callOk(fx.a[i], "stats")).uncaught, 0);
      }
    });
  });
}

garbageCases("garbage on the classic adapter's channels", false, CLASSIC);
garbageCases("garbage on the sharded adapter's channels", true, SHARDED);
