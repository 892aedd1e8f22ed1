// Compression against the contract's compression servers (CONTRACT.md, "Compression servers"):
// WebSocket permessage-deflate (RFC 7692) with raw peers that compress and inflate themselves
// and read the RSV bits, with socket.io-client 4.8 in Node (perMessageDeflate) and with the
// socket.io-client 4.8 bundle in headless Chromium (which always offers it), both through a
// TCP proxy that reads the frames; hostile compressed input; and HTTP compression of polling
// responses (Node's httpCompression, on by default) and of POST bodies.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import zlib from "node:zlib";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import { io } from "socket.io-client";
import { BASE, STEP_MS, once, track, closeAll, withTimeout, sleep } from "./helpers.mjs";
import {
  BROWSER_OFFER,
  DeflateWs,
  blob,
  deflateMessage,
  startFrameProxy,
} from "./deflate.mjs";
import { launchChromium, pageWithBundle } from "../browser/chromium.mjs";

const SERVERS = [
  {
    path: "/deflate/",
    answer: "permessage-deflate",
    windowBits: 15,
    contextTakeover: true,
  },
  {
    path: "/deflate-nct/",
    answer:
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10",
    windowBits: 10,
    contextTakeover: false,
  },
];

const blobPacket = (n) => `42${JSON.stringify(["blob", blob(n)])}`;

after(() => closeAll());

