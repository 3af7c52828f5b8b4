"""The mesh on one machine (DESIGN.md §3, docs/mesh-protocol.md): real skein
processes linked over loopback. Subscriptions made at one node are learned by
the others; events travel only towards interest, one copy per link however
many subscribers sit behind it; persistent events wait in outboxes across
outages and restarts; duplicate links collapse to one; a peer of another mesh,
with a wrong secret or sending malformed frames is refused or cut off with a
logged reason, and the node goes on. (Sites in network namespaces with WAN
delay and loss: test_mesh_netns.py.)"""
import hashlib
import hmac
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import time
import urllib.parse

import paho.mqtt.client as paho
import pytest

from conftest import SKEIN, Node, SseClient, wait_for

FAST = ("--mesh-heartbeat-ms", "200", "--mesh-dead-after-ms", "1500",
        "--mesh-reconnect-max-ms", "500")


@pytest.fixture
def mesh(tmp_path):
    """Starts named nodes; `links` are mesh addresses of nodes to dial."""
    nodes = []

    def make(name, *args, links=(), start=True):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        extra = ["--node", name, *FAST, *args]
        for target in links:
            extra += ["--link", target.addresses["mesh"] if isinstance(target, Node) else target]
        n = Node(d, *extra)
        n.name = name
        nodes.append(n)
        return n.start() if start else n

    yield make
    for n in nodes:
        n.stop()
    for n in nodes:
        n.assert_no_sanitizer_report()


def status(node):
    code, body, _ = node.request("GET", "/v1/mesh")
    assert code == 200, body
    return json.loads(body)


def link(node, peer):
    for l in status(node)["links"]:
        if l["peer"] == peer:
            return l
    return None


def converged(*nodes):
    """Every node knows every other as reachable, with its links up."""
    names = {n.name for n in nodes}
    for n in nodes:
        s = status(n)
        if {x["name"] for x in s["nodes"] if x["reachable"]} != names:
            return False
    return True


def wait_remote_filter(node, filter_, present=True, timeout=10):
    """Until the node attracts `filter_` for the mesh (in its router), or no longer."""
    wait_for(lambda: (filter_ in status(node)["attracting"]) == present, timeout,
             f"{filter_} {'in' if present else 'gone from'} what {node.name} attracts")


def line(mesh, *names, args=()):
    """Nodes in a line, each dialling the one before it; converged."""
    nodes = []
    for name in names:
        nodes.append(mesh(name, *args, links=nodes[-1:]))
    wait_for(lambda: converged(*nodes), 10, "the line to converge")
    return nodes


def publish(node, topic, payload, persistent=False):
    path = "/v1/topics/" + urllib.parse.quote(topic, safe="/")
    if persistent:
        path += "?persistent=true"
    code, body, _ = node.request("POST", path, payload)
    return code, json.loads(body) if body else None


class Mqtt:
    """A paho MQTT 3.1.1 client on a node, messages queued."""

    def __init__(self, node, client_id, clean=True):
        host, port = node.addresses["mqtt"].rsplit(":", 1)
        self.messages = queue.Queue()
        self.c = paho.Client(client_id=client_id, clean_session=clean)
        self.c.on_message = lambda _c, _u, m: self.messages.put(m)
        connected = queue.Queue()
        self.c.on_connect = lambda *a: connected.put(True)
        self.c.connect(host, int(port), 30)
        self.c.loop_start()
        connected.get(timeout=10)

    def subscribe(self, filter_, qos=1):
        done = queue.Queue()
        self.c.on_subscribe = lambda *a: done.put(True)
        self.c.subscribe(filter_, qos)
        done.get(timeout=10)

    def take(self, n, timeout=15):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            assert left > 0, f"got {len(out)} of {n} messages: {[m.payload for m in out]}"
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                pass
        return out

    def nothing_more(self, within=0.5):
        try:
            m = self.messages.get(timeout=within)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message {m.topic} {m.payload}")

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


# --- subscriptions and forwarding ---------------------------------------------------

def test_a_subscription_at_one_end_of_a_line_draws_events_from_the_other(mesh):
    a, b, c = line(mesh, "a", "b", "c")
    sub = SseClient(c, "orders/*/us/>")
    wait_remote_filter(a, "orders/*/us/>")
    assert "orders/*/us/>" in status(c)["local_filters"]
    for i in range(5):
        code, _ = publish(a, f"orders/created/us/{i}", f"hello {i}")
        assert code == 202 or code == 200
    publish(a, "orders/created/eu/9", "not for us")
    got = sub.events(5)
    assert [e["data"] for e in got] == [f"hello {i}" for i in range(5)]
    assert [e["event"] for e in got] == [f"orders/created/us/{i}" for i in range(5)]
    # The event published at the other end is the same event: its origin is a.
    sub.close()
    wait_remote_filter(a, "orders/*/us/>", present=False)


