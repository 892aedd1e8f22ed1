#!/usr/bin/env node
// The reference implementation of e2e/CONTRACT.md on Node's socket.io package.
// Every interop test must pass against it: that proves the test asserts what Node's
// socket.io really does. Usage: node e2e/reference/server.js [--port N]
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

// Every socket disconnect seen so far, in order, in every namespace.
const disconnects = [];
function recordDisconnects(socket) {
  socket.on("disconnect", (reason) => {
    disconnects.push({ id: socket.id, nsp: socket.nsp.name, reason });
  });
}

// --- namespace "/" ---------------------------------------------------------
const root = io.of("/");
// A legacy (Engine.IO v3) client has no CONNECT auth for "/" (socket.io-client 2.x sends no
// CONNECT for "/" at all) and python-socketio 4.x sends none for any namespace: each middleware
// falls back to the handshake query when the auth payload lacks the key.
function authOrQuery(socket, key) {
  const auth = socket.handshake.auth || {};
  return auth[key] !== undefined ? auth[key] : socket.handshake.query[key];
}

root.use((socket, next) => {
  if (authOrQuery(socket, "token") === "bad") {
    const err = new Error("unauthorized");
    err.data = { reason: "bad token" };
    return next(err);
  }
  next();
});

function sortedRooms(socket) {
  return [...socket.rooms].sort();
}

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
});

// --- namespace "/admin" ----------------------------------------------------
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

// --- dynamic namespaces ^/dyn-\d+$ -----------------------------------------
io.of(/^\/dyn-\d+$/).on("connection", (socket) => {
  recordDisconnects(socket);
  socket.on("name", (ack) => {
    if (typeof ack === "function") ack(socket.nsp.name);
  });
});

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

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening on ${httpServer.address().port}`);
});

function shutdown() {
  io.close();
  recovery.close();
  recoveryMw.close();
  deflate.close();
  deflateNct.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
