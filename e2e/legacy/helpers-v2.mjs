// Helpers of the legacy interop tests: socket.io-client 2.2.0 (Engine.IO v3, Socket.IO protocol
// v4) from npm, installed as `socket.io-client-v2`. The target server is read from E2E_URL; it
// implements e2e/CONTRACT.md with the legacy option (allowEIO3) on.
import { createRequire } from "node:module";
import { BASE, STEP_MS, withTimeout, once } from "../node/helpers.mjs";

const require = createRequire(import.meta.url);
/** The 2.2.0 client: `ioV2(url, opts)`. */
export const ioV2 = require("socket.io-client-v2");
export const V2_VERSION = require("socket.io-client-v2/package.json").version;

export { BASE, STEP_MS, withTimeout, once };

/** The three transport setups, with socket.io-client 2.x options. */
export const SETUPS = [
  { name: "polling", opts: { transports: ["polling"] } },
  { name: "websocket", opts: { transports: ["websocket"] } },
  { name: "upgrade", opts: {} }, // polling first, then upgrade to WebSocket
];

/** An engine.io id as Node's base64id makes it: 20 characters of base64url. */
export const ENGINE_ID = /^[A-Za-z0-9_-]{20}$/;

const open = new Set();

/** Closes every v2 client the helpers created (call from an after/afterEach hook). */
export function closeAllV2() {
  for (const s of open) {
    try {
      s.disconnect();
      s.io.close();
    } catch {
      // already closed
    }
  }
  open.clear();
}

/**
 * A socket.io-client 2.x socket on `nsp` (not yet awaited): its own Manager, no reconnection.
 * For the "upgrade" setup, `socket.io.upgraded` resolves with the transport name the engine
 * upgraded to, and rejects if it did not open over polling.
 */
export function makeV2(setup, { nsp = "/", query, ...rest } = {}) {
  const socket = ioV2(BASE + nsp, {
    forceNew: true,
    reconnection: false,
    timeout: STEP_MS,
    ...setup.opts,
    ...(query !== undefined ? { query } : {}),
    ...rest,
  });
  open.add(socket);
  const manager = socket.io;
  if (setup.name === "upgrade") {
    manager.upgraded = new Promise((resolve, reject) => {
      const watch = (engine) => {
        if (engine.transport && engine.transport.name !== "polling") {
          reject(new Error(`opened over ${engine.transport.name}, not polling`));
          return;
        }
        engine.once("upgrade", (transport) => resolve(transport.name));
      };
      // 2.x opens the engine synchronously in the constructor (autoConnect)
      if (manager.engine) watch(manager.engine);
      else manager.once("open", () => watch(manager.engine));
    });
    manager.upgraded.catch(() => {});
  }
  return socket;
}

/** The name of the transport the v2 socket's engine runs on. */
export const transportOf = (socket) => socket.io.engine.transport.name;

/** Waits until `socket` is connected (and, for "upgrade", upgraded to WebSocket). */
export async function waitConnectedV2(setup, socket) {
  if (!socket.connected) {
    await withTimeout(
      new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", (e) => reject(new Error(`error event: ${JSON.stringify(e)}`)));
        socket.once("connect_error", (e) => reject(e));
      }),
      STEP_MS,
      `connect of v2 ${setup.name} client`,
    );
  }
  if (setup.name === "upgrade") {
    const name = await withTimeout(socket.io.upgraded, STEP_MS, "upgrade to websocket");
    if (name !== "websocket" || transportOf(socket) !== "websocket") {
      throw new Error(`upgrade ended on ${transportOf(socket)}`);
    }
  } else if (transportOf(socket) !== setup.opts.transports[0]) {
    throw new Error(`expected ${setup.opts.transports[0]}, got ${transportOf(socket)}`);
  }
}

/**
 * A connected v2 client of `/` (or `nsp`); resolves { socket, welcome } where welcome is the
 * payload of the server's `welcome` event (null for other namespaces).
 */
export async function connectV2(setup, options = {}) {
  const socket = makeV2(setup, options);
  const nsp = options.nsp || "/";
  const welcome = nsp === "/" ? once(socket, "welcome") : Promise.resolve([null]);
  await waitConnectedV2(setup, socket);
  const [payload] = await welcome;
  return { socket, welcome: payload };
}

/**
 * The payload of the `error` event a v2 socket gets when its namespace refuses it (2.x has no
 * connect_error for that); rejects if it connects instead.
 */
export function refusalV2(setup, options = {}) {
  const socket = makeV2(setup, options);
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", () => reject(new Error("connected, but a refusal was expected")));
      socket.once("connect_error", (e) => reject(new Error(`transport failed: ${e && e.message}`)));
      socket.once("error", (data) => resolve({ data, socket }));
    }),
    STEP_MS,
    "the error event of a refused namespace",
  );
}

/** All ack args of `event` (2.x has no emitWithAck), bounded in time. */
export function askV2(socket, event, ...args) {
  return withTimeout(
    new Promise((resolve) => socket.emit(event, ...args, (...ackArgs) => resolve(ackArgs))),
    STEP_MS,
    `ack of "${event}"`,
  );
}

/** The first ack arg of `event`. */
export async function ask1(socket, event, ...args) {
  const [first] = await askV2(socket, event, ...args);
  return first;
}

/** Polls `disconnect-reasons` through `observer` until every id in `ids` has an entry. */
export async function serverDisconnectsV2(observer, ids, { tries = 40, gapMs = 100 } = {}) {
  const wanted = new Set(ids);
  let mine = [];
  for (let i = 0; i < tries; i++) {
    const all = await ask1(observer, "disconnect-reasons");
    if (!Array.isArray(all)) throw new Error(`disconnect-reasons: not a list: ${JSON.stringify(all)}`);
    mine = all.filter((e) => wanted.has(e.id));
    if (ids.every((id) => mine.some((e) => e.id === id))) return mine;
    await new Promise((r) => setTimeout(r, gapMs));
  }
  throw new Error(`server recorded no disconnect for some of ${JSON.stringify(ids)}; got ${JSON.stringify(mine)}`);
}