def test_each_event_crosses_each_link_once_whatever_the_subscribers_behind_it(mesh):
    a, b, c = line(mesh, "a", "b", "c")
    subs = [SseClient(c, "orders/>") for _ in range(10)]
    local_at_b = SseClient(b, "orders/*/us/>")
    wait_remote_filter(a, "orders/>")
    wait_remote_filter(a, "orders/*/us/>")
    before_ab = link(a, "b")["events_out"]
    before_bc = link(b, "c")["events_out"]
    for i in range(100):
        publish(a, f"orders/created/us/{i}", str(i))
    for s in subs:
        assert [e["data"] for e in s.events(100)] == [str(i) for i in range(100)]
    assert [e["data"] for e in local_at_b.events(100)] == [str(i) for i in range(100)]
    assert link(a, "b")["events_out"] - before_ab == 100
    assert link(b, "c")["events_out"] - before_bc == 100
    for s in subs + [local_at_b]:
        s.close()


def test_events_nobody_wants_stay_at_their_node(mesh):
    a, b, c = line(mesh, "a", "b", "c")
    sub = SseClient(c, "wanted/>")
    wait_remote_filter(a, "wanted/>")
    for i in range(50):
        publish(a, f"unwanted/{i}", "x")
    # Only b wants from c... nothing; a sends nothing towards b but the wanted event.
    publish(a, "wanted/1", "yes")
    assert sub.next_event()["data"] == "yes"
    assert link(a, "b")["events_out"] == 1
    assert link(b, "c")["events_out"] == 1
    # A branch without interest gets nothing: c's subscription does not pull
    # events published at c towards a or b.
    publish(c, "wanted/2", "local")
    assert sub.next_event()["data"] == "local"
    assert link(c, "b")["events_out"] == 0
    sub.close()


def test_mqtt_and_http_meet_across_the_mesh(mesh):
    a, b = line(mesh, "a", "b")
    device = Mqtt(b, "dev-1")
    device.subscribe("devices/dev-1/cmd/#")
    wait_remote_filter(a, "devices/dev-1/cmd/>")
    wait_remote_filter(a, "devices/dev-1/cmd")
    publish(a, "devices/dev-1/cmd/reboot", b"now")
    m = device.take(1)[0]
    assert (m.topic, m.payload) == ("devices/dev-1/cmd/reboot", b"now")
    # And back: a device's telemetry reaches an HTTP subscriber at the other node.
    sub = SseClient(a, "devices/*/state")
    wait_remote_filter(b, "devices/*/state")
    device.c.publish("devices/dev-1/state", b"up", qos=1).wait_for_publish(10)
    assert sub.next_event()["data"] == "up"
    sub.close()
    device.close()


def test_both_nodes_dialling_each_other_keep_one_link(mesh):
    a = mesh("a")
    b = mesh("b", links=[a])
    # Now a dials b as well: a second connection between the same two nodes.
    a2 = mesh("a2", links=[b])
    wait_for(lambda: converged(a, b, a2), 10, "convergence")
    # Restart a with a link to b too: both a->b and b->a exist.
    a.stop()
    a.args += ["--link", b.addresses["mesh"]]
    a.start()
    wait_for(lambda: converged(a, b, a2), 10, "convergence after the restart")
    wait_for(lambda: len([l for l in status(b)["links"] if l["peer"] == "a" and l["state"] == "up"]) == 1,
             10, "one link a-b")
    links_at_a = [l for l in status(a)["links"] if l["peer"] == "b"]
    assert len(links_at_a) == 1 and links_at_a[0]["state"] == "up"
    # The link kept is the one dialled by a (its name sorts first), on both sides.
    assert links_at_a[0]["direction"] == "dialled"
    assert link(b, "a")["direction"] == "accepted"
    sub = SseClient(b, "x")
    wait_remote_filter(a, "x")
    publish(a, "x", "once")
    assert sub.next_event()["data"] == "once"
    sub.close()


# --- persistent events --------------------------------------------------------------

