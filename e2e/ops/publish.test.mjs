// The publish API of the `sockeye` binary (POST /publish, --publish-token): real HTTP
// requests from this process, real socket.io-client 4.8 subscribers; then across a cluster
// of two binaries joined through a real redis-server (started here on a free port).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { client, connected, sleep, startSockeye, waitFor } from "./lib.mjs";
import { startRedis, stopAll as stopCluster } from "../cluster/lib/harness.mjs";

const TOKEN = "test-token-0123456789abcdef";
const open = [];

async function subscribers(url, n, opts = { transports: ["websocket"] }) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = client(url, opts);
    open.push(s);
    out.push(await connected(s));
  }
  return out;
}

/** POSTs `body` (an object, or raw text) to /publish; {status, headers, json}. */
async function publish(url, body, { token = TOKEN, contentType = "application/json", method = "POST" } = {}) {
  const headers = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (contentType !== null) headers["content-type"] = contentType;
  const res = await fetch(`${url}/publish`, {
    method,
    headers,
    body: method === "GET" ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Resolves with the arguments of every `event` `socket` gets within `ms`. */
async function received(socket, event, ms = 300) {
  const got = [];
  const on = (...args) => got.push(args);
  socket.on(event, on);
  await sleep(ms);
  socket.off(event, on);
  return got;
}

after(async () => {
  for (const s of open) s.disconnect();
  await stopCluster();
});

describe("POST /publish, one node", () => {
  let server;
  before(async () => {
    server = await startSockeye("publish", ["--no-client", "--publish-token", TOKEN, "--publish-max-bytes", "2048"]);
    assert.match(server.proc.out.stdout, /publish API on POST \/publish/);
  });
  after(async () => {
    await server?.proc.stop();
  });

  it("broadcasts to every client of / and says how many it reached", async () => {
    const subs = await subscribers(server.url, 3);
    const got = Promise.all(subs.map((s) => new Promise((r) => s.once("news", (...args) => r(args)))));
    const args = ["héllo 🌍", 42, { nested: [1, { x: null }] }, true];
    const res = await publish(server.url, { event: "news", args });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true, local_clients: 3 });
    assert.equal(res.headers.get("content-type"), "application/json");
    for (const a of await got) assert.deepEqual(a, args);
    for (const s of subs) s.disconnect();
  });

  it("reaches the rooms, minus the exceptions", async () => {
    const [a, b, c] = await subscribers(server.url, 3);
    // Every socket is in the room of its own id: rooms without an application handler.
    const seen = [a, b, c].map((s) => received(s, "tick", 400));
    let res = await publish(server.url, { rooms: [a.id, b.id], except: [b.id], event: "tick", args: [1] });
    assert.deepEqual(res.json, { ok: true, local_clients: 1 });
    res = await publish(server.url, { except: [a.id], event: "tick", args: [2] });
    assert.equal(res.json.local_clients >= 2, true, JSON.stringify(res.json));
    const [ga, gb, gc] = await Promise.all(seen);
    assert.deepEqual(ga, [[1]]);
    assert.deepEqual(gb, [[2]]);
    assert.deepEqual(gc, [[2]]);
    for (const s of [a, b, c]) s.disconnect();
  });

  it("refuses a missing or wrong token with 401, and broadcasts nothing", async () => {
    const [s] = await subscribers(server.url, 1);
    const seen = received(s, "secret", 400);
    for (const token of [null, "wrong-token-0123456789abcdef", TOKEN.slice(0, -1), ""]) {
      const res = await publish(server.url, { event: "secret" }, { token });
      assert.equal(res.status, 401, `token ${token}`);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      assert.equal(res.json.ok, false);
      assert.match(res.json.error, /token/);
    }
    const basic = await fetch(`${server.url}/publish`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` },
      body: JSON.stringify({ event: "secret" }),
    });
    assert.equal(basic.status, 401);
    assert.deepEqual(await seen, []);
    s.disconnect();
  });

  it("answers bad requests with clear 4xx JSON errors", async () => {
    const cases = [
      ["not JSON", "{oops", {}, 400, /invalid JSON/],
      ["no event", { args: [1] }, {}, 400, /event/],
      ["a misspelt field", { event: "e", room: "x" }, {}, 400, /unknown field `room`/],
      ["a wrong type", { event: "e", rooms: "x" }, {}, 400, /invalid type/],
      ["a reserved event", { event: "disconnect" }, {}, 400, /reserved/],
      ["an empty event", { event: "" }, {}, 400, /reserved|empty/],
      ["an unknown namespace", { namespace: "/nope", event: "e" }, {}, 404, /unknown namespace `\/nope`/],
      ["a form body", "event=e", { contentType: "application/x-www-form-urlencoded" }, 415, /application\/json/],
      ["a body over the limit", { event: "e", args: ["x".repeat(3000)] }, {}, 413, /2048 bytes/],
    ];
    for (const [what, body, opts, status, message] of cases) {
      const res = await publish(server.url, body, opts);
      assert.equal(res.status, status, `${what}: ${res.text}`);
      assert.equal(res.json?.ok, false, what);
      assert.match(res.json.error, message, what);
    }
    const get = await publish(server.url, null, { method: "GET" });
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    // No Content-Type is taken as JSON (fetch would add text/plain: a raw request).
    const bare = await new Promise((resolve, reject) => {
      const req = http.request(`${server.url}/publish`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on("error", reject);
      req.end(JSON.stringify({ event: "bare" }));
    });
    assert.equal(bare, 200);
  });

  it("stops reading a chunked body at the limit (no Content-Length)", async () => {
    const { port } = new URL(server.url);
    let req;
    const status = await new Promise((resolve, reject) => {
      req = http.request(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/publish",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "transfer-encoding": "chunked" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on("error", reject);
      // Over the limit, and never ended: the answer must come without the rest.
      req.write(`{"event":"e","args":["${"y".repeat(4096)}`);
    });
    assert.equal(status, 413);
    req.destroy();
    // The server is fine: a client still gets its echo.
    const [s] = await subscribers(server.url, 1);
    const echo = new Promise((r) => s.once("message", r));
    assert.deepEqual(await s.emitWithAck("message", "abc"), { ok: true });
    assert.equal(await echo, "cba");
    s.disconnect();
  });
});

describe("the publish API's switches", () => {
  it("is off by default: /publish is the page's 404", async () => {
    const server = await startSockeye("publish-off", ["--no-client"]);
    try {
      const res = await publish(server.url, { event: "e" });
      assert.equal(res.status, 404);
      assert.equal(res.json, undefined, "not the publish API's JSON");
    } finally {
      await server.proc.stop();
    }
  });

  it("reads the token from --publish-token-file, and refuses a short one", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sockeye-token-"));
    try {
      const file = path.join(dir, "token");
      writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
      const server = await startSockeye("publish-file", ["--no-client", "--publish-token-file", file]);
      try {
        assert.equal((await publish(server.url, { event: "e" })).status, 200);
        assert.equal((await publish(server.url, { event: "e" }, { token: "x".repeat(27) })).status, 401);
      } finally {
        await server.proc.stop();
      }
      writeFileSync(file, "short\n");
      await assert.rejects(startSockeye("publish-short", ["--no-client", "--publish-token-file", file]), /at least 16 characters/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("POST /publish across a cluster (two binaries, one redis-server)", () => {
  let a;
  let b;
  before(async () => {
    const redis = await startRedis();
    const flags = ["--no-client", "--publish-token", TOKEN, "--redis", redis.url];
    a = await startSockeye("publish-a", flags);
    b = await startSockeye("publish-b", flags);
    for (const node of [a, b]) await waitFor(() => node.proc.out.stdout.includes("joined the cluster"), "joined", 10_000);
  });
  after(async () => {
    await a?.proc.stop();
    await b?.proc.stop();
  });

  it("reaches every node's clients; the answer counts this node's", async () => {
    const onA = await subscribers(a.url, 2);
    const onB = await subscribers(b.url, 3);
    const all = [...onA, ...onB];
    // The other node's subscription may take a moment after the clients connect.
    let res;
    await waitFor(
      async () => {
        const seen = all.map((s) => received(s, "probe", 300));
        res = await publish(a.url, { event: "probe", args: ["p"] });
        return (await Promise.all(seen)).every((g) => g.length === 1);
      },
      "a broadcast reaching both nodes",
      10_000,
    );
    assert.deepEqual(res.json, { ok: true, local_clients: 2 });

    const target = onB[1];
    const seen = all.map((s) => received(s, "direct", 500));
    res = await publish(a.url, { rooms: [target.id], event: "direct", args: [{ to: "b" }] });
    assert.deepEqual(res.json, { ok: true, local_clients: 0 }, "none of a's own");
    const got = await Promise.all(seen);
    got.forEach((g, i) => assert.deepEqual(g, all[i] === target ? [[{ to: "b" }]] : [], `client ${i}`));

    const gotB = all.map((s) => received(s, "fromB", 500));
    res = await publish(b.url, { except: [onA[0].id], event: "fromB", args: [] });
    assert.deepEqual(res.json, { ok: true, local_clients: 3 });
    (await Promise.all(gotB)).forEach((g, i) => assert.equal(g.length, i === 0 ? 0 : 1, `client ${i}`));
  });
});
