// The admin UI's protocol (@socket.io/admin-ui 0.5's /admin namespace), driven by raw
// socket.io-client 4.8 clients as the UI drives it: login and refusals, the session id,
// `config`, `all_sockets`, `server_stats`, the socket and room events, events received and
// sent, the commands (emit, join, leave, _disconnect) and read-only mode.
//
// E2E_OPS_TARGET=sockeye (default) runs it against the `sockeye` binary with --admin-ui;
// E2E_OPS_TARGET=node against Node's socket.io 4.8 instrumented by Node's @socket.io/admin-ui
// 0.5.1 (admin-reference.js), which proves the test asserts Node's behaviour.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ADMIN_ENV,
  ADMIN_PASSWORD,
  ADMIN_USER,
  TARGET,
  client,
  connected,
  nextEvent,
  sleep,
  startAdminTarget,
  waitFor,
} from "./lib.mjs";

const ALL_FEATURES = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"];
const isDate = (s) => typeof s === "string" && new Date(s).toISOString() === s;
const open = [];
const track = (s) => (open.push(s), s);
const login = (url, auth = { username: ADMIN_USER, password: ADMIN_PASSWORD }, opts = {}) =>
  track(client(`${url}/admin`, { auth, ...opts }));

after(() => {
  for (const s of open) s.disconnect();
});

describe(`admin namespace (${TARGET})`, () => {
  it("is off unless asked for: /admin is an invalid namespace", async () => {
    const server = await startAdminTarget("admin-off");
    try {
      const s = login(server.url);
      await assert.rejects(connected(s), (err) => err.message === "Invalid namespace");
    } finally {
      await server.proc.stop();
    }
  });
});

