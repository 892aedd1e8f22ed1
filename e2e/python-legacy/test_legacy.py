"""Interop tests with the legacy python-socketio 4.x client (Socket.IO protocol v4 over
Engine.IO v3, the python-engineio 3.x client), sync ``socketio.Client``.

The target server implements e2e/CONTRACT.md with the legacy option (allowEIO3) on; its base
URL comes from ``E2E_URL`` (e.g. ``http://127.0.0.1:3100``). python-socketio 4.x has no
CONNECT auth: the contract's middlewares read ``token``/``role`` from the handshake query
then. Every wait is bounded.
"""

import os
import secrets
import threading
import time

import engineio
import pytest
import socketio

URL = os.environ.get("E2E_URL", "http://127.0.0.1:3100").rstrip("/")
STEP = 5.0  # seconds: the limit of one awaited step

# transport setups: polling only, WebSocket only, and the default (polling, then upgrade)
SETUPS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": None,
}
EXPECTED_TRANSPORT = {"polling": "polling", "websocket": "websocket", "upgrade": "websocket"}
EVENTS = ("welcome", "echo", "all", "broadcast", "news", "message")

setups = pytest.mark.parametrize("setup", list(SETUPS))


def test_the_client_is_legacy():
    assert socketio.__version__ == "4.6.1"
    assert engineio.__version__ == "3.14.2"


def nonce():
    return secrets.token_hex(6)


