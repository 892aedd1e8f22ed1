// Helpers of compression.test.mjs: a WebSocket peer at the frame level that speaks
// permessage-deflate (RFC 7692) itself, with Node's zlib, and shows the RSV bits of every
// frame; and a TCP proxy that reads the WebSocket frames going through it both ways, so that
// a real client's traffic (socket.io-client in Node, Chromium) can be checked for compression.
// Every wait is bounded.
import net from "node:net";
import zlib from "node:zlib";
import { randomBytes } from "node:crypto";
import { BASE, STEP_MS, withTimeout } from "./helpers.mjs";

/** What a compressed message ends with before the sender strips it (RFC 7692 §7.2.1). */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** `blob(n)` of CONTRACT.md. */
export function blob(n) {
  const alphabet = "abcdefghij klmnopqrstuvwxyz";
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[(i * 7 + Math.floor(i / 13)) % 27];
  return s;
}

/** What Chromium and Node's `ws` client offer. */
export const BROWSER_OFFER = "permessage-deflate; client_max_window_bits";

/**
 * Compresses one message as a client does: raw deflate, sync flush, trailer stripped.
 * `dictionary` (what the client sent before, with context takeover) lets it refer back.
 */
export function deflateMessage(data, { dictionary } = {}) {
  const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (dictionary) opts.dictionary = dictionary;
  const z = zlib.deflateRawSync(Buffer.from(data), opts);
  if (!z.subarray(-4).equals(TRAILER)) throw new Error("no sync flush trailer");
  return z.subarray(0, z.length - 4);
}

