"""NATS on the three-site line A - B - C (see nats_topology.py): which shapes
carry a message from A to C, and how many bytes cross the A-B link per
message, the figure the mesh benchmark compares Skein against.

Fails (never skips) when namespaces or nats-server are missing."""
import os
import select
import time

import pytest

from nats_topology import NATS_SERVER, await_interest, start_line, wait_for_messages
from netns_support import Topology, support

WORKING_SHAPES = ["leaf-hub", "leaf-chain", "gateway-routed"]
FILTER = "orders.*.us.>"


def require_machine():
    s = support()
    if not s.ok:
        pytest.fail("this machine cannot run the netns tests: " + s.reason)
    if not os.access(NATS_SERVER, os.X_OK):
        pytest.fail(f"nats-server is not installed at {NATS_SERVER} (Debian package nats-server)")


def line_topology():
    topo = Topology("A", "B", "C").start()
    topo.link("A", "B")
    topo.link("B", "C")
    return topo


@pytest.mark.parametrize("shape", WORKING_SHAPES)
def test_message_from_a_reaches_c(shape, tmp_path):
    require_machine()
    with line_topology() as topo:
        nats = start_line(topo, shape, workdir=str(tmp_path))
        sub = nats["C"].client()
        sub.sub(FILTER, 1)
        sub.flush()
        pub = nats["A"].client()
        await_interest(pub, [sub])
        pub.pub("orders.created.eu.1", b"not for us")          # filtered out on the way
        pub.pub("orders.created.us.1", b'{"id": 1}')
        pub.flush()
        (subject, sid, payload), = sub.wait_messages(1)
        assert (subject, sid, payload) == ("orders.created.us.1", "1", b'{"id": 1}')
        pub.pub("orders.paid.us.1.payment", b"paid")
        pub.flush()
        assert sub.wait_messages(2)[1] == ("orders.paid.us.1.payment", "1", b"paid")
        for c in (sub, pub):
            c.close()


def test_gateways_on_a_line_do_not_carry_a_to_c(tmp_path):
    """Gateways want a full mesh: with A and C not reachable from each other,
    A's gateway to C (learned from B by gossip) never connects, and B does not
    pass on what it receives from a gateway. What A publishes reaches B's
    subscriber and never C's."""
    require_machine()
    with line_topology() as topo:
        nats = start_line(topo, "gateway-line", workdir=str(tmp_path))
        at_b, at_c = nats["B"].client(), nats["C"].client()
        for c in (at_b, at_c):
            c.sub(FILTER, 1)
            c.flush()
        pub = nats["A"].client()
        await_interest(pub, [at_b])
        for i in range(20):
            pub.pub(f"orders.created.us.{i}", b"x")
        pub.flush()
        at_b.wait_messages(20)
        # A knows of C but has no connection to it ...
        gatewayz = nats["A"].monitor("/gatewayz")
        assert "C" not in (gatewayz.get("outbound_gateways") or {}), gatewayz
        # ... and over a window of several round trips nothing arrives at C.
        deadline = time.monotonic() + 1.0
        while (left := deadline - time.monotonic()) > 0:
            select.select([at_c], [], [], left)
            at_c.poll()
            assert at_c.messages == [], at_c.messages
        assert "network is unreachable" in nats["A"].read_log()
        for c in (at_b, at_c, pub):
            c.close()


def measure_a_b_bytes(topo, shape, subscribers_per_site, workdir, messages=1000, size=100):
    """Publishes `messages` messages of `size` bytes at A with
    `subscribers_per_site` subscribers (connections) at B and at C, and returns
    the counters of A's end of the A-B link over the publishing."""
    nats = start_line(topo, shape, workdir=workdir)
    subs = []
    for site in ("B", "C"):
        for i in range(subscribers_per_site):
            c = nats[site].client(name=f"sub-{site}-{i}")
            c.sub(FILTER, 1)
            c.flush()
            subs.append(c)
    pub = nats["A"].client(name="pub")
    await_interest(pub, subs)
    payload = bytes(range(size)) if size <= 256 else os.urandom(size)
    before = topo.bytes("A", "B")
    for start in range(0, messages, 100):
        pub.pub_many((f"orders.created.us.{i}", payload) for i in range(start, min(messages, start + 100)))
    pub.flush()
    wait_for_messages(subs, messages, timeout=30)
    counters = topo.bytes("A", "B") - before
    for c in subs:
        assert len(c.messages) == messages, (c.messages[:3], len(c.messages))
        assert all(m[2] == payload for m in c.messages)
        c.close()
    pub.close()
    return counters


@pytest.mark.parametrize("shape", WORKING_SHAPES)
def test_bytes_on_the_a_b_link_per_message(shape, tmp_path, capsys):
    require_machine()
    messages, size = 1000, 100
    per_message = {}
    for n in (1, 10):
        with line_topology() as topo:
            counters = measure_a_b_bytes(topo, shape, n, str(tmp_path / f"subs{n}"), messages, size)
        per_message[n] = counters.total_bytes / messages
        with capsys.disabled():
            print(f"\nNATS {shape:15s} {n:2d} subscriber(s) at B and at C: A-B link carried "
                  f"{counters.total_bytes} bytes for {messages} x {size} B messages = "
                  f"{per_message[n]:.1f} B/message (tx {counters.tx_bytes} B in {counters.tx_packets} frames, "
                  f"rx {counters.rx_bytes} B in {counters.rx_packets} frames)")
        # every message crossed A-B at least once, and not at an absurd cost
        assert per_message[n] >= size, per_message
        assert per_message[n] < 10 * size, per_message
    # Interest is aggregated per server: ten times the subscribers behind the
    # link does not mean more copies on it.
    assert per_message[10] < 1.2 * per_message[1], per_message
