#!/usr/bin/env node
// A cluster test node: e2e/cluster/CONTRACT.md on Node's socket.io 4.8 with
// @socket.io/redis-adapter 8.3 (createAdapter, or createShardedAdapter with --sharded) over the
// `redis` client. It is the reference: every cluster test passes against a cluster of these.
//
//   node e2e/cluster/server.js --port N --redis URL [--sharded] [--key K]
//        [--requests-timeout MS] [--publish-on-specific-response-channel] [--name NAME]
//        [--cookie NAME]
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");

// --- command line ------------------------------------------------------------------------
function parseArgs(argv) {
  const opts = {
    port: 3200,
    redis: null,
    sharded: false,
    key: null,
    requestsTimeout: null,
    specific: false,
    name: null,
    cookie: null,
  };
  const value = (i) => {
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--port":
        opts.port = Number(value(i++));
        if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage("bad --port");
        break;
      case "--redis":
        opts.redis = value(i++);
        break;
      case "--sharded":
        opts.sharded = true;
        break;
      case "--key":
        opts.key = value(i++);
        break;
      case "--requests-timeout":
        opts.requestsTimeout = Number(value(i++));
        if (!Number.isInteger(opts.requestsTimeout) || opts.requestsTimeout <= 0) {
          usage("bad --requests-timeout");
        }
        break;
      case "--publish-on-specific-response-channel":
        opts.specific = true;
        break;
      case "--name":
        opts.name = value(i++);
        break;
      case "--cookie":
        opts.cookie = value(i++);
        break;
      default:
        usage(`unknown argument ${argv[i]}`);
    }
  }
  if (!opts.redis) usage("--redis URL is required");
  if (opts.name === null) opts.name = `node-${opts.port}`;
  return opts;
}