def test_persistent_events_reach_an_offline_session_across_the_mesh(mesh):
    a, b, c = line(mesh, "a", "b", "c")
    dev = Mqtt(c, "persistent-dev", clean=False)
    dev.subscribe("orders/#", qos=1)
    dev.close()
    wait_remote_filter(a, "orders/>")
    for i in range(20):
        code, body = publish(a, "orders/x", f"p{i}", persistent=True)
        assert code == 201, body
        assert body["stored"] >= 1
    dev = Mqtt(c, "persistent-dev", clean=False)
    got = [m.payload.decode() for m in dev.take(20)]
    assert got == [f"p{i}" for i in range(20)]
    dev.nothing_more()
    dev.close()
    # Acknowledged hop by hop: nothing waits in any outbox.
    wait_for(lambda: link(a, "b")["outbox"]["events"] == 0 and link(b, "c")["outbox"]["events"] == 0,
             10, "outboxes to empty")


def test_persistent_events_wait_for_a_middle_node_killed_and_restarted(mesh):
    # b dials both ends, so that it finds them again after its restart.
    a = mesh("a")
    c = mesh("c")
    b = mesh("b", links=[a, c])
    wait_for(lambda: converged(a, b, c), 10, "convergence")
    dev = Mqtt(c, "dev-k9", clean=False)
    dev.subscribe("orders/#", qos=1)
    wait_remote_filter(a, "orders/>")
    sent = []
    for i in range(30):
        assert publish(a, "orders/k", f"before {i}", persistent=True)[0] == 201
        sent.append(f"before {i}")
    b.stop(signal.SIGKILL)
    wait_for(lambda: link(a, "b")["state"] == "down", 10, "a to see b gone")
    # b is gone, its records still known: a keeps c's events for b.
    for i in range(30):
        assert publish(a, "orders/k", f"during {i}", persistent=True)[0] == 201
        sent.append(f"during {i}")
    assert link(a, "b")["outbox"]["events"] >= 30
    b.start()
    wait_for(lambda: converged(a, b, c), 15, "convergence after the restart")
    got = [m.payload.decode() for m in dev.take(60, timeout=20)]
    assert sorted(got) == sorted(sent), "lost or extra events"
    assert len(set(got)) == len(got), "an event arrived twice"
    dev.close()


# --- refused peers and bad input ----------------------------------------------------

def test_a_peer_of_another_mesh_is_refused_with_the_reason_logged(mesh):
    a = mesh("a")
    stranger = mesh("s", "--mesh-name", "other", links=[a])
    wait_for(lambda: "is not this node's mesh" in a.read_log(), 10, "a's log line")
    assert 'mesh "other" is not this node\'s mesh "skein"' in a.read_log()
    assert all(n["name"] != "s" for n in status(a)["nodes"])
    wait_for(lambda: any("refused the link" in d["last_error"] or "wrong mesh" in d["last_error"]
                         for d in status(stranger)["dialing"]), 10, "the stranger to know why")


def test_a_peer_without_the_secret_is_refused(mesh):
    a = mesh("a", "--mesh-secret", "s3cret")
    bad = mesh("bad", "--mesh-secret", "guess", links=[a])
    good = mesh("good", "--mesh-secret", "s3cret", links=[a])
    wait_for(lambda: converged(a, good), 10, "the good peer to link")
    wait_for(lambda: "does not know this mesh's secret" in a.read_log(), 10, "a's log line")
    assert all(n["name"] != "bad" for n in status(a)["nodes"])
    assert all(n["name"] != "bad" for n in status(good)["nodes"])
    del bad


def frame(ftype, body):
    return struct.pack(">IB", len(body) + 1, ftype) + body


def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def text(b):
    b = b.encode() if isinstance(b, str) else b
    return varint(len(b)) + b


def proof(secret, mesh_name, prover, verifier, prover_nonce, verifier_nonce):
    context = b"skein-mesh-proof-v1"
    for part in (mesh_name.encode(), prover.encode(), verifier.encode(), prover_nonce, verifier_nonce):
        context += struct.pack(">H", len(part)) + part
    return hmac.new(secret.encode(), context, hashlib.sha256).digest()


def read_frame(sock):
    head = b""
    while len(head) < 5:
        chunk = sock.recv(5 - len(head))
        if not chunk:
            return None
        head += chunk
    n, ftype = struct.unpack(">IB", head)
    body = b""
    while len(body) < n - 1:
        chunk = sock.recv(n - 1 - len(body))
        if not chunk:
            return None
        body += chunk
    return ftype, body


def handshake(node, name="raw", secret=""):
    """A raw peer: HELLO and PROOF done; returns the socket."""
    host, port = node.addresses["mesh"].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    nonce = os.urandom(16)
    s.sendall(frame(1, struct.pack(">H", 1) + text("skein") + text(name) + varint(1) + text(nonce)))
    ftype, body = read_frame(s)
    assert ftype == 1
    # Their HELLO: version, mesh, node, incarnation, nonce (the last 17 bytes).
    their_nonce = body[-16:]
    s.sendall(frame(2, text(proof(secret, "skein", name, node.name, nonce, their_nonce))))
    ftype, _ = read_frame(s)
    assert ftype == 2
    return s


