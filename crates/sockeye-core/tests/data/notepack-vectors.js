#!/usr/bin/env node
// Prints the msgpack test vectors of sockeye-core's `value::msgpack` (notepack-vectors.json)
// as notepack.io 3 (the encoder of @socket.io/redis-adapter and @socket.io/redis-emitter)
// encodes and decodes them. Run once, the output committed:
//
//   npm install --prefix /tmp/np notepack.io@3.0.1
//   NODE_PATH=/tmp/np/node_modules node notepack-vectors.js > notepack-vectors.json
//
// Values are written as JSON with tags: {"$bin": "<hex>"} for a binary value, {"$float": n}
// for a number that is a float on the Rust side (JSON cannot say; "Infinity" and "-Infinity"
// as strings), {"$int": "<digits>"} for an integer beyond 2^53 (exact digits).
"use strict";

const notepack = require("notepack.io");

const hex = (buf) => Buffer.from(buf).toString("hex");

/** A JavaScript value as tagged JSON (what the Rust side builds or expects). */
function tag(v) {
  if (v === undefined || v === null) return null;
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { $bin: hex(Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v)) };
  }
  if (v instanceof Date) return v.toJSON(); // what a Node server sends its clients
  if (Array.isArray(v)) return v.map(tag);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return { $float: String(v) };
    if (Number.isSafeInteger(v)) return v;
    // Exact digits: JSON.stringify would round 2 ** 63 to 9223372036854776000.
    return Number.isInteger(v) ? { $int: BigInt(v).toString() } : { $float: v };
  }
  if (typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v)) if (v[k] !== undefined) out[k] = tag(v[k]);
    return out;
  }
  return v;
}

const keys = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
const bytes = (n) => Buffer.from(Array.from({ length: n }, (_, i) => i & 0xff));

// Values notepack encodes: the Rust encoder must give the same bytes, the decoder the value.
const encoded = {
  nil: null,
  undefined: undefined,
  true: true,
  false: false,
  zero: 0,
  negative_zero: -0,
  fixint_max: 127,
  uint8_min: 128,
  uint8_max: 255,
  uint16_min: 256,
  uint16_max: 65535,
  uint32_min: 65536,
  uint32_max: 4294967295,
  uint64_min: 4294967296,
  max_safe_integer: Number.MAX_SAFE_INTEGER,
  negative_fixint: -1,
  negative_fixint_min: -32,
  int8_max: -33,
  int8_min: -128,
  int16_max: -129,
  int16_min: -32768,
  int32_max: -32769,
  int32_min: -2147483648,
  int64_max: -2147483649,
  min_safe_integer: Number.MIN_SAFE_INTEGER,
  half: 0.5,
  negative_float: -1.25,
  price: 12.34,
  tiny: 5e-324,
  // notepack writes integral numbers of 2^64 and more as a wrapped uint64 (1e300 becomes 0):
  // the Rust encoder writes them as float64 instead, so they are left out here.
  two_pow_63: 2 ** 63,
  largest_below_two_pow_64: 18446744073709549568,
  infinity: Infinity,
  negative_infinity: -Infinity,
  empty_string: "",
  fixstr: "a",
  fixstr_max: "x".repeat(31),
  str8_min: "x".repeat(32),
  str8_max: "x".repeat(255),
  str16_min: "x".repeat(256),
  two_byte_chars: "héllo wörld",
  three_byte_chars: "€ and ₿",
  four_byte_chars: "😀 🚀",
  utf8_str8: "é".repeat(20),
  empty_buffer: Buffer.alloc(0),
  buffer: Buffer.from([1, 2, 3]),
  bin8_max: bytes(255),
  bin16_min: bytes(256),
  uint8array: new Uint8Array([9, 8, 7]),
  arraybuffer: new Uint8Array([4, 5]).buffer,
  empty_array: [],
  array: [1, "a", null, true, 1.5],
  fixarray_max: Array.from({ length: 15 }, (_, i) => i),
  array16_min: Array.from({ length: 16 }, (_, i) => i),
  empty_map: {},
  map: { a: 1, b: "two" },
  undefined_entry_dropped: { a: undefined, b: 2 },
  fixmap_max: keys(15),
  map16_min: keys(16),
  nested: { a: [{ b: { c: [1, [2, [3]]] } }], d: { e: null } },
  key_order: { z: 1, a: 2, m: 3 },
  unicode_key: { "clé": "valeur" },
  // A broadcast as @socket.io/redis-adapter 8.3 publishes it.
  adapter_broadcast: [
    "Ab12Cd",
    { type: 2, data: ["price", { symbol: "ACME", price: 12.5 }, Buffer.from([0xde, 0xad])], nsp: "/" },
    { rooms: ["ACME"], except: ["muted"], flags: { volatile: true } },
  ],
  // A broadcast with acks as the adapter publishes it on the request channel.
  adapter_broadcast_request: {
    uid: "Ab12Cd",
    requestId: "xY9zQ1",
    type: 7,
    packet: { type: 2, data: ["poll", 1], nsp: "/admin" },
    opts: { rooms: [], except: [], flags: { timeout: 2000 } },
  },
};

