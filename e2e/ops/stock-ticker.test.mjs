// examples/stock-ticker end to end: its page in headless Chromium (prices move in the table
// and the chart once subscribed, and stop once unsubscribed), and its load test: thousands of
// socket.io-client subscribers while the feeder, a process of its own, pushes prices through
// the publish API; every subscriber must get every price of its symbols, and only those.
//
// Needs target/debug/stock-ticker (built from examples/ with CARGO_TARGET_DIR=target),
// Debian's chromium and e2e/node_modules. E2E_TICKER_CLIENTS sets the number of subscribers
// (default 2000), E2E_TICKER_SECONDS how long the feeder runs in the load test (default 4).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import path from "node:path";
import { io } from "socket.io-client";
import { launchChromium } from "../browser/chromium.mjs";
import { ART, E2E, ROOT, freePort, sleep, startProcess, waitFor } from "./lib.mjs";

const TICKER = process.env.STOCK_TICKER_BIN || path.join(ROOT, "target", "debug", "stock-ticker");
const CLIENT_DIR = path.join(E2E, "node_modules", "socket.io-client", "dist");
const CLIENTS = Number(process.env.E2E_TICKER_CLIENTS || 2000);
const SECONDS = Number(process.env.E2E_TICKER_SECONDS || 4);
const TOKEN = "ticker-token-0123456789abcdef";

async function startTicker(label, flags = []) {
  const port = await freePort();
  const proc = await startProcess(label, [TICKER, "--port", String(port), "--client-dir", CLIENT_DIR, ...flags], {
    ready: "stock ticker listening on",
    env: { PUBLISH_TOKEN: TOKEN },
  });
  return { url: `http://127.0.0.1:${port}`, port, proc };
}

describe("the stock ticker's page in Chromium", () => {
  let ticker;
  let browser;
  before(async () => {
    ticker = await startTicker("ticker-page", ["--rate", "20"]);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await ticker?.proc.stop();
  });

  it("prices move once subscribed, in the table and the chart, and stop once unsubscribed", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 560 } });
    const outside = [];
    await page.route("**/*", (route) => {
      const u = new URL(route.request().url());
      if (u.hostname === "127.0.0.1") return route.continue();
      outside.push(u.href);
      return route.abort();
    });
    await page.goto(ticker.url);
    await page.locator("#status.connected").waitFor();
    const row = (s) => page.locator(`tr[data-symbol="${s}"]`);
    await row("ACME").waitFor();
    await sleep(500);
    assert.equal(await row("ACME").getAttribute("data-updates"), "0", "nothing before subscribing");

    for (const s of ["ACME", "GLOBEX", "HOOLI"]) {
      await row(s).getByRole("button", { name: "Subscribe" }).click();
      await page.locator(`tr[data-symbol="${s}"][data-subscribed="true"]`).waitFor();
    }
    // 20 prices a second over 5 symbols: each subscribed one moves about 4 times a second.
    await waitFor(async () => Number(await row("ACME").getAttribute("data-updates")) >= 6, "ACME's prices", 8000);
    const prices = new Set();
    for (let i = 0; i < 12; i++) {
      prices.add(await row("ACME").locator("td.price").innerText());
      await sleep(150);
    }
    assert.ok(prices.size >= 3, `the price moves: ${[...prices]}`);
    assert.equal(await row("INITECH").getAttribute("data-updates"), "0", "not subscribed, nothing");
    const points = Number(await page.locator('polyline[data-symbol="ACME"]').getAttribute("data-points"));
    assert.ok(points >= 6, `the chart draws ACME (${points} points)`);
    await waitFor(async () => Number(await row("HOOLI").getAttribute("data-updates")) >= 6, "HOOLI's prices", 8000);
    await sleep(3000); // a fuller chart for the picture
    await page.screenshot({ path: path.join(ART, "stock-ticker.png"), clip: { x: 0, y: 0, width: 1280, height: 500 } });
    if (process.env.UPDATE_SCREENSHOTS === "1") {
      copyFileSync(path.join(ART, "stock-ticker.png"), path.join(ROOT, "docs", "stock-ticker.png"));
    }

    await row("ACME").getByRole("button", { name: "Unsubscribe" }).click();
    await page.locator('tr[data-symbol="ACME"][data-subscribed="false"]').waitFor();
    // A price already on its way may still land: count from a moment later.
    await sleep(300);
    const stopped = await row("ACME").getAttribute("data-updates");
    const globex = Number(await row("GLOBEX").getAttribute("data-updates"));
    await sleep(1500);
    assert.equal(await row("ACME").getAttribute("data-updates"), stopped, "ACME stopped");
    assert.ok(Number(await row("GLOBEX").getAttribute("data-updates")) > globex + 2, "GLOBEX goes on");
    assert.equal(await page.locator('polyline[data-symbol="ACME"]').count(), 0, "ACME left the chart");
    assert.deepEqual(outside, [], "nothing loaded from outside");
    await page.close();
  });
});

