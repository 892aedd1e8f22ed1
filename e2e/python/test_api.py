"""The rest of the server API through python-socketio (namespace ``/api`` of e2e/CONTRACT.md):
catch-all listeners, a packet middleware's refusal, socket data seen by fetchSockets, a
broadcast with acks answered by Python clients, a function-matched dynamic namespace and the
parent namespace of a dynamic family. Polling, WebSocket and upgrade, as test_interop.py.
"""

import time

import pytest
import socketio

from test_interop import SETUPS, STEP, Peer, nonce

setups = pytest.mark.parametrize("setup", list(SETUPS))


@pytest.fixture
def peers():
    made = []

    def make(setup, namespaces=("/api",)):
        p = Peer(setup, namespaces)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def api_peer(peers, setup, **kwargs):
    return peers(setup).connect(namespaces=["/api"], **kwargs)


@setups
def test_catch_all_and_refused_event(peers, setup):
    p = api_peer(peers, setup)
    p.sio.emit("unhandled", 1, namespace="/api")
    assert p.sio.call("log", namespace="/api", timeout=STEP) == [
        "first:unhandled",
        "any:unhandled",
        "first:log",
        "any:log",
    ]
    with pytest.raises(socketio.exceptions.TimeoutError):
        p.sio.call("forbidden", namespace="/api", timeout=0.5)
    assert p.rec.wait("use-error", namespace="/api") == ("not allowed",)


@setups
def test_data_and_fetch_sockets(peers, setup):
    p = api_peer(peers, setup, auth={"who": "py"})
    room = f"r-{nonce()}"
    sid = p.sio.get_sid("/api")
    assert p.sio.call("join", room, namespace="/api", timeout=STEP) == sorted([sid, room])
    assert p.sio.call("get-data", namespace="/api", timeout=STEP) == {}
    assert p.sio.call("set-data", {"lang": "python"}, namespace="/api", timeout=STEP) is True
    found = p.sio.call("fetch-sockets", room, namespace="/api", timeout=STEP)
    assert found == [{"id": sid, "rooms": sorted([sid, room]), "data": {"lang": "python"}, "auth": {"who": "py"}}]
    assert p.sio.call("fetch-ids", room, namespace="/api", timeout=STEP) == [sid]


@setups
def test_broadcast_with_acks_answered_by_python(peers, setup):
    room = f"r-{nonce()}"
    members = []
    for _ in range(2):
        m = api_peer(peers, setup)
        me = m.sio.get_sid("/api")
        m.sio.on("question", lambda q, me=me: me, namespace="/api")
        m.sio.call("join", room, namespace="/api", timeout=STEP)
        members.append(me)
    asker = api_peer(peers, setup)
    got = asker.sio.call("ask-room", (room, 2000), namespace="/api", timeout=STEP)
    assert got == {"timedOut": False, "responses": sorted(members)}


@setups
def test_function_matched_namespace(peers, setup):
    tenant = nonce()
    ns = f"/tenant-{tenant}"
    refused = peers(setup, namespaces=(ns,))
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(namespaces=[ns], auth={"tenant": "other"})
    assert refused.connect_errors[ns] == {"message": "Invalid namespace"}
    ok = peers(setup, namespaces=(ns,)).connect(namespaces=[ns], auth={"tenant": tenant})
    assert ok.sio.call("name", namespace=ns, timeout=STEP) == ns


@setups
def test_parent_namespace_reaches_children(peers, setup):
    ns = f"/dyn-{int(time.time() * 1000)}"
    child = peers(setup, namespaces=(ns,)).connect(namespaces=[ns])
    driver = api_peer(peers, setup)
    n = nonce()
    driver.sio.emit("parent-emit", n, namespace="/api")
    assert child.rec.wait("parent", lambda d: d == n, namespace=ns) == (n,)
