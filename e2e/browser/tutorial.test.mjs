// The tutorial app (the `sockeye` binary) end to end: a real headless Chromium loads the page,
// clicks "Hit Me", and every open page gets the reversed text; plus Unicode, a non-string
// message, many clients at once, --static, the heap's huge pages, and a graceful shutdown.
//
// Needs: target/debug/sockeye built, Debian's chromium at /usr/bin/chromium (or CHROMIUM),
// and e2e/node_modules (playwright-core, socket.io-client).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";
import { io } from "socket.io-client";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
const ART = join(HERE, "..", "artifacts");
const BIN = process.env.SOCKEYE_BIN || join(ROOT, "target", "debug", "sockeye");
mkdirSync(ART, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts the binary; resolves once it prints where it listens. */
async function startServer(extraArgs = [], env = process.env) {
  const port = await freePort();
  const child = spawn(BIN, ["--host", "127.0.0.1", "--port", String(port), ...extraArgs], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (out.stdout += d));
  child.stderr.on("data", (d) => (out.stderr += d));
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 10_000;
  while (!out.stdout.includes("listening on")) {
    if (Date.now() > deadline) throw new Error(`server did not start: ${out.stdout} ${out.stderr}`);
    if (child.exitCode !== null) throw new Error(`server exited: ${out.stderr}`);
    await sleep(20);
  }
  return { url: `http://127.0.0.1:${port}`, child, out, exited };
}

async function waitFor(pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (server && server.child.exitCode === null) server.child.kill("SIGKILL");
});

async function openPage() {
  const page = await browser.newPage();
  const scripts = [];
  page.on("response", (r) => {
    if (r.url().endsWith(".js")) scripts.push({ url: r.url(), status: r.status() });
  });
  await page.goto(server.url + "/");
  await page.waitForSelector("#state.connected", { timeout: 10_000 });
  return { page, scripts };
}

