// The cluster harness: a real redis-server, cluster test nodes (CONTRACT.md) of the kinds in
// E2E_CLUSTER_NODES, the emitter CLI, and socket.io-client 4.8 clients on every node.
// Everything it starts is stopped by stopAll() (called from the tests' `after` hooks) and, at
// the latest, killed when the test process exits.
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { io } from "socket.io-client";
import { createClient } from "redis";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const E2E = path.resolve(HERE, "..", "..");
export const ROOT = path.resolve(E2E, "..");

/** Default time limit of one awaited step, in ms. */
export const STEP_MS = 8000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const nonce = () => randomBytes(6).toString("hex");

// --- configuration ---------------------------------------------------------------------------

/** The node kinds, one per node: E2E_CLUSTER_NODES (default four Node nodes, the reference). */
export const KINDS = (process.env.E2E_CLUSTER_NODES || "node node node node").trim().split(/\s+/);
for (const k of KINDS) {
  if (k !== "node" && k !== "sockeye") throw new Error(`E2E_CLUSTER_NODES: unknown kind "${k}"`);
}
if (KINDS.length < 2) throw new Error("E2E_CLUSTER_NODES needs at least two nodes");

const words = (s) => s.trim().split(/\s+/).filter(Boolean);
/** A relative path in a command line (target/…, e2e/…) is taken from the repository root. */
const absolute = (argv) =>
  argv.map((w) =>
    !w.startsWith("/") &&
    !w.startsWith("-") &&
    w.includes("/") &&
    (w.startsWith("target/") || existsSync(path.join(ROOT, w)))
      ? path.join(ROOT, w)
      : w,
  );

/** The command line (before the contract's flags) of a node of `kind`. */
export function nodeCommand(kind) {
  if (kind === "node") {
    return absolute(words(process.env.E2E_CLUSTER_NODE_CMD || `node ${path.join(E2E, "cluster", "server.js")}`));
  }
  return absolute(words(process.env.E2E_CLUSTER_SOCKEYE_CMD || "target/debug/e2e-server --cluster"));
}

/** The emitter's command line (before --redis/--key): E2E_CLUSTER_EMITTER, `node` or `sockeye` or a command. */
export function emitterCommand() {
  const spec = (process.env.E2E_CLUSTER_EMITTER || "node").trim();
  if (spec === "node") return ["node", path.join(E2E, "cluster", "emitter.js")];
  if (spec === "sockeye") return [path.join(ROOT, "target/debug/e2e-server"), "--emitter"];
  return absolute(words(spec));
}

/** Where every process's output goes, one file per process (appended): e2e/artifacts/cluster. */
const LOG_DIR = process.env.E2E_CLUSTER_LOGS || path.join(E2E, "artifacts", "cluster");
mkdirSync(LOG_DIR, { recursive: true });

// --- processes -------------------------------------------------------------------------------

const children = new Set();
const tempDirs = new Set();

