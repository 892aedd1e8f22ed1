// Checks that the load generator's default-path connect (`--transport upgrade`) sends what
// socket.io-client sends: both connect once through a recording TCP proxy to Node's socket.io
// server, and the requests, bodies and WebSocket frames of each are printed and compared.
//
//   NODE_PATH=e2e/node_modules node bench/peers/client-sequence.js target/release/sockeye-loadgen
//
// (socket.io and socket.io-client from e2e/'s lock file: `cd e2e && npm ci`.) Exits 0 when
// the two sequences are the same, 1 when they differ. 127.0.0.1 only; about 2 s.
"use strict";
const net = require("net");
const http = require("http");
const { execFile } = require("child_process");
const { Server } = require("socket.io");
const { io } = require("socket.io-client");

const loadgen = process.argv[2];
if (!loadgen) {
  console.error("usage: node client-sequence.js <path to sockeye-loadgen>");
  process.exit(2);
}

// One connection through the proxy: HTTP requests and responses until a 101, then frames.
function recorder(steps) {
  return (client) => {
    const upstream = net.connect(target, "127.0.0.1");
    let up = Buffer.alloc(0);
    let down = Buffer.alloc(0);
    let upWs = false;
    let downWs = false;
    const frames = (buf, dir) => {
      for (;;) {
        if (buf.length < 2) return buf;
        let len = buf[1] & 127;
        let h = 2;
        if (len === 126) {
          if (buf.length < 4) return buf;
          len = buf.readUInt16BE(2);
          h = 4;
        } else if (len === 127) {
          return Buffer.alloc(0); // no large frames in a handshake
        }
        const masked = (buf[1] & 128) !== 0;
        if (buf.length < h + (masked ? 4 : 0) + len) return buf;
        const mask = masked ? buf.subarray(h, h + 4) : null;
        h += masked ? 4 : 0;
        const p = Buffer.from(buf.subarray(h, h + len));
        if (mask) for (let k = 0; k < p.length; k++) p[k] ^= mask[k & 3];
        if ((buf[0] & 15) === 1) steps.push(`${dir} ws ${p.toString()}`);
        buf = buf.subarray(h + len);
      }
    };
    const messages = (buf, dir) => {
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return buf;
        const head = buf.subarray(0, end).toString();
        const m = /content-length:\s*(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return buf;
        const body = buf.subarray(end + 4, end + 4 + len).toString();
        const first = head.split("\r\n")[0];
        if (dir === ">") {
          const u = new URL(first.split(" ")[1], "http://x");
          const q = u.searchParams;
          const what = q.get("transport") === "websocket" ? "websocket upgrade" : "polling";
          steps.push(`> ${first.split(" ")[0]} ${what}${q.has("sid") ? " (sid)" : ""}${body ? ` ${body}` : ""}`);
          if (/^upgrade: websocket/im.test(head)) upWs = true;
        } else {
          const status = first.split(" ")[1];
          // The open packet's and the CONNECT reply's ids change from run to run.
          const shown = body.replace(/"sid":"[^"]*"/, '"sid":…').replace(/^0\{.*/, "0{open…}");
          steps.push(`< ${status}${shown ? ` ${shown}` : ""}`);
          if (status === "101") downWs = true;
        }
        buf = buf.subarray(end + 4 + len);
        if ((dir === ">" && upWs) || (dir === "<" && downWs)) return frames(buf, dir);
      }
    };
    client.on("data", (d) => {
      up = Buffer.concat([up, d]);
      up = upWs ? frames(up, ">") : messages(up, ">");
      upstream.write(d);
    });
    upstream.on("data", (d) => {
      down = Buffer.concat([down, d]);
      down = downWs ? frames(down, "<") : messages(down, "<");
      client.write(d);
    });
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  };
}

let target;
const server = http.createServer();
const sio = new Server(server);
let upgraded = 0;
sio.on("connection", (s) => s.conn.on("upgrade", () => upgraded++));

function proxy(steps) {
  return new Promise((resolve) => {
    const p = net.createServer(recorder(steps));
    p.listen(0, "127.0.0.1", () => resolve(p));
  });
}

// What matters of a sequence: the requests of each kind and the packets each carried, in the
// order of their kind (a POST and a GET race each other, and so may their order on the wire).
// Up to the upgrade's `5`: what follows is the test's own disconnect.
function summary(all) {
  const done = all.indexOf("> ws 5");
  const steps = done < 0 ? all : all.slice(0, done + 1);
  const of = (re) => steps.filter((s) => re.test(s));
  return {
    handshake: steps[0],
    posts: of(/^> POST/),
    polls: of(/^> GET polling \(sid\)/).length > 0,
    pollingAnswers: of(/^< 200/).filter((s) => s !== "< 200 ok"),
    upgrade: of(/^> GET websocket/),
    clientFrames: of(/^> ws/),
    serverFrames: of(/^< ws/),
  };
}

async function main() {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  target = server.address().port;
  const deadline = setTimeout(() => {
    console.error("client-sequence: no upgrade within 10 s");
    process.exit(1);
  }, 10000);

  const real = [];
  const p1 = await proxy(real);
  await new Promise((resolve) => {
    const socket = io(`http://127.0.0.1:${p1.address().port}`, { reconnection: false });
    socket.io.engine.on("upgrade", () => setTimeout(() => { socket.close(); resolve(); }, 200));
  });

  const ours = [];
  const p2 = await proxy(ours);
  await new Promise((resolve, reject) => {
    execFile(loadgen, ["connect", "--transport", "upgrade", "--clients", "1", "--duration", "0.3",
      "--port", String(p2.address().port)], (err, stdout) => {
      if (err) return reject(err);
      const out = JSON.parse(stdout.trim().split("\n").pop());
      if (!out.ok) return reject(new Error(`the load generator failed: ${stdout}`));
      resolve();
    });
  });
  clearTimeout(deadline);

  console.log("socket.io-client 4.8:\n  " + real.join("\n  "));
  console.log("sockeye-loadgen --transport upgrade:\n  " + ours.join("\n  "));
  const a = JSON.stringify(summary(real), null, 1);
  const b = JSON.stringify(summary(ours), null, 1);
  const same = a === b && upgraded === 2;
  console.log(same ? `same sequence:\n${a}` : `DIFFERENT:\nsocket.io-client ${a}\nloadgen ${b}\nupgrades seen by the server: ${upgraded} of 2`);
  process.exit(same ? 0 : 1);
}

main().catch((e) => {
  console.error(`client-sequence: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