// Bytes that notepack decodes (from other msgpack encoders, or notepack's own extensions):
// the Rust decoder must give what a Node server would then send its clients.
const decoded = {
  float32: "ca3fc00000",
  float32_fraction: "ca3dcccccd",
  undefined_ext: "d40000",
  fixext1: "d405aa",
  fixext2: "d505aabb",
  fixext4: "d605aabbccdd",
  fixext8: "d7050102030405060708",
  fixext16: "d805" + "11".repeat(16),
  ext8: "c70307010203",
  ext16: "c8000207aabb",
  ext32: "c90000000207aabb",
  arraybuffer_ext8: "c70300010203",
  arraybuffer_ext16: "c800020000ff",
  timestamp32: "d6ff5f5e1000",
  timestamp64: "d7ff" + hex(Buffer.from([0x00, 0x1e, 0x84, 0x80, 0x00, 0x00, 0x00, 0x00])).slice(0, 8) + "5f5e1000",
  timestamp96: "c70cff" + "00000000" + "ffffffff" + "fffffc18",
  legacy_date: "d700" + "00000174" + "876e8000",
  uint64_small: "cf0000000000000001",
  int64_minus_one: "d3ffffffffffffffff",
  uint16_small: "cd0001",
  int8_positive: "d001",
  str8_short: "d90161",
  str16_short: "da000161",
  str32_short: "db0000000161",
  bin32_short: "c60000000101",
  array16_short: "dc000101",
  array32_short: "dd0000000101",
  map16_short: "de0001a16101",
  map32_short: "df00000001a16101",
  integer_key: "8101a161",
  negative_key: "81ffa161",
  float_key: "81cb3ff8000000000000a161",
  true_key: "81c3a161",
  nil_key: "81c0a161",
  duplicate_keys: "83a16101a16202a16103",
  invalid_utf8: "a3ff6162",
};

// Bytes notepack refuses (it throws): the Rust decoder must refuse them too.
const refused = {
  empty: "",
  never_used: "c1",
  trailing: "c0c0",
  truncated_array: "9201",
  truncated_map: "81a161",
  truncated_str: "a561",
  truncated_str8_length: "d9",
  truncated_bin8: "c40501",
  truncated_uint16: "cd01",
  truncated_float64: "cb3ff0",
  truncated_ext: "c7050102",
  huge_array32: "ddffffffff",
  huge_map32: "dfffffffff",
  huge_str32: "dbffffffff",
  huge_bin32: "c6ffffffff",
};

const out = { encoded: [], decoded: [], refused: [] };
for (const [name, v] of Object.entries(encoded)) {
  out.encoded.push({ name, value: tag(v), hex: hex(notepack.encode(v)) });
}
for (const [name, h] of Object.entries(decoded)) {
  out.decoded.push({ name, hex: h, value: tag(notepack.decode(Buffer.from(h, "hex"))) });
}
for (const [name, h] of Object.entries(refused)) {
  let threw = false;
  try {
    notepack.decode(Buffer.from(h, "hex"));
  } catch (e) {
    threw = true;
  }
  if (!threw) throw new Error(`notepack accepts ${name}`);
  out.refused.push({ name, hex: h });
}
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
