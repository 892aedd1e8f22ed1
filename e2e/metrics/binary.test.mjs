// The `sockeye` binary's `--metrics ADDR` and `--log-format json`, end to end: the binary joined
// to a real redis-server, scraped while real clients (socket.io-client 4.8, and raw polling
// peers where a client must misbehave) connect, upgrade, send, get broadcasts, overflow and
// time out, and while Redis gets a malformed message, goes away and comes back. Every scrape
// passes Debian's `promtool check metrics`, and each figure moves when it should. The JSON log
// lines of a client's event carry its socket id, namespace and transport.
//
// Sockeye-only (Node's server has no metrics endpoint): scripts/test.sh runs it on its own,
// not in the Node-checked suite of e2e/run.sh. Needs target/debug/sockeye, redis-server and
// promtool (Debian's `prometheus` package; PROMTOOL overrides the path).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  ROOT,
  collect,
  connect,
  eventually,
  freePort,
  once,
  sleep,
  startProcess,
  startRedis,
  stopAll,
} from "../cluster/lib/harness.mjs";

const BIN = process.env.E2E_SOCKEYE_BIN || path.join(ROOT, "target/debug/sockeye");
const PROMTOOL = process.env.PROMTOOL || "promtool";

/** One scrape: the text, and every sample by `name{labels}` as rendered. */
async function scrape(metricsUrl) {
  const res = await fetch(metricsUrl);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const samples = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return {
    text,
    get(series) {
      assert.ok(samples.has(series), `no series ${series} in the scrape`);
      return samples.get(series);
    },
  };
}

/** promtool check metrics on `text`: throws with its complaints. */
function promtoolCheck(text) {
  const r = spawnSync(PROMTOOL, ["check", "metrics"], { input: text, encoding: "utf8" });
  if (r.error) {
    throw new Error(`${PROMTOOL}: ${r.error.message} (install Debian's prometheus package; scripts/test.sh does)`);
  }
  assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
}