process.on("exit", () => {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts `argv`, its output appended to LOG_DIR/<label>.log; resolves once `ready` printed. */
export function startProcess(label, argv, { ready, readyMs = 20000, env } = {}) {
  const logPath = path.join(LOG_DIR, `${label}.log`);
  const out = createWriteStream(logPath, { flags: "a" });
  out.write(`--- ${new Date().toISOString()} ${argv.join(" ")}\n`);
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ["pipe", "pipe", "pipe"],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  children.add(child);
  let output = "";
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      children.delete(child);
      out.write(`--- exited code=${code} signal=${signal}\n`);
      resolve({ code, signal });
    });
  });
  child.once("error", (err) => out.write(`--- spawn error: ${err.message}\n`));
  const onData = (chunk) => {
    out.write(chunk);
    if (output.length < 65536) output += chunk.toString();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", (chunk) => out.write(chunk));
  const proc = {
    label,
    child,
    logPath,
    exited,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    async stop() {
      if (!proc.alive) return;
      child.kill("SIGTERM");
      const done = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
      if (!done) {
        child.kill("SIGKILL");
        await exited;
      }
    },
    async kill() {
      if (!proc.alive) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
  if (!ready) return Promise.resolve(proc);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill();
      reject(new Error(`${label} did not print "${ready}" within ${readyMs} ms (log: ${logPath})`));
    }, readyMs);
    const check = () => {
      if (output.includes(ready)) {
        clearTimeout(timer);
        child.stdout.off("data", check);
        resolve(proc);
      }
    };
    child.stdout.on("data", check);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (code ${code}, signal ${signal}) before "${ready}" (log: ${logPath})`));
    });
  });
}

/**
 * Tracks a child process started elsewhere (the proxies): stopped by stopAll(), killed at exit;
 * `dir` (its temporary folder) removed at exit.
 */
export function registerProcess(child, dir) {
  children.add(child);
  if (dir) tempDirs.add(dir);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.once("exit", () => children.delete(child));
  stoppers.add(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const done = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
    if (!done) child.kill("SIGKILL");
  });
}

/** A free TCP port on 127.0.0.1 (picked as late as possible). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// --- redis -----------------------------------------------------------------------------------

function redisAnswersPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let data = "";
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("error", () => done(false));
    sock.on("data", (d) => {
      data += d.toString();
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
    sock.once("connect", () => sock.write("PING\r\n"));
  });
}

/**
 * A redis-server of its own: a free port on 127.0.0.1, a temporary folder, no persistence.
 * `kill()` ends it at once (SIGKILL); `start()` starts it again on the same port.
 */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "cluster-redis-"));
  tempDirs.add(dir);
  const bin = process.env.REDIS_SERVER || "redis-server";
  const argv = [
    bin,
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
    "--loglevel",
    "warning",
  ];
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    proc: null,
    async start() {
      redis.proc = await startProcess(`redis-${port}`, argv);
      const deadline = Date.now() + 10000;
      while (!(await redisAnswersPing(port))) {
        if (!redis.proc.alive) throw new Error(`redis-server exited (log: ${redis.proc.logPath})`);
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING`);
        await sleep(20);
      }
    },
    async kill() {
      if (redis.proc) await redis.proc.kill();
    },
    async stop() {
      if (redis.proc) await redis.proc.stop();
    },
    /** A `redis` client of the test's own (for publishing raw bytes and spying). */
    async client() {
      const c = createClient({ url: redis.url });
      c.on("error", () => {});
      await c.connect();
      clients.add(c);
      return c;
    },
  };
  await redis.start();
  stoppers.add(() => redis.stop());
  return redis;
}

const clients = new Set();

/**
 * Redis' MONITOR on a raw connection of its own: `onCommand(argv)` gets every command the
 * server runs, its arguments as Buffers (unescaped from MONITOR's quoted form).
 */
export function startMonitor(port, onCommand) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = Buffer.alloc(0);
    let ok = false;
    sock.once("error", reject);
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let i;
      while ((i = buf.indexOf("\r\n")) !== -1) {
        const line = buf.subarray(0, i).toString("latin1");
        buf = buf.subarray(i + 2);
        if (!ok) {
          ok = line === "+OK";
          if (ok) resolve({ close: () => sock.destroy() });
          else reject(new Error(`MONITOR: ${line}`));
          continue;
        }
        const argv = parseMonitorLine(line);
        if (argv) onCommand(argv);
      }
    });
    sock.once("connect", () => sock.write("MONITOR\r\n"));
    stoppers.add(async () => sock.destroy());
  });
}

/** `+<time> [<db> <addr>] "ARG" "ARG" …` (Redis' sdscatrepr quoting) → the args as Buffers. */
function parseMonitorLine(line) {
  const start = line.indexOf("] ");
  if (!line.startsWith("+") || start === -1) return null;
  const args = [];
  let i = start + 2;
  while (i < line.length) {
    if (line[i] === " ") {
      i++;
      continue;
    }
    if (line[i] !== '"') return null;
    i++;
    const bytes = [];
    while (i < line.length && line[i] !== '"') {
      if (line[i] === "\\") {
        const c = line[i + 1];
        if (c === "x") {
          bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
          i += 4;
          continue;
        }
        const map = { n: 10, r: 13, t: 9, a: 7, b: 8 };
        bytes.push(c in map ? map[c] : c.charCodeAt(0));
        i += 2;
        continue;
      }
      bytes.push(line.charCodeAt(i));
      i++;
    }
    i++; // the closing quote
    args.push(Buffer.from(bytes));
  }
  return args;
}