describe(`the stock ticker under load (${CLIENTS} subscribers)`, () => {
  let ticker;
  const clients = [];
  before(async () => {
    ticker = await startTicker("ticker-load", ["--no-feeder"]);
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await ticker?.proc.stop();
  });

  it("every subscriber gets every price of its symbols, and only those", async () => {
    const SYMBOLS = ["ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI"];
    const started = Date.now();
    // Each subscribes to one symbol, or two for every third: rooms of different sizes.
    const want = [];
    const got = [];
    const latencies = [];
    let i = 0;
    while (i < CLIENTS) {
      const batch = [];
      for (const end = Math.min(CLIENTS, i + 200); i < end; i++) {
        const mine = i % 3 === 0 ? [SYMBOLS[i % 5], SYMBOLS[(i + 1) % 5]] : [SYMBOLS[i % 5]];
        const counts = Object.fromEntries(SYMBOLS.map((s) => [s, 0]));
        const c = io(ticker.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
        c.on("price", ({ symbol, time }) => {
          counts[symbol] += 1;
          if (latencies.length < 200_000) latencies.push(Date.now() - time);
        });
        clients.push(c);
        want.push(mine);
        got.push(counts);
        batch.push(
          new Promise((resolve, reject) => {
            c.once("connect_error", reject);
            c.once("connect", async () => {
              try {
                for (const s of mine) await c.timeout(10_000).emitWithAck("subscribe", s);
                resolve();
              } catch (e) {
                reject(e);
              }
            });
          }),
        );
      }
      await Promise.all(batch);
      assert.ok(Date.now() - started < 120_000, "connecting took too long");
    }
    const connectMs = Date.now() - started;

    // The feeder, a process of its own, through the publish API.
    const feeder = await startProcess(
      "ticker-feeder",
      [TICKER, "feed", "--addr", `127.0.0.1:${ticker.port}`, "--rate", "25", "--for", String(SECONDS)],
      { ready: '"published"', env: { PUBLISH_TOKEN: TOKEN }, readyMs: (SECONDS + 30) * 1000 },
    );
    const summary = JSON.parse(feeder.out.stdout.trim().split("\n").pop());
    assert.equal(summary.errors, 0, JSON.stringify(summary));
    const published = Object.fromEntries(summary.published);
    assert.ok(
      SYMBOLS.every((s) => published[s] >= 2),
      `each symbol published a few times: ${JSON.stringify(published)}`,
    );
    // Every delivery the server counted must arrive: wait for the last ones.
    const expected = want.reduce((n, mine) => n + mine.reduce((m, s) => m + published[s], 0), 0);
    assert.equal(summary.deliveries, expected, "the publish answers counted every subscriber");
    const total = () => got.reduce((n, counts) => n + SYMBOLS.reduce((m, s) => m + counts[s], 0), 0);
    await waitFor(() => total() >= expected, `${expected} deliveries (have ${total()})`, 30_000);
    for (let k = 0; k < CLIENTS; k++) {
      for (const s of SYMBOLS) {
        const n = want[k].includes(s) ? published[s] : 0;
        if (got[k][s] !== n) assert.fail(`client ${k} got ${got[k][s]} ${s} prices, not ${n}`);
      }
    }
    latencies.sort((a, b) => a - b);
    const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
    console.log(
      `# load: ${CLIENTS} subscribers connected in ${connectMs} ms; ${expected} deliveries of ` +
        `${Object.values(published).reduce((a, b) => a + b, 0)} prices; latency p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`,
    );
  });
});
