// socket.io-client 2.2.0 (Engine.IO v3 / Socket.IO protocol v4): the automatic connection to
// `/`, namespaces with auth through the query, refusals (the `error` event), unknown and
// dynamic namespaces, socket id formats; over polling, WebSocket and polling-then-upgrade.
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  SETUPS,
  V2_VERSION,
  ENGINE_ID,
  connectV2,
  makeV2,
  refusalV2,
  waitConnectedV2,
  askV2,
  ask1,
  closeAllV2,
  once,
  serverDisconnectsV2,
} from "./helpers-v2.mjs";

it("the legacy client is socket.io-client 2.2.0", () => {
  assert.equal(V2_VERSION, "2.2.0");
});

for (const setup of SETUPS) {
  describe(`legacy connect [${setup.name}]`, () => {
    afterEach(closeAllV2);

    it("connects to / without a CONNECT packet; welcome has the engine id, auth {} and foo", async () => {
      const { socket, welcome } = await connectV2(setup, { query: { foo: "bar baz/é" } });
      // Socket.IO v4 protocol: the id of a socket of `/` is the Engine.IO session id
      assert.match(socket.id, ENGINE_ID);
      assert.equal(socket.id, socket.io.engine.id);
      assert.deepEqual(welcome, { id: socket.io.engine.id, auth: {}, foo: "bar baz/é" });
    });

    it("the handshake: query from the URL, auth {} for /, the loopback address", async () => {
      const { socket } = await connectV2(setup, { query: { foo: "q" } });
      const [hs] = await askV2(socket, "handshake");
      assert.deepEqual(hs, { query: { foo: "q" }, auth: {}, header: null, address: "127.0.0.1" });
    });

    it("two clients get distinct ids", async () => {
      const a = await connectV2(setup);
      const b = await connectV2(setup);
      assert.notEqual(a.socket.id, b.socket.id);
      assert.equal(a.welcome.id, a.socket.id);
      assert.equal(b.welcome.id, b.socket.id);
    });

    it("refusal of / by the middleware (token=bad in the query): `error` with the data object", async () => {
      // Node sends a v3 client `err.data || err.message`: here the data.
      const { data, socket } = await refusalV2(setup, { query: { token: "bad" } });
      assert.deepEqual(data, { reason: "bad token" });
      assert.equal(socket.connected, false);
    });

    it("a refused / leaves no namespace: the server closes the connection after connectTimeout", async () => {
      const { socket } = await refusalV2(setup, { query: { token: "bad" } });
      // connectTimeout is 1500 ms; 2.x reports the closed engine as a `disconnect`
      const [reason] = await once(socket, "disconnect", 4000);
      assert.equal(reason, "transport close");
    });

    it("/admin with role=admin in the query connects; the id is /admin#<engine id>", async () => {
      const { socket } = await connectV2(setup, { nsp: "/admin", query: { role: "admin" } });
      assert.equal(socket.id, `/admin#${socket.io.engine.id}`);
      assert.match(socket.io.engine.id, ENGINE_ID);
      assert.equal(await ask1(socket, "whoami"), "admin");
    });

    it("the server's id of an /admin socket is /admin#<engine id> too", async () => {
      const observer = (await connectV2(setup)).socket;
      const { socket } = await connectV2(setup, { nsp: "/admin", query: { role: "admin" } });
      const engineId = socket.io.engine.id;
      socket.disconnect();
      const [entry] = await serverDisconnectsV2(observer, [`/admin#${engineId}`]);
      assert.deepEqual(entry, { id: `/admin#${engineId}`, nsp: "/admin", reason: "client namespace disconnect" });
    });

    it("/admin refused (role=user): `error` with the plain string `forbidden`", async () => {
      const { data, socket } = await refusalV2(setup, { nsp: "/admin", query: { role: "user" } });
      assert.equal(data, "forbidden");
      assert.equal(socket.connected, false);
    });

    it("/admin without any query is refused too", async () => {
      const { data } = await refusalV2(setup, { nsp: "/admin" });
      assert.equal(data, "forbidden");
    });

    it("unknown namespace: `error` with { message: 'Invalid namespace' } (an object, not a string)", async () => {
      const { data } = await refusalV2(setup, { nsp: "/nope" });
      assert.deepEqual(data, { message: "Invalid namespace" });
    });

    it("a refused namespace leaves the connection up: / (connected automatically) still answers", async () => {
      const root = makeV2(setup);
      const welcome = once(root, "welcome");
      await waitConnectedV2(setup, root);
      await welcome;
      const nope = root.io.socket("/nope");
      const [data] = await once(nope, "error");
      assert.deepEqual(data, { message: "Invalid namespace" });
      assert.equal(await ask1(root, "echo-ack", "still up"), "still up");
    });

    it("dynamic namespace /dyn-7 connects, names itself, and its id is /dyn-7#<engine id>", async () => {
      const { socket } = await connectV2(setup, { nsp: "/dyn-7" });
      assert.equal(socket.id, `/dyn-7#${socket.io.engine.id}`);
      assert.equal(await ask1(socket, "name"), "/dyn-7");
    });

    it("a name that does not match ^/dyn-\\d+$ is unknown", async () => {
      const { data } = await refusalV2(setup, { nsp: "/dyn-x" });
      assert.deepEqual(data, { message: "Invalid namespace" });
    });

    it("one connection multiplexes /, /admin and /dyn-42", async () => {
      const root = makeV2(setup);
      const welcome = once(root, "welcome");
      await waitConnectedV2(setup, root);
      const manager = root.io;
      // 2.x sends the namespace query in the CONNECT packet: "40/admin?role=admin,"
      const admin = manager.socket("/admin", { query: { role: "admin" } });
      const dyn = manager.socket("/dyn-42");
      const adminUp = once(admin, "connect");
      const dynUp = once(dyn, "connect");
      await adminUp;
      await dynUp;
      const engineId = manager.engine.id;
      assert.equal((await welcome)[0].id, engineId);
      assert.equal(root.id, engineId);
      assert.equal(admin.id, `/admin#${engineId}`);
      assert.equal(dyn.id, `/dyn-42#${engineId}`);
      assert.equal(await ask1(admin, "whoami"), "admin");
      assert.equal(await ask1(dyn, "name"), "/dyn-42");
      assert.equal(await ask1(root, "echo-ack", "root"), "root");
    });
  });
}
