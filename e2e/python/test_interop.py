"""Interop tests with the real python-socketio client (sync ``socketio.Client``).

The target server implements e2e/CONTRACT.md; its base URL comes from ``E2E_URL``
(e.g. ``http://127.0.0.1:3100``). Every wait is bounded.
"""

import os
import secrets
import threading
import time

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


def nonce():
    return secrets.token_hex(6)


class Recorder:
    """Records every event a client receives (through catch-all handlers) and waits for them."""

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
    """A socketio.Client with a recorder on every namespace it may use."""

    def __init__(self, setup, namespaces=("/",)):
        self.setup = setup
        self.sio = socketio.Client(reconnection=False, request_timeout=STEP)
        self.rec = Recorder()
        self.disconnect_reasons = {}
        self.connect_errors = {}
        for ns in namespaces:
            self._hook(ns)

    def _hook(self, ns):
        sio, rec = self.sio, self.rec

        def any_event(event, *args):
            rec.add(ns, event, args)

        def on_disconnect(reason=None):
            self.disconnect_reasons[ns] = reason
            rec.add(ns, "__disconnect", (reason,))

        def on_connect_error(data=None):
            self.connect_errors[ns] = data
            rec.add(ns, "__connect_error", (data,))

        sio.on("*", any_event, namespace=ns)
        sio.on("disconnect", on_disconnect, namespace=ns)
        sio.on("connect_error", on_connect_error, namespace=ns)

    def connect(self, query=None, **kwargs):
        url = URL
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        self.sio.connect(url, transports=SETUPS[self.setup], wait_timeout=STEP, **kwargs)
        return self

    @property
    def sid(self):
        return self.sio.get_sid("/")

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


@pytest.fixture
def observer(peers):
    """A WebSocket client that asks the server for its recorded disconnects."""
    return peers("websocket").connect()


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


def barrier(*ps):
    """A round trip through the server on each peer: what was sent to it before has arrived."""
    for p in ps:
        assert p.sio.call("echo-ack", "barrier", timeout=STEP) == "barrier"
    time.sleep(0.1)


setups = pytest.mark.parametrize("setup", list(SETUPS))


# --- connection ------------------------------------------------------------------------


@setups
def test_connect_with_auth_and_query(peers, setup):
    auth = {"token": "py", "n": 3, "nested": {"ok": True}}
    p = peers(setup).connect(query={"foo": "from-python"}, auth=auth)
    assert p.sio.transport() == EXPECTED_TRANSPORT[setup]
    (welcome,) = p.rec.wait("welcome")
    assert welcome == {"id": p.sid, "auth": auth, "foo": "from-python"}


@setups
def test_handshake_header_and_address(peers, setup):
    p = peers(setup).connect(headers={"X-E2E": "python-header"}, auth={"a": 1})
    hs = p.sio.call("handshake", timeout=STEP)
    assert hs == {"query": {"foo": None}, "auth": {"a": 1}, "header": "python-header", "address": "127.0.0.1"}


@setups
def test_refused_by_middleware(peers, setup):
    p = peers(setup)
    with pytest.raises(socketio.exceptions.ConnectionError):
        p.connect(auth={"token": "bad"})
    assert p.connect_errors["/"] == {"message": "unauthorized", "data": {"reason": "bad token"}}
    assert not p.sio.connected


@setups
def test_refused_by_allow_request(peers, setup):
    p = peers(setup)
    with pytest.raises(socketio.exceptions.ConnectionError) as info:
        p.connect(query={"refuse": "1"})
    if setup == "websocket":
        # the WebSocket handshake is refused by an HTTP error
        assert not p.sio.connected
    else:
        assert "403" in str(info.value)


@setups
def test_namespaces(peers, setup):
    p = peers(setup, namespaces=("/", "/admin", "/dyn-12"))
    p.connect(namespaces=["/", "/admin", "/dyn-12"], auth={"role": "admin"})
    assert p.sio.call("whoami", namespace="/admin", timeout=STEP) == "admin"
    assert p.sio.call("name", namespace="/dyn-12", timeout=STEP) == "/dyn-12"
    assert p.sio.call("echo-ack", "root", timeout=STEP) == "root"
    sids = {p.sio.get_sid(ns) for ns in ("/", "/admin", "/dyn-12")}
    assert len(sids) == 3


