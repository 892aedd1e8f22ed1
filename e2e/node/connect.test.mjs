// Connection, auth, middleware refusal and namespaces, for socket.io-client 4.x over each
// transport setup.
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  SETUPS,
  connect,
  connectError,
  makeManager,
  waitConnected,
  ask,
  closeAll,
  once,
} from "./helpers.mjs";

for (const setup of SETUPS) {
  describe(`connect [${setup.name}]`, () => {
    afterEach(closeAll);

    it("connects with auth and query; welcome carries id, auth and foo", async () => {
      const auth = { token: "good", n: 7, nested: { list: [1, "two", null] } };
      const { socket, welcome } = await connect(setup, { auth, query: { foo: "bar baz/é" } });
      assert.equal(typeof socket.id, "string");
      assert.ok(socket.id.length > 0);
      assert.deepEqual(welcome, { id: socket.id, auth, foo: "bar baz/é" });
      assert.equal(socket.connected, true);
    });

    it("welcome has foo null and auth {} when neither is given", async () => {
      const { socket, welcome } = await connect(setup);
      assert.deepEqual(welcome, { id: socket.id, auth: {}, foo: null });
    });

    it("the handshake sees query, auth, a custom header and the loopback address", async () => {
      const { socket } = await connect(setup, {
        auth: { token: "t" },
        query: { foo: "q" },
        extraHeaders: { "x-e2e": "hdr-value" },
      });
      const hs = await ask(socket, "handshake");
      assert.deepEqual(hs, {
        query: { foo: "q" },
        auth: { token: "t" },
        header: "hdr-value",
        address: "127.0.0.1",
      });
    });

    it("two clients get distinct ids", async () => {
      const a = await connect(setup);
      const b = await connect(setup);
      assert.notEqual(a.socket.id, b.socket.id);
      assert.equal(a.welcome.id, a.socket.id);
      assert.equal(b.welcome.id, b.socket.id);
    });

    it("middleware refusal: connect_error `unauthorized` with data.reason", async () => {
      const err = await connectError(setup, { auth: { token: "bad" } });
      assert.equal(err.message, "unauthorized");
      assert.deepEqual(err.data, { reason: "bad token" });
    });

    it("refusal by allowRequest (refuse=1) fails the transport", async () => {
      const err = await connectError(setup, { query: { refuse: "1" } });
      // The Engine.IO handshake is refused, so the error comes from the transport.
      if (setup.name === "websocket") {
        assert.equal(err.message, "websocket error");
      } else {
        assert.equal(err.message, "xhr poll error");
        assert.equal(err.description, 403);
      }
    });

    it("/admin without the admin role: connect_error `forbidden` without data", async () => {
      const err = await connectError(setup, { nsp: "/admin", auth: { role: "user" } });
      assert.equal(err.message, "forbidden");
      assert.equal(err.data, undefined);
    });

    it("/admin with the admin role connects and answers whoami", async () => {
      const { socket } = await connect(setup, { nsp: "/admin", auth: { role: "admin" } });
      assert.equal(await ask(socket, "whoami"), "admin");
    });

    it("unknown namespace: connect_error `Invalid namespace`", async () => {
      const err = await connectError(setup, { nsp: "/nope" });
      assert.equal(err.message, "Invalid namespace");
    });

    it("a name that does not match ^/dyn-\\d+$ is unknown", async () => {
      const err = await connectError(setup, { nsp: "/dyn-x" });
      assert.equal(err.message, "Invalid namespace");
    });

    it("dynamic namespace /dyn-7 connects and names itself", async () => {
      const { socket } = await connect(setup, { nsp: "/dyn-7" });
      assert.equal(await ask(socket, "name"), "/dyn-7");
    });

    it("one connection multiplexes /, /admin and /dyn-42; a refused namespace leaves the others up", async () => {
      const manager = makeManager(setup);
      const root = manager.socket("/");
      const welcome = once(root, "welcome");
      const admin = manager.socket("/admin", { auth: { role: "admin" } });
      const dyn = manager.socket("/dyn-42");
      await waitConnected(setup, root);
      await waitConnected(setup, admin);
      await waitConnected(setup, dyn);
      assert.equal((await welcome)[0].id, root.id);
      assert.equal(root.io, admin.io);
      assert.equal(root.io.engine, dyn.io.engine);
      assert.notEqual(root.id, admin.id);
      assert.notEqual(root.id, dyn.id);

      const unknown = manager.socket("/nope");
      const [err] = await once(unknown, "connect_error");
      assert.equal(err.message, "Invalid namespace");

      assert.equal(await ask(admin, "whoami"), "admin");
      assert.equal(await ask(dyn, "name"), "/dyn-42");
      assert.equal(await ask(root, "echo-ack", "still here"), "still here");
      assert.equal(root.connected && admin.connected && dyn.connected, true);
    });
  });
}
