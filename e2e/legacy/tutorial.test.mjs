// The python-socketio tutorial's own page (legacy/tutorial/index.html: the tutorial's
// index.html with the "Two-Way Communication" listener, its script tag pointed at the locally
// served socket.io-client 2.2.0 bundle) in a real headless Chromium, against a server that
// implements the tutorial: clicking "Hit Me" prints `Socket ID: <id>` and `HELLO WORLD` on the
// server, and every open page logs `DLROW OLLEH`.
//
// The page is served by a tiny static server of this test (origin http://127.0.0.1:<port>),
// and connects to io("http://localhost:8080") as written in the tutorial. The tutorial server
// is started from E2E_TUTORIAL_SERVER, a command line where {port} and {origin} are replaced
// by the port to listen on and the page's origin (to allow in CORS); by default the Node
// reference:
//   node e2e/legacy/tutorial-reference.js --host 127.0.0.1 --port {port} --cors {origin}
// and for Sockeye (run.sh sockeye):
//   target/debug/sockeye --host 127.0.0.1 --port {port} --cors {origin}
// When port 8080 is taken (another run of this test, a server left running), the server gets
// a free port and only the URL in the page's io(...) line is rewritten to it; the test says so
// in a diagnostic line.
//
// Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM) and e2e/node_modules.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, connect as netConnect } from "node:net";
import { mkdirSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { launchChromium } from "../browser/chromium.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ART = join(HERE, "..", "artifacts");
const TUTORIAL_PORT = Number(process.env.E2E_TUTORIAL_PORT || 8080);
const SERVER_CMD =
  process.env.E2E_TUTORIAL_SERVER ||
  `node ${join(HERE, "tutorial-reference.js")} --host 127.0.0.1 --port {port} --cors {origin}`;
const require = createRequire(import.meta.url);
const BUNDLE = join(dirname(require.resolve("socket.io-client-v2/package.json")), "dist", "socket.io.js");
const PAGE = readFileSync(join(HERE, "tutorial", "index.html"), "utf8");
const IO_LINE = 'const socket = io("http://localhost:8080");';
mkdirSync(ART, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** True when something accepts connections on [::1]:port (Chromium may try ::1 first). */
function ipv6Taken(port) {
  return new Promise((resolve) => {
    const sock = netConnect({ host: "::1", port });
    const done = (v) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/** Starts the tutorial server on `port`; resolves once it prints `listening on`. */
async function startTutorialServer(port, origin) {
  const words = SERVER_CMD.trim()
    .split(/\s+/)
    .map((w) => w.replaceAll("{port}", String(port)).replaceAll("{origin}", origin));
  const child = spawn(words[0], words.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (out.stdout += d));
  child.stderr.on("data", (d) => (out.stderr += d));
  child.on("error", (e) => (out.stderr += `spawn error: ${e.message}`));
  const deadline = Date.now() + 15_000;
  while (!out.stdout.includes("listening on")) {
    if (child.exitCode !== null || child.signalCode !== null || out.stderr.includes("spawn error")) {
      throw new Error(`${words.join(" ")} exited: ${out.stdout} ${out.stderr}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${words.join(" ")} did not print 'listening on': ${out.stdout} ${out.stderr}`);
    }
    await sleep(20);
  }
  return { child, out, port };
}

let staticServer;
let origin;
let page; // the page's HTML, as served
let tutorial;
let browser;
const requests = [];
const notes = [];

before(async () => {
  staticServer = createHttpServer((req, res) => {
    requests.push(req.url);
    if (req.url === "/" || req.url === "/index.html") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(page);
    } else if (req.url === "/socket.io-v2/socket.io.js") {
      res.writeHead(200, { "Content-Type": "application/javascript; charset=utf-8" });
      res.end(readFileSync(BUNDLE));
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise((resolve) => staticServer.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${staticServer.address().port}`;

  page = PAGE;
  let why = null;
  if (await ipv6Taken(TUTORIAL_PORT)) why = `something else listens on [::1]:${TUTORIAL_PORT}`;
  if (!why) {
    try {
      tutorial = await startTutorialServer(TUTORIAL_PORT, origin);
    } catch (e) {
      why = e.message.split("\n").find((l) => l.trim()) || "failed";
      why = why.slice(0, 300);
    }
  }
  if (!tutorial) {
    const port = await freePort();
    tutorial = await startTutorialServer(port, origin);
    assert.ok(PAGE.includes(IO_LINE), "the page's io(...) line changed");
    page = PAGE.replace(IO_LINE, `const socket = io("http://localhost:${port}");`);
    notes.push(`port ${TUTORIAL_PORT} unavailable (${why}); the page's URL was rewritten to http://localhost:${port}`);
  }

  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (tutorial && tutorial.child.exitCode === null) {
    tutorial.child.kill("SIGTERM");
    await Promise.race([new Promise((r) => tutorial.child.once("exit", r)), sleep(3000)]);
    if (tutorial.child.exitCode === null) tutorial.child.kill("SIGKILL");
  }
  staticServer?.close();
});

/** Opens the tutorial page; resolves { page, logs, socketRequests } once the socket is connected. */
async function openPage() {
  const p = await browser.newPage();
  const logs = [];
  const socketRequests = [];
  p.on("console", (m) => logs.push(m.text()));
  p.on("request", (r) => {
    if (r.url().includes("/socket.io/")) socketRequests.push(r.url());
  });
  await p.goto(`${origin}/`);
  await p.waitForFunction(() => typeof socket !== "undefined" && socket.connected, null, { timeout: 10_000 });
  return { page: p, logs, socketRequests };
}

async function waitForLog(logs, text, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!logs.includes(text)) {
    if (Date.now() > deadline) throw new Error(`the page did not log ${JSON.stringify(text)}; logs: ${JSON.stringify(logs)}`);
    await sleep(20);
  }
}

test("the tutorial's page with socket.io-client 2.2.0: Hit Me → the server prints Socket ID and HELLO WORLD, every page logs DLROW OLLEH", { timeout: 60_000 }, async (t) => {
  for (const n of notes) t.diagnostic(n);
  t.diagnostic(`tutorial server: ${SERVER_CMD} on port ${tutorial.port}`);
  const a = await openPage();
  const b = await openPage();

  // the local 2.2.0 bundle was used, and it speaks Engine.IO v3 to the tutorial server
  assert.ok(requests.includes("/socket.io-v2/socket.io.js"), `bundle not requested: ${requests}`);
  assert.equal(await a.page.evaluate(() => io.protocol), 4, "Socket.IO protocol v4 (2.x client)");
  const first = a.socketRequests[0];
  assert.ok(first.startsWith(`http://localhost:${tutorial.port}/socket.io/?EIO=3&transport=polling`), first);
  // the default transports: polling, then the upgrade to WebSocket
  await a.page.waitForFunction(() => socket.io.engine.transport.name === "websocket", null, { timeout: 10_000 });

  const id = await a.page.evaluate(() => socket.id);
  const before = tutorial.out.stdout.length;
  await a.page.click("text=Hit Me");
  await waitForLog(a.logs, "DLROW OLLEH");
  await waitForLog(b.logs, "DLROW OLLEH");
  await a.page.screenshot({ path: join(ART, "legacy-tutorial.png"), fullPage: true });

  const deadline = Date.now() + 5000;
  while (!/HELLO WORLD\n/.test(tutorial.out.stdout.slice(before)) && Date.now() < deadline) await sleep(20);
  const printed = tutorial.out.stdout.slice(before);
  const m = /Socket ID:\s+(\S+)\nHELLO WORLD\n/.exec(printed);
  assert.ok(m, `the server printed: ${JSON.stringify(printed)}`);
  // a 2.x client's socket of / has the Engine.IO id as its id
  assert.equal(m[1], id);
  assert.equal(a.logs.filter((l) => l === "DLROW OLLEH").length, 1);
  await a.page.close();
  await b.page.close();
});
