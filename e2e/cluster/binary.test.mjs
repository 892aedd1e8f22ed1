// The `sockeye` binary in a cluster: two of them started with `--redis URL` (and one with the
// URL in SOCKEYE_REDIS) beside a Node node of the contract (Node's socket.io with
// @socket.io/redis-adapter) on one redis-server. The tutorial's reversed `message` is an
// `io.emit`, so it reaches every client of every node, Node's included; and what a Node node
// broadcasts reaches the binaries' clients.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  ROOT,
  call,
  callOk,
  collect,
  connect,
  eventually,
  freePort,
  nonce,
  startCluster,
  startProcess,
  startRedis,
  stopAll,
} from "./lib/harness.mjs";

const BIN = process.env.E2E_SOCKEYE_BIN || path.join(ROOT, "target/debug/sockeye");

async function startBinary(redisUrl, label, { viaEnv = false } = {}) {
  const port = await freePort();
  const argv = [BIN, "--host", "127.0.0.1", "--port", String(port), "--no-client"];
  if (!viaEnv) argv.push("--redis", redisUrl);
  const env = viaEnv ? { SOCKEYE_REDIS: redisUrl } : {};
  const proc = await startProcess(label, argv, { ready: "Sockeye listening on", env });
  return { port, url: `http://127.0.0.1:${port}`, proc };
}

describe("the sockeye binary joined to a cluster with --redis", () => {
  let bins;
  let node;
  before(async () => {
    const redis = await startRedis();
    bins = [
      await startBinary(redis.url, "bin-a"),
      await startBinary(redis.url, "bin-b", { viaEnv: true }),
    ];
    [node] = await startCluster(redis.url, { tag: "bin" }, ["node"]);
    // the Node node counts the two binaries and itself in `/` (the binaries serve no other
    // namespace)
    const probe = await connect(node);
    await eventually(async () => (await call(probe, "server-count")).count === 3, "3 servers in /");
    probe.disconnect();
  });
  after(async () => {
    for (const b of bins || []) await b.proc.stop();
    await stopAll();
  });

  it("a message on one binary comes back reversed to every client of every node", async () => {
    const [a, b, n] = await Promise.all([connect(bins[0].url), connect(bins[1].url), connect(node)]);
    const seen = [a, b, n].map((s) => collect(s, "message"));
    const text = `hello-${nonce()}`;
    const reversed = [...text].reverse().join("");
    a.emit("message", text);
    for (const [i, got] of seen.entries()) {
      await got.seen((m) => m === reversed);
      // nothing arrives twice (a broadcast crosses Redis once and is not re-published)
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(got.count((m) => m === reversed), 1, `client ${i}: once`);
    }
  });

  it("a Node node's broadcast reaches the binaries' clients", async () => {
    const [a, b, n] = await Promise.all([connect(bins[0].url), connect(bins[1].url), connect(node)]);
    const seen = [a, b].map((s) => collect(s, "from-node"));
    const tag = nonce();
    await callOk(n, "broadcast", { event: "from-node", args: [tag] });
    for (const got of seen) await got.seen((m) => m === tag);
  });
});