// --- cluster nodes ---------------------------------------------------------------------------

/**
 * Starts one node per kind (in parallel) joined to `redisUrl`, with the cluster options
 * `opts`: { sharded, key, requestsTimeout, specific, cookie }. Resolves the nodes:
 * { index, kind, name, port, url, proc }.
 */
export async function startCluster(redisUrl, opts = {}, kinds = KINDS) {
  const tag = opts.tag || "c";
  const nodes = await Promise.all(
    kinds.map(async (kind, index) => {
      const port = await freePort();
      const name = `${tag}${index}-${kind}`;
      const argv = [...nodeCommand(kind), "--port", String(port), "--redis", redisUrl, "--name", name];
      if (opts.sharded) argv.push("--sharded");
      if (opts.key) argv.push("--key", opts.key);
      if (opts.requestsTimeout) argv.push("--requests-timeout", String(opts.requestsTimeout));
      if (opts.specific) argv.push("--publish-on-specific-response-channel");
      if (opts.cookie) argv.push("--cookie", opts.cookie);
      const node = { index, kind, name, port, url: `http://127.0.0.1:${port}`, argv, proc: null };
      node.proc = await startProcess(name, argv, { ready: `listening on ${port}` });
      /** Stops the node (SIGTERM) and starts it again on the same port with the same flags. */
      node.restart = async () => {
        await node.proc.stop();
        node.proc = await startProcess(name, argv, { ready: `listening on ${port}` });
      };
      stoppers.add(() => node.proc.stop());
      return node;
    }),
  );
  return nodes;
}

// --- clients ---------------------------------------------------------------------------------

const sockets = new Set();

/**
 * A connected socket.io-client socket on `node` (namespace `nsp`), WebSocket only unless
 * `opts.transports` says otherwise; never reconnects. Extra options go to io().
 */
export async function connect(node, { nsp = "/", ...rest } = {}) {
  const url = typeof node === "string" ? node : node.url;
  const socket = io(url + nsp, {
    forceNew: true,
    reconnection: false,
    timeout: STEP_MS,
    transports: ["websocket"],
    ...rest,
  });
  sockets.add(socket);
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    STEP_MS,
    `connect to ${url}${nsp}`,
  );
  return socket;
}

/** A socket on each node (same options), in node order. */
export function connectAll(nodes, opts = {}) {
  return Promise.all(nodes.map((n) => connect(n, opts)));
}

export function closeSockets() {
  for (const s of sockets) {
    try {
      s.disconnect();
      s.io._close();
    } catch {
      // already closed
    }
  }
  sockets.clear();
}

/** Resolves/rejects like `promise`, or rejects after `ms` naming `what`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Calls a contract handler (`event` with `spec`) and resolves its ack, within `ms`. */
export function call(socket, event, spec = {}, ms = STEP_MS) {
  return withTimeout(
    new Promise((resolve) => socket.emit(event, spec, (result) => resolve(result))),
    ms,
    `ack of "${event}" ${JSON.stringify(spec).slice(0, 200)}`,
  );
}

/** Like call(), but throws when the result carries an `error`. */
export async function callOk(socket, event, spec = {}, ms = STEP_MS) {
  const result = await call(socket, event, spec, ms);
  if (result && result.error !== undefined) {
    throw new Error(`"${event}" failed: ${result.error}`);
  }
  return result;
}

/**
 * Records every `event` a socket receives; `seen(pred)` waits (bounded) for a match,
 * `count(pred)` counts matches.
 */
