// Redis killed (SIGKILL) and restarted on the same port mid-test, under a classic cluster with
// requestsTimeout 1500: local delivery goes on while Redis is down, cluster operations end
// within their timeout (one documented Node exception), no node dies, and the cluster heals
// by itself once Redis is back.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  KINDS,
  call,
  callOk,
  eventually,
  nonce,
  sleep,
  startCluster,
  startRedis,
  stopAll,
  waitFormed,
} from "./lib/harness.mjs";
import { makeFixture, timed } from "./lib/fixture.mjs";

const N = KINDS.length;
const NODES = [...Array(N).keys()];
const TIMEOUT = 1500; // --requests-timeout
const SLACK = 1000; // what a node may take past a timeout

/** Calls a handler; resolves { value, ms } or { value: undefined, ms } when no ack came within `ms`. */
async function callWithin(socket, event, spec, ms) {
  return timed(() => call(socket, event, spec, ms).catch(() => undefined));
}

describe("Redis killed and restarted mid-test", () => {
  let redis;
  let nodes;
  let fx;

  before(async () => {
    redis = await startRedis();
    nodes = await startCluster(redis.url, { requestsTimeout: TIMEOUT, tag: "r" });
    await waitFormed(nodes);
    fx = await makeFixture(nodes);
    // the cluster works before the outage
    await callOk(fx.a[0], "broadcast", { event: "m", args: ["warm-up"] });
    await Promise.all(fx.all.map((s) => fx.seen(s, "warm-up")));
  });
  after(stopAll);

  it("while Redis is down: local delivery goes on, cluster operations end within their timeout, no node dies", async (t) => {
    await redis.kill();
    await sleep(300); // the nodes see their Redis connections close

    await Promise.all(
      NODES.map(async (i) => {
        const mine = [fx.a[i], fx.b[i]];
        const where = `node ${i} (${KINDS[i]})`;

        // local handlers answer
        assert.equal((await callOk(fx.a[i], "whoami")).node, nodes[i].name);

        // a broadcast still reaches the node's own clients, local flag or not
        const t1 = `down-${nonce()}`;
        await callOk(fx.a[i], "broadcast", { event: "m", args: [t1] });
        await Promise.all(mine.map((s) => fx.seen(s, t1, 3000)));
        const t2 = `down-local-${nonce()}`;
        await callOk(fx.a[i], "broadcast", { event: "m", args: [t2], local: true, rooms: ["blue"] });
        await fx.seen(fx.b[i], t2, 3000);

        // fetchSockets and serverCount fail with an error, within the requests timeout
        const fetch = await callWithin(fx.a[i], "fetch-sockets", {}, TIMEOUT + SLACK);
        assert.ok(fetch.value, `${where}: fetch-sockets answered within ${TIMEOUT + SLACK} ms`);
        assert.equal(typeof fetch.value.error, "string", `${where}: ${JSON.stringify(fetch.value)}`);
        const count = await callWithin(fx.a[i], "server-count", {}, TIMEOUT + SLACK);
        assert.ok(count.value, `${where}: server-count answered`);
        assert.equal(typeof count.value.error, "string", `${where}: ${JSON.stringify(count.value)}`);

        // a broadcast with acks times out with the answers of the node's own clients
        const bwa = await callWithin(
          fx.a[i],
          "broadcast-with-ack",
          { event: "ask", args: ["down"], timeout: 1000 },
          1000 + SLACK,
        );
        assert.ok(bwa.value, `${where}: broadcast-with-ack answered within ${1000 + SLACK} ms`);
        assert.equal(bwa.value.timedOut, true);
        assert.deepEqual(bwa.value.responses.map((r) => r.id).sort(), mine.map((s) => s.id).sort());

        // fire-and-forget operations answer (they do not wait for Redis)
        for (const [event, spec] of [
          ["sockets-join", { rooms: [`nobody-${nonce()}`], targets: ["x"] }],
          ["sockets-leave", { rooms: [`nobody-${nonce()}`], targets: ["x"] }],
          ["disconnect-sockets", { rooms: [`nobody-${nonce()}`] }],
          ["server-side-emit", { event: "sse", args: ["down"] }],
        ]) {
          const r = await callWithin(fx.a[i], event, spec, SLACK);
          assert.ok(r.value, `${where}: ${event} answered within ${SLACK} ms`);
        }

        // serverSideEmitWithAck: Node's adapter swallows the error of its server count and
        // never calls back (see the README); a Sockeye node must end within its timeout.
        const sse = await callWithin(
          fx.a[i],
          "server-side-emit-with-ack",
          { event: "sse-ack", args: ["down"] },
          TIMEOUT + SLACK,
        );
        if (KINDS[i] === "node") {
          assert.equal(sse.value, undefined, `${where}: Node's serverSideEmitWithAck hangs while Redis is down`);
        } else {
          assert.ok(sse.value, `${where}: server-side-emit-with-ack answered within ${TIMEOUT + SLACK} ms`);
          assert.equal(sse.value.timedOut, true, JSON.stringify(sse.value));
        }
      }),
    );

    for (const i of NODES) {
      assert.ok(nodes[i].proc.alive, `node ${i} is alive`);
      const st = await callOk(fx.a[i], "stats");
      t.diagnostic(`node ${i} (${KINDS[i]}): ${st.uncaught} uncaught error(s) while Redis was down`);
      if (KINDS[i] === "sockeye") assert.equal(st.uncaught, 0, `node ${i}: no panic`);
    }
    for (const s of fx.everyone) assert.ok(s.connected, `${fx.label(s)} stays connected`);
  });

  it("after Redis restarts, the cluster heals by itself", async (t) => {
    const t0 = Date.now();
    await redis.start();
    // every node counts the cluster again ...
    for (const i of NODES) {
      await eventually(async () => (await call(fx.a[i], "server-count")).count === N, `node ${i} counts ${N}`, {
        ms: 15000,
        gapMs: 100,
      });
    }
    // ... and every node's broadcast reaches every client again
    for (const i of NODES) {
      await eventually(
        async () => {
          const tag = `healed-${nonce()}`;
          await callOk(fx.a[i], "broadcast", { event: "m", args: [tag] });
          try {
            await Promise.all(fx.all.map((s) => fx.seen(s, tag, 500)));
            return true;
          } catch {
            return false;
          }
        },
        `node ${i}'s broadcast reaches every node`,
        { ms: 15000, gapMs: 100 },
      );
    }
    t.diagnostic(`healed ${Date.now() - t0} ms after redis-server started`);
    for (const i of NODES) {
      const tag = `after-${nonce()}`;
      await callOk(fx.a[i], "broadcast", { event: "m", args: [tag] });
      await fx.assertDelivered(i, tag, fx.all);
      const { sockets } = await callOk(fx.a[i], "fetch-sockets", {});
      assert.deepEqual(
        sockets.map((s) => s.id),
        fx.all.map((s) => s.id).sort(),
      );
      const sse = await callOk(fx.a[i], "server-side-emit-with-ack", { event: "sse-ack", args: ["up"] });
      assert.equal(sse.timedOut, false);
      assert.equal(sse.responses.length, N - 1);
    }
    for (const i of NODES) {
      assert.ok(nodes[i].proc.alive, `node ${i} is alive`);
      if (KINDS[i] === "sockeye") assert.equal((await callOk(fx.a[i], "stats")).uncaught, 0);
    }
  });
});