describe(`admin UI protocol (${TARGET})`, () => {
  let server;
  before(async () => {
    server = await startAdminTarget("admin", ["--admin-ui"], ADMIN_ENV);
  });
  after(async () => {
    await server?.proc.stop();
  });

  it("refuses wrong credentials with connect_error 'invalid credentials'", async () => {
    for (const auth of [
      { username: ADMIN_USER, password: "wrong" },
      { username: "root", password: ADMIN_PASSWORD },
      { username: ADMIN_USER, password: "" },
      { sessionId: "0123456789abcdef" },
    ]) {
      const s = login(server.url, auth);
      await assert.rejects(connected(s), (err) => err.message === "invalid credentials", JSON.stringify(auth));
      assert.equal(s.of("config").length, 0, "nothing is sent to a refused client");
    }
  });

  it("logs in: session id, config, every socket with its rooms, then server stats", async () => {
    const user = track(client(server.url, { transports: ["websocket"] }));
    await connected(user);
    const admin = login(server.url);
    await connected(admin);
    const [sessionId] = await nextEvent(admin, "session");
    assert.match(sessionId, /^[0-9a-f]{16}$/);
    const [config] = await nextEvent(admin, "config");
    assert.deepEqual(config, { supportedFeatures: ALL_FEATURES });
    const [sockets] = await nextEvent(admin, "all_sockets");
    const mine = sockets.find((s) => s.id === user.id);
    assert.ok(mine, `the user's socket is listed: ${JSON.stringify(sockets.map((s) => s.id))}`);
    assert.equal(mine.nsp, "/");
    assert.deepEqual(mine.rooms, [user.id]);
    assert.equal(mine.transport, "websocket");
    assert.equal(mine.clientId, user.io.engine.id.slice(0, 12));
    assert.deepEqual(mine.data, {}, "the UI's own fields are left out");
    for (const k of ["address", "headers", "query", "issued", "secure", "time", "url", "xdomain"]) {
      assert.ok(k in mine.handshake, `handshake.${k}`);
    }
    assert.ok(!("auth" in mine.handshake), "the auth stays out");
    assert.equal(mine.handshake.query.EIO, "4");
    const me = sockets.find((s) => s.id === admin.id);
    assert.equal(me?.nsp, "/admin", "the admin socket itself is listed");

    const [stats] = await nextEvent(admin, "server_stats", () => true, 3000);
    assert.equal(typeof stats.serverId, "string");
    assert.equal(typeof stats.hostname, "string");
    assert.equal(typeof stats.pid, "number");
    assert.equal(typeof stats.uptime, "number");
    assert.ok(stats.clientsCount >= 2, `clientsCount ${stats.clientsCount}`);
    assert.equal(typeof stats.pollingClientsCount, "number");
    assert.ok(Array.isArray(stats.aggregatedEvents));
    const ns = Object.fromEntries(stats.namespaces.map((n) => [n.name, n.socketsCount]));
    assert.ok(ns["/"] >= 1 && ns["/admin"] >= 1, JSON.stringify(stats.namespaces));

    // The session id lets the UI in again without the password.
    const again = login(server.url, { sessionId });
    await connected(again);
    await nextEvent(again, "config");
    assert.equal(again.of("session").length, 0, "no new session for a session login");
  });

  it("sends server_stats every 2 seconds with the dashboard's aggregated events", async () => {
    const admin = login(server.url);
    await connected(admin);
    await nextEvent(admin, "server_stats", () => true, 3000);
    const first = admin.of("server_stats").length;
    const user = track(client(server.url, { transports: ["websocket"] }));
    await connected(user);
    await user.emitWithAck("message", "counted");
    const kinds = new Set();
    await waitFor(
      () => {
        for (const [s] of admin.of("server_stats").slice(first)) {
          for (const e of s.aggregatedEvents) {
            assert.equal(typeof e.timestamp, "number");
            assert.equal(e.timestamp % 1000, 0, "whole seconds");
            assert.ok(e.count > 0);
            kinds.add(e.type);
          }
        }
        return ["rawConnection", "packetsIn", "bytesIn", "packetsOut", "bytesOut"].every((k) => kinds.has(k));
      },
      "connections, messages and bytes in the aggregated events",
      6000,
    );
    const times = admin.seen.filter((e) => e.event === "server_stats").map((e) => e.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.ok(gaps.every((g) => g > 1500 && g < 2600), `gaps ${gaps}`);
    user.disconnect();
    await waitFor(
      () =>
        admin
          .of("server_stats")
          .some(([s]) => s.aggregatedEvents.some((e) => e.type === "rawDisconnection" && e.subType === "transport close")),
      "a rawDisconnection by transport close",
      6000,
    );
  });

  it("reports a socket's arrival, its events both ways, its rooms and its departure", async () => {
    const admin = login(server.url);
    await connected(admin);
    await nextEvent(admin, "all_sockets");
    const user = track(client(server.url, { transports: ["websocket"] }));
    await connected(user);
    const id = user.id;

    const [nsp, room, who, at] = await nextEvent(admin, "room_joined", (n, r, i) => i === id);
    assert.deepEqual([nsp, room, who], ["/", id, id]);
    assert.ok(isDate(at), `${at} is an ISO date`);
    const [socket, when] = await nextEvent(admin, "socket_connected", (s) => s.id === id);
    assert.ok(isDate(when));
    assert.deepEqual(
      { nsp: socket.nsp, rooms: socket.rooms, transport: socket.transport, data: socket.data },
      { nsp: "/", rooms: [id], transport: "websocket", data: {} },
    );
    assert.equal(socket.clientId, user.io.engine.id.slice(0, 12));

    // An event from the client, and the reversed broadcast to it.
    assert.deepEqual(await user.emitWithAck("message", "hello admin"), { ok: true });
    const [rn, rid, rargs, rat] = await nextEvent(admin, "event_received", (n, i) => i === id);
    assert.deepEqual([rn, rid, rargs], ["/", id, ["message", "hello admin"]]);
    assert.ok(isDate(rat));
    const [sn, sid, sargs] = await nextEvent(admin, "event_sent", (n, i, a) => i === id && a[0] === "message");
    assert.deepEqual([sn, sid, sargs], ["/", id, ["message", "nimda olleh"]]);
    assert.equal(
      admin.of("event_received").filter(([n]) => n === "/admin").length,
      0,
      "the admin namespace's own events are not reported",
    );

    // The UI's commands: join a room, emit to it, leave it, disconnect the socket.
    admin.emit("join", "/", "vip", id);
    await nextEvent(admin, "room_joined", (n, r, i) => r === "vip" && i === id);
    const news = new Promise((resolve) => user.once("news", (...args) => resolve(args)));
    admin.emit("emit", "/", "vip", "news", 1, "two", { three: 3 });
    assert.deepEqual(await news, [1, "two", { three: 3 }]);
    admin.emit("leave", "/", "vip", id);
    await nextEvent(admin, "room_left", (n, r, i) => r === "vip" && i === id);

    const reason = new Promise((resolve) => user.once("disconnect", resolve));
    admin.emit("_disconnect", "/", false, id);
    assert.equal(await reason, "io server disconnect");
    const [dn, did, dreason, dat] = await nextEvent(admin, "socket_disconnected", (n, i) => i === id);
    assert.deepEqual([dn, did, dreason], ["/", id, "server namespace disconnect"]);
    assert.ok(isDate(dat));
    await nextEvent(admin, "room_left", (n, r, i) => r === id && i === id);
    const order = admin.seen
      .filter((e) => (e.event === "socket_disconnected" || e.event === "room_left") && e.args[2] !== undefined)
      .filter((e) => (e.event === "socket_disconnected" ? e.args[1] : e.args[2]) === id)
      .map((e) => e.event);
    assert.deepEqual(order.slice(-2), ["socket_disconnected", "room_left"], "the rooms are left after the disconnection");
  });

  it("reports the upgrade of a socket's transport", async () => {
    const admin = login(server.url);
    await connected(admin);
    await nextEvent(admin, "all_sockets");
    const user = track(client(server.url)); // polling, then WebSocket
    await connected(user);
    const [socket] = await nextEvent(admin, "socket_connected", (s) => s.id === user.id);
    assert.equal(socket.transport, "polling");
    // Node tells at once; Sockeye at its next statistics tick (within 2 s).
    const [update] = await nextEvent(admin, "socket_updated", (u) => u.id === user.id && u.transport, 4000);
    assert.deepEqual(update, { id: user.id, nsp: "/", transport: "websocket" });
  });

  it("disconnects a whole client with _disconnect(close = true)", async () => {
    const admin = login(server.url);
    await connected(admin);
    await nextEvent(admin, "config");
    const user = track(client(server.url, { transports: ["websocket"] }));
    await connected(user);
    const reason = new Promise((resolve) => user.once("disconnect", resolve));
    admin.emit("_disconnect", "/", true, user.id);
    assert.equal(await reason, "io server disconnect");
    await waitFor(() => user.io.engine.readyState === "closed", "the engine closed");
  });
});

describe(`admin UI read-only (${TARGET})`, () => {
  let server;
  before(async () => {
    server = await startAdminTarget("admin-ro", ["--admin-ui", "--admin-ui-readonly"], ADMIN_ENV);
  });
  after(async () => {
    await server?.proc.stop();
  });

  it("offers no command, and ignores those sent", async () => {
    const admin = login(server.url);
    await connected(admin);
    const [config] = await nextEvent(admin, "config");
    assert.deepEqual(config, { supportedFeatures: ["AGGREGATED_EVENTS", "ALL_EVENTS"] });
    const user = track(client(server.url, { transports: ["websocket"] }));
    await connected(user);
    await nextEvent(admin, "socket_connected", (s) => s.id === user.id);
    admin.emit("join", "/", "vip", user.id);
    admin.emit("emit", "/", null, "news", "should not arrive");
    admin.emit("_disconnect", "/", true, user.id);
    await sleep(700);
    assert.ok(user.connected, "still connected");
    assert.equal(user.of("news").length, 0);
    assert.equal(admin.of("room_joined").filter(([, r]) => r === "vip").length, 0);
  });
});

describe(`admin UI without authentication (${TARGET})`, () => {
  it("lets anyone in with --admin-ui-no-auth, and gives no session", async () => {
    const server = await startAdminTarget("admin-open", ["--admin-ui", "--admin-ui-no-auth"]);
    try {
      const admin = login(server.url, {});
      await connected(admin);
      await nextEvent(admin, "config");
      await sleep(100);
      assert.equal(admin.of("session").length, 0);
    } finally {
      await server.proc.stop();
    }
  });
});