@setups
def test_admin_refused(peers, setup):
    p = peers(setup, namespaces=("/admin",))
    with pytest.raises(socketio.exceptions.ConnectionError):
        p.connect(namespaces=["/admin"], auth={"role": "guest"})
    assert p.connect_errors["/admin"] == {"message": "forbidden"}


@setups
def test_unknown_namespace(peers, setup):
    p = peers(setup, namespaces=("/nope",))
    with pytest.raises(socketio.exceptions.ConnectionError):
        p.connect(namespaces=["/nope"])
    assert p.connect_errors["/nope"] == {"message": "Invalid namespace"}


# --- events and acks ---------------------------------------------------------------------

MIXED = ("héllo ✓", 42, -1.5, True, None, {"nested": [1, {"two": [None, False]}]}, ["a", ["b"]])


@setups
def test_events_both_ways(peers, setup):
    p = peers(setup).connect()
    p.sio.emit("echo", MIXED)
    assert p.rec.wait("echo") == MIXED
    n = nonce()
    p.sio.send({"n": n})
    assert p.rec.wait("message", lambda d: d == {"n": n}) == ({"n": n},)


@setups
def test_call_acks(peers, setup):
    p = peers(setup).connect()
    assert p.sio.call("echo-ack", {"x": [1, 2]}, timeout=STEP) == {"x": [1, 2]}
    assert p.sio.call("echo-ack", MIXED, timeout=STEP) == MIXED
    got = []
    done = threading.Event()

    def cb(*args):
        got.append(args)
        done.set()

    p.sio.emit("echo-ack", ("cb", 1), callback=cb)
    assert done.wait(STEP)
    assert got == [("cb", 1)]


@setups
def test_server_asks_client_answers(peers, setup):
    p = peers(setup)
    asked = []

    def question(data):
        asked.append(data)
        return {"py-answer": data}

    p.sio.on("question", question)
    p.connect()
    assert p.sio.call("ask", {"q": 1}, timeout=STEP) == {"answer": {"py-answer": {"q": 1}}}
    assert asked == [{"q": 1}]


@setups
def test_server_asks_client_too_slow(peers, setup):
    p = peers(setup)

    def question(data):
        time.sleep(1.5)  # past the server's 1000 ms timeout (handlers run on their own thread)
        return "too late"

    p.sio.on("question", question)
    p.connect()
    started = time.monotonic()
    assert p.sio.call("ask", "anyone?", timeout=STEP) == {"error": "timeout"}
    assert 0.9 <= time.monotonic() - started < 3
    time.sleep(0.6)  # let the late answer go out; the connection must survive it
    assert p.sio.call("echo-ack", "still fine", timeout=STEP) == "still fine"


@setups
def test_client_call_timeout(peers, setup):
    p = peers(setup).connect()
    started = time.monotonic()
    with pytest.raises(socketio.exceptions.TimeoutError):
        p.sio.call("no-such-event", 1, timeout=0.3)
    assert time.monotonic() - started >= 0.25
    assert p.sio.call("echo-ack", "up", timeout=STEP) == "up"


# --- binary ------------------------------------------------------------------------------


@setups
def test_binary_round_trips(peers, setup):
    p = peers(setup).connect()
    every = bytes(range(256))
    big = secrets.token_bytes(50000)
    payload = {"a": b"\x00\x01\xff", "list": [b"x", {"deep": every}], "text": "t"}
    p.sio.emit("echo", (every, payload, big, b""))
    got = p.rec.wait("echo")
    assert got == (every, payload, big, b"")
    assert all(isinstance(x, bytes) for x in (got[0], got[1]["a"], got[1]["list"][1]["deep"], got[2]))
    assert p.sio.call("echo-ack", (b"\x10\x20", {"b": every}), timeout=STEP) == (b"\x10\x20", {"b": every})


