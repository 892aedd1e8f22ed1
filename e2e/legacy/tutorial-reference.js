#!/usr/bin/env node
// The python-socketio tutorial's server (its "Two-Way Communication" version) on Node's
// socket.io 4.8 with allowEIO3, so that the tutorial's socket.io-client 2.2.0 page can connect:
// every `message` is printed (`Socket ID: <id>`, then the message) and its reverse is emitted
// to every client. The reference for legacy/tutorial.test.mjs (the `sockeye` binary is the
// server under test there).
//
//   node e2e/legacy/tutorial-reference.js [--host 127.0.0.1] [--port 8080] [--cors ORIGIN]...
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const argv = process.argv.slice(2);
let host = "127.0.0.1";
let port = 8080;
const cors = [];
for (let i = 0; i < argv.length; i++) {
  const value = argv[i + 1];
  if (argv[i] === "--host") host = value;
  else if (argv[i] === "--port") port = Number(value);
  else if (argv[i] === "--cors") cors.push(value);
  else {
    console.error(`unknown argument: ${argv[i]}`);
    process.exit(2);
  }
  i++;
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error("invalid --port");
  process.exit(2);
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found");
});
const io = new Server(httpServer, {
  allowEIO3: true,
  ...(cors.length ? { cors: { origin: cors, credentials: true } } : {}),
});

io.on("connection", (socket) => {
  socket.on("message", (message) => {
    console.log(`Socket ID: ${socket.id}`);
    console.log(message);
    if (typeof message === "string") io.emit("message", [...message].reverse().join(""));
  });
});

httpServer.on("error", (err) => {
  console.error(`cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});
httpServer.listen(port, host, () => {
  console.log(`listening on ${httpServer.address().port}`);
});

function shutdown() {
  io.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