test("the page works offline: the client bundle is served by the server itself", async () => {
  const { page, scripts } = await openPage();
  const bundle = scripts.find((s) => s.url === `${server.url}/socket.io/socket.io.js`);
  assert.ok(bundle, `no local bundle request: ${JSON.stringify(scripts)}`);
  assert.equal(bundle.status, 200);
  assert.ok(!scripts.some((s) => s.url.includes("cdn.")), "the CDN was used");
  const res = await fetch(`${server.url}/socket.io/socket.io.min.js`);
  assert.equal(res.status, 200);
  const etag = res.headers.get("etag");
  assert.ok(etag);
  const again = await fetch(`${server.url}/socket.io/socket.io.min.js`, { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${server.url}/socket.io/package.json`)).status, 404);
  await page.close();
});

test("without socket.io.js (no bundle served, no CDN reachable) the page says so and names the fix", async () => {
  const bare = await startServer(["--no-client"]);
  const page = await browser.newPage();
  try {
    // No network here: the CDN copy fails as it would offline.
    await page.route("https://cdn.socket.io/**", (route) => route.abort("internetdisconnected"));
    const bundle = page.waitForResponse((r) => r.url().endsWith("/socket.io/socket.io.js"));
    await page.goto(bare.url + "/");
    assert.equal((await bundle).status(), 404);
    await page.waitForSelector("#problem:not([hidden])", { timeout: 5000 });
    assert.match(await page.textContent("#state"), /socket\.io\.js could not be loaded/);
    const help = await page.textContent("#problem");
    assert.match(help, /--client-dir DIR/);
    assert.match(help, /npm install socket\.io-client/);
    assert.equal(await page.isDisabled("#hit"), true);
    await page.screenshot({ path: join(ART, "tutorial-no-client.png"), fullPage: true });
    // The bundle is found at start-up when installed: this server was told not to serve it.
    assert.match(bare.out.stdout, /client bundle not served/);
  } finally {
    await page.close();
    bare.child.kill("SIGKILL");
  }
});

test("Hit Me: the page shows DLROW OLLEH, the server prints the Socket ID and the message, a second page gets the broadcast", async () => {
  const a = await openPage();
  const b = await openPage();
  const before = server.out.stdout.length;
  await a.page.click("#hit");
  await a.page.waitForSelector("#replies li:has-text('DLROW OLLEH')", { timeout: 5000 });
  await b.page.waitForSelector("#replies li:has-text('DLROW OLLEH')", { timeout: 5000 });
  await a.page.screenshot({ path: join(ART, "tutorial.png"), fullPage: true });
  const printed = server.out.stdout.slice(before);
  assert.match(printed, /Socket ID: [A-Za-z0-9_-]{20}\nHELLO WORLD\n/);
  await a.page.close();
  await b.page.close();
});

test("Unicode round trip through the text box: reversed by characters", async () => {
  const a = await openPage();
  await a.page.fill("#text", "héllo 🌍 wörld");
  await a.page.click("form button[type=submit]");
  await a.page.waitForSelector("#replies li:has-text('dlröw 🌍 olléh')", { timeout: 5000 });
  const first = await a.page.textContent("#replies li");
  assert.equal(first, "dlröw 🌍 olléh");
  await a.page.close();
});

test("a message that is not a string: an error ack and a log line, and the server keeps working", async () => {
  const socket = io(server.url, { transports: ["websocket"], forceNew: true });
  try {
    const ack = await socket.timeout(3000).emitWithAck("message", { not: "a string" });
    assert.deepEqual(ack, { error: "message must be a string" });
    await waitFor(() => server.out.stderr.includes("not a string"), "the log line");
    const reply = new Promise((r) => socket.once("message", r));
    socket.emit("message", "abc");
    assert.equal(await reply, "cba");
  } finally {
    socket.close();
  }
});

test("many clients at once: 100 clients over both transports all get one broadcast", async () => {
  const clients = [];
  for (let i = 0; i < 100; i++) {
    clients.push(io(server.url, { transports: i % 2 ? ["websocket"] : ["polling"], forceNew: true }));
  }
  try {
    await Promise.all(clients.map((c) => new Promise((r) => (c.connected ? r() : c.once("connect", r)))));
    const tag = `many-${Date.now()}`;
    const got = clients.map((c) => new Promise((r) => c.on("message", (m) => m === [...tag].reverse().join("") && r())));
    clients[0].emit("message", tag);
    await Promise.race([Promise.all(got), sleep(10_000).then(() => Promise.reject(new Error("not everyone got it")))]);
  } finally {
    for (const c of clients) c.close();
  }
});

test("--static serves another folder instead of the built-in page", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sockeye-static-"));
  writeFileSync(join(dir, "index.html"), "<!doctype html><title>mine</title><p id=x>my own page</p>");
  const other = await startServer(["--static", dir]);
  try {
    const res = await fetch(other.url + "/");
    assert.equal(res.status, 200);
    assert.match(await res.text(), /my own page/);
    assert.equal((await fetch(other.url + "/../../etc/passwd")).status, 404);
    assert.equal((await fetch(other.url + "/%2e%2e/%2e%2e/etc/passwd")).status, 404);
    assert.equal((await fetch(other.url + "/socket.io/socket.io.js")).status, 200);
  } finally {
    other.child.kill("SIGKILL");
  }
});

test("the server runs itself again with glibc's huge-page tunable, unless GLIBC_TUNABLES is set", async () => {
  const environ = (pid) => readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
  const { GLIBC_TUNABLES: _, ...clean } = process.env;
  const plain = await startServer([], clean);
  try {
    // The same process (the pid the test started), now with the tunable, and serving.
    assert.ok(environ(plain.child.pid).includes("GLIBC_TUNABLES=glibc.malloc.hugetlb=1"));
    assert.equal((await fetch(plain.url + "/")).status, 200);
  } finally {
    plain.child.kill("SIGKILL");
  }
  const optedOut = await startServer([], { ...clean, GLIBC_TUNABLES: "" });
  try {
    const vars = environ(optedOut.child.pid).filter((v) => v.startsWith("GLIBC_TUNABLES="));
    assert.deepEqual(vars, ["GLIBC_TUNABLES="]);
    assert.equal((await fetch(optedOut.url + "/")).status, 200);
  } finally {
    optedOut.child.kill("SIGKILL");
  }
});

test("Ctrl-C: connected clients get a clean close and the process exits 0", async () => {
  const s = await startServer();
  const ws = io(s.url, { transports: ["websocket"], forceNew: true, reconnection: false });
  const poll = io(s.url, { transports: ["polling"], forceNew: true, reconnection: false });
  await Promise.all([ws, poll].map((c) => new Promise((r) => c.once("connect", r))));
  const reasons = Promise.all([ws, poll].map((c) => new Promise((r) => c.once("disconnect", r))));
  s.child.kill("SIGINT");
  const { code } = await Promise.race([s.exited, sleep(8000).then(() => ({ code: "timeout" }))]);
  assert.equal(code, 0);
  const got = await Promise.race([reasons, sleep(5000).then(() => ["timeout"])]);
  for (const r of got) {
    assert.ok(["transport close", "io server disconnect"].includes(r), `unclean close: ${r}`);
  }
  assert.match(s.out.stdout, /shutting down/);
});

test("Ctrl-C: a polling request that arrives after the signal still gets the close packet, a new client gets 403", async () => {
  const s = await startServer();
  // Each request on a connection of its own, as a client's next poll may be.
  const get = (path) =>
    new Promise((resolve, reject) => {
      http
        .get(s.url + path, { agent: false }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode, body }));
        })
        .on("error", reject);
    });
  const open = await get("/socket.io/?EIO=4&transport=polling");
  assert.equal(open.status, 200);
  const { sid } = JSON.parse(open.body.slice(1));
  s.child.kill("SIGINT");
  await waitFor(() => s.out.stdout.includes("shutting down"), "shutting down");
  // A new client is turned away meanwhile (it reconnects later), not let in to be cut off.
  const fresh = await get("/socket.io/?EIO=4&transport=polling");
  assert.equal(fresh.status, 403, fresh.body);
  assert.equal(JSON.parse(fresh.body).code, 4);
  const last = await get(`/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`);
  assert.equal(last.status, 200);
  assert.equal(last.body, "1", "the close packet");
  const { code } = await Promise.race([s.exited, sleep(8000).then(() => ({ code: "timeout" }))]);
  assert.equal(code, 0);
  assert.doesNotMatch(s.out.stderr, /did not close in time/);
});
