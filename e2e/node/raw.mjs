// Raw Engine.IO / Socket.IO peers for protocol tests: HTTP long-polling through fetch and
// WebSocket through the `ws` package. Every wait is bounded.
import WebSocket from "ws";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { BASE, WS_BASE, EIO_PATH, STEP_MS, withTimeout } from "./helpers.mjs";

export const SEP = "\x1e"; // Engine.IO v4 payload separator

export function eioUrl(params = {}, { ws = false } = {}) {
  const q = new URLSearchParams(params).toString();
  return `${ws ? WS_BASE : BASE}${EIO_PATH}${q ? `?${q}` : ""}`;
}

/** A fetch bounded in time; resolves { status, headers, body }. */
export async function http(url, init = {}) {
  const res = await fetch(url, { signal: AbortSignal.timeout(STEP_MS), ...init });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body };
}

/** Opens a polling session; resolves { sid, open, res } (open = the parsed open packet). */
export async function pollOpen(extra = {}, init = {}) {
  const res = await http(eioUrl({ EIO: "4", transport: "polling", ...extra }), init);
  if (res.status !== 200 || !res.body.startsWith("0{")) {
    throw new Error(`handshake failed: ${res.status} ${res.body}`);
  }
  const open = JSON.parse(res.body.slice(1));
  return { sid: open.sid, open, res };
}

export const pollGet = (sid, init = {}) => http(eioUrl({ EIO: "4", transport: "polling", sid }), init);

export const pollPost = (sid, body, init = {}) =>
  http(eioUrl({ EIO: "4", transport: "polling", sid }), {
    method: "POST",
    body,
    headers: { "content-type": "text/plain;charset=UTF-8" },
    ...init,
  });

/** The packets of a polling payload. */
export const packets = (body) => (body === "" ? [] : body.split(SEP));

/**
 * GETs on `sid` (at most `tries`), answering pings, until `done(collected)` holds; resolves
 * the non-ping packets collected, in order.
 */
export async function pollCollect(sid, done, tries = 5) {
  const got = [];
  for (let i = 0; i < tries; i++) {
    const r = await pollGet(sid);
    if (r.status !== 200) throw new Error(`GET failed: ${r.status} ${r.body} after ${JSON.stringify(got)}`);
    const ps = packets(r.body);
    if (ps.includes("2")) {
      const pong = await pollPost(sid, "3");
      if (pong.status !== 200) throw new Error(`pong refused: ${pong.status} ${pong.body}`);
    }
    got.push(...ps.filter((x) => x !== "2"));
    if (done(got)) return got;
  }
  throw new Error(`not done after ${tries} polls: ${JSON.stringify(got).slice(0, 500)}`);
}

export const UNKNOWN_SID = '{"code":1,"message":"Session ID unknown"}';

/**
 * Asserts (by throwing) that the polling session `sid` is closed: at most `tries` GETs; every
 * 200 answer may only carry noop (6) and close (1) packets, and the last GET must be refused
 * with 400 "Session ID unknown". Returns the responses seen.
 */
export async function expectSessionClosed(sid, tries = 3) {
  const seen = [];
  for (let i = 0; i < tries; i++) {
    const r = await pollGet(sid);
    seen.push(`${r.status} ${JSON.stringify(r.body)}`);
    if (r.status === 400) {
      if (r.body !== UNKNOWN_SID) throw new Error(`closed with an unexpected body: ${seen.join(" | ")}`);
      return seen;
    }
    const ps = packets(r.body);
    if (r.status !== 200 || ps.some((p) => p !== "6" && p !== "1")) {
      throw new Error(`session still delivering: ${seen.join(" | ")}`);
    }
  }
  throw new Error(`session ${sid} still open after ${tries} polls: ${seen.join(" | ")}`);
}

/**
 * A raw WebSocket with a bounded message queue. `next()` resolves the next text message (or a
 * Buffer for binary frames); `closed` resolves { code, reason, at } when the socket closes.
 */
