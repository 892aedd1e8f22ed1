// Shared helpers of the Node interop tests. The target server is read from E2E_URL
// (e.g. http://127.0.0.1:3100); it implements e2e/CONTRACT.md.
import { io, Manager } from "socket.io-client";
import { randomBytes } from "node:crypto";

export const BASE = (process.env.E2E_URL || "http://127.0.0.1:3100").replace(/\/+$/, "");
export const WS_BASE = BASE.replace(/^http/, "ws");
export const EIO_PATH = "/socket.io/";

/** Default time limit of one awaited step, in ms. */
export const STEP_MS = 5000;

/** The three transport setups every client test runs under. */
export const SETUPS = [
  { name: "polling", opts: { transports: ["polling"] } },
  { name: "websocket", opts: { transports: ["websocket"] } },
  { name: "upgrade", opts: {} }, // polling first, then upgrade to WebSocket
];

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A short unique string, to tell this test's messages from any other. */
export const nonce = () => randomBytes(6).toString("hex");

/** Resolves/rejects like `promise`, or rejects after `ms` with a message naming `what`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The args of the next `event` on `emitter` (an array), within `ms`. */
export function once(emitter, event, ms = STEP_MS) {
  return withTimeout(
    new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    ms,
    `event "${event}"`,
  );
}

/**
 * Collects every `event` received on `socket`, to assert later what did (not) arrive.
 * `seen(pred)` waits (bounded) for a matching entry.
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
    has: (pred) => got.some((args) => pred(...args)),
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

const open = new Set();

/** Closes every client the helpers created (call from an after/afterEach hook). */
export function closeAll() {
  for (const x of open) {
    try {
      if (x instanceof Manager) {
        x._close();
      } else {
        x.disconnect();
        x.io._close();
      }
    } catch {
      // already closed
    }
  }
  open.clear();
}

/** Tracks a client (socket or manager) so closeAll() ends it. */
export function track(x) {
  open.add(x);
  return x;
}

/**
 * A socket.io-client socket on `nsp`, not yet awaited. Every client gets its own
 * Manager (forceNew) and never reconnects, so each test sees exactly one connection.
 */
export function makeSocket(setup, { nsp = "/", auth, query, extraHeaders, ...rest } = {}) {
  const socket = io(BASE + nsp, {
    forceNew: true,
    reconnection: false,
    timeout: STEP_MS,
    ...setup.opts,
    ...(auth !== undefined ? { auth } : {}),
    ...(query !== undefined ? { query } : {}),
    ...(extraHeaders !== undefined ? { extraHeaders } : {}),
    ...rest,
  });
  track(socket);
  watchUpgrade(setup, socket.io);
  return socket;
}

/**
 * For the "upgrade" setup, records on the manager that the engine opened over polling and
 * then emitted `upgrade` to WebSocket (manager.upgraded resolves with the new transport name).
 */
function watchUpgrade(setup, manager) {
  if (setup.name !== "upgrade") return;
  manager.upgraded = new Promise((resolve, reject) => {
    manager.once("open", () => {
      const engine = manager.engine;
      if (engine.transport.name !== "polling") {
        reject(new Error(`opened over ${engine.transport.name}, not polling`));
        return;
      }
      engine.once("upgrade", (transport) => resolve(transport.name));
    });
  });
  manager.upgraded.catch(() => {}); // awaited (and asserted) by connect()
}

/** Waits until `socket` is connected; for the "upgrade" setup, also until it upgraded. */
export async function waitConnected(setup, socket) {
  if (!socket.connected) {
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      }),
      STEP_MS,
      `connect of ${setup.name} client`,
    );
  }
  await assertTransport(setup, socket);
}

/** Asserts the engine runs on the transport the setup promises (waits for the upgrade). */
export async function assertTransport(setup, socket) {
  const engine = socket.io.engine;
  if (setup.name === "upgrade") {
    const name = await withTimeout(socket.io.upgraded, STEP_MS, "upgrade to websocket");
    if (name !== "websocket" || engine.transport.name !== "websocket") {
      throw new Error(`upgrade ended on ${engine.transport.name}`);
    }
  } else if (engine.transport.name !== setup.opts.transports[0]) {
    throw new Error(`expected ${setup.opts.transports[0]}, got ${engine.transport.name}`);
  }
}

/**
 * A connected client of `/` (or `nsp`); resolves { socket, welcome } where welcome is the
 * payload of the server's `welcome` event (null for other namespaces).
 */
export async function connect(setup, options = {}) {
  const socket = makeSocket(setup, options);
  const nsp = options.nsp || "/";
  const welcome = nsp === "/" ? once(socket, "welcome") : Promise.resolve([null]);
  await waitConnected(setup, socket);
  const [payload] = await welcome;
  return { socket, welcome: payload };
}

/** The connect_error a client gets (rejects if it connects instead). */
export async function connectError(setup, options = {}) {
  const socket = makeSocket(setup, options);
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", () => reject(new Error("connected, but a connect_error was expected")));
      socket.once("connect_error", resolve);
    }),
    STEP_MS,
    "connect_error",
  );
}

/** A Manager of its own (for multiplexing tests). */
export function makeManager(setup, opts = {}) {
  const manager = new Manager(BASE, {
    reconnection: false,
    timeout: STEP_MS,
    ...setup.opts,
    ...opts,
  });
  track(manager);
  watchUpgrade(setup, manager);
  return manager;
}

/** emitWithAck bounded by the default step time. */
export function ask(socket, event, ...args) {
  return withTimeout(socket.emitWithAck(event, ...args), STEP_MS, `ack of "${event}"`);
}

/** All ack arguments (not only the first) of `event`, bounded in time. */
export function askAll(socket, event, ...args) {
  return withTimeout(
    new Promise((resolve) => socket.emit(event, ...args, (...ackArgs) => resolve(ackArgs))),
    STEP_MS,
    `ack of "${event}"`,
  );
}

/** The disconnect reason a client sees next, bounded in time. */
export async function nextDisconnect(socket, ms = STEP_MS) {
  const [reason] = await once(socket, "disconnect", ms);
  return reason;
}

/**
 * Polls the server's `disconnect-reasons` (through `observer`, a connected socket of `/`)
 * until it holds an entry for each of `ids`; returns those entries, in server order.
 * Bounded: at most `tries` polls, `gapMs` apart.
 */
export async function serverDisconnects(observer, ids, { tries = 40, gapMs = 100 } = {}) {
  const wanted = new Set(ids);
  let mine = [];
  for (let i = 0; i < tries; i++) {
    const all = await ask(observer, "disconnect-reasons");
    if (!Array.isArray(all)) throw new Error(`disconnect-reasons: not a list: ${JSON.stringify(all)}`);
    mine = all.filter((e) => wanted.has(e.id));
    if (ids.every((id) => mine.some((e) => e.id === id))) return mine;
    await sleep(gapMs);
  }
  throw new Error(`server recorded no disconnect for some of ${JSON.stringify(ids)}; got ${JSON.stringify(mine)}`);
}

/** Bytes of a binary value as received by socket.io-client in Node (Buffer or ArrayBuffer). */
export function bytesOf(x) {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof ArrayBuffer) return Buffer.from(new Uint8Array(x));
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  throw new Error(`not binary: ${Object.prototype.toString.call(x)}`);
}

export function isBinary(x) {
  return Buffer.isBuffer(x) || x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}