class Recorder:
    """Records the events a client receives and waits (bounded) for them."""

    def __init__(self):
        self.cond = threading.Condition()
        self.events = []  # (namespace, event, args)

    def add(self, namespace, event, args):
        with self.cond:
            self.events.append((namespace, event, args))
            self.cond.notify_all()

    def matching(self, event, pred=lambda *a: True, namespace="/"):
        with self.cond:
            return [a for (n, e, a) in self.events if n == namespace and e == event and pred(*a)]

    def wait(self, event, pred=lambda *a: True, namespace="/", timeout=STEP):
        deadline = time.monotonic() + timeout
        with self.cond:
            for _ in range(10000):
                found = [a for (n, e, a) in self.events if n == namespace and e == event and pred(*a)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
        raise AssertionError(f"no {event!r} on {namespace} within {timeout}s; got {self.events!r}"[:800])


class Peer:
    """A python-socketio 4.x client with a recorder on every namespace it may use."""

    def __init__(self, setup, namespaces=("/",)):
        self.setup = setup
        self.sio = socketio.Client(reconnection=False)
        self.rec = Recorder()
        self.answers = {}  # what the `question` handler answers, per namespace
        for ns in namespaces:
            self._hook(ns)

    def _hook(self, ns):
        sio, rec = self.sio, self.rec

        def on(event):
            def handler(*args):
                rec.add(ns, event, args)

            sio.on(event, handler, namespace=ns)

        for event in EVENTS + ("connect", "disconnect", "connect_error"):
            on(event)

        def question(data):
            rec.add(ns, "question", (data,))
            if ns in self.answers:
                return self.answers[ns](data)
            return None

        sio.on("question", question, namespace=ns)

    def connect(self, query=None, namespaces=None, wait=True):
        url = URL
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        self.sio.connect(url, transports=SETUPS[self.setup], namespaces=namespaces)
        if wait:
            # 4.x returns once Engine.IO is open; the CONNECT of / comes after
            self.rec.wait("connect")
        return self

    @property
    def sid(self):
        return self.sio.sid

    def close(self):
        try:
            self.sio.disconnect()
        except Exception:  # already gone
            pass


@pytest.fixture
def peers():
    made = []

    def make(setup, namespaces=("/",)):
        p = Peer(setup, namespaces)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def server_disconnects(observer, sids, tries=40, gap=0.1):
    """The server's recorded disconnects for `sids` (polls, bounded)."""
    mine = []
    for _ in range(tries):
        everything = observer.sio.call("disconnect-reasons", timeout=STEP)
        assert isinstance(everything, list)
        mine = [e for e in everything if e["id"] in sids]
        if all(any(e["id"] == s for e in mine) for s in sids):
            return mine
        time.sleep(gap)
    raise AssertionError(f"no disconnect recorded for some of {sids}: {mine}")


# --- connection ------------------------------------------------------------------------


@setups
def test_connect_welcome_with_the_engine_id(peers, setup):
    p = peers(setup).connect(query={"foo": "from-python4"})
    assert p.sio.transport() == EXPECTED_TRANSPORT[setup]
    (welcome,) = p.rec.wait("welcome")
    # Socket.IO protocol v4: the id of a socket of / is the Engine.IO session id
    assert p.sid == p.sio.eio.sid
    assert len(p.sid) == 20
    assert welcome == {"id": p.sid, "auth": {}, "foo": "from-python4"}


@setups
def test_handshake_query_and_address(peers, setup):
    p = peers(setup).connect(query={"foo": "q4"})
    hs = p.sio.call("handshake", timeout=STEP)
    assert hs == {"query": {"foo": "q4"}, "auth": {}, "header": None, "address": "127.0.0.1"}


@setups
def test_refused_by_middleware_through_the_query(peers, setup):
    p = peers(setup).connect(query={"token": "bad"}, wait=False)
    # a v3 client gets `err.data || err.message`: here the data object
    (data,) = p.rec.wait("connect_error")
    assert data == {"reason": "bad token"}
    assert p.rec.matching("connect") == []


@setups
def test_namespaces_with_the_role_in_the_query(peers, setup):
    p = peers(setup, namespaces=("/", "/admin", "/dyn-12"))
    p.connect(query={"role": "admin"}, namespaces=["/", "/admin", "/dyn-12"])
    p.rec.wait("connect", namespace="/admin")
    p.rec.wait("connect", namespace="/dyn-12")
    assert p.sio.call("whoami", namespace="/admin", timeout=STEP) == "admin"
    assert p.sio.call("name", namespace="/dyn-12", timeout=STEP) == "/dyn-12"
    assert p.sio.call("echo-ack", "root", timeout=STEP) == "root"


@setups
def test_admin_refused_with_a_plain_string(peers, setup):
    p = peers(setup, namespaces=("/", "/admin"))
    p.connect(query={"role": "guest"}, namespaces=["/", "/admin"])
    (data,) = p.rec.wait("connect_error", namespace="/admin")
    assert data == "forbidden"
    assert p.rec.matching("connect", namespace="/admin") == []
    # the connection and / stay up
    assert p.sio.call("echo-ack", "still here", timeout=STEP) == "still here"


@setups
def test_unknown_namespace(peers, setup):
    p = peers(setup, namespaces=("/", "/nope"))
    p.connect(namespaces=["/", "/nope"])
    (data,) = p.rec.wait("connect_error", namespace="/nope")
    assert data == {"message": "Invalid namespace"}


# --- events and acks -------------------------------------------------------------------

MIXED = ("héllo ✓ 😀 𝕊 \"q\" \\ \n", 42, -3.5, True, False, None, {"nested": {"list": [1, "two", None]}}, [])


@setups
def test_events_both_ways(peers, setup):
    p = peers(setup).connect()
    p.sio.emit("echo", MIXED)
    assert p.rec.wait("echo") == MIXED
    p.sio.emit("echo", "single")
    assert p.rec.wait("echo", lambda *a: a == ("single",)) == ("single",)


@setups
def test_ack_from_the_server(peers, setup):
    p = peers(setup).connect()
    assert p.sio.call("echo-ack", MIXED, timeout=STEP) == MIXED
    got = []
    done = threading.Event()

    def cb(*args):
        got.append(args)
        done.set()

    p.sio.emit("echo-ack", ("a", 2), callback=cb)
    assert done.wait(STEP)
    assert got == [("a", 2)]


@setups
def test_ack_from_the_client(peers, setup):
    p = peers(setup).connect()
    p.answers["/"] = lambda data: f"py4 says {data}"
    assert p.sio.call("ask", "q", timeout=STEP) == {"answer": "py4 says q"}
    assert p.rec.wait("question") == ("q",)


@setups
def test_binary_round_trips(peers, setup):
    p = peers(setup).connect()
    blob = bytes(range(256)) * 20
    assert p.sio.call("echo-ack", (b"\x00\x01\xff", {"nested": blob}, "t"), timeout=STEP) == (
        b"\x00\x01\xff",
        {"nested": blob},
        "t",
    )
    # (no empty bytes: python-engineio 3 decodes an empty binary packet as None)
    p.sio.emit("echo", (b"\x00", b"\x07"))
    assert p.rec.wait("echo") == (b"\x00", b"\x07")
    p.answers["/"] = lambda data: bytes([1, 2, data])
    assert p.sio.call("ask", 9, timeout=STEP) == {"answer": b"\x01\x02\x09"}


# --- rooms and broadcast ---------------------------------------------------------------


@setups
def test_rooms_and_emit_all(peers, setup):
    a = peers(setup).connect()
    b = peers("websocket" if setup != "websocket" else "polling").connect()
    room = f"py4-{nonce()}"
    assert a.sio.call("join", room, timeout=STEP) == sorted([room, a.sid])
    n = nonce()
    b.sio.emit("to-room", (room, "news", {"n": n}))
    assert a.rec.wait("news", lambda d: d.get("n") == n) == ({"n": n},)
    m = nonce()
    a.sio.emit("emit-all", {"m": m})
    a.rec.wait("all", lambda d: d.get("m") == m)
    b.rec.wait("all", lambda d: d.get("m") == m)


# --- disconnect ------------------------------------------------------------------------


@setups
def test_client_disconnect(peers, setup):
    observer = peers("websocket").connect()
    p = peers(setup).connect()
    sid = p.sid
    p.sio.disconnect()  # (4.x fires no `disconnect` handler for its own disconnect())
    (entry,) = server_disconnects(observer, [sid])
    # 4.x queues DISCONNECT, then aborts Engine.IO (python-engineio 3 `disconnect(abort=True)`):
    # DISCONNECT and the close may arrive in one read, which Node records as `transport close`,
    # and over polling the queued packets may never be sent at all (`ping timeout`)
    assert entry["nsp"] == "/"
    assert entry["reason"] in ("client namespace disconnect", "transport close", "ping timeout")


@setups
def test_server_disconnect(peers, setup):
    observer = peers("websocket").connect()
    p = peers(setup).connect()
    sid = p.sid
    p.sio.emit("server-disconnect")
    p.rec.wait("disconnect")
    (entry,) = server_disconnects(observer, [sid])
    assert entry == {"id": sid, "nsp": "/", "reason": "server namespace disconnect"}
