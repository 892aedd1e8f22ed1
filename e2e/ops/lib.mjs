// Helpers of the ops suite (admin UI, publish API, stock ticker): servers started on a free
// port of 127.0.0.1 and stopped at the end, socket.io-client 4.8 clients, bounded waits.
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const E2E = path.resolve(HERE, "..");
export const ROOT = path.resolve(E2E, "..");
export const ART = path.join(E2E, "artifacts");
const LOGS = path.join(ART, "ops");
mkdirSync(LOGS, { recursive: true });

export const BIN = process.env.SOCKEYE_BIN || path.join(ROOT, "target", "debug", "sockeye");

/** Which admin server the admin protocol tests run against: `sockeye` (default) or `node`. */
export const TARGET = process.env.E2E_OPS_TARGET || "sockeye";
if (TARGET !== "sockeye" && TARGET !== "node") throw new Error(`E2E_OPS_TARGET: ${TARGET}?`);

/** The password of the tests' admin user, and its bcrypt hash (cost 10, made by bcryptjs). */
export const ADMIN_USER = "ops";
export const ADMIN_PASSWORD = "changeit";
export const ADMIN_HASH = "$2a$10$1Za/4tgsbP5p22OPaKiWtexQOC0vwZAj11WRcFjmaXgCt4.t1h/Vi";
export const ADMIN_ENV = { SOCKEYE_ADMIN_USER: ADMIN_USER, SOCKEYE_ADMIN_PASSWORD_HASH: ADMIN_HASH };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const started = new Set();
process.on("exit", () => {
  for (const c of started) {
    try {
      c.kill("SIGKILL");
    } catch {
      // gone
    }
  }
});

/**
 * Starts `argv` (its output in e2e/artifacts/ops/<label>.log); resolves once it printed
 * `ready`, with {child, out, stop()}.
 */
export async function startProcess(label, argv, { ready = "listening on", env = {}, cwd = ROOT, readyMs = 20_000 } = {}) {
  const log = createWriteStream(path.join(LOGS, `${label}.log`), { flags: "a" });
  log.write(`--- ${new Date().toISOString()} ${argv.join(" ")}\n`);
  const child = spawn(argv[0], argv.slice(1), {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.add(child);
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => {
    log.write(d);
    if (out.stdout.length < 1 << 20) out.stdout += d;
  });
  child.stderr.on("data", (d) => {
    log.write(d);
    if (out.stderr.length < 1 << 20) out.stderr += d;
  });
  const exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      started.delete(child);
      log.write(`--- exited code=${code} signal=${signal}\n`);
      resolve({ code, signal });
    }),
  );
  const deadline = Date.now() + readyMs;
  while (!out.stdout.includes(ready)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${label} exited before "${ready}": ${out.stdout}${out.stderr}`);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${label} did not print "${ready}": ${out.stdout}${out.stderr}`);
    }
    await sleep(20);
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill("SIGTERM");
    const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!done) child.kill("SIGKILL");
    return exited;
  };
  return { child, out, exited, stop };
}

/** The `sockeye` binary with `flags`, on a free port; {url, port, proc}. */
export async function startSockeye(label, flags = [], env = {}) {
  const port = await freePort();
  const proc = await startProcess(label, [BIN, "--host", "127.0.0.1", "--port", String(port), ...flags], {
    env,
  });
  return { url: `http://127.0.0.1:${port}`, port, proc };
}

/**
 * The server under test of the admin protocol: the binary, or Node's reference with Node's
 * @socket.io/admin-ui (E2E_OPS_TARGET), both with the binary's flags.
 */
export async function startAdminTarget(label, flags = [], env = {}) {
  if (TARGET === "sockeye") return startSockeye(label, ["--no-client", ...flags], env);
  const port = await freePort();
  const script = path.join(E2E, "ops", "admin-reference.js");
  const proc = await startProcess(label, ["node", script, "--host", "127.0.0.1", "--port", String(port), ...flags], {
    env,
    cwd: E2E,
  });
  return { url: `http://127.0.0.1:${port}`, port, proc };
}

/** Polls `pred` every 20 ms until true, at most `ms`. */
export async function waitFor(pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A socket.io-client socket (no reconnection) and every event it got, in order. */
export function client(url, opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  const seen = [];
  socket.onAny((event, ...args) => seen.push({ event, args, at: Date.now() }));
  socket.seen = seen;
  socket.of = (event) => seen.filter((e) => e.event === event).map((e) => e.args);
  return socket;
}

/** Resolves with the socket once connected; rejects with the connect_error. */
export function connected(socket, ms = 8000) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timed out")), ms);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Waits for the first `event` on `socket` matching `pred` (among those already seen too). */
export async function nextEvent(socket, event, pred = () => true, ms = 5000) {
  let found;
  await waitFor(
    () => {
      found = socket.seen.find((e) => e.event === event && pred(...e.args));
      return !!found;
    },
    `"${event}"`,
    ms,
  );
  return found.args;
}

/** An HTTP request; resolves {status, headers, text, json}. */
export async function request(url, { method = "GET", headers = {}, body } = {}) {
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}
