#!/usr/bin/env node
// A Node socket.io 4.8 server with @socket.io/redis-adapter 8.3 (createAdapter, or
// createShardedAdapter with --sharded), and socket.io-client 4.8 clients connected to it, that
// sockeye-redis's interop tests (tests/node_interop.rs) drive: the real Node peer of a mixed
// cluster. Also the real @socket.io/redis-emitter 5.1.
//
//   NODE_PATH=<node_modules> node peer.js --redis URL [--sharded] [--key K] [--specific]
//
// Prints "ready", then reads one JSON command a line on stdin and answers each with one JSON
// line on stdout: {"id", "ok": true, ...result} or {"id", "ok": false, "error"}. Binary values
// cross as {"$bin": "<hex>"} both ways.
"use strict";

const http = require("node:http");
const readline = require("node:readline");
const { Server } = require("socket.io");
const { io: connect } = require("socket.io-client");
const { createClient } = require("redis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");

const opts = { redis: null, sharded: false, key: null, specific: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--redis") opts.redis = process.argv[++i];
  else if (a === "--sharded") opts.sharded = true;
  else if (a === "--key") opts.key = process.argv[++i];
  else if (a === "--specific") opts.specific = true;
  else throw new Error(`unknown argument ${a}`);
}

/** JSON-able: Buffers (and ArrayBuffers) as {"$bin": hex}. */
function out(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const b = v instanceof ArrayBuffer ? Buffer.from(new Uint8Array(v)) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return { $bin: b.toString("hex") };
  }
  if (Array.isArray(v)) return v.map(out);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = out(v[k]);
    return o;
  }
  return v === undefined ? null : v;
}

/** From JSON: {"$bin": hex} as a Buffer. */
function revive(v) {
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") {
    if (Object.keys(v).length === 1 && typeof v.$bin === "string") return Buffer.from(v.$bin, "hex");
    const o = {};
    for (const k of Object.keys(v)) o[k] = revive(v[k]);
    return o;
  }
  return v;
}

async function main() {
  const pub = createClient({ url: opts.redis });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const adapterOpts = {};
  if (opts.key) adapterOpts[opts.sharded ? "channelPrefix" : "key"] = opts.key;
  if (opts.specific) adapterOpts.publishOnSpecificResponseChannel = true;
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: opts.sharded ? createShardedAdapter(pub, sub, adapterOpts) : createAdapter(pub, sub, adapterOpts),
  });
  const emitter = new Emitter(pub, opts.key ? { key: opts.key } : {});

  // What the server's handlers saw.
  const serverEvents = [];
  io.on("connection", (socket) => {
    const { name, rooms } = socket.handshake.auth;
    socket.data = { server: "node", name };
    if (rooms && rooms.length) socket.join(rooms);
  });
  for (const ev of ["sse", "sse-ack"]) {
    io.on(ev, (...args) => {
      const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
      serverEvents.push([ev, ...args, !!cb].map(out));
      if (cb) cb(["node", args[0]]);
    });
  }
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const port = httpServer.address().port;

  // Clients, by name: what each received.
  const clients = new Map();
  const received = new Map();

  const commands = {
    async client({ name, rooms }) {
      const c = connect(`http://127.0.0.1:${port}`, { auth: { name, rooms }, transports: ["websocket"] });
      received.set(name, []);
      c.onAny((event, ...args) => {
        const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
        received.get(name).push([event, ...args].map(out));
        if (cb) cb(["node-ack", name]);
      });
      await new Promise((resolve, reject) => {
        c.once("connect", resolve);
        c.once("connect_error", reject);
      });
      clients.set(name, c);
      return { sid: c.id };
    },
    async received({ name }) {
      return { events: received.get(name) };
    },
    async serverEvents() {
      return { events: serverEvents };
    },
    async emit({ rooms = [], except = [], event, args = [], volatile = false }) {
      let op = io.to(rooms).except(except);
      if (volatile) op = op.volatile;
      op.emit(event, ...revive(args));
      // The adapter publishes without waiting: a PING on the same connection answers after it.
      await pub.ping();
      return {};
    },
    async emitWithAck({ rooms = [], event, args = [], timeout }) {
      try {
        const responses = await io.to(rooms).timeout(timeout).emitWithAck(event, ...revive(args));
        return { responses: out(responses) };
      } catch (err) {
        return { error: err.message, responses: out(err.responses || null) };
      }
    },
    async fetch({ rooms = [] }) {
      const sockets = await io.in(rooms).fetchSockets();
      return {
        sockets: sockets.map((s) => ({
          id: s.id,
          rooms: [...s.rooms].sort(),
          data: out(s.data),
          address: s.handshake.address,
          auth: out(s.handshake.auth),
          issued: s.handshake.issued,
        })),
      };
    },
    async join({ rooms = [], except = [], target }) {
      io.in(rooms).except(except).socketsJoin(target);
      await pub.ping();
      return {};
    },
    async leave({ rooms = [], target }) {
      io.in(rooms).socketsLeave(target);
      await pub.ping();
      return {};
    },
    async disconnect({ rooms = [], close = false }) {
      io.in(rooms).disconnectSockets(close);
      await pub.ping();
      return {};
    },
    async roomsOf({ sid }) {
      const s = io.of("/").sockets.get(sid);
      return { rooms: s ? [...s.rooms].sort() : null };
    },
    async sse({ event, args = [] }) {
      io.serverSideEmit(event, ...revive(args));
      await pub.ping();
      return {};
    },
    async sseAck({ event, args = [] }) {
      try {
        // Within the adapter's requestsTimeout (5 s).
        return { responses: out(await io.serverSideEmitWithAck(event, ...revive(args))) };
      } catch (err) {
        return { error: err.message };
      }
    },
    async serverCount() {
      return { count: await io.of("/").adapter.serverCount() };
    },
    async allRooms() {
      return { rooms: [...(await io.of("/").adapter.allRooms())].sort() };
    },
    async emitter({ nsp, rooms = [], except = [], volatile, op, event, args = [], target, close }) {
      let e = nsp && nsp !== "/" ? emitter.of(nsp) : emitter;
      let o = e;
      if (rooms.length) o = o.to(rooms);
      if (except.length) o = o.except(except);
      if (op === "emit") (volatile ? o.volatile : o).emit(event, ...revive(args));
      else if (op === "join") o.socketsJoin(target);
      else if (op === "leave") o.socketsLeave(target);
      else if (op === "disconnect") o.disconnectSockets(close);
      else if (op === "sse") e.serverSideEmit(event, ...revive(args));
      await pub.ping();
      return {};
    },
  };

  console.log("ready");
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    let cmd;
    try {
      cmd = JSON.parse(line);
      const f = commands[cmd.cmd];
      if (!f) throw new Error(`unknown command ${cmd.cmd}`);
      // "nowait": start it and answer at once (the test watches what it publishes).
      const result = cmd.nowait ? (f(cmd).catch(() => {}), {}) : await f(cmd);
      process.stdout.write(JSON.stringify({ id: cmd.id, ok: true, ...result }) + "\n");
    } catch (err) {
      process.stdout.write(JSON.stringify({ id: cmd && cmd.id, ok: false, error: String(err && err.stack) }) + "\n");
    }
  });
  rl.on("close", async () => {
    for (const c of clients.values()) c.disconnect();
    io.close();
    await Promise.allSettled([pub.quit(), sub.quit()]);
    process.exit(0);
  });
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
