// socket.io-client 2.2.0's browser bundle in a real headless Chromium, against the contract
// server: there XMLHttpRequest has binary support, so polling carries binary attachments in
// the Engine.IO v3 *binary* payload (application/octet-stream, both ways), which the Node 2.x
// client (base64 mode) never uses. Over polling only, WebSocket only and the default upgrade.
//
// The page and the bundle are fulfilled by Playwright at E2E_URL's own origin (under
// /__legacy__/, never reaching the server), so the Socket.IO requests are same-origin and go to
// the real server untouched.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import { launchChromium } from "../browser/chromium.mjs";
import { BASE } from "../node/helpers.mjs";

const require = createRequire(import.meta.url);
const BUNDLE = readFileSync(join(dirname(require.resolve("socket.io-client-v2/package.json")), "dist", "socket.io.js"));
const PAGE_URL = `${BASE}/__legacy__/page.html`;
const PAGE = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>legacy</title>
<script src="/__legacy__/socket.io.js"></script></head><body>legacy</body></html>`;

const SETUPS = [
  { name: "polling", transports: ["polling"], final: "polling" },
  { name: "websocket", transports: ["websocket"], final: "websocket" },
  { name: "upgrade", transports: null, final: "websocket" },
];

let browser;
before(async () => {
  browser = await launchChromium([
    // the page is fulfilled by Playwright, so Chromium does not know it came from loopback
    // and would block its WebSocket to 127.0.0.1 (ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS)
    "--disable-features=LocalNetworkAccessChecks",
  ]);
});
after(async () => {
  await browser?.close();
});

/** A page with the 2.2.0 bundle loaded; records the Socket.IO HTTP traffic. */
async function openPage() {
  const page = await browser.newPage();
  await page.route(`${BASE}/__legacy__/**`, (route) => {
    const url = route.request().url();
    if (url === PAGE_URL) return route.fulfill({ status: 200, contentType: "text/html", body: PAGE });
    if (url.endsWith("/__legacy__/socket.io.js")) {
      return route.fulfill({ status: 200, contentType: "application/javascript", body: BUNDLE });
    }
    return route.fulfill({ status: 404, body: "not found" });
  });
  const traffic = [];
  page.on("response", async (res) => {
    const req = res.request();
    if (!req.url().includes("/socket.io/")) return;
    traffic.push({
      method: req.method(),
      url: req.url(),
      requestType: (await req.headerValue("content-type").catch(() => null)) || null,
      status: res.status(),
      responseType: res.headers()["content-type"] || null,
    });
  });
  page.on("console", (m) => process.env.E2E_DEBUG && console.log("console", m.text()));
  page.on("requestfailed", (r) => process.env.E2E_DEBUG && console.log("FAILED", r.method(), r.url(), r.failure()?.errorText));
  await page.goto(PAGE_URL);
  return { page, traffic };
}

/** Connects in the page; resolves the welcome payload and the socket's id. */
function connectIn(page, setup) {
  return page.evaluate(
    ({ base, transports }) =>
      new Promise((resolve, reject) => {
        const opts = { forceNew: true, reconnection: false };
        if (transports) opts.transports = transports;
        const socket = io(base, opts);
        window.sock = socket;
        const t = setTimeout(() => reject(new Error("no welcome")), 5000);
        socket.on("error", (e) => reject(new Error(`error ${JSON.stringify(e)}`)));
        socket.once("welcome", (w) => {
          clearTimeout(t);
          resolve({ welcome: w, id: socket.id, engineId: socket.io.engine.id });
        });
      }),
    { base: BASE, transports: setup.transports },
  );
}

for (const setup of SETUPS) {
  describe(`legacy browser (2.2.0 bundle in Chromium) [${setup.name}]`, () => {
    it("connects, then binary attachments go both ways byte for byte, in events and acks", async () => {
      const { page, traffic } = await openPage();
      try {
        const { welcome, id, engineId } = await connectIn(page, setup);
        assert.equal(id, engineId);
        assert.deepEqual(welcome, { id, auth: {}, foo: null });
        if (setup.name === "upgrade") {
          await page.waitForFunction(() => window.sock.io.engine.transport.name === "websocket", null, {
            timeout: 5000,
          });
        }
        const result = await page.evaluate(
          () =>
            new Promise((resolve, reject) => {
              const s = window.sock;
              const t = setTimeout(() => reject(new Error("no answer")), 5000);
              const big = new Uint8Array(3000).map((_, i) => (i * 13) & 0xff);
              const bytes = (x) => Array.from(new Uint8Array(x));
              s.emit("echo-ack", new Uint8Array([0, 1, 2, 255]).buffer, { nested: big.buffer }, "𝕊 text", (a, b, c) => {
                s.once("echo", (x, y) => {
                  clearTimeout(t);
                  resolve({
                    ackA: bytes(a),
                    ackBigOk: bytes(b.nested).every((v, i) => v === ((i * 13) & 0xff)) && b.nested.byteLength === 3000,
                    ackC: c,
                    echoX: bytes(x),
                    echoY: y,
                    isAB: a instanceof ArrayBuffer,
                    transport: s.io.engine.transport.name,
                    supportsBinary: s.io.engine.transport.supportsBinary,
                  });
                });
                s.emit("echo", new Uint8Array([9, 8, 7]).buffer, "é");
              });
            }),
        );
        assert.deepEqual(result, {
          ackA: [0, 1, 2, 255],
          ackBigOk: true,
          ackC: "𝕊 text",
          echoX: [9, 8, 7],
          echoY: "é",
          isAB: true,
          transport: setup.final,
          supportsBinary: true,
        });
        if (setup.name === "polling") {
          // the binary payload format, both ways; no b64=1 in the handshake
          const first = traffic.find((x) => x.method === "GET");
          assert.ok(first && /[?&]EIO=3(&|$)/.test(first.url) && !/[?&]b64=/.test(first.url), JSON.stringify(first));
          assert.ok(
            traffic.some((x) => x.method === "POST" && x.requestType === "application/octet-stream" && x.status === 200),
            `no binary POST: ${JSON.stringify(traffic)}`,
          );
          assert.ok(
            traffic.some((x) => x.method === "GET" && x.responseType === "application/octet-stream" && x.status === 200),
            `no binary GET answer: ${JSON.stringify(traffic)}`,
          );
        }
      } finally {
        await page.close();
      }
    });
  });
}