describe("permessage-deflate negotiation", () => {
  it("answers as ws does, and ignores the offer when the server has no perMessageDeflate", async () => {
    for (const s of SERVERS) {
      const ws = await DeflateWs.open(s.path, "EIO=4&transport=websocket", BROWSER_OFFER);
      assert.equal(ws.status, 101);
      assert.equal(ws.extensions, s.answer, s.path);
      ws.destroy();
    }
    // What the client asks for is answered in its order (context takeover server).
    const asked = await DeflateWs.open(
      "/deflate/",
      "EIO=4&transport=websocket",
      "permessage-deflate; server_no_context_takeover; client_max_window_bits=12",
    );
    assert.equal(asked.extensions, "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
    asked.destroy();
    // No offer, another extension, or a server without the option: no answer.
    for (const [path, offer] of [
      ["/deflate/", null],
      ["/deflate/", "x-webkit-deflate-frame"],
      ["/socket.io/", BROWSER_OFFER],
      ["/socket.io/", "permessage-deflate; nonsense=1"],
    ]) {
      const ws = await DeflateWs.open(path, "EIO=4&transport=websocket", offer);
      assert.equal(ws.status, 101, `${path} ${offer}`);
      assert.equal(ws.extensions, null, `${path} ${offer}`);
      ws.destroy();
    }
  });

  it("refuses a header ws refuses with 400 and its message", async () => {
    for (const offer of [
      "permessage-deflate; nonsense",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; client_no_context_takeover=yes",
      "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
      "permessage-deflate;;",
    ]) {
      const ws = await DeflateWs.open("/deflate/", "EIO=4&transport=websocket", offer);
      assert.equal(ws.status, 400, offer);
      assert.equal(ws.body.toString(), "Invalid or unacceptable Sec-WebSocket-Extensions header", offer);
      ws.destroy();
    }
    // Not acceptable: a window smaller than the server's 10 bits.
    const small = await DeflateWs.open("/deflate-nct/", "EIO=4&transport=websocket", "permessage-deflate; server_max_window_bits=9");
    assert.equal(small.status, 400);
    small.destroy();
  });
});

for (const s of SERVERS) {
  describe(`permessage-deflate messages [${s.path}]`, () => {
    it("compresses messages from 1024 bytes, within the agreed window, and they arrive intact", async () => {
      const ws = await DeflateWs.join(s.path, BROWSER_OFFER, { windowBits: s.windowBits });
      try {
        for (const n of [5000, 60000, 2000]) {
          ws.send(0x81, `42["blob",${n}]`);
          const m = await ws.next();
          assert.equal(m.rsv, 4, `RSV1 for ${n}`);
          assert.equal(m.text, blobPacket(n));
          assert.ok(m.wire.length < m.data.length / 2, `${m.wire.length} of ${m.data.length}`);
        }
        if (!s.contextTakeover) {
          // Without context takeover the threshold applies: small messages and the
          // heartbeat go as they are (Node compresses everything with context takeover).
          ws.send(0x81, '42["blob",500]');
          const m = await ws.next();
          assert.equal(m.rsv, 0);
          assert.equal(m.text, blobPacket(500));
          const t0 = Date.now();
          while (ws.pingFrames.length < 2 && Date.now() - t0 < 3000) {
            await ws.next(500).catch(() => {});
          }
          assert.ok(ws.pingFrames.length >= 2, "pings seen");
          assert.deepEqual([...new Set(ws.pingFrames)], [0], "pings are never compressed");
        }
      } finally {
        ws.destroy();
      }
    });

    it("inflates the client's compressed messages: alone, with context, in fragments", async () => {
      const ws = await DeflateWs.join(s.path, BROWSER_OFFER);
      try {
        const msg = `42${JSON.stringify(["echo", blob(3000)])}`;
        ws.sendDeflated(msg);
        assert.equal((await ws.next()).text, msg);
        if (s.contextTakeover) {
          // The second message refers to the first one's bytes (the client kept its window).
          const a = '42["echo","the quick brown fox jumps over the lazy dog"]';
          const b = '42["echo","the quick brown fox jumps over the lazy dog, twice"]';
          ws.sendDeflated(a);
          assert.equal((await ws.next()).text, a);
          ws.send(0xc1, deflateMessage(b, { dictionary: Buffer.from(a) }));
          assert.equal((await ws.next()).text, b);
        }
        // Three fragments, RSV1 on the first only, a ping between two of them.
        const z = deflateMessage(msg);
        const third = Math.floor(z.length / 3);
        ws.send(0x41, z.subarray(0, third));
        ws.send(0x00, z.subarray(third, 2 * third));
        ws.send(0x89, "ping");
        ws.send(0x80, z.subarray(2 * third));
        const pong = await ws.next();
        assert.equal(pong.op, 0xa);
        assert.equal(pong.text, "ping");
        assert.equal((await ws.next()).text, msg);
        // And an uncompressed message on the same connection.
        ws.send(0x81, '42["echo","plain"]');
        assert.equal((await ws.next()).text, '42["echo","plain"]');
      } finally {
        ws.destroy();
      }
    });
  });
}

describe("permessage-deflate: hostile input closes that client only", () => {
  it("a bomb with 1009, bad data with 1007, RSV bits with 1002", async () => {
    // 20 MB of zeros compress to about 20 KB, under maxHttpBufferSize (100 KB). Made before
    // the bystander connects: compressing blocks this process, which answers its pings.
    const bomb = deflateMessage(Buffer.alloc(20_000_000));
    assert.ok(bomb.length < 100000, `${bomb.length}`);
    const bystander = await DeflateWs.join("/deflate/", BROWSER_OFFER);
    const cases = [
      ["a decompression bomb", "/deflate/", BROWSER_OFFER, [[0xc2, bomb]], 1009],
      [
        "a decompression bomb in fragments",
        "/deflate/",
        BROWSER_OFFER,
        [
          [0x42, bomb.subarray(0, 1000)],
          [0x80, bomb.subarray(1000)],
        ],
        1009,
      ],
      ["invalid deflate data", "/deflate/", BROWSER_OFFER, [[0xc1, Buffer.from([0xff, 0xff, 0xff, 0x00])]], 1007],
      ["invalid UTF-8 inflated", "/deflate/", BROWSER_OFFER, [[0xc1, deflateMessage(Buffer.from([0x34, 0x32, 0xff]))]], 1007],
      ["a compressed frame without agreement", "/socket.io/", BROWSER_OFFER, [[0xc1, deflateMessage('42["echo",1]')]], 1002],
      ["a compressed frame without an offer", "/deflate/", null, [[0xc1, deflateMessage('42["echo",1]')]], 1002],
      ["RSV1 on a control frame", "/deflate/", BROWSER_OFFER, [[0xc9, Buffer.alloc(0)]], 1002],
      [
        "RSV1 on a continuation",
        "/deflate/",
        BROWSER_OFFER,
        [
          [0x41, deflateMessage('42["echo","x"]').subarray(0, 2)],
          [0xc0, deflateMessage('42["echo","x"]').subarray(2)],
        ],
        1002,
      ],
      ["RSV2", "/deflate/", BROWSER_OFFER, [[0xa1, Buffer.from('42["echo",1]')]], 1002],
      ["RSV3", "/deflate/", BROWSER_OFFER, [[0x91, Buffer.from('42["echo",1]')]], 1002],
    ];
    for (const [what, path, offer, frames, code] of cases) {
      const ws = await DeflateWs.join(path, offer);
      try {
        for (const [b0, payload] of frames) ws.send(b0, payload);
        assert.equal(await ws.closeCode(), code, what);
      } finally {
        ws.destroy();
      }
    }
    const msg = `42${JSON.stringify(["echo", blob(2000)])}`;
    bystander.sendDeflated(msg);
    const m = await bystander.next();
    assert.equal(m.text, msg);
    assert.equal(m.rsv, 4);
    bystander.destroy();
  });
});

/** A raw HTTP request; resolves { status, headers, body (Buffer, as sent) }. */
function request(method, path, { headers = {}, body } = {}) {
  const url = new URL(BASE);
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on("error", reject);
      req.end(body);
    }),
    STEP_MS,
    `${method} ${path}`,
  );
}