@setups
def test_binary_through_server_ack(peers, setup):
    p = peers(setup)
    p.sio.on("question", lambda data: {"back": data["bytes"][::-1]})
    p.connect()
    q = secrets.token_bytes(32)
    assert p.sio.call("ask", {"bytes": q}, timeout=STEP) == {"answer": {"back": q[::-1]}}


# --- rooms and broadcast -----------------------------------------------------------------


@setups
def test_rooms_and_broadcast(peers, setup):
    a = peers(setup).connect()
    b = peers("websocket" if setup != "websocket" else "polling").connect()
    outsider = peers(setup).connect()
    room = f"py-{nonce()}"
    assert a.sio.call("join", room, timeout=STEP) == sorted([room, a.sid])
    assert b.sio.call("join", room, timeout=STEP) == sorted([room, b.sid])

    n = nonce()
    a.sio.emit("to-room", (room, "news", {"n": n, "bin": b"\x01\x02"}))
    mine = lambda d: isinstance(d, dict) and d.get("n") == n  # noqa: E731
    for p in (a, b):
        assert p.rec.wait("news", mine) == ({"n": n, "bin": b"\x01\x02"},)
    barrier(outsider)
    assert outsider.rec.matching("news", mine) == []

    n2 = nonce()
    a.sio.emit("broadcast", {"n": n2})
    mine2 = lambda d: isinstance(d, dict) and d.get("n") == n2  # noqa: E731
    b.rec.wait("broadcast", mine2)
    outsider.rec.wait("broadcast", mine2)
    barrier(a)
    assert a.rec.matching("broadcast", mine2) == []

    n3 = nonce()
    b.sio.emit("emit-all", n3)
    for p in (a, b, outsider):
        p.rec.wait("all", lambda d: d == n3)

    assert a.sio.call("leave", room, timeout=STEP) == [a.sid]
    n4 = nonce()
    b.sio.emit("to-room", (room, "news", {"n": n4}))
    b.rec.wait("news", lambda d: isinstance(d, dict) and d.get("n") == n4)
    barrier(a)
    assert a.rec.matching("news", lambda d: isinstance(d, dict) and d.get("n") == n4) == []


@setups
def test_to_room_except(peers, setup):
    a, b, c = (peers(setup).connect() for _ in range(3))
    room, vip = f"r-{nonce()}", f"vip-{nonce()}"
    for p in (a, b, c):
        p.sio.call("join", room, timeout=STEP)
    b.sio.call("join", vip, timeout=STEP)
    n = nonce()
    c.sio.emit("to-room-except", (room, vip, "partial", n))
    a.rec.wait("partial", lambda d: d == n)
    c.rec.wait("partial", lambda d: d == n)
    barrier(b)
    assert b.rec.matching("partial", lambda d: d == n) == []


# --- disconnect reasons ------------------------------------------------------------------


def record_posts(p):
    """The bodies of the polling POSTs `p` completes from now on (a list that grows)."""
    eio, posts = p.sio.eio, []
    send = eio._send_request

    def recorded(method, url, headers=None, body=None, timeout=None):
        r = send(method, url, headers=headers, body=body, timeout=timeout)
        if method == "POST" and not isinstance(r, str) and r is not None and r.ok:
            posts.append(body.decode() if isinstance(body, bytes) else body)
        return r

    eio._send_request = recorded
    return posts


def sent_packets(posts):
    """The Engine.IO packets the recorded POST bodies carried (`1` is a close)."""
    return {packet for body in posts for packet in body.split("\x1e")}


@setups
def test_client_disconnect(peers, observer, setup):
    p = peers(setup).connect()
    sid = p.sid
    posts = record_posts(p)
    p.sio.disconnect()
    assert p.disconnect_reasons["/"] == socketio.Client.reason.CLIENT_DISCONNECT
    (entry,) = server_disconnects(observer, [sid])
    assert entry == {"id": sid, "nsp": "/", "reason": entry["reason"]}
    if setup == "polling" and not {"41", "1"} & sent_packets(posts):
        # python-engineio's write loop stops once the client is disconnecting: when a pong's
        # POST (every 400 ms here) is in flight as disconnect() is called, the DISCONNECT and
        # the close are never sent, and the server times the client out.
        assert entry["reason"] == "ping timeout"
    else:
        # python-socketio sends DISCONNECT (41) and right after it the Engine.IO close packet
        # (1): one POST over polling, two back-to-back frames over WebSocket. When both arrive
        # in one read, Node handles the Socket.IO packet a tick after the close packet and
        # records `transport close`; otherwise `client namespace disconnect`. Both are Node's.
        assert entry["reason"] in ("client namespace disconnect", "transport close"), entry