/** Raw Engine.IO v4 long-polling: a handshake, then only what the test asks for. */
async function rawPolling(url) {
  const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
  const body = await res.text();
  const { sid } = JSON.parse(body.slice(1));
  return {
    sid,
    post: (data) =>
      fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body: data }),
    get: () => fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`),
  };
}

// Pings every 2.5 s, and as long to answer: the slow client of the overflow test has 5 s to
// fill its queue before its heartbeat would end it first; the heartbeat test waits about 5 s.
const PING_MS = 2500;

describe("sockeye --metrics, scraped while clients come and go", () => {
  let redis;
  let bin;
  let url;
  let metricsUrl;
  const at = (series) => scrape(metricsUrl).then((s) => s.get(series));
  /** Waits until `series` has moved by at least `delta` from `from`. */
  const moved = (series, from, delta, ms) =>
    eventually(async () => (await at(series)) - from >= delta, `${series} +${delta} (from ${from})`, { ms });

  before(async () => {
    redis = await startRedis();
    const port = await freePort();
    const mport = await freePort();
    url = `http://127.0.0.1:${port}`;
    metricsUrl = `http://127.0.0.1:${mport}/metrics`;
    const argv = [
      BIN,
      "--host", "127.0.0.1",
      "--port", String(port),
      "--metrics", `127.0.0.1:${mport}`,
      "--redis", redis.url,
      "--ping-interval", String(PING_MS),
      "--ping-timeout", String(PING_MS),
      "--log-format", "json",
      "--log-level", "debug",
      "--no-client",
    ];
    bin = await startProcess("metrics-bin", argv, { ready: "Sockeye listening on" });
  });
  after(async () => {
    await bin?.stop();
    await stopAll();
  });

  it("serves /metrics on its own listener, and only there", async () => {
    const s = await scrape(metricsUrl);
    promtoolCheck(s.text);
    assert.equal((await fetch(metricsUrl.replace("/metrics", "/other"))).status, 404);
    assert.equal((await fetch(`${url}/metrics`)).status, 404, "not on the app's port");
    assert.equal(s.get('sockeye_sockets{namespace="/"}'), 0);
  });

  it("a client connects over polling, upgrades, sends, and gets the broadcast", async () => {
    const s0 = await scrape(metricsUrl);
    const socket = await connect(url, { transports: ["polling", "websocket"] });
    if (socket.io.engine.transport.name !== "websocket") await once(socket.io.engine, "upgrade");
    // The client's `upgrade` comes as it sends `5`: the server counts it when that arrives.
    await moved("sockeye_engineio_upgrades_total", s0.get("sockeye_engineio_upgrades_total"), 1);
    const s1 = await scrape(metricsUrl);
    const d = (series) => s1.get(series) - s0.get(series);
    assert.equal(d('sockeye_engineio_handshakes_total{transport="polling",protocol="4"}'), 1);
    assert.equal(d("sockeye_engineio_upgrades_total"), 1);
    assert.equal(d('sockeye_engineio_open_connections{transport="websocket",protocol="4"}'), 1);
    assert.equal(d('sockeye_engineio_open_connections{transport="polling",protocol="4"}'), 0);
    assert.equal(s1.get('sockeye_sockets{namespace="/"}'), 1);
    assert.ok(d('sockeye_engineio_received_packets_total{transport="polling"}') >= 1, "CONNECT over polling");

    const replies = collect(socket, "message");
    socket.emit("message", "metrics");
    await replies.seen((m) => m === "scirtem");
    const s2 = await scrape(metricsUrl);
    const e = (series) => s2.get(series) - s1.get(series);
    assert.equal(e("sockeye_broadcasts_total"), 1);
    assert.equal(e("sockeye_broadcast_deliveries_total"), 1);
    assert.ok(e('sockeye_engineio_received_packets_total{transport="websocket"}') >= 1);
    assert.ok(e('sockeye_engineio_sent_packets_total{transport="websocket"}') >= 1);
    assert.ok(e('sockeye_engineio_received_bytes_total{transport="websocket"}') >= 20);
    assert.ok(e('sockeye_engineio_sent_bytes_total{transport="websocket"}') >= 20);
    promtoolCheck(s2.text);

    socket.disconnect();
    await moved('sockeye_engineio_disconnects_total{reason="transport_close"}', s2.get('sockeye_engineio_disconnects_total{reason="transport_close"}'), 1);
    assert.equal(await at('sockeye_engineio_open_connections{transport="websocket",protocol="4"}'), s0.get('sockeye_engineio_open_connections{transport="websocket",protocol="4"}'));
  });

  it("a client that does not read overflows its queue and is disconnected", async () => {
    const overflow = 'sockeye_engineio_queue_overflows_total{policy="disconnect"}';
    const errors = 'sockeye_engineio_disconnects_total{reason="transport_error"}';
    const s0 = await scrape(metricsUrl);
    // Joins `/`, then never polls: every broadcast waits in its queue (8 MiB at most).
    const slow = await rawPolling(url);
    assert.equal(await (await slow.post("40")).text(), "ok");
    await eventually(async () => (await at('sockeye_sockets{namespace="/"}')) === 1, "the slow client joined");
    const sender = await connect(url);
    const replies = collect(sender, "message");
    // Nine replies of 990 kB pass the slow client's 8 MiB; one at a time, so that the sender
    // (which gets them too) reads each before the next.
    const big = "x".repeat(990_000) + "y";
    let sent = 0;
    while (sent < 12 && (await at(overflow)) === s0.get(overflow)) {
      sender.emit("message", big);
      sent += 1;
      await replies.seen(() => replies.got.length === sent, 15000);
    }
    const s1 = await scrape(metricsUrl);
    assert.ok(sent >= 9, `the queue overflowed after ${sent} replies, not before 8 MiB`);
    assert.equal(s1.get(overflow) - s0.get(overflow), 1);
    assert.equal(s1.get(errors) - s0.get(errors), 1);
    assert.equal(s1.get('sockeye_sockets{namespace="/"}'), 1, "only the sender is left");
    assert.equal(s1.get("sockeye_broadcasts_total") - s0.get("sockeye_broadcasts_total"), sent);
    sender.disconnect();
  });

  it("a client that stops answering pings is closed at the heartbeat timeout", async () => {
    const timeout = 'sockeye_engineio_disconnects_total{reason="ping_timeout"}';
    const before = await at(timeout);
    const silent = await rawPolling(url);
    assert.ok(silent.sid);
    await sleep(2 * PING_MS);
    await moved(timeout, before, 1, 2 * PING_MS);
  });

  it("refused requests are counted by reason", async () => {
    const s0 = await scrape(metricsUrl);
    assert.equal((await fetch(`${url}/socket.io/?EIO=4&transport=carrier-pigeon`)).status, 400);
    assert.equal((await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=nope`)).status, 400);
    assert.equal((await fetch(`${url}/socket.io/?EIO=4&transport=polling`, { method: "PUT" })).status, 400);
    const s1 = await scrape(metricsUrl);
    for (const reason of ["unknown_transport", "unknown_sid", "bad_handshake_method"]) {
      const series = `sockeye_engineio_refused_requests_total{reason="${reason}"}`;
      assert.equal(s1.get(series) - s0.get(series), 1, series);
    }
  });

  it("Redis: a malformed message, an outage (publish failures, adapter errors), a reconnection", async () => {
    const s0 = await scrape(metricsUrl);
    const publisher = await redis.client();
    await publisher.publish("socket.io#/#", Buffer.from([0xc1, 0xff, 0x00]));
    await moved("sockeye_redis_malformed_messages_total", s0.get("sockeye_redis_malformed_messages_total"), 1);

    const socket = await connect(url);
    await redis.kill();
    // The reply is an `io.emit` through the adapter: its publish fails while Redis is away.
    socket.emit("message", "outage");
    await moved("sockeye_adapter_errors_total", s0.get("sockeye_adapter_errors_total"), 1);
    await moved("sockeye_redis_publish_failures_total", s0.get("sockeye_redis_publish_failures_total"), 1);
    await redis.start();
    await moved("sockeye_redis_reconnects_total", s0.get("sockeye_redis_reconnects_total"), 1, 20000);
    promtoolCheck((await scrape(metricsUrl)).text);
    socket.disconnect();
  });

  it("the JSON log line of a client's event carries its socket id, namespace and transport", async () => {
    const socket = await connect(url);
    const sid = socket.id;
    const replies = collect(socket, "message");
    socket.emit("message", "logged");
    await replies.seen((m) => m === "deggol");
    const lines = () =>
      readFileSync(bin.logPath, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l));
    const event = await eventually(
      () =>
        lines().find(
          (l) => l.fields?.message === "event" && l.fields?.event === '"message"' && l.span?.sid === sid,
        ),
      `the event line of socket ${sid}`,
    );
    assert.equal(event.span.name, "socket");
    assert.equal(event.span.ns, "/");
    assert.equal(event.span.transport, "websocket");
    assert.equal(event.span.conn, socket.io.engine.id);
    assert.match(event.span.remote, /^127\.0\.0\.1:\d+$/);
    // The connection's own lines carry its engine id.
    const opened = lines().find(
      (l) => l.fields?.message === "session opened" && l.span?.sid === socket.io.engine.id,
    );
    assert.ok(opened, "the session's opening line");
    assert.equal(opened.span.name, "connection");
    assert.equal(opened.span.transport, "websocket");
    socket.disconnect();
    const closed = await eventually(
      () =>
        lines().find(
          (l) => l.fields?.message === "socket disconnected" && l.span?.sid === sid,
        ),
      "the socket's disconnect line",
    );
    assert.equal(closed.fields.reason, "client namespace disconnect");
  });
});