export function collect(socket, event) {
  const got = [];
  const waiters = new Set();
  socket.on(event, (...args) => {
    got.push(args);
    for (const w of waiters) w();
  });
  return {
    got,
    count: (pred) => got.filter((args) => pred(...args)).length,
    seen(pred, ms = STEP_MS) {
      if (got.some((args) => pred(...args))) return Promise.resolve();
      let check;
      const p = new Promise((resolve) => {
        check = () => {
          if (got.some((args) => pred(...args))) resolve();
        };
        waiters.add(check);
      });
      return withTimeout(p, ms, `"${event}" matching the predicate`).finally(() => waiters.delete(check));
    },
  };
}

/** The args of the next `event` on `emitter`, within `ms`. */
export function once(emitter, event, ms = STEP_MS) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), ms, `event "${event}"`);
}

/** Polls `fn` (async, returns truthy when done) every `gapMs` until `ms`; returns its last value. */
export async function eventually(fn, what, { ms = STEP_MS, gapMs = 50 } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(gapMs);
  }
}

/** Waits until every node reports `count` servers in `/` and `/other` (the cluster formed). */
export async function waitFormed(nodes, count = nodes.length) {
  const probes = await Promise.all(nodes.map((n) => connect(n)));
  const others = await Promise.all(nodes.map((n) => connect(n, { nsp: "/other" })));
  for (const sock of [...probes, ...others]) {
    await eventually(async () => {
      const r = await call(sock, "server-count");
      return r.count === count;
    }, `server-count ${count} on every node`);
  }
  for (const s of [...probes, ...others]) {
    s.disconnect();
    sockets.delete(s);
  }
}

// --- the emitter -------------------------------------------------------------------------------

/**
 * The emitter CLI (CONTRACT.md, "The emitter"), started once: send(cmd) resolves its reply line
 * once the command was published.
 */
export async function startEmitter(redisUrl, { key } = {}) {
  const argv = [...emitterCommand(), "--redis", redisUrl];
  if (key) argv.push("--key", key);
  const proc = await startProcess(`emitter-${nonce()}`, argv, { ready: "ready" });
  stoppers.add(() => proc.stop());
  let buf = "";
  let next = 1;
  const pending = new Map();
  proc.child.stdout.on("data", (chunk) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf("\n")) !== -1) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line.startsWith("{")) continue;
      let reply;
      try {
        reply = JSON.parse(line);
      } catch {
        continue;
      }
      const waiter = pending.get(reply.id);
      if (waiter) {
        pending.delete(reply.id);
        waiter(reply);
      }
    }
  });
  return {
    proc,
    send(cmd) {
      const id = next++;
      const line = JSON.stringify({ id, ...cmd }) + "\n";
      const reply = new Promise((resolve) => pending.set(id, resolve));
      proc.child.stdin.write(line);
      return withTimeout(reply, STEP_MS, `emitter reply to ${line.trim()}`).then((r) => {
        if (!r.ok) throw new Error(`emitter: ${r.error}`);
        return r;
      });
    },
  };
}

/** Arguments for the emitter's JSON: a Buffer becomes {"$binary": base64} (and back in the CLI). */
export function binaryArg(buf) {
  return { $binary: Buffer.from(buf).toString("base64") };
}

// --- teardown ----------------------------------------------------------------------------------

const stoppers = new Set();

/** Closes every client and stops every process this harness started. */
export async function stopAll() {
  closeSockets();
  for (const c of clients) {
    try {
      await c.disconnect();
    } catch {
      // closed
    }
  }
  clients.clear();
  const all = [...stoppers];
  stoppers.clear();
  await Promise.all(all.map((stop) => stop().catch(() => {})));
}

/** Bytes of a binary value as socket.io-client in Node gives it. */
export function bytesOf(x) {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof ArrayBuffer) return Buffer.from(new Uint8Array(x));
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  throw new Error(`not binary: ${Object.prototype.toString.call(x)}`);
}

/** `which`-like check, for tools the tests need. */
export function hasCommand(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}
