// Benchmark peer: Node's socket.io with the benchmark's two handlers.
// `message` is echoed to its sender; `tick` is broadcast to every client (sender included).
//
//   PORT=3011 node node-server.js                     one server
//   PORT=3011 node node-server.js --redis URL         a node of a cluster (also REDIS_URL):
//                                                     @socket.io/redis-adapter over `redis`,
//                                                     so a tick reaches the clients of every node
//
// PER_MESSAGE_DEFLATE=on (or no-context-takeover) turns WebSocket compression on, with the
// same options as the Sockeye bench server's flag. PARSER=msgpack swaps the packet parser
// for socket.io-msgpack-parser (as the Sockeye bench server's --parser msgpack).
//
// The packages are resolved through NODE_PATH (bench/run.sh installs them).
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const argv = process.argv.slice(2);
const at = argv.indexOf("--redis");
const redisUrl = at >= 0 ? argv[at + 1] : process.env.REDIS_URL || "";
const positional = argv.filter((a, i) => !a.startsWith("--") && argv[i - 1] !== "--redis");
const port = Number(process.env.PORT || positional[0] || 3011);
const deflate = process.env.PER_MESSAGE_DEFLATE || "off";
const perMessageDeflate =
  deflate === "off" || deflate === "0"
    ? false
    : deflate === "no-context-takeover"
      ? { serverNoContextTakeover: true, clientNoContextTakeover: true }
      : true;

async function clusterAdapter(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const pub = createClient({ url });
  const sub = pub.duplicate();
  // A failing Redis shows in the log and in the delivery ratio; it must not end the process
  // with an unhandled "error" event.
  pub.on("error", (err) => console.error(`redis pub: ${err.message || err}`));
  sub.on("error", (err) => console.error(`redis sub: ${err.message || err}`));
  await Promise.all([pub.connect(), sub.connect()]);
  return createAdapter(pub, sub);
}

async function main() {
  const server = http.createServer();
  const options = { serveClient: false, perMessageDeflate };
  const parser = process.env.PARSER || "json";
  if (parser === "msgpack") options.parser = require("socket.io-msgpack-parser");
  else if (parser !== "json") throw new Error(`PARSER=${parser}: json or msgpack`);
  if (redisUrl) options.adapter = await clusterAdapter(redisUrl);
  const io = new Server(server, options);

  io.on("connection", (socket) => {
    socket.on("message", (data) => socket.emit("message", data));
    socket.on("tick", (data) => io.emit("tick", data));
  });

  if (redisUrl) {
    // Listen only once the adapter is subscribed (it counts itself): bench/run.sh takes an
    // open port for a ready node, and the first tick of another node must reach this one.
    const deadline = Date.now() + 10000;
    while ((await io.of("/").adapter.serverCount().catch(() => 0)) < 1) {
      if (Date.now() > deadline) throw new Error("the Redis adapter did not subscribe within 10 s");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  server.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => {
    console.log(`listening on ${port}${redisUrl ? " (cluster)" : ""}`);
  });
}

main().catch((err) => {
  console.error(`node-server: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