/** A masked client frame; `b0` is the first byte (FIN, RSV bits, opcode). */
export function clientFrame(b0, payload) {
  payload = Buffer.from(payload);
  const mask = randomBytes(4);
  let head;
  if (payload.length < 126) head = Buffer.from([b0, 0x80 | payload.length]);
  else if (payload.length < 65536) {
    head = Buffer.alloc(4);
    head[0] = b0;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(payload.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ mask[i % 4];
  return Buffer.concat([head, mask, masked]);
}

/**
 * Parses the frames at the start of `buf`: [{ fin, rsv, op, payload }], and the rest.
 * Client frames are unmasked here.
 */
export function parseFrames(buf) {
  const frames = [];
  for (;;) {
    if (buf.length < 2) break;
    let len = buf[1] & 127;
    let off = 2;
    if (len === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (buf.length < 10) break;
      len = Number(buf.readBigUInt64BE(2));
      off = 10;
    }
    const masked = (buf[1] & 0x80) !== 0;
    const maskAt = off;
    if (masked) off += 4;
    if (buf.length < off + len) break;
    let payload = Buffer.from(buf.subarray(off, off + len));
    if (masked) {
      for (let i = 0; i < payload.length; i++) payload[i] ^= buf[maskAt + (i % 4)];
    }
    frames.push({ fin: (buf[0] & 0x80) !== 0, rsv: (buf[0] >> 4) & 7, op: buf[0] & 15, payload });
    buf = buf.subarray(off + len);
  }
  return { frames, rest: buf };
}

/**
 * The client side of permessage-deflate: inflates the server's compressed messages, keeping
 * the last 32 KiB of them as the context of the next (unless the server compresses each
 * message alone). `windowBits` makes the inflater as strict as the window agreed.
 */
export class Inflater {
  constructor(answer, windowBits = 15) {
    this.reset = /server_no_context_takeover/.test(answer || "");
    this.windowBits = windowBits;
    this.window = Buffer.alloc(0);
  }

  inflate(data) {
    const opts = { windowBits: this.windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (!this.reset && this.window.length) opts.dictionary = this.window;
    const out = zlib.inflateRawSync(Buffer.concat([data, TRAILER]), opts);
    if (!this.reset) this.window = Buffer.concat([this.window, out]).subarray(-32768);
    return out;
  }
}

/**
 * A WebSocket to the contract server at the frame level. `open(path, query, offer)` resolves
 * once the server answered; `status`, `headers` and `extensions` hold the answer. `next()`
 * resolves the next message { rsv, op, data, wire } with `data` inflated when RSV1 was set,
 * or { op: "eof" }; Engine.IO pings are answered on the way.
 */
export class DeflateWs {
  static async open(path, query, offer, { windowBits } = {}) {
    const url = new URL(BASE);
    const ws = new DeflateWs();
    ws.socket = net.connect(Number(url.port), url.hostname);
    ws.buf = Buffer.alloc(0);
    ws.queue = [];
    ws.waiters = [];
    ws.pingFrames = [];
    const head = withTimeout(
      new Promise((resolve, reject) => {
        ws.socket.once("error", reject);
        ws.socket.on("data", (d) => {
          ws.buf = Buffer.concat([ws.buf, d]);
          if (ws.status === undefined) {
            const end = ws.buf.indexOf("\r\n\r\n");
            if (end < 0) return;
            const lines = ws.buf.subarray(0, end).toString().split("\r\n");
            ws.status = Number(lines[0].split(" ")[1]);
            ws.headers = {};
            for (const l of lines.slice(1)) {
              const i = l.indexOf(":");
              if (i > 0) ws.headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
            }
            ws.body = ws.buf.subarray(end + 4);
            ws.buf = ws.status === 101 ? ws.buf.subarray(end + 4) : Buffer.alloc(0);
            ws.extensions = ws.headers["sec-websocket-extensions"] || null;
            ws.inflater = new Inflater(ws.extensions, windowBits);
            resolve();
          }
          if (ws.status === 101) ws.parse();
        });
        ws.socket.on("close", () => {
          ws.queue.push({ op: "eof" });
          ws.wake();
        });
      }),
      STEP_MS,
      "WebSocket handshake",
    );
    const extra = offer ? `Sec-WebSocket-Extensions: ${offer}\r\n` : "";
    ws.socket.write(
      `GET ${path}?${query} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n` +
        `Sec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    await head;
    return ws;
  }

  /** Opens an Engine.IO session on `path` and joins `/`. */
  static async join(path, offer, opts) {
    const ws = await DeflateWs.open(path, "EIO=4&transport=websocket", offer, opts);
    if (ws.status !== 101) throw new Error(`handshake answered ${ws.status}`);
    const open = await ws.next();
    if (!open.text.startsWith("0")) throw new Error(`not an open packet: ${open.text}`);
    ws.send(0x81, "40");
    const ok = await ws.next();
    if (!ok.text.startsWith("40{")) throw new Error(`not a connect answer: ${ok.text}`);
    return ws;
  }

  parse() {
    const { frames, rest } = parseFrames(this.buf);
    this.buf = rest;
    for (const f of frames) {
      let data = f.payload;
      if (f.rsv & 4) {
        try {
          data = this.inflater.inflate(f.payload);
        } catch (e) {
          data = Buffer.from(`<inflate failed: ${e.message}>`);
        }
      }
      if (f.op === 1 && data.toString() === "2") {
        // The RSV bits of each Engine.IO ping, answered here.
        this.pingFrames.push(f.rsv);
        this.send(0x81, "3");
        continue;
      }
      this.queue.push({ rsv: f.rsv, op: f.op, fin: f.fin, wire: f.payload, data, text: data.toString() });
    }
    if (frames.length) this.wake();
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(b0, payload) {
    this.socket.write(clientFrame(b0, payload));
  }

  /** A text message compressed alone, in one frame. */
  sendDeflated(text, opts) {
    this.send(0xc1, deflateMessage(text, opts));
  }

  async next(ms = STEP_MS) {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 10000; i++) {
      if (this.queue.length) return this.queue.shift();
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no WebSocket message within ${ms} ms`);
      await withTimeout(new Promise((r) => this.waiters.push(r)), left, "frame").catch(() => {});
    }
    throw new Error("wait loop exhausted");
  }

  /** The close code the server ends with (null: a close frame without one, or none at all). */
  async closeCode(ms = STEP_MS) {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 1000; i++) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (m.op === "eof") return null;
      if (m.op === 8) return m.data.length >= 2 ? m.data.readUInt16BE(0) : null;
    }
    throw new Error("too many frames");
  }

  destroy() {
    this.socket.destroy();
  }
}

/**
 * A TCP proxy to the contract server that records the WebSocket frames going through it:
 * `frames` holds { dir: "up" | "down", rsv, op, fin, length } in order. HTTP requests (polling)
 * pass untouched; a connection's frames are read once its upgrade request went up.
 */
export async function startFrameProxy() {
  const target = new URL(BASE);
  const frames = [];
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const state = { up: { buf: Buffer.alloc(0), ws: false }, down: { buf: Buffer.alloc(0), ws: false } };
    const watch = (dir, chunk) => {
      const s = state[dir];
      s.buf = Buffer.concat([s.buf, chunk]);
      if (!s.ws) {
        const end = s.buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = s.buf.subarray(0, end).toString().toLowerCase();
        const upgrade = dir === "up" ? /\r\nupgrade: *websocket/.test(head) : head.startsWith("http/1.1 101");
        // A plain HTTP exchange: nothing to read here (bodies are not followed).
        s.buf = upgrade ? s.buf.subarray(end + 4) : Buffer.alloc(0);
        s.ws = upgrade;
        if (!upgrade) return;
      }
      const { frames: got, rest } = parseFrames(s.buf);
      s.buf = rest;
      for (const f of got) frames.push({ dir, rsv: f.rsv, op: f.op, fin: f.fin, length: f.payload.length });
    };
    client.on("data", (d) => {
      watch("up", d);
      upstream.write(d);
    });
    upstream.on("data", (d) => {
      watch("down", d);
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    frames,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
