#!/usr/bin/env node
// The emitter CLI of e2e/cluster/CONTRACT.md on @socket.io/redis-emitter 5.1 (the reference).
//
//   node e2e/cluster/emitter.js --redis URL [--key K]
//
// Prints "ready" once connected, then reads one JSON command a line on stdin and answers each
// with one JSON line on stdout, {"id":…,"ok":true} once the message is in Redis, or
// {"id":…,"ok":false,"error":"…"}. Exits at the end of stdin.
"use strict";

const readline = require("node:readline");
const { createClient } = require("redis");
const { Emitter } = require("@socket.io/redis-emitter");

function parseArgs(argv) {
  const opts = { redis: null, key: null };
  for (let i = 0; i < argv.length; i++) {
    const need = () => {
      if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`);
      return argv[++i];
    };
    if (argv[i] === "--redis") opts.redis = need();
    else if (argv[i] === "--key") opts.key = need();
    else fail(`unknown argument ${argv[i]}`);
  }
  if (!opts.redis) fail("--redis URL is required");
  return opts;
}

function fail(msg) {
  console.error(`emitter.js: ${msg}`);
  process.exit(2);
}

/** {"$binary": base64} anywhere in a JSON value becomes a Buffer. */
function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$binary" && typeof value.$binary === "string") {
      return Buffer.from(value.$binary, "base64");
    }
    const out = {};
    for (const k of keys) out[k] = revive(value[k]);
    return out;
  }
  return value;
}

const list = (x) => (x === undefined || x === null ? [] : Array.isArray(x) ? x : [x]);

function run(emitter, cmd) {
  let op = cmd.nsp && cmd.nsp !== "/" ? emitter.of(cmd.nsp) : emitter;
  const rooms = list(cmd.rooms);
  const except = list(cmd.except);
  if (rooms.length > 0) op = op.to(rooms);
  if (except.length > 0) op = op.except(except);
  switch (cmd.op) {
    case "emit":
      if (cmd.volatile) op = op.volatile;
      if (cmd.compress !== undefined) op = op.compress(cmd.compress);
      op.emit(cmd.event, ...revive(list(cmd.args)));
      return;
    case "sockets-join":
      op.socketsJoin(list(cmd.targets));
      return;
    case "sockets-leave":
      op.socketsLeave(list(cmd.targets));
      return;
    case "disconnect-sockets":
      op.disconnectSockets(!!cmd.close);
      return;
    case "server-side-emit":
      // serverSideEmit exists on the emitter only (not after to()/except())
      (cmd.nsp && cmd.nsp !== "/" ? emitter.of(cmd.nsp) : emitter).serverSideEmit(cmd.event, ...revive(list(cmd.args)));
      return;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const client = createClient({ url: opts.redis });
  client.on("error", (err) => console.error(`redis error: ${err.message}`));
  await client.connect();
  const emitter = new Emitter(client, opts.key !== null ? { key: opts.key } : {});
  console.log("ready");

  const reply = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
  const rl = readline.createInterface({ input: process.stdin });
  let chain = Promise.resolve();
  rl.on("line", (line) => {
    if (!line.trim()) return;
    chain = chain.then(async () => {
      let cmd;
      try {
        cmd = JSON.parse(line);
      } catch (err) {
        reply({ id: null, ok: false, error: `bad JSON: ${err.message}` });
        return;
      }
      try {
        run(emitter, cmd);
        // The emitter publishes without returning the command's promise; a PING on the same
        // connection answers after every command sent before it, so the publish is in Redis.
        await client.ping();
        reply({ id: cmd.id, ok: true });
      } catch (err) {
        reply({ id: cmd.id, ok: false, error: err.message });
      }
    });
  });
  rl.on("close", () => {
    chain.then(() => client.quit()).finally(() => process.exit(0));
  });
}

main().catch((err) => {
  console.error(`emitter.js: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
