// Raw Engine.IO v3 peers: HTTP long-polling through fetch (text payloads `<length>:<packet>`
// with lengths in UTF-16 code units, binary payloads `0x00|0x01 <decimal digits> 0xFF <packet>`)
// and WebSocket through `ws`. In v3 the client pings and the server answers: a session that
// sends no ping within pingInterval + pingTimeout (1200 ms here) is closed, so helpers that
// wait ping first. Every wait is bounded.
import { BASE, WS_BASE, EIO_PATH, STEP_MS } from "../node/helpers.mjs";
import { RawWs } from "../node/raw.mjs";

export { RawWs };

export function v3Url(params = {}, { ws = false, eio = "3" } = {}) {
  const q = new URLSearchParams(eio === null ? params : { EIO: eio, ...params }).toString();
  return `${ws ? WS_BASE : BASE}${EIO_PATH}?${q}`;
}

/** A fetch bounded in time; resolves { status, headers, type, buf, body } (body = buf as UTF-8). */
export async function http(url, init = {}) {
  const res = await fetch(url, { signal: AbortSignal.timeout(STEP_MS), ...init });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, type: res.headers.get("content-type"), buf, body: buf.toString("utf8") };
}

/**
 * Splits a v3 text payload into its packets. Lengths count UTF-16 code units (JavaScript string
 * length). Throws on a malformed payload.
 */
export function decodeText(body) {
  const out = [];
  let i = 0;
  for (let guard = 0; i < body.length; guard++) {
    if (guard > 100000) throw new Error("decodeText: too many packets");
    const colon = body.indexOf(":", i);
    if (colon === -1) throw new Error(`decodeText: no ':' after ${i} in ${JSON.stringify(body)}`);
    const digits = body.slice(i, colon);
    if (!/^\d+$/.test(digits)) throw new Error(`decodeText: bad length ${JSON.stringify(digits)}`);
    const n = Number(digits);
    const packet = body.slice(colon + 1, colon + 1 + n);
    if (packet.length !== n) throw new Error(`decodeText: truncated packet in ${JSON.stringify(body)}`);
    out.push(packet);
    i = colon + 1 + n;
  }
  return out;
}

/** Encodes packets (strings) as a v3 text payload. */
export const encodeText = (packets) => packets.map((p) => `${p.length}:${p}`).join("");

/** The decimal digits of `n`, one byte each (0..9), as the binary payload wants them. */
const digitBytes = (n) => [...String(n)].map(Number);

/**
 * Encodes packets as a v3 binary payload: a string packet is `0x00 <digits of its UTF-8 byte
 * length> 0xFF <UTF-8 bytes>`, a Buffer packet (its first byte is the packet type, 4 for a
 * message) is `0x01 <digits> 0xFF <bytes>`.
 */
export function encodeBinary(packets) {
  return Buffer.concat(
    packets.map((p) => {
      const isString = typeof p === "string";
      const data = isString ? Buffer.from(p, "utf8") : p;
      return Buffer.concat([Buffer.from([isString ? 0 : 1, ...digitBytes(data.length), 255]), data]);
    }),
  );
}

/**
 * Splits a v3 binary payload: resolves [{ string: true, data: <utf8 string> } | { string: false,
 * data: <Buffer, type byte first> }]. Throws on a malformed payload.
 */
export function decodeBinary(buf) {
  const out = [];
  let i = 0;
  for (let guard = 0; i < buf.length; guard++) {
    if (guard > 100000) throw new Error("decodeBinary: too many packets");
    const kind = buf[i];
    if (kind !== 0 && kind !== 1) throw new Error(`decodeBinary: bad kind byte ${kind} at ${i}`);
    let j = i + 1;
    let digits = "";
    for (; j < buf.length && buf[j] !== 255; j++) {
      if (buf[j] > 9 || digits.length > 10) throw new Error(`decodeBinary: bad length byte ${buf[j]}`);
      digits += String(buf[j]);
    }
    if (j >= buf.length || digits === "") throw new Error("decodeBinary: no length terminator");
    const n = Number(digits);
    const data = buf.subarray(j + 1, j + 1 + n);
    if (data.length !== n) throw new Error("decodeBinary: truncated packet");
    out.push(kind === 0 ? { string: true, data: data.toString("utf8") } : { string: false, data: Buffer.from(data) });
    i = j + 1 + n;
  }
  return out;
}

const TEXT = { "content-type": "text/plain;charset=UTF-8" };
const OCTETS = { "content-type": "application/octet-stream" };

/** A v3 polling session: the handshake GET. Resolves { sid, open, res }. */
export async function v3Open(extra = {}, { eio = "3" } = {}) {
  const res = await http(v3Url({ transport: "polling", ...extra }, { eio }));
  const m = /^(\d+):0(\{.*\})$/s.exec(res.body);
  if (res.status !== 200 || !m) throw new Error(`v3 handshake failed: ${res.status} ${res.body}`);
  const open = JSON.parse(m[2]);
  return { sid: open.sid, open, res };
}

