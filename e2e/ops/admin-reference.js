#!/usr/bin/env node
// The reference for the admin UI tests: Node's socket.io 4.8 serving the tutorial's reversing
// echo (as the `sockeye` binary does by default), instrumented by Node's own
// @socket.io/admin-ui 0.5.1 when asked. It takes the binary's flags and environment, so the
// tests start either the same way:
//
//   node e2e/ops/admin-reference.js --host 127.0.0.1 --port N [--admin-ui]
//        [--admin-ui-no-auth] [--admin-ui-readonly]
//   SOCKEYE_ADMIN_USER / SOCKEYE_ADMIN_PASSWORD_HASH: the basic auth's user and bcrypt hash
//
// socket.io comes from e2e/node_modules, @socket.io/admin-ui from admin-ui/node_modules
// (scripts/admin-ui.sh installs it; its server side needs no socket.io of its own).
"use strict";

const http = require("node:http");
const path = require("node:path");
const { Server } = require("socket.io");

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const value = (name, dflt) => {
  const i = argv.indexOf(name);
  return i === -1 ? dflt : argv[i + 1];
};
const host = value("--host", "127.0.0.1");
const port = Number(value("--port", "3000"));

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("Not Found");
});
const io = new Server(httpServer);

io.on("connection", (socket) => {
  socket.on("message", (text, ack) => {
    if (typeof text !== "string") {
      if (typeof ack === "function") ack({ error: "message must be a string" });
      return;
    }
    console.log(`Socket ID: ${socket.id}`);
    console.log(text);
    io.emit("message", [...text].reverse().join(""));
    if (typeof ack === "function") ack({ ok: true });
  });
});

if (flag("--admin-ui")) {
  const adminUi = path.join(__dirname, "..", "..", "admin-ui", "node_modules", "@socket.io", "admin-ui");
  const { instrument } = require(adminUi);
  const user = process.env.SOCKEYE_ADMIN_USER;
  const hash = process.env.SOCKEYE_ADMIN_PASSWORD_HASH;
  let auth;
  if (flag("--admin-ui-no-auth")) {
    auth = false;
  } else if (user && hash) {
    auth = { type: "basic", username: user, password: hash };
  } else {
    console.error("--admin-ui needs SOCKEYE_ADMIN_USER and SOCKEYE_ADMIN_PASSWORD_HASH, or --admin-ui-no-auth");
    process.exit(2);
  }
  instrument(io, { auth, readonly: flag("--admin-ui-readonly") });
}

httpServer.listen(port, host, () => {
  const addr = httpServer.address();
  console.log(`Node reference listening on http://${addr.address}:${addr.port}`);
});

const stop = () => {
  io.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