function decoded(res) {
  switch (res.headers["content-encoding"]) {
    case "gzip":
      return zlib.gunzipSync(res.body).toString();
    case "deflate":
      return zlib.inflateSync(res.body).toString();
    default:
      return res.body.toString();
  }
}

/** A polling session on `path` joined to `/`; resolves its sid. */
async function pollJoin(path) {
  const open = await request("GET", `${path}?EIO=4&transport=polling`);
  const sid = JSON.parse(open.body.toString().slice(1)).sid;
  const post = await request("POST", `${path}?EIO=4&transport=polling&sid=${sid}`, {
    headers: { "content-type": "text/plain;charset=UTF-8" },
    body: "40",
  });
  assert.equal(post.status, 200);
  const ok = await request("GET", `${path}?EIO=4&transport=polling&sid=${sid}`);
  assert.match(decoded(ok), /^40\{"sid"/);
  return sid;
}

describe("HTTP compression of polling (httpCompression, on by default)", () => {
  const path = "/deflate/";
  const url = (sid) => `${path}?EIO=4&transport=polling&sid=${sid}`;
  const post = (sid, body, headers = {}) =>
    request("POST", url(sid), { headers: { "content-type": "text/plain;charset=UTF-8", ...headers }, body });

  it("compresses responses from 1024 bytes by Accept-Encoding, not those of compress(false) packets only", async () => {
    const sid = await pollJoin(path);
    const cases = [
      ["gzip, deflate, br", "gzip"],
      ["deflate, gzip", "deflate"],
      ["deflate", "deflate"],
      ["br", undefined],
      ["gzip;q=0", undefined],
      [undefined, undefined],
    ];
    for (const [accept, coding] of cases) {
      assert.equal((await post(sid, '42["blob",5000]')).status, 200);
      const res = await request("GET", url(sid), { headers: accept ? { "accept-encoding": accept } : {} });
      assert.equal(res.status, 200);
      assert.equal(res.headers["content-encoding"], coding, `Accept-Encoding ${accept}`);
      assert.equal(decoded(res), blobPacket(5000));
      if (coding) assert.ok(res.body.length < 2500, `${res.body.length} bytes`);
    }
    // Under the threshold: as it is.
    assert.equal((await post(sid, '42["blob",900]')).status, 200);
    let res = await request("GET", url(sid), { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.headers["content-encoding"], undefined);
    assert.equal(decoded(res), blobPacket(900));
    // compress(false): not compressed...
    assert.equal((await post(sid, '42["blob",5000,false]')).status, 200);
    res = await request("GET", url(sid), { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.headers["content-encoding"], undefined);
    assert.equal(decoded(res), blobPacket(5000));
    // ...unless another packet of the same response may be (both are queued before the
    // POST is answered, so one GET takes both).
    assert.equal((await post(sid, '42["blob",5000,false]\x1e42["echo","x"]')).status, 200);
    res = await request("GET", url(sid), { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.headers["content-encoding"], "gzip");
    assert.equal(decoded(res), `${blobPacket(5000)}\x1e42["echo","x"]`);
  });

  it("does not inflate a compressed POST body: the session closes (parse error), the POST is ok", async () => {
    for (const [coding, z] of [
      ["gzip", zlib.gzipSync('42["echo","hi"]')],
      ["deflate", zlib.deflateSync('42["echo","hi"]')],
      // A bomb: 10 MB of zeros in about 10 KB, read as the 10 KB it is.
      ["gzip", zlib.gzipSync(Buffer.alloc(10_000_000), { level: 9 })],
    ]) {
      const sid = await pollJoin(path);
      const res = await post(sid, z, { "content-encoding": coding });
      assert.equal(res.status, 200, coding);
      assert.equal(res.body.toString(), "ok");
      // The session is gone: at most a close packet, then "Session ID unknown".
      let closed = false;
      for (let i = 0; i < 4 && !closed; i++) {
        const get = await request("GET", url(sid));
        if (get.status === 400) {
          assert.equal(get.body.toString(), '{"code":1,"message":"Session ID unknown"}');
          closed = true;
        } else {
          assert.match(decoded(get), /^(1|2|6)?$/);
          await sleep(50);
        }
      }
      assert.ok(closed, "the session closed");
    }
  });
});

/** A socket.io-client 4.8 socket (Node, `ws` underneath) to `path` through `proxy`. */
async function nodeClient(proxy, path) {
  const socket = io(proxy.url, {
    path,
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    timeout: STEP_MS,
    perMessageDeflate: { threshold: 1024 },
  });
  track(socket);
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    STEP_MS,
    "connect",
  );
  return socket;
}

for (const s of SERVERS) {
  describe(`socket.io-client 4.8 in Node with perMessageDeflate [${s.path}]`, () => {
    it("compresses both ways through a proxy that reads the frames, and the data arrives intact", async () => {
      const proxy = await startFrameProxy();
      try {
        const a = await nodeClient(proxy, s.path);
        const b = await nodeClient(proxy, s.path);
        const big = blob(20000);
        a.emit("echo", big, { nested: blob(3000) });
        const [x, y] = await once(a, "echo");
        assert.equal(x, big);
        assert.deepEqual(y, { nested: blob(3000) });
        // A broadcast reaches both, compressed.
        const got = [once(a, "blob"), once(b, "blob")];
        a.emit("blob-all", 8000);
        for (const [text] of await Promise.all(got)) assert.equal(text, blob(8000));
        await sleep(50);
        const up = proxy.frames.filter((f) => f.dir === "up" && f.op === 1);
        const down = proxy.frames.filter((f) => f.dir === "down" && f.op === 1 && f.rsv === 4);
        assert.ok(up.some((f) => f.rsv === 4), "the client compressed its large message");
        assert.ok(!up.some((f) => f.rsv === 0 && f.length >= 1024), "no large message went up as it is");
        assert.ok(down.length >= 3, `compressed messages down: ${down.length}`);
        assert.ok(proxy.frames.every((f) => (f.rsv & 3) === 0), "RSV2 and RSV3 never set");
      } finally {
        proxy.close();
      }
    });
  });
}

describe("headless Chromium with the socket.io-client 4.8 bundle (it always offers permessage-deflate)", () => {
  const require = createRequire(import.meta.url);
  const BUNDLE = readFileSync(join(dirname(require.resolve("socket.io-client/package.json")), "dist", "socket.io.min.js"));
  let browser;
  before(async () => {
    browser = await launchChromium(["--disable-features=LocalNetworkAccessChecks"]);
  });
  after(async () => {
    await browser?.close();
  });

  for (const s of SERVERS) {
    it(`compresses both ways and the data arrives intact [${s.path}]`, async () => {
      const proxy = await startFrameProxy();
      let page;
      try {
        page = await pageWithBundle(browser, proxy.url, "deflate", "socket.io.min.js", BUNDLE);
        const result = await page.evaluate(
          ({ path, big, small }) =>
            new Promise((resolve, reject) => {
              const socket = io({ path, transports: ["websocket"], forceNew: true, reconnection: false });
              const t = setTimeout(() => reject(new Error("no answer")), 5000);
              socket.on("connect_error", (e) => reject(new Error(`connect_error ${e.message}`)));
              socket.on("connect", () => {
                socket.emit("echo", big, small);
                socket.once("echo", (x, y) => {
                  socket.emit("blob", 6000);
                  socket.once("blob", (z) => {
                    clearTimeout(t);
                    resolve({ echoOk: x === big && y === small, blob: z, transport: socket.io.engine.transport.name });
                    socket.close();
                  });
                });
              });
            }),
          { path: s.path, big: blob(30000), small: "hi" },
        );
        assert.equal(result.transport, "websocket");
        assert.ok(result.echoOk, "the echo came back intact");
        assert.equal(result.blob, blob(6000));
        await sleep(50);
        const up = proxy.frames.filter((f) => f.dir === "up" && f.op === 1);
        const downBig = proxy.frames.filter((f) => f.dir === "down" && f.op === 1 && f.rsv === 4);
        assert.ok(up.length >= 2, "Chromium sent messages");
        assert.ok(up.every((f) => f.rsv === 4), "Chromium compresses every message");
        assert.ok(downBig.length >= 2, `compressed messages down: ${downBig.length}`);
        assert.ok(proxy.frames.every((f) => (f.rsv & 3) === 0));
      } finally {
        await page?.close();
        proxy.close();
      }
    });
  }
});