export const v3Get = (sid, extra = {}) => http(v3Url({ transport: "polling", sid, ...extra }));

/** POSTs a text payload (a string) or a binary payload (a Buffer). */
export const v3Post = (sid, body, extra = {}) =>
  http(v3Url({ transport: "polling", sid, ...extra }), {
    method: "POST",
    body,
    headers: typeof body === "string" ? TEXT : OCTETS,
  });

/** POSTs the packets as a text payload; asserts (throws) unless the answer is 200 `ok`. */
export async function v3Send(sid, packets, extra = {}) {
  const r = await v3Post(sid, encodeText(packets), extra);
  if (r.status !== 200 || r.body !== "ok") throw new Error(`POST refused: ${r.status} ${r.body}`);
}

/**
 * The packets of the next GET on `sid` (text or binary payload). A ping is POSTed first, so
 * the GET is answered at once (at least by the pong "3") and the session stays alive.
 * Resolves { res, packets } where a packet is a string, or a Buffer (type byte first) for a
 * binary packet of a binary payload.
 */
export async function v3Poll(sid, extra = {}) {
  await v3Send(sid, ["2"], extra);
  const res = await v3Get(sid, extra);
  if (res.status !== 200) throw new Error(`GET failed: ${res.status} ${res.body}`);
  const packets =
    res.type === "application/octet-stream"
      ? decodeBinary(res.buf).map((p) => (p.string ? p.data : p.data))
      : decodeText(res.body);
  return { res, packets };
}

/**
 * GETs (each after a ping, at most `tries`) until `done(collected)` holds; resolves the packets
 * collected other than pongs ("3"), in order.
 */
export async function v3Collect(sid, done, { tries = 6, extra = {} } = {}) {
  const got = [];
  for (let i = 0; i < tries; i++) {
    const { packets } = await v3Poll(sid, extra);
    got.push(...packets.filter((p) => p !== "3"));
    if (done(got)) return got;
  }
  throw new Error(`not done after ${tries} polls: ${JSON.stringify(got).slice(0, 500)}`);
}

export const UNKNOWN_SID = '{"code":1,"message":"Session ID unknown"}';

/**
 * Asserts (by throwing) that the v3 polling session `sid` is closed: at most `tries` GETs; a
 * 200 answer may only carry noop (6) and close (1) packets, and the last GET must be refused
 * with 400 "Session ID unknown". Returns the answers seen, as "status body" strings.
 */
export async function expectV3Closed(sid, tries = 3) {
  const seen = [];
  for (let i = 0; i < tries; i++) {
    const r = await v3Get(sid);
    seen.push(`${r.status} ${JSON.stringify(r.body)}`);
    if (r.status === 400) {
      if (r.body !== UNKNOWN_SID) throw new Error(`closed with an unexpected body: ${seen.join(" | ")}`);
      return seen;
    }
    let ps;
    try {
      ps = decodeText(r.body);
    } catch {
      ps = ["<undecodable>"];
    }
    if (r.status !== 200 || ps.some((p) => p !== "6" && p !== "1")) {
      throw new Error(`session still delivering: ${seen.join(" | ")}`);
    }
  }
  throw new Error(`session ${sid} still open after ${tries} polls: ${seen.join(" | ")}`);
}

/**
 * A v3 polling session connected to `/` (automatically): the open packet, then the CONNECT
 * `40` and the `welcome` event. Resolves { sid, open, welcome }.
 */
export async function v3Connected(extra = {}) {
  const { sid, open } = await v3Open(extra);
  const ps = await v3Collect(sid, (got) => got.length >= 2, { extra });
  if (ps[0] !== "40") throw new Error(`no CONNECT for /: ${JSON.stringify(ps)}`);
  const welcome = JSON.parse(ps[1].slice(2));
  return { sid, open, welcome, rest: ps.slice(2) };
}

/** A raw v3 WebSocket session; resolves { ws, open } after the open packet. */
export async function v3WsOpen(extra = {}) {
  const ws = new RawWs(v3Url({ transport: "websocket", ...extra }, { ws: true }));
  await ws.opened;
  const first = await ws.next();
  if (typeof first !== "string" || !first.startsWith("0{")) throw new Error(`not an open packet: ${first}`);
  return { ws, open: JSON.parse(first.slice(1)) };
}

/** The next WebSocket message that is not a pong "3". */
export async function nextNonPong(ws, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000; i++) {
    const m = await ws.next(Math.max(1, deadline - Date.now()));
    if (m !== "3") return m;
  }
  throw new Error("too many pongs");
}
