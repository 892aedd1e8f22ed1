// A cluster with clients on every node, the fixture most cluster tests share.
//
// For each node j: a[j] and b[j] on "/", o[j] on "/other". Rooms at the start:
//   a[j] in "red"; b[j] in "blue", and also in "red" when j is odd.
// So red = every a plus the odd b's, blue = every b, red∖blue = every a.
// a[j] connects with query {foo: "f<j>"}, auth {token: "t<j>"}, header x-e2e: "h<j>", and its
// socket.data is set to {node: j, tag: "a"}.
// Every "/" and "/other" client records the events "m" (broadcasts) and answers "ask" with
// {id, args}; the clients in `silent` (a set of sockets) never answer "ask-slow".
import assert from "node:assert/strict";
import { callOk, collect, connect, eventually, KINDS, nonce, sleep, STEP_MS, withTimeout } from "./harness.mjs";

export async function makeFixture(nodes) {
  const a = [];
  const b = [];
  const o = [];
  await Promise.all(
    nodes.map(async (node, j) => {
      a[j] = await connect(node, {
        query: { foo: `f${j}` },
        auth: { token: `t${j}` },
        extraHeaders: { "x-e2e": `h${j}` },
      });
      b[j] = await connect(node);
      o[j] = await connect(node, { nsp: "/other" });
    }),
  );
  const all = [...a, ...b];
  const everyone = [...a, ...b, ...o];
  const got = new Map();
  const silent = new Set();
  for (const s of everyone) {
    got.set(s, collect(s, "m"));
    s.on("ask", (...args) => {
      const ack = args.pop();
      ack({ id: s.id, args });
    });
    s.on("ask-slow", (...args) => {
      const ack = args.pop();
      if (!silent.has(s)) ack({ id: s.id, args });
    });
  }
  await Promise.all(
    nodes.map(async (_, j) => {
      await callOk(a[j], "join", { rooms: ["red"] });
      await callOk(b[j], "join", { rooms: j % 2 === 1 ? ["red", "blue"] : ["blue"] });
      await callOk(a[j], "set-data", { data: { node: j, tag: "a" } });
    }),
  );
  const fx = {
    nodes,
    a,
    b,
    o,
    all,
    everyone,
    silent,
    red: [...a, ...b.filter((_, j) => j % 2 === 1)],
    blue: [...b],
    /** How often socket `s` got a broadcast "m" whose first argument is `tag`. */
    count(s, tag) {
      return got.get(s).count((t) => t === tag);
    },
    /** The args of the broadcasts "m" tagged `tag` that `s` got. */
    args(s, tag) {
      return got.get(s).got.filter((args) => args[0] === tag);
    },
    /** Waits until `s` got a broadcast tagged `tag`. */
    seen(s, tag, ms = STEP_MS) {
      return got.get(s).seen((t) => t === tag, ms);
    },
    /**
     * Broadcasts a sentinel from node `i` in "/" and "/other" and waits until every client got
     * it: whatever node i published before it has then been delivered everywhere (one publisher
     * connection, delivered in order), so a missing message is missing for good.
     */
    async flush(i) {
      const tag = `sentinel-${nonce()}`;
      await callOk(a[i], "broadcast", { event: "m", args: [tag] });
      await callOk(o[i], "broadcast", { event: "m", args: [tag] });
      await Promise.all(everyone.map((s) => fx.seen(s, tag)));
    },
    /**
     * Asserts that exactly the sockets in `expected` got `tag`, once each (after a flush from
     * node `i`); `among` (default: everyone) is the set looked at.
     */
    async assertDelivered(i, tag, expected, among = everyone) {
      await Promise.all(expected.map((s) => fx.seen(s, tag)));
      await fx.flush(i);
      for (const s of among) {
        const want = expected.includes(s) ? 1 : 0;
        assert.equal(fx.count(s, tag), want, `${fx.label(s)} got "${tag}" ${fx.count(s, tag)} times, expected ${want}`);
      }
    },
    /** "a2@node" and the like, for messages. */
    label(s) {
      for (const [name, list] of [
        ["a", a],
        ["b", b],
        ["o", o],
      ]) {
        const j = list.indexOf(s);
        if (j !== -1) return `${name}${j}(${KINDS[j]})`;
      }
      return s.id;
    },
  };
  return fx;
}

/** The rooms `s` is in (from its node), sorted. */
export async function roomsOf(s) {
  return (await callOk(s, "whoami")).rooms;
}

/** Waits until `pred(rooms of s)` holds for every socket in `list`. */
export async function roomsEventually(list, pred, what) {
  await Promise.all(list.map((s) => eventually(async () => pred(await roomsOf(s)), `${what} (${s.id})`)));
}

/** Resolves the disconnect reason of `s`, or null if it stays connected for `ms`. */
export function disconnectWithin(s, ms) {
  return new Promise((resolve) => {
    if (!s.connected) return resolve("not connected");
    const timer = setTimeout(() => {
      s.off("disconnect", on);
      resolve(null);
    }, ms);
    const on = (reason) => {
      clearTimeout(timer);
      resolve(reason);
    };
    s.once("disconnect", on);
  });
}

/** Times an async call: resolves { value, ms }. */
export async function timed(fn) {
  const t0 = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - t0 };
}

export { sleep, withTimeout };
