// Sticky sessions behind a real load balancer, in front of two nodes (the first and the last
// kind of E2E_CLUSTER_NODES):
//   - nginx with `hash $remote_addr consistent`: each client binds its own source address in
//     127.0.0.0/8 (Linux routes all of it to loopback), as clients from many hosts would be;
//   - haproxy with `cookie io prefix indirect nocache` on the engine's cookie (--cookie io).
// Polling and polling-then-upgrade clients connect, make round trips, and get cross-node
// broadcasts. Without stickiness (nginx round robin) polling breaks: that is asserted too, so
// the sticky tests cannot pass by luck.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { io } from "socket.io-client";
import {
  KINDS,
  STEP_MS,
  call,
  callOk,
  collect,
  nonce,
  sleep,
  startCluster,
  startRedis,
  stopAll,
  waitFormed,
  withTimeout,
} from "./lib/harness.mjs";
import { startHaproxy, startNginx } from "./lib/proxies.mjs";

const SKINDS = [KINDS[0], KINDS[KINDS.length - 1]];
const CLIENTS = 24; // per setup
const ROUND_TRIPS = 5;

const opened = new Set();
after(() => {
  for (const s of opened) s.io._close();
});

/** A socket.io-client socket through the proxy; resolves { socket, error } once it connected or failed. */
function client(url, { transports, source, cookies }) {
  const agent = source ? new http.Agent({ localAddress: source }) : undefined;
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    timeout: STEP_MS,
    ...(transports ? { transports } : {}),
    ...(agent ? { agent } : {}),
    ...(cookies ? { withCredentials: true } : {}),
  });
  opened.add(socket);
  const upgraded = new Promise((resolve) =>
    socket.io.once("open", () => socket.io.engine.once("upgrade", () => resolve(true))),
  );
  const ready = withTimeout(
    new Promise((resolve) => {
      socket.once("connect", () => resolve({ socket, upgraded }));
      socket.once("connect_error", (error) => resolve({ socket, error }));
    }),
    STEP_MS,
    "connect through the proxy",
  );
  return ready;
}

/** Connects CLIENTS clients of each setup, asserts they work and reach both nodes; returns them. */
async function connectMany(url, { distinctSources, cookies }) {
  const setups = [
    { name: "polling", transports: ["polling"] },
    { name: "upgrade", transports: undefined },
  ];
  const all = [];
  let k = 0;
  for (const setup of setups) {
    const batch = await Promise.all(
      [...Array(CLIENTS).keys()].map(() => {
        k++;
        const source = distinctSources ? `127.0.${Math.floor(k / 200) + 1}.${(k % 200) + 10}` : undefined;
        return client(url, { transports: setup.transports, source, cookies });
      }),
    );
    for (const c of batch) {
      assert.equal(c.error, undefined, `${setup.name} client: ${c.error && c.error.message}`);
      c.setup = setup.name;
      all.push(c);
    }
  }
  // several round trips each (over polling, each one a new request through the proxy)
  for (const c of all) {
    c.node = (await callOk(c.socket, "whoami")).node;
    for (let r = 0; r < ROUND_TRIPS; r++) {
      assert.equal((await callOk(c.socket, "whoami")).node, c.node, "the same node every time");
    }
  }
  for (const c of all.filter((c) => c.setup === "upgrade")) {
    assert.ok(await withTimeout(c.upgraded, STEP_MS, "upgrade"), "upgraded");
    assert.equal(c.socket.io.engine.transport.name, "websocket");
    assert.equal((await callOk(c.socket, "whoami")).node, c.node, "the same node after the upgrade");
  }
  for (const c of all.filter((c) => c.setup === "polling")) assert.equal(c.socket.io.engine.transport.name, "polling");
  return all;
}

/** A broadcast from a client on each node reaches every client behind the proxy. */
async function assertCrossNode(all, nodes) {
  const got = new Map(all.map((c) => [c, collect(c.socket, "m")]));
  for (const node of nodes) {
    const from = all.find((c) => c.node === node.name);
    assert.ok(from, `a client on ${node.name}`);
    const tag = `sticky-${nonce()}`;
    await callOk(from.socket, "broadcast", { event: "m", args: [tag] });
    await Promise.all(all.map((c) => got.get(c).seen((t) => t === tag)));
    for (const c of all)
      assert.equal(
        got.get(c).count((t) => t === tag),
        1,
      );
  }
}

