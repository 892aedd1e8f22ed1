"""python-socketio with ``serializer="msgpack"`` against the contract's msgpack server
(path ``/msgpack/``, see CONTRACT.md), over each transport setup: the same server that
socket.io-client with socket.io-msgpack-parser talks to (node/msgpack.test.mjs).
"""

import secrets

import pytest
import socketio

from test_interop import EXPECTED_TRANSPORT, SETUPS, STEP, URL, Recorder

setups = pytest.mark.parametrize("setup", list(SETUPS))


class MsgpackPeer:
    """A msgpack socketio.Client with a recorder on `/`."""

    def __init__(self, setup):
        self.setup = setup
        self.sio = socketio.Client(reconnection=False, request_timeout=STEP, serializer="msgpack")
        self.rec = Recorder()
        self.connect_errors = {}
        self.sio.on("*", lambda event, *args: self.rec.add("/", event, args))

        def on_connect_error(data=None):
            self.connect_errors["/"] = data

        self.sio.on("connect_error", on_connect_error)

    def connect(self, **kwargs):
        self.sio.connect(
            URL, socketio_path="msgpack", transports=SETUPS[self.setup], wait_timeout=STEP, **kwargs
        )
        return self

    def close(self):
        try:
            self.sio.disconnect()
        except Exception:  # already gone
            pass


@pytest.fixture
def mp():
    made = []

    def make(setup):
        p = MsgpackPeer(setup)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


VALUES = ["plain", "ünïcödé 𝕊", "", 0, -1, 127, 128, -33, 65535, 2**32, 2**53 - 1, 1.5, -0.25,
          True, False, None, [], {}, [1, "two", [3]], {"nested": {"list": [None, 2.5]}}]


@setups
def test_welcome_carries_the_auth(mp, setup):
    auth = {"token": "py", "n": 1.5, "list": [1, None]}
    p = mp(setup).connect(auth=auth)
    assert p.sio.transport() == EXPECTED_TRANSPORT[setup]
    (welcome,) = p.rec.wait("welcome")
    assert welcome == {"id": p.sio.get_sid("/"), "auth": auth, "foo": None}


@setups
def test_echo_every_kind_and_binary(mp, setup):
    p = mp(setup).connect()
    blob = bytes(range(256)) + secrets.token_bytes(1000)
    p.sio.emit("echo", tuple(VALUES) + (blob, {"bin": b"", "deep": [b"\x00\xff"]}))
    got = p.rec.wait("echo")
    assert list(got[: len(VALUES)]) == VALUES
    assert got[len(VALUES)] == blob
    assert got[len(VALUES) + 1] == {"bin": b"", "deep": [b"\x00\xff"]}


@setups
def test_acks_both_ways(mp, setup):
    p = mp(setup).connect()
    assert p.sio.call("echo-ack", {"k": [1, 2.5, b"\x01"]}, timeout=STEP) == {"k": [1, 2.5, b"\x01"]}
    p.sio.on("question", lambda q: ["answer to", q, b"\x07"])
    assert p.sio.call("ask", "what?", timeout=STEP) == {"answer": ["answer to", "what?", b"\x07"]}


@setups
def test_admin_refused_and_middleware_data(mp, setup):
    p = mp(setup)
    with pytest.raises(socketio.exceptions.ConnectionError):
        p.connect(auth={"token": "bad"})
    assert p.connect_errors["/"] == {"message": "unauthorized", "data": {"reason": "bad token"}}
    q = mp(setup).connect(namespaces=["/admin"], auth={"role": "admin"})
    assert q.sio.call("whoami", namespace="/admin", timeout=STEP) == "admin"


def test_broadcast_between_msgpack_clients(mp):
    a = mp("websocket").connect()
    b = mp("polling").connect()
    tag = secrets.token_hex(6)
    a.sio.emit("broadcast", {"tag": tag, "bin": b"\x01\x02"})
    (got,) = b.rec.wait("broadcast", lambda d: isinstance(d, dict) and d.get("tag") == tag)
    assert got == {"tag": tag, "bin": b"\x01\x02"}