def goodbye_reason(sock):
    """Reads frames until a GOODBYE; its reason."""
    while True:
        f = read_frame(sock)
        assert f is not None, "closed without a goodbye"
        if f[0] == 7:
            body = f[1]
            return body[3:].decode()


@pytest.mark.parametrize("bad,expect", [
    (frame(99, b"x"), "unknown frame type 99"),
    (struct.pack(">IB", 1 << 30, 5), "above the limit"),
    (frame(5, b"\x00\x05\x01"), "malformed events frame"),
    (frame(4, b"\x01" + text("n") + varint(1) + varint(1) + varint(0) + varint(0) + varint(1)
              + text("a//b")),
     "registry filter"),
    (frame(1, struct.pack(">H", 1) + text("skein") + text("raw") + varint(1) + text(b"n" * 16)),
     "handshake frame after the handshake"),
])
def test_a_malformed_frame_closes_that_link_only(mesh, bad, expect):
    a, b = line(mesh, "a", "b")
    sub = SseClient(b, "still/works")
    wait_remote_filter(a, "still/works")
    s = handshake(a)
    wait_for(lambda: any(l["peer"] == "raw" and l["state"] == "up" for l in status(a)["links"]),
             10, "the raw peer's link")
    s.sendall(bad)
    assert expect in goodbye_reason(s)
    s.close()
    wait_for(lambda: link(a, "raw")["state"] == "down", 10, "the raw link to go")
    assert expect in a.read_log()
    # The node and its other link go on.
    publish(a, "still/works", "yes")
    assert sub.next_event()["data"] == "yes"
    assert link(a, "b")["state"] == "up"
    sub.close()


def test_garbage_before_the_handshake_is_refused(mesh):
    a = mesh("a")
    host, port = a.addresses["mesh"].rsplit(":", 1)
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\x00\x00\x00\x00", os.urandom(300)):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(junk)
        s.settimeout(10)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        s.close()
    assert status(a)["links"] == []
    assert publish(a, "t", "alive")[0] in (200, 202)


# --- observability ------------------------------------------------------------------

def test_status_cli_and_metrics_describe_the_links(mesh):
    a, b = line(mesh, "a", "b")
    out = subprocess.run([SKEIN, "mesh", "status", "--url", a.url], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, out.stderr
    assert "node a in mesh skein" in out.stdout
    assert any(l.split()[:2] == ["b", "up"] for l in out.stdout.splitlines())
    as_json = json.loads(subprocess.run([SKEIN, "mesh", "status", "--url", a.url, "--json"],
                                        capture_output=True, text=True, timeout=20).stdout)
    assert as_json["node"] == "a" and as_json["links"][0]["peer"] == "b"
    wait_for(lambda: link(a, "b")["rtt_ms"] is not None, 10, "a round trip")
    assert 0 < link(a, "b")["rtt_ms"] < 1000
    wait_for(lambda: a.metrics().get('skein_mesh_link_up{peer="b"}') == 1, 10, "the link metric")
    assert a.metrics()["skein_mesh_nodes"] == 2


def test_bad_mesh_settings_are_refused_at_start(tmp_path):
    for args, message in ((["--node", "has space"], "--node"),
                          (["--mesh-name", "a/b"], "--mesh-name"),
                          (["--link", "nocolon"], "--link")):
        out = subprocess.run([SKEIN, "serve", "--data", str(tmp_path / "d"), "--http", "127.0.0.1:0",
                              *args], capture_output=True, text=True, timeout=20)
        assert out.returncode != 0
        assert message in out.stderr + out.stdout


def test_a_node_with_many_filters_advertises_a_summary_that_still_draws_its_events(mesh):
    a = mesh("a")
    b = mesh("b", "--mesh-max-advertised-filters", "3", links=[a])
    wait_for(lambda: converged(a, b), 10, "convergence")
    devices = [Mqtt(b, f"dev-{i}") for i in range(6)]
    for i, d in enumerate(devices):
        d.subscribe(f"devices/{i}/cmd", qos=0)
    wait_remote_filter(a, "devices/>")
    record = next(n for n in status(a)["nodes"] if n["name"] == "b")
    assert record["filters"] == ["devices/>"]
    assert sorted(status(b)["local_filters"]) == ["devices/>"]
    for i in range(6):
        publish(a, f"devices/{i}/cmd", f"to {i}")
    for i, d in enumerate(devices):
        assert [m.payload.decode() for m in d.take(1)] == [f"to {i}"]
        d.nothing_more(0.2)
        d.close()