@setups
def test_server_disconnect(peers, observer, setup):
    p = peers(setup).connect()
    sid = p.sid
    p.sio.emit("server-disconnect")
    p.rec.wait("__disconnect")
    assert p.disconnect_reasons["/"] == socketio.Client.reason.SERVER_DISCONNECT
    (entry,) = server_disconnects(observer, [sid])
    assert entry == {"id": sid, "nsp": "/", "reason": "server namespace disconnect"}


@setups
def test_server_close(peers, observer, setup):
    p = peers(setup, namespaces=("/", "/admin"))
    p.connect(namespaces=["/", "/admin"], auth={"role": "admin"})
    sids = [p.sio.get_sid("/"), p.sio.get_sid("/admin")]
    p.sio.emit("server-close")
    p.rec.wait("__disconnect", namespace="/")
    p.rec.wait("__disconnect", namespace="/admin")
    entries = server_disconnects(observer, sids)
    assert sorted((e["nsp"], e["reason"]) for e in entries) == [
        ("/", "server namespace disconnect"),
        ("/admin", "server namespace disconnect"),
    ]
    deadline = time.monotonic() + STEP
    while p.sio.eio.state != "disconnected" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.sio.eio.state == "disconnected"


@setups
def test_transport_close(peers, observer, setup):
    p = peers(setup).connect()
    sid = p.sid
    posts = record_posts(p)
    p.sio.eio.disconnect()  # the Engine.IO connection only: no Socket.IO DISCONNECT packet
    (entry,) = server_disconnects(observer, [sid])
    assert entry["id"] == sid and entry["nsp"] == "/"
    if setup == "polling" and "1" not in sent_packets(posts):
        # python-engineio's polling disconnect queues a CLOSE packet, but when its writer is
        # in the middle of a POST (a PONG) at that moment, it stops without sending it. The
        # server then hears nothing more from the client and times it out, Node's as well.
        assert entry["reason"] == "ping timeout"
    else:
        assert entry["reason"] == "transport close"


# --- compression (CONTRACT.md, "Compression servers") ------------------------------------


def blob(n):
    alphabet = "abcdefghij klmnopqrstuvwxyz"
    return "".join(alphabet[(i * 7 + i // 13) % 27] for i in range(n))


def test_polling_responses_are_compressed():
    """requests asks for gzip and deflate and inflates what comes back; python-socketio's
    WebSocket client (websocket-client) has no permessage-deflate, so polling is what it can
    check. The server's answer must be compressed from 1024 bytes, and intact."""
    import requests

    encodings = []
    session = requests.Session()
    session.hooks["response"].append(
        lambda res, *a, **k: encodings.append(res.headers.get("Content-Encoding"))
    )
    sio = socketio.Client(reconnection=False, request_timeout=STEP, http_session=session)
    rec = Recorder()
    sio.on("*", lambda event, *args: rec.add("/", event, args))
    try:
        sio.connect(URL, socketio_path="deflate", transports=["polling"], wait_timeout=STEP)
        sio.emit("blob", 5000)
        (text,) = rec.wait("blob")
        assert text == blob(5000)
        assert "gzip" in encodings, encodings
        # Small answers go as they are.
        assert None in encodings, encodings
        # compress(false): that answer is not compressed.
        before = encodings.count("gzip")
        # A tuple is python-socketio's way to send two arguments.
        sio.emit("blob", (4000, False))
        rec.wait("blob", lambda t: len(t) == 4000)
        time.sleep(0.2)
        assert encodings.count("gzip") == before, encodings
    finally:
        sio.disconnect()
