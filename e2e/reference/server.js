#!/usr/bin/env node
// The reference implementation of e2e/CONTRACT.md on Node's socket.io package.
// Every interop test must pass against it: that proves the test asserts what Node's
// socket.io really does. Usage: node e2e/reference/server.js [--port N] [--redis URL]
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

function parsePort(argv) {
  const i = argv.indexOf("--port");
  if (i === -1) return 3100;
  const port = Number(argv[i + 1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid --port: ${argv[i + 1]}`);
    process.exit(2);
  }
  return port;
}

const port = parsePort(process.argv.slice(2));
const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found");
});

const io = new Server(httpServer, {
  path: "/socket.io/",
  pingInterval: 400,
  pingTimeout: 800,
  upgradeTimeout: 1000,
  connectTimeout: 1500,
  maxHttpBufferSize: 100000,
  // Engine.IO v3 / Socket.IO protocol v4 clients (socket.io-client 1.x/2.x, python-socketio 4.x).
  allowEIO3: true,
  // An array, so that only a matching Origin gets Access-Control-Allow-Origin.
  cors: { origin: ["http://allowed.example"], credentials: true },
  allowRequest: (req, callback) => {
    const query = new URL(req.url, "http://127.0.0.1").searchParams;
    // A falsy message makes engine.io answer with its own "Forbidden".
    callback(null, query.get("refuse") !== "1");
  },
});

// Every namespace created, in order (listened to before any namespace is declared).
const newNamespaces = [];
io.on("new_namespace", (nsp) => newNamespaces.push(nsp.name));

// Every socket disconnect seen so far, in order, in every namespace.
const disconnects = [];
function recordDisconnects(socket) {
  socket.on("disconnect", (reason, description) => {
    const entry = { id: socket.id, nsp: socket.nsp.name, reason };
    if (description !== undefined) {
      entry.description = description instanceof Error ? description.message : String(description);
    }
    disconnects.push(entry);
  });
}

// --- namespaces "/", "/admin" and ^/dyn-\d+$ (on the main server and the msgpack one) ----
// A legacy (Engine.IO v3) client has no CONNECT auth for "/" (socket.io-client 2.x sends no
// CONNECT for "/" at all) and python-socketio 4.x sends none for any namespace: each middleware
// falls back to the handshake query when the auth payload lacks the key.
function authOrQuery(socket, key) {
  const auth = socket.handshake.auth || {};
  return auth[key] !== undefined ? auth[key] : socket.handshake.query[key];
}

function sortedRooms(socket) {
  return [...socket.rooms].sort();
}

/** The contract's "/", "/admin" and "^/dyn-\d+$" on `io`; returns the dynamic parent. */
function contractNamespaces(io) {
  const root = io.of("/");
  root.use((socket, next) => {
    if (authOrQuery(socket, "token") === "bad") {
      const err = new Error("unauthorized");
      err.data = { reason: "bad token" };
      return next(err);
    }
    next();
  });

  root.on("connection", (socket) => {
    recordDisconnects(socket);
    const query = socket.handshake.query;
    socket.emit("welcome", {
      id: socket.id,
      auth: socket.handshake.auth,
      foo: query.foo === undefined ? null : query.foo,
    });

    socket.on("echo", (...args) => {
      socket.emit("echo", ...args);
    });

    socket.on("echo-ack", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });

    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(sortedRooms(socket));
    });

    socket.on("leave", (room, ack) => {
      socket.leave(room);
      if (typeof ack === "function") ack(sortedRooms(socket));
    });

    socket.on("to-room", (room, event, data) => {
      io.to(room).emit(event, data);
    });

    socket.on("to-room-except", (room, exceptRoom, event, data) => {
      io.to(room).except(exceptRoom).emit(event, data);
    });

    socket.on("broadcast", (data) => {
      socket.broadcast.emit("broadcast", data);
    });

    socket.on("emit-all", (data) => {
      io.emit("all", data);
    });

    socket.on("ask", (data, ack) => {
      socket.timeout(1000).emit("question", data, (err, answer) => {
        if (typeof ack !== "function") return;
        ack(err ? { error: "timeout" } : { answer });
      });
    });

    socket.on("server-disconnect", () => {
      socket.disconnect();
    });

    socket.on("server-close", () => {
      socket.disconnect(true);
    });

    socket.on("disconnect-reasons", (ack) => {
      if (typeof ack === "function") ack(disconnects);
    });

    socket.on("handshake", (ack) => {
      if (typeof ack !== "function") return;
      const hs = socket.handshake;
      ack({
        query: { foo: hs.query.foo === undefined ? null : hs.query.foo },
        auth: hs.auth,
        header: hs.headers["x-e2e"] === undefined ? null : hs.headers["x-e2e"],
        address: hs.address,
      });
    });

    socket.on("message", (data) => {
      console.log(`message ${socket.id} ${JSON.stringify(data)}`);
      socket.emit("message", data);
    });

    onTransport(socket);
  });

  const admin = io.of("/admin");
  admin.use((socket, next) => {
    if (authOrQuery(socket, "role") !== "admin") return next(new Error("forbidden"));
    next();
  });
  admin.on("connection", (socket) => {
    recordDisconnects(socket);
    socket.on("whoami", (ack) => {
      if (typeof ack === "function") ack("admin");
    });
  });

  const dynParent = io.of(/^\/dyn-\d+$/);
  dynParent.on("connection", (socket) => {
    recordDisconnects(socket);
    socket.on("name", (ack) => {
      if (typeof ack === "function") ack(socket.nsp.name);
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });
  });
  return dynParent;
}

// `transport` (ack): the transport in use and the upgrades this socket has heard of.
function onTransport(socket) {
  const upgrades = [];
  socket.conn.on("upgrade", (transport) => upgrades.push(transport.name));
  socket.on("transport", (ack) => {
    if (typeof ack === "function") ack({ transport: socket.conn.transport.name, upgrades: [...upgrades] });
  });
}

const dynParent = contractNamespaces(io);

// --- dynamic namespaces /tenant-<x>, matched by an async function of the auth ---
io.of((name, auth, next) => {
  setTimeout(() => {
    const tenant = auth && typeof auth.tenant === "string" ? auth.tenant : null;
    next(null, name.startsWith("/tenant-") && tenant !== null && name === `/tenant-${tenant}`);
  }, 20);
}).on("connection", (socket) => {
  recordDisconnects(socket);
  socket.on("name", (ack) => {
    if (typeof ack === "function") ack(socket.nsp.name);
  });
});

// --- namespace "/api" ------------------------------------------------------
const api = io.of("/api");
const disconnecting = [];
api.on("connection", (socket) => {
  recordDisconnects(socket);
  const log = [];
  const onAny = (event) => log.push(`any:${event}`);
  socket.onAny(onAny);
  socket.prependAny((event) => log.push(`first:${event}`));
  socket.onAnyOutgoing((event) => log.push(`out:${event}`));
  socket.use(([event], next) => {
    if (event === "forbidden") return next(new Error("not allowed"));
    if (event === "slow") return setTimeout(() => next(), 50);
    next();
  });
  socket.on("error", (err) => socket.emit("use-error", err.message));
  socket.on("disconnecting", (reason) => {
    disconnecting.push({ id: socket.id, reason, rooms: sortedRooms(socket) });
  });

  const reply = (ack, value) => typeof ack === "function" && ack(value);
  socket.on("log", (ack) => reply(ack, [...log]));
  socket.on("off-any", (ack) => {
    socket.offAny(onAny);
    reply(ack, true);
  });
  socket.on("forbidden", (ack) => reply(ack, "ran"));
  socket.on("slow", (ack) => reply(ack, "slow ran"));
  socket.on("emit-self", (data) => {
    socket.emit("self", data);
    api.to(socket.id).emit("via-room", data);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    reply(ack, sortedRooms(socket));
  });
  socket.on("rooms", (ack) => reply(ack, sortedRooms(socket)));
  socket.on("leave-all", (ack) => {
    for (const r of [...socket.rooms]) if (r !== socket.id) socket.leave(r);
    reply(ack, sortedRooms(socket));
  });
  socket.on("volatile-seq", (target, n, ack) => {
    api.to(target).emit("seq", n, 1);
    api.to(target).volatile.emit("seq", n, 2);
    api.to(target).emit("seq", n, 3);
    if (typeof ack === "function") ack(true);
  });
  socket.on("volatile-self-seq", (n) => {
    socket.emit("seq", n, 1);
    socket.volatile.emit("seq", n, 2);
    socket.emit("seq", n, 3);
  });
  socket.on("volatile-one", (n) => socket.volatile.emit("vol", n));
  socket.on("compress-off", (data) => socket.compress(false).emit("compressed", data));
  socket.on("local-all", (data) => api.local.emit("local", data));
  socket.on("socket-to", (room, data) => socket.to(room).emit("socket-to", data));
  socket.on("socket-except", (room, data) => socket.except(room).emit("socket-except", data));
  socket.on("sockets-join", (inRoom, room, ack) => {
    api.in(inRoom).socketsJoin(room);
    reply(ack, true);
  });
  socket.on("sockets-leave", (inRoom, room, ack) => {
    api.in(inRoom).socketsLeave(room);
    reply(ack, true);
  });
  socket.on("disconnect-sockets", (inRoom, close) => api.in(inRoom).disconnectSockets(close));
  socket.on("fetch-ids", async (room, ack) => {
    const ids = await api.in(room).allSockets();
    reply(ack, [...ids].sort());
  });
  socket.on("fetch-sockets", async (room, ack) => {
    const found = await api.in(room).fetchSockets();
    const list = found.map((s) => ({
      id: s.id,
      rooms: [...s.rooms].sort(),
      data: s.data,
      auth: s.handshake.auth,
    }));
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    reply(ack, list);
  });
  socket.on("remote-emit", async (room, event, data) => {
    for (const s of await api.in(room).fetchSockets()) s.emit(event, data);
  });
  socket.on("set-data", (data, ack) => {
    socket.data = data;
    reply(ack, true);
  });
  socket.on("get-data", (ack) => reply(ack, socket.data));
  socket.on("set-ext", (value, ack) => {
    socket.ext = value;
    reply(ack, true);
  });
  socket.on("get-ext", (ack) => reply(ack, socket.ext === undefined ? null : socket.ext));
  socket.on("ask-room", (room, timeoutMs, ack) => {
    api
      .to(room)
      .timeout(timeoutMs)
      .emit("question", "ready?", (err, responses) => {
        reply(ack, { timedOut: !!err, responses: [...responses].sort() });
      });
  });
  socket.on("disconnecting-log", (ack) => reply(ack, disconnecting));
  socket.on("new-namespaces", (ack) => reply(ack, newNamespaces));
  socket.on("parent-emit", (data) => dynParent.emit("parent", data));
  socket.on("parent-to", (room, data) => dynParent.to(room).emit("parent-to", data));
});

// --- a second server on the same port: /custom-io/, WebSocket only -----------
const custom = new Server(httpServer, {
  path: "/custom-io/",
  transports: ["websocket"],
  pingInterval: 400,
  pingTimeout: 800,
  connectTimeout: 1500,
  maxHttpBufferSize: 100000,
  serveClient: false,
  // The main server handles its own upgrades: leave them alone.
  destroyUpgrade: false,
});
custom.on("connection", (socket) => {
  socket.on("where", (ack) => {
    if (typeof ack === "function") ack("custom");
  });
});

// --- the msgpack server: /msgpack/, with socket.io-msgpack-parser ----------------
// The parser is server-wide in Node: a server of its own on the same port, with the engine
// options above (not allowEIO3, CORS or allowRequest), and the contract's "/", "/admin" and
// "^/dyn-\d+$".
const msgpack = new Server(httpServer, {
  path: "/msgpack/",
  parser: require("socket.io-msgpack-parser"),
  pingInterval: 400,
  pingTimeout: 800,
  upgradeTimeout: 1000,
  connectTimeout: 1500,
  maxHttpBufferSize: 100000,
  serveClient: false,
  destroyUpgrade: false,
});
contractNamespaces(msgpack);

// --- the recovery servers (connectionStateRecovery) --------------------------
// Recovery is a server-wide option: two more servers share the HTTP server, each on its own
// path, with the same engine options and connection state recovery on.
const RECOVERY_WINDOW_MS = 3000;
const recoveryDisconnects = [];
function recoveryServer(path, skipMiddlewares) {
  const server = new Server(httpServer, {
    path,
    pingInterval: 400,
    pingTimeout: 800,
    upgradeTimeout: 1000,
    connectTimeout: 1500,
    maxHttpBufferSize: 100000,
    connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_WINDOW_MS, skipMiddlewares },
  });
  function deny(socket, next) {
    if (socket.handshake.auth && socket.handshake.auth.deny === true) {
      return next(new Error("denied"));
    }
    next();
  }
  function onConnection(socket) {
    const nsp = socket.nsp;
    socket.on("disconnect", (reason) => {
      recoveryDisconnects.push({ id: socket.id, path, reason });
    });
    socket.on("state", (ack) => {
      if (typeof ack !== "function") return;
      ack({
        id: socket.id,
        recovered: socket.recovered,
        rooms: sortedRooms(socket),
        data: socket.data.value === undefined ? null : socket.data.value,
      });
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(sortedRooms(socket));
    });
    socket.on("set-data", (value, ack) => {
      // Replaced, not changed in place: a recovered socket shares its data object with the
      // session the adapter keeps, so a change in place would show in a later recovery.
      socket.data = { value };
      if (typeof ack === "function") ack();
    });
    socket.on("to-room", (room, event, ...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      nsp.to(room).emit(event, ...args);
      if (ack) ack();
    });
    socket.on("burst", (room, event, count, ack) => {
      for (let i = 0; i < count; i++) nsp.to(room).emit(event, i);
      if (typeof ack === "function") ack();
    });
    socket.on("emit-all", (data, ack) => {
      nsp.emit("all", data);
      if (typeof ack === "function") ack();
    });
    socket.on("volatile-all", (data, ack) => {
      nsp.volatile.emit("all", data);
      if (typeof ack === "function") ack();
    });
    socket.on("local-all", (data, ack) => {
      nsp.local.emit("all", data);
      if (typeof ack === "function") ack();
    });
    socket.on("broadcast", (data, ack) => {
      socket.broadcast.emit("broadcast", data);
      if (typeof ack === "function") ack();
    });
    socket.on("emit-self", (data, ack) => {
      socket.emit("self", data);
      if (typeof ack === "function") ack();
    });
    socket.on("ask-self", (data, ack) => {
      socket.timeout(1000).emit("question", data, (err, answer) => {
        if (typeof ack === "function") ack(err ? { error: "timeout" } : { answer });
      });
    });
    socket.on("ask-all", (data, ack) => {
      nsp.timeout(1000).emit("question", data, () => {});
      if (typeof ack === "function") ack();
    });
    socket.on("server-disconnect", () => {
      socket.disconnect();
    });
    socket.on("disconnect-reasons", (ack) => {
      if (typeof ack === "function") ack(recoveryDisconnects);
    });
  }
  for (const nsp of [server.of("/"), server.of(/^\/dyn-\d+$/)]) {
    nsp.use(deny);
    nsp.on("connection", onConnection);
  }
  return server;
}
const recovery = recoveryServer("/recovery/", true);
const recoveryMw = recoveryServer("/recovery-mw/", false);

// --- the compression servers (perMessageDeflate) ----------------------------------------------
// perMessageDeflate is a server-wide option: two more servers share the HTTP server, each on its
// own path, with the same engine options (httpCompression is on by default, as in every server).
// The payloads they emit: compressible text that is not a plain repetition.
const ALPHABET = "abcdefghij klmnopqrstuvwxyz";
function blob(n) {
  let s = "";
  for (let i = 0; i < n; i++) s += ALPHABET[(i * 7 + Math.floor(i / 13)) % 27];
  return s;
}
function deflateServer(path, perMessageDeflate) {
  const server = new Server(httpServer, {
    path,
    pingInterval: 400,
    pingTimeout: 800,
    upgradeTimeout: 1000,
    connectTimeout: 1500,
    maxHttpBufferSize: 100000,
    perMessageDeflate,
  });
  server.on("connection", (socket) => {
    socket.on("echo", (...args) => socket.emit("echo", ...args));
    socket.on("blob", (n, compress) => {
      socket.compress(compress !== false).emit("blob", blob(n));
    });
    socket.on("blob-all", (n, compress) => {
      server.compress(compress !== false).emit("blob", blob(n));
    });
  });
  return server;
}
const deflate = deflateServer("/deflate/", true);
const deflateNct = deflateServer("/deflate-nct/", {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: 10,
});

// --- the engine server (engine options and events) --------------------------------
const engineErrors = [];
const engineServer = new Server(httpServer, {
  path: "/engine/",
  pingInterval: 400,
  pingTimeout: 800,
  upgradeTimeout: 1000,
  connectTimeout: 1500,
  maxHttpBufferSize: 100000,
  allowUpgrades: false,
  cookie: true,
  cors: {
    origin: (origin, callback) => setTimeout(() => callback(null, origin === "http://allowed.example"), 5),
    credentials: true,
    methods: ["GET", "POST"],
    allowedHeaders: ["x-e2e"],
    exposedHeaders: ["x-e2e-exposed"],
    maxAge: 600,
  },
  allowRequest: (req, callback) => {
    const query = new URL(req.url, "http://127.0.0.1").searchParams;
    setTimeout(() => {
      if (query.has("deny")) callback(query.get("deny") || null, false);
      else callback(null, true);
    }, 10);
  },
});
engineServer.engine.on("initial_headers", (headers) => {
  headers["x-e2e-initial"] = "1";
});
engineServer.engine.on("headers", (headers, req) => {
  headers["x-e2e-every"] = req.method;
});
engineServer.engine.on("connection_error", (err) => {
  const refusal = err.context && typeof err.context.message === "string" ? err.context.message : null;
  engineErrors.push({ code: err.code, message: err.message, refusal, url: err.req.url });
});
engineServer.of("/").on("connection", (socket) => {
  onTransport(socket);
  socket.on("connection-errors", (ack) => {
    if (typeof ack === "function") ack(engineErrors);
  });
});

// `--redis URL`: the main server's adapter is @socket.io/redis-adapter (a cluster of one),
// which the whole suite must also pass with (it does, in Node).
async function useRedis(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const pub = createClient({ url });
  const sub = pub.duplicate();
  pub.on("error", (err) => console.error(`redis pub: ${err.message}`));
  sub.on("error", (err) => console.error(`redis sub: ${err.message}`));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  // Ready once every namespace's adapter is subscribed (each counts itself).
  for (const nsp of io._nsps.values()) {
    while ((await nsp.adapter.serverCount().catch(() => 0)) < 1) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const redisAt = process.argv.indexOf("--redis");
(redisAt === -1 ? Promise.resolve() : useRedis(process.argv[redisAt + 1])).then(
  () =>
    httpServer.listen(port, "127.0.0.1", () => {
      console.log(`listening on ${httpServer.address().port}`);
    }),
  (err) => {
    console.error(`--redis: ${err.message}`);
    process.exit(1);
  },
);

function shutdown() {
  custom.close();
  msgpack.close();
  io.close();
  recovery.close();
  recoveryMw.close();
  deflate.close();
  deflateNct.close();
  engineServer.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