describe("sticky sessions behind a load balancer", () => {
  let redis;
  let nodes;
  let cookieNodes;

  before(async () => {
    redis = await startRedis();
    nodes = await startCluster(redis.url, { tag: "s" }, SKINDS);
    cookieNodes = await startCluster(redis.url, { tag: "k", key: "cookie-cluster", cookie: "io" }, SKINDS);
    await waitFormed(nodes);
    await waitFormed(cookieNodes);
  });
  after(stopAll);

  it("nginx, hash $remote_addr consistent: polling and upgrading clients from many addresses, cross-node broadcast", async (t) => {
    const proxy = await startNginx(
      nodes.map((n) => n.port),
      { balance: "hash" },
    );
    const all = await connectMany(proxy.url, { distinctSources: true });
    const perNode = nodes.map((n) => all.filter((c) => c.node === n.name).length);
    t.diagnostic(`clients per node: ${perNode.join(", ")}`);
    for (const [i, count] of perNode.entries()) assert.ok(count > 0, `node ${i} serves some clients`);
    await assertCrossNode(all, nodes);
    // the nodes see the proxy as the peer, and each client's own source address in X-Forwarded-For
    const { sockets } = await callOk(all[0].socket, "fetch-sockets", {});
    assert.equal(sockets.length, all.length);
    for (const s of sockets) assert.equal(s.handshake.address, "127.0.0.1");
    const sources = new Set(sockets.map((s) => s.handshake.headers["x-forwarded-for"]));
    assert.equal(sources.size, all.length, "one source address per client");
    assert.ok(!sources.has("127.0.0.1"));
    for (const c of all) c.socket.disconnect();
  });

  it("haproxy, cookie io prefix: polling and upgrading clients, cross-node broadcast", async (t) => {
    const proxy = await startHaproxy(
      cookieNodes.map((n) => n.port),
      { cookie: "io" },
    );
    const all = await connectMany(proxy.url, { distinctSources: false, cookies: true });
    const perNode = cookieNodes.map((n) => all.filter((c) => c.node === n.name).length);
    t.diagnostic(`clients per node: ${perNode.join(", ")}`);
    for (const [i, count] of perNode.entries()) assert.ok(count > 0, `node ${i} serves some clients`);
    await assertCrossNode(all, cookieNodes);
    for (const c of all) c.socket.disconnect();
  });

  it("a node started with --cookie sets the engine cookie on the handshake (and one without does not)", async () => {
    const res = await fetch(`${cookieNodes[0].url}/socket.io/?EIO=4&transport=polling`);
    const body = await res.text();
    const sid = JSON.parse(body.slice(1)).sid;
    const setCookie = res.headers.get("set-cookie");
    assert.ok(setCookie, "Set-Cookie");
    const parts = setCookie.split(";").map((p) => p.trim());
    assert.equal(parts[0], `io=${sid}`);
    const attrs = parts.slice(1).map((p) => p.toLowerCase());
    assert.ok(attrs.includes("path=/"), setCookie);
    assert.ok(attrs.includes("httponly"), setCookie);
    assert.ok(attrs.includes("samesite=lax"), setCookie);
    const plain = await fetch(`${nodes[0].url}/socket.io/?EIO=4&transport=polling`);
    await plain.text();
    assert.equal(plain.headers.get("set-cookie"), null);
  });

  it("without stickiness (nginx round robin) polling clients break", async (t) => {
    const proxy = await startNginx(
      nodes.map((n) => n.port),
      { balance: "round-robin" },
    );
    const results = await Promise.all(
      [...Array(CLIENTS).keys()].map(() => client(proxy.url, { transports: ["polling"] })),
    );
    // a client that connected must still fail its round trips, or be disconnected
    let broken = 0;
    for (const c of results) {
      if (c.error) {
        broken++;
        continue;
      }
      let ok = true;
      for (let r = 0; r < ROUND_TRIPS && ok; r++) {
        const res = await call(c.socket, "whoami", {}, 2000).catch(() => null);
        ok = !!res && c.socket.connected;
      }
      await sleep(50);
      if (!ok || !c.socket.connected) broken++;
    }
    t.diagnostic(`${broken} of ${results.length} polling clients broke without stickiness`);
    assert.ok(broken >= results.length / 2, `${broken} of ${results.length} broke`);
    for (const c of results) c.socket.io._close();
  });
});