function usage(msg) {
  console.error(`server.js: ${msg}`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const log = (...args) => console.log(`[${opts.name}]`, ...args);

// --- errors that escape the adapter --------------------------------------------------------
// The adapter publishes without catching (a publish while Redis is unreachable rejects with no
// handler) and decodes some Redis messages outside any try/catch. Node ends a process on an
// uncaught exception or an unhandled rejection; a production node keeps running and logs it,
// which is what this node does. `stats` reports the count (see the README).
let uncaught = 0;
process.on("uncaughtException", (err) => {
  uncaught++;
  console.error(`[${opts.name}] uncaught exception: ${err && err.stack ? err.stack : err}`);
});
process.on("unhandledRejection", (err) => {
  uncaught++;
  console.error(`[${opts.name}] unhandled rejection: ${err && err.stack ? err.stack : err}`);
});

// --- helpers ---------------------------------------------------------------------------------
const sorted = (iterable) => [...iterable].map(String).sort();
const list = (x) => (x === undefined || x === null ? [] : Array.isArray(x) ? x : [x]);
const isFn = (x) => typeof x === "function";
const errorText = (err) => (err && err.message ? err.message : String(err));

/** The operator a spec selects: rooms, except, volatile, local, from the socket or the namespace. */
function operator(nsp, socket, spec) {
  let op = spec.fromSocket ? socket.broadcast : nsp;
  const rooms = list(spec.rooms);
  const except = list(spec.except);
  if (rooms.length > 0) op = op.to(rooms);
  if (except.length > 0) op = op.except(except);
  if (spec.volatile) op = op.volatile;
  if (spec.local) op = op.local;
  return op;
}

function describeSocket(s) {
  return {
    id: s.id,
    handshake: s.handshake,
    rooms: sorted(s.rooms),
    data: s.data === undefined ? null : s.data,
    remote: !s.nsp, // a local Socket has its namespace; a RemoteSocket has none
  };
}

// --- the server ------------------------------------------------------------------------------
async function main() {
  const pub = createClient({
    url: opts.redis,
    // Fail commands at once while Redis is unreachable instead of queueing them until it comes
    // back: a cluster operation then fails within its timeout instead of waiting for Redis.
    disableOfflineQueue: true,
    socket: { reconnectStrategy: (retries) => Math.min(50 + retries * 50, 500) },
  });
  const sub = pub.duplicate();
  pub.on("error", (err) => log(`redis pub error: ${errorText(err)}`));
  sub.on("error", (err) => log(`redis sub error: ${errorText(err)}`));
  await Promise.all([pub.connect(), sub.connect()]);

  const adapter = opts.sharded
    ? createShardedAdapter(pub, sub, {
        ...(opts.key !== null ? { channelPrefix: opts.key } : {}),
      })
    : createAdapter(pub, sub, {
        ...(opts.key !== null ? { key: opts.key } : {}),
        ...(opts.requestsTimeout !== null ? { requestsTimeout: opts.requestsTimeout } : {}),
        publishOnSpecificResponseChannel: opts.specific,
      });

  const httpServer = http.createServer((req, res) => {
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found");
  });

  const io = new Server(httpServer, {
    path: "/socket.io/",
    adapter,
    pingInterval: 1000,
    pingTimeout: 2000,
    connectTimeout: 3000,
    maxHttpBufferSize: 1e6,
    ...(opts.cookie !== null ? { cookie: { name: opts.cookie } } : {}),
  });

  for (const name of ["/", "/other"]) setup(io.of(name));

  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(opts.port, "127.0.0.1", resolve);
  });
  // Ready once both namespaces' adapters are subscribed (each counts itself).
  for (const name of ["/", "/other"]) {
    const deadline = Date.now() + 10000;
    for (;;) {
      const count = await io
        .of(name)
        .adapter.serverCount()
        .catch(() => 0);
      if (count >= 1) break;
      if (Date.now() > deadline) throw new Error(`${name}: the adapter did not subscribe`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  console.log(`listening on ${httpServer.address().port}`);

  const stop = () => {
    log("stopping");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

/** The handlers of one namespace. */
function setup(nsp) {
  // Server-side events received from other nodes, in order.
  const received = [];
  const record = (event, args) => {
    const withAck = args.length > 0 && isFn(args[args.length - 1]);
    const ack = withAck ? args.pop() : null;
    received.push({ event, args, withAck });
    return ack;
  };
  nsp.on("sse", (...args) => {
    record("sse", args);
  });
  nsp.on("sse-ack", (...args) => {
    const ack = record("sse-ack", args);
    if (ack) ack({ node: opts.name, args });
  });
  nsp.on("sse-silent", (...args) => {
    record("sse-silent", args);
  });

  nsp.on("connection", (socket) => {
    const on = (event, handler) => {
      socket.on(event, async (...args) => {
        const ack = isFn(args[args.length - 1]) ? args.pop() : () => {};
        let result;
        try {
          result = await handler(args[0] || {});
        } catch (err) {
          result = { error: errorText(err) };
        }
        ack(result);
      });
    };

    on("whoami", () => ({
      node: opts.name,
      nsp: nsp.name,
      id: socket.id,
      rooms: sorted(socket.rooms),
      data: socket.data === undefined ? null : socket.data,
    }));

    on("join", (spec) => {
      socket.join(list(spec.rooms));
      return { rooms: sorted(socket.rooms) };
    });

    on("leave", (spec) => {
      socket.leave(spec.room);
      return { rooms: sorted(socket.rooms) };
    });

    on("set-data", (spec) => {
      socket.data = spec.data;
      return { ok: true };
    });

    on("broadcast", (spec) => {
      operator(nsp, socket, spec).emit(spec.event, ...list(spec.args));
      return { ok: true };
    });

    on("broadcast-with-ack", async (spec) => {
      const op = operator(nsp, socket, spec).timeout(spec.timeout);
      try {
        const responses = await op.emitWithAck(spec.event, ...list(spec.args));
        return { timedOut: false, responses };
      } catch (err) {
        return { timedOut: true, responses: err.responses || [], error: errorText(err) };
      }
    });

    on("fetch-sockets", async (spec) => {
      const sockets = await operator(nsp, socket, spec).fetchSockets();
      return {
        sockets: sockets.map(describeSocket).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      };
    });

    on("remote-socket", async (spec) => {
      const sockets = await nsp.fetchSockets();
      const s = sockets.find((x) => x.id === spec.id);
      if (!s) return { found: false };
      const remote = !s.nsp;
      switch (spec.op) {
        case "emit":
          s.emit(spec.event, ...list(spec.args));
          return { found: true, remote };
        case "emit-with-ack":
          try {
            const response = await s.timeout(spec.timeout).emitWithAck(spec.event, ...list(spec.args));
            return { found: true, remote, timedOut: false, response };
          } catch (err) {
            return { found: true, remote, timedOut: true, error: errorText(err) };
          }
        case "join":
          s.join(list(spec.rooms));
          return { found: true, remote };
        case "leave":
          s.leave(spec.room);
          return { found: true, remote };
        case "disconnect":
          s.disconnect(!!spec.close);
          return { found: true, remote };
        default:
          return { error: `unknown op ${spec.op}` };
      }
    });

    on("sockets-join", (spec) => {
      operator(nsp, socket, spec).socketsJoin(list(spec.targets));
      return { ok: true };
    });

    on("sockets-leave", (spec) => {
      operator(nsp, socket, spec).socketsLeave(list(spec.targets));
      return { ok: true };
    });

    on("disconnect-sockets", (spec) => {
      operator(nsp, socket, spec).disconnectSockets(!!spec.close);
      return { ok: true };
    });

    on("server-side-emit", (spec) => {
      nsp.serverSideEmit(spec.event, ...list(spec.args));
      return { ok: true };
    });

    on("server-side-emit-with-ack", async (spec) => {
      try {
        const responses = await nsp.serverSideEmitWithAck(spec.event, ...list(spec.args));
        return { timedOut: false, responses };
      } catch (err) {
        return { timedOut: true, responses: err.responses || [], error: errorText(err) };
      }
    });

    on("server-side-received", () => ({ received }));

    on("server-count", async () => ({ count: await nsp.adapter.serverCount() }));

    on("stats", () => ({ node: opts.name, kind: "node", uncaught }));
  });
}

main().catch((err) => {
  console.error(`[${opts.name}] fatal: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
