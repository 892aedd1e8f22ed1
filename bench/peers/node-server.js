// Benchmark peer: Node's socket.io with the benchmark's two handlers.
// `message` is echoed to its sender; `tick` is broadcast to every client (sender included).
// Usage: PORT=3011 node node-server.js   (socket.io is resolved through NODE_PATH)
// PER_MESSAGE_DEFLATE=on (or no-context-takeover) turns WebSocket compression on, with the
// same options as the Sockeye bench server's flag.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || process.argv[2] || 3011);
const server = http.createServer();
const deflate = process.env.PER_MESSAGE_DEFLATE || "off";
const perMessageDeflate =
  deflate === "off" || deflate === "0"
    ? false
    : deflate === "no-context-takeover"
      ? { serverNoContextTakeover: true, clientNoContextTakeover: true }
      : true;
const io = new Server(server, { serveClient: false, perMessageDeflate });

io.on("connection", (socket) => {
  socket.on("message", (data) => socket.emit("message", data));
  socket.on("tick", (data) => io.emit("tick", data));
});

server.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => {
  console.log(`listening on ${port}`);
});