export class RawWs {
  constructor(url, options = {}) {
    this.queue = [];
    this.waiters = [];
    this.ws = new WebSocket(url, options);
    this.opened = withTimeout(
      new Promise((resolve, reject) => {
        this.ws.once("open", resolve);
        this.ws.once("error", reject);
        this.ws.once("unexpected-response", (req, res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c) => (body += c));
          res.on("end", () => {
            const err = new Error(`unexpected response ${res.statusCode}`);
            err.status = res.statusCode;
            err.body = body;
            reject(err);
          });
        });
      }),
      STEP_MS,
      "WebSocket open",
    );
    this.opened.catch(() => {});
    this.ws.on("error", () => {}); // surfaced through `closed`
    this.ws.on("message", (data, isBinary) => {
      const m = isBinary ? Buffer.from(data) : data.toString();
      if (this.autoPong && m === "2") {
        this.pong();
        return;
      }
      this.queue.push(m);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => {
        resolve({ code, reason: reason.toString(), at: Date.now() });
        this.wake();
      });
    });
    this.isClosed = false;
    /** Whether pings are answered on arrival (see `waitClosed`). */
    this.autoPong = false;
    this.closed.then(() => (this.isClosed = true));
  }

  wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** The next message, within `ms`; rejects if the socket closes first. */
  async next(ms = STEP_MS) {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 10000; i++) {
      if (this.queue.length) return this.queue.shift();
      if (this.isClosed) throw new Error("WebSocket closed while waiting for a message");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no WebSocket message within ${ms} ms`);
      await withTimeout(new Promise((resolve) => this.waiters.push(resolve)), left, "WebSocket message").catch(
        () => {},
      );
    }
    throw new Error("WebSocket wait loop exhausted");
  }

  /** The next message that is not a ping ("2"); pings are answered when `pong` is true. */
  async nextNonPing(ms = STEP_MS, pong = true) {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 1000; i++) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (m === "2") {
        if (pong) this.send("3");
        continue;
      }
      return m;
    }
    throw new Error("too many pings");
  }

  send(data) {
    this.ws.send(data);
  }

  /**
   * Resolves the close event within `ms` (rejects if the socket stays open). Pings, queued
   * or arriving, are answered meanwhile, so that the heartbeat cannot be what closes it;
   * `pong = false` leaves them unanswered (to wait for a ping timeout).
   */
  waitClosed(ms = STEP_MS, pong = true) {
    if (pong) {
      this.autoPong = true;
      if (this.queue.some((m) => m === "2")) {
        this.queue = this.queue.filter((m) => m !== "2");
        this.pong();
      }
    }
    return withTimeout(this.closed, ms, "WebSocket close");
  }

  /** Answers a ping, unless the socket is already closing. */
  pong() {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send("3");
  }

  terminate() {
    this.ws.terminate();
  }
}

/** A raw Engine.IO WebSocket session; resolves { ws, open } after the open packet. */
export async function wsOpen(extra = {}) {
  const ws = new RawWs(eioUrl({ EIO: "4", transport: "websocket", ...extra }, { ws: true }));
  await ws.opened;
  const first = await ws.next();
  if (typeof first !== "string" || !first.startsWith("0{")) throw new Error(`not an open packet: ${first}`);
  return { ws, open: JSON.parse(first.slice(1)) };
}

/**
 * A raw Socket.IO session on `/` over WebSocket: open, CONNECT, and the CONNECT answer.
 * Resolves { ws, open, id } (id = the Socket.IO socket id); the `welcome` event is left queued.
 */
export async function wsConnect(auth) {
  const { ws, open } = await wsOpen();
  ws.send(auth === undefined ? "40" : `40${JSON.stringify(auth)}`);
  const reply = await ws.nextNonPing();
  if (!reply.startsWith("40{")) throw new Error(`no CONNECT answer: ${reply}`);
  return { ws, open, id: JSON.parse(reply.slice(2)).sid };
}

/**
 * A WebSocket at the frame level, over a plain TCP socket, for what the `ws` package will not
 * send (a close frame whose reason is not UTF-8) or hides (the exact close frame received).
 * `open(query)` resolves once the server answered 101; `next()` resolves the next frame
 * { op, payload } (op 8 = close), or { op: "eof" } when the server ended the connection.
 */
export class FrameWs {
  static async open(query) {
    const url = new URL(BASE);
    const ws = new FrameWs();
    ws.socket = net.connect(Number(url.port), url.hostname);
    ws.buf = Buffer.alloc(0);
    ws.frames = [];
    ws.waiters = [];
    const key = randomBytes(16).toString("base64");
    const head = withTimeout(
      new Promise((resolve, reject) => {
        ws.socket.once("error", reject);
        ws.socket.on("data", (d) => {
          ws.buf = Buffer.concat([ws.buf, d]);
          if (ws.status === undefined) {
            const end = ws.buf.indexOf("\r\n\r\n");
            if (end < 0) return;
            const statusLine = ws.buf.subarray(0, end).toString().split("\r\n")[0];
            ws.status = Number(statusLine.split(" ")[1]);
            ws.buf = ws.buf.subarray(end + 4);
            resolve(ws.status);
          }
          ws.parse();
        });
        ws.socket.on("close", () => {
          ws.frames.push({ op: "eof" });
          ws.wake();
        });
      }),
      STEP_MS,
      "WebSocket handshake",
    );
    ws.socket.write(
      `GET ${EIO_PATH}?${query} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const status = await head;
    if (status !== 101) throw new Error(`WebSocket handshake answered ${status}`);
    return ws;
  }

  parse() {
    for (let i = 0; i < 1000 && this.buf.length >= 2; i++) {
      let len = this.buf[1] & 127;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      this.frames.push({ op: this.buf[0] & 15, payload: Buffer.from(this.buf.subarray(off, off + len)) });
      this.buf = this.buf.subarray(off + len);
      this.wake();
    }
  }

  wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Sends one masked frame (FIN set) with `op` and `payload` (a Buffer of at most 125 bytes). */
  send(op, payload) {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    this.socket.write(Buffer.concat([Buffer.from([0x80 | op, 0x80 | payload.length]), mask, masked]));
  }

  /** The next frame, within `ms`. */
  async next(ms = STEP_MS) {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 10000; i++) {
      if (this.frames.length) return this.frames.shift();
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no WebSocket frame within ${ms} ms`);
      await withTimeout(new Promise((resolve) => this.waiters.push(resolve)), left, "WebSocket frame").catch(() => {});
    }
    throw new Error("frame wait loop exhausted");
  }

  /** The next close frame, skipping other frames (answering Engine.IO pings), within `ms`. */
  async nextClose(ms = STEP_MS) {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 1000; i++) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (f.op === "eof") throw new Error("the connection ended without a close frame");
      if (f.op === 8) return f;
      if (f.op === 1 && f.payload.toString() === "2") this.send(1, Buffer.from("3"));
    }
    throw new Error("too many frames");
  }

  destroy() {
    this.socket.destroy();
  }
}
