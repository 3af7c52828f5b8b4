"""The mesh between real `skein serve` processes, one per site of a network
namespace Topology (netns_support.py): each site has its own interfaces and
ports, sites reach each other only over the links made between them, and WAN
links have 50 ms of one-way delay and 1 % random loss (the tap relay, since
this kernel has no netem).

Every node listens for the mesh on 0.0.0.0:7946 in its own site (so a
neighbour dials the address this site has on their link), and for HTTP and
MQTT on 127.0.0.1, ephemeral ports read from its ready file; the test process
reaches those through sockets made inside the site. Heartbeats every 200 ms
and a dead-after of 1.5 s make failure detection fast.

Nothing sleeps to synchronise: every wait polls (GET /v1/mesh, a subscriber's
socket, an MQTT queue) against a deadline that fails the test with what was
seen."""
import contextlib
import http.client
import json
import queue
import re
import select
import signal
import time
import urllib.parse

import pytest

from conftest import SKEIN
from mqtt_support import PahoClient
from netns_support import Topology, run_in_netns, support, wait_until

MESH_PORT = 7946
HEARTBEAT_MS = 200
DEAD_AFTER_MS = 1500
RECONNECT_MAX_MS = 1000
WAN = dict(delay_ms=50, loss_pct=1.0)


def fail_unless_supported():
    s = support()
    if not s.ok:
        pytest.fail("this machine cannot run the netns tests: " + s.reason)
    if not (s.netem or s.relay):
        pytest.fail("WAN links need netem or the tap relay: " + s.reason)


poll_until = wait_until


# --- one node per site ----------------------------------------------------------------


class SiteNode:
    """`skein serve` inside one site. `links`: HOST:PORT this node dials."""

    def __init__(self, topo, site, workdir, links=(), extra=()):
        self.topo, self.site = topo, site
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data = workdir / "data"
        self.ready_file = workdir / "ready.json"
        self.log_path = workdir / "skein.log"
        self.links, self.extra = list(links), list(extra)
        self.proc = None
        self.http = self.mqtt = None

    def argv(self):
        argv = [SKEIN, "serve", "--node", self.site, "--data", str(self.data),
                "--ready-file", str(self.ready_file),
                "--http", "127.0.0.1:0", "--kafka", "off", "--mqtt", "127.0.0.1:0",
                "--mesh", f"0.0.0.0:{MESH_PORT}",
                "--mesh-heartbeat-ms", str(HEARTBEAT_MS), "--mesh-dead-after-ms", str(DEAD_AFTER_MS),
                "--mesh-reconnect-max-ms", str(RECONNECT_MAX_MS), "--shutdown-grace-ms", "1000"]
        for target in self.links:
            argv += ["--link", target]
        return argv + self.extra

    def start(self, timeout=20.0):
        self.ready_file.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"=== start {' '.join(self.argv())}\n".encode())
            log.flush()
            self.proc = self.topo.spawn(self.site, self.argv(), stdout=log, stderr=log)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"skein at {self.site} exited with {self.proc.returncode}:\n"
                                     + self.read_log()[-4000:])
            return self.ready_file.exists()
        poll_until(ready, timeout, f"the ready file of {self.site}")
        addresses = json.loads(self.ready_file.read_text())
        self.http = split_address(addresses["http"])
        self.mqtt = split_address(addresses["mqtt"])
        return self

    def kill9(self):
        """SIGKILL (the Popen is skein itself: `ip netns exec` execs it)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout=10.0):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except Exception:
                self.proc.kill()
                self.proc.wait()

    def read_log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines=40):
        """The last log lines (spdlog's and our start markers; not the
        human hint skein prints on stdout)."""
        kept = [l for l in self.read_log().splitlines() if l.startswith(("20", "==="))]
        return "\n".join(kept[-lines:])

    # HTTP, from inside the site
    def connect_http(self, timeout=10.0):
        return self.topo.connect(self.site, self.http, timeout=timeout)

    def request(self, method, path, body=None, timeout=10.0):
        conn = http.client.HTTPConnection(*self.http, timeout=timeout)
        conn.sock = self.connect_http(timeout)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def publish(self, topic, payload=b"", persistent=False):
        path = "/v1/topics/" + urllib.parse.quote(topic, safe="/")
        if persistent:
            path += "?persistent=true"
        return self.request("POST", path, payload)

    def mesh(self):
        status, body = self.request("GET", "/v1/mesh")
        assert status == 200, (status, body)
        return json.loads(body)

    def mqtt_client(self, client_id, clean):
        """A connected paho client (MQTT 3.1.1) whose socket lives in this site."""
        client = PahoClient(Broker(self.mqtt), client_id=client_id, version=4, clean=clean)
        run_in_netns(self.topo.netns[self.site], client.connect)
        return client


class Broker:
    """What PahoClient needs of a broker."""

    def __init__(self, address):
        self.address = address


def split_address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


# --- reading /v1/mesh ---------------------------------------------------------------


def node_entry(doc, name):
    return next((n for n in doc["nodes"] if n["name"] == name), None)


def link_entry(doc, peer):
    return next((l for l in doc["links"] if l["peer"] == peer), None)


def distance(doc, name):
    """Hops from the document's node to `name`, None when unreachable or unknown."""
    n = node_entry(doc, name)
    return n["distance"] if n and n["reachable"] else None


def link_up(doc, peer):
    l = link_entry(doc, peer)
    return l is not None and l["state"] == "up"


def summary(doc):
    """The parts of a /v1/mesh document that explain routing, compactly."""
    return json.dumps({
        "node": doc["node"],
        "links": [{k: l.get(k) for k in ("peer", "state", "rtt_ms", "events_out", "events_in",
                                         "persistent_out", "persistent_in", "duplicates_in", "outbox")}
                  for l in doc["links"]],
        "dialing": doc["dialing"],
        "nodes": [{k: n[k] for k in ("name", "reachable", "distance", "links", "filters")}
                  for n in doc["nodes"]],
        "remote_filters": doc["remote_filters"]}, sort_keys=True)


def states(nodes):
    """Every running node's /v1/mesh summary, for failure messages."""
    out = []
    for n in nodes:
        if n.proc is None or n.proc.poll() is not None:
            out.append(f"{n.site}: not running")
            continue
        try:
            out.append(f"{n.site}: {summary(n.mesh())}")
        except Exception as exc:  # shown, not raised: this is a diagnostic
            out.append(f"{n.site}: /v1/mesh failed: {exc!r}")
    return "\n".join(out)


def wait_converged(nodes, expected, timeout=20.0):
    """expected: {site: {other site: distance}}; polls until every node's
    view has those distances."""
    by_site = {n.site: n for n in nodes}

    def done():
        for site, want in expected.items():
            doc = by_site[site].mesh()
            if any(distance(doc, other) != d for other, d in want.items()):
                return False
        return True
    poll_until(done, timeout, lambda: "the mesh to converge to " + json.dumps(expected)
               + "\n" + states(nodes) + "\n" + "\n".join(f"--- {n.site} log\n{n.log_tail(15)}"
                                                           for n in nodes))


# --- subscribers ------------------------------------------------------------------------


class Sse:
    """An SSE subscriber over a socket made inside the node's site; subscribed
    (in effect at that node) when the constructor returns. poll() reads
    without blocking longer than asked."""

    def __init__(self, node, filt, timeout=10.0):
        self.sock = node.connect_http(timeout)
        query = urllib.parse.urlencode([("filter", filt)])
        self.sock.sendall(f"GET /v1/subscribe?{query} HTTP/1.1\r\nHost: x\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.buf = b""
        deadline = time.monotonic() + timeout
        while b": subscribed\n\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no subscription confirmation from {node.site}: {self.buf!r}"
            self._read(left)
        head, _, self.buf = self.buf.partition(b": subscribed\n\n")
        assert head.startswith(b"HTTP/1.1 200"), head

    def _read(self, timeout):
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if ready:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("the SSE stream ended")
            self.buf += chunk
            return True
        return False

    def poll(self, timeout=0.0):
        """Events complete so far (after waiting up to `timeout` for data)."""
        self._read(timeout)
        while self._read(0):
            pass
        events = []
        while b"\n\n" in self.buf:
            block, _, self.buf = self.buf.partition(b"\n\n")
            event, data = {}, []
            for line in block.decode().split("\n"):
                if not line or line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    data.append(value)
                else:
                    event[field] = value
            if event or data:
                event["data"] = "\n".join(data)
                events.append(event)
        return events

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def drain_mqtt(client, into, timeout):
    """Moves the MQTT messages that arrive within `timeout` into `into`
    (list of (topic, payload)); returns how many."""
    n = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = client.messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return n
        into.append((msg.topic, msg.payload.decode()))
        n += 1
        if time.monotonic() >= deadline:
            return n


# --- the environment of one test ----------------------------------------------------


class Env:
    """A test's topologies, nodes and clients, torn down in reverse order
    (clients, then nodes with SIGTERM, then the namespaces)."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.stack = contextlib.ExitStack()
        self.nodes = []

    def topology(self, *sites):
        t = Topology(*sites, grace=2.0).start()
        self.stack.callback(t.close)
        self.stack.callback(self._stop_nodes)
        return t

    def _stop_nodes(self):
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                n.proc.terminate()
        for n in self.nodes:
            n.stop()
        # Under `make test` the suites also run against an ASan+UBSan build.
        for n in self.nodes:
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                assert marker not in n.read_log(), f"sanitizer report in {n.site}'s log:\n{n.read_log()}"

    def start_nodes(self, topo, dials, extra=None):
        """dials: {site: [sites it dials]}; every site of topo gets a node."""
        nodes = {}
        for site in topo.netns:
            targets = [f"{topo.address(peer, site)}:{MESH_PORT}" for peer in dials.get(site, [])]
            nodes[site] = SiteNode(topo, site, self.tmp_path / site, targets, (extra or {}).get(site, ()))
            self.nodes.append(nodes[site])
        for n in nodes.values():
            n.start()
        return nodes

    def sse(self, node, filt):
        s = Sse(node, filt)
        self.stack.callback(s.close)
        return s

    def mqtt(self, node, client_id, clean):
        c = node.mqtt_client(client_id, clean)
        self.stack.callback(c.close)
        return c


@pytest.fixture
def env(tmp_path):
    fail_unless_supported()
    e = Env(tmp_path)
    with e.stack:
        yield e


def report(capsys, text):
    with capsys.disabled():
        print(f"\n[mesh-netns] {text}", flush=True)


def line_topology(env, dials=None):
    """A - B - C over WAN links; A dials B and B dials C."""
    t = env.topology("A", "B", "C")
    t.link("A", "B", **WAN)
    t.link("B", "C", **WAN)
    nodes = env.start_nodes(t, dials or {"A": ["B"], "B": ["C"]})
    wait_converged(nodes.values(), {"A": {"B": 1, "C": 2}, "B": {"A": 1, "C": 1},
                                    "C": {"A": 2, "B": 1}})
    return t, nodes


def wait_filter(nodes, filt, timeout=10.0):
    """Until every one of `nodes` attracts `filt` for the mesh."""
    poll_until(lambda: all(filt in n.mesh()["remote_filters"] for n in nodes), timeout,
               lambda: f"{filt} in the remote filters of {[n.site for n in nodes]}\n{states(nodes)}")


class SseCollector:
    """Events of one SSE subscriber, kept in arrival order."""

    def __init__(self, sse):
        self.sse, self.events = sse, []

    def receive(self, wait):
        new = self.sse.poll(wait)
        self.events += new
        return new

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"have {[e.get('event') for e in self.events][-30:]}")
            self.receive(min(left, 0.1))


class MqttCollector:
    """(topic, payload) of one paho client's messages, in arrival order."""

    def __init__(self, client):
        self.client, self.messages = client, []

    def receive(self, wait):
        before = len(self.messages)
        drain_mqtt(self.client, self.messages, wait)
        return self.messages[before:]

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate(self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"have {[p for _, p in self.messages][-40:]}")
            self.receive(min(left, 0.1))

    def payloads(self):
        return [p for _, p in self.messages]


def probe_until_delivered(publisher, topic_prefix, receive, timeout, what):
    """Publishes direct events topic_prefix/N at `publisher`, one per round,
    until `receive(wait)` returns something; returns (seconds, number
    published). Direct events are at most once: those published while the
    routes are still being recomputed may be lost, hence the repetition."""
    start = time.monotonic()
    published = 0
    while time.monotonic() - start < timeout:
        status, body = publisher.publish(f"{topic_prefix}/{published}", b"probe")
        assert status == 202, (status, body)
        published += 1
        if receive(0.03):
            return time.monotonic() - start, published
    raise AssertionError(f"{what}: none of {published} probes published at {publisher.site} "
                         f"arrived within {timeout}s")


# --- 1. subscription propagation over a line of WAN links -------------------------------


def test_subscription_at_c_takes_effect_at_a_quickly(env, capsys):
    """A subscription made at C is known at A (two 50 ms links away) and
    events published at A reach it, both well within 3 s; for an SSE and
    an MQTT subscriber in turn."""
    t, nodes = line_topology(env)
    a, c = nodes["A"], nodes["C"]
    for kind in ("sse", "mqtt"):
        filt = f"t1/{kind}/>"
        assert filt not in a.mesh()["remote_filters"]
        t0 = time.monotonic()
        if kind == "sse":
            collector = SseCollector(env.sse(c, filt))
        else:
            client = env.mqtt(c, "t1-sub", clean=True)
            assert client.subscribe(f"t1/{kind}/#", qos=0) == [0]
            collector = MqttCollector(client)
        subscribed = time.monotonic() - t0          # in effect at C
        in_effect = first = None
        published = 0
        while first is None and time.monotonic() - t0 < 10:
            if in_effect is None and filt in a.mesh()["remote_filters"]:
                in_effect = time.monotonic() - t0
            status, body = a.publish(f"t1/{kind}/probe/{published}", b"probe")
            assert status == 202, (status, body)
            published += 1
            if collector.receive(0.02):
                first = time.monotonic() - t0
        assert first is not None, (
            f"{kind}: none of {published} events published at A reached the subscriber at C "
            f"within 10 s\n{states(nodes.values())}")
        if in_effect is None:         # the delivery came before a poll of A saw the filter
            assert filt in a.mesh()["remote_filters"]
            in_effect = first
        rtt = link_entry(a.mesh(), "B")["rtt_ms"]
        report(capsys, f"{kind} subscription at C, line of 2 x (50 ms, 1% loss) (A-B rtt {rtt} ms): "
                       f"in effect at C after {subscribed * 1000:.0f} ms, in A's remote_filters after "
                       f"{in_effect * 1000:.0f} ms, first event A->C delivered after "
                       f"{first * 1000:.0f} ms ({published} published)")
        # The registry record crosses two 50 ms links to reach A.
        assert in_effect >= 0.1, f"{kind}: in effect at A after {in_effect:.3f}s, faster than the wire"
        assert in_effect < 3.0, f"{kind}: the subscription took {in_effect:.3f}s to reach A"
        assert first < 3.0, f"{kind}: the first event reached C {first:.3f}s after subscribing"


# --- 2. a ring routes around a cut, and back after the heal -----------------------------


@pytest.mark.parametrize("mode", ["down", "drop"])
def test_ring_routes_around_a_cut_and_back(env, capsys, mode):
    t = env.topology("A", "B", "C", "D")
    for x, y in (("A", "B"), ("B", "C"), ("C", "D"), ("D", "A")):
        t.link(x, y, **WAN)
    nodes = env.start_nodes(t, {"A": ["B", "D"], "B": ["C"], "C": ["D"]})
    a, b = nodes["A"], nodes["B"]
    everyone = list(nodes.values())
    ring = {"A": {"B": 1, "C": 2, "D": 1}, "B": {"A": 1, "C": 1, "D": 2},
            "C": {"A": 2, "B": 1, "D": 1}, "D": {"A": 1, "B": 2, "C": 1}}
    wait_converged(everyone, ring)
    sub = SseCollector(env.sse(b, "ring/>"))
    wait_filter([nodes[s] for s in "ACD"], "ring/>")

    def events_out():
        doc = a.mesh()
        return {peer: link_entry(doc, peer)["events_out"] for peer in ("B", "D")}

    def batch(tag, count=20):
        """A fence first (so that earlier probes are counted), then `count`
        direct events A -> B; returns the events_out growth per link of A."""
        probe_until_delivered(a, f"ring/{tag}/probe", sub.receive, 10, f"{tag}: a path A -> B")
        a.publish(f"ring/{tag}/fence", b"fence")
        sub.wait_for(lambda evs: any(e["event"] == f"ring/{tag}/fence" for e in evs), 10,
                     f"{tag}: the fence at B")
        before = events_out()
        topics = [f"ring/{tag}/n/{i}" for i in range(count)]
        for i, topic in enumerate(topics):
            status, body = a.publish(topic, f"{tag}-{i}".encode())
            assert status == 202, (status, body)
        sub.wait_for(lambda evs: any(e["event"] == topics[-1] for e in evs), 10,
                     f"{tag}: the last of {count} events at B")
        got = [e["event"] for e in sub.events if e["event"].startswith(f"ring/{tag}/n/")]
        assert got == topics, f"{tag}: B received {got}, expected {topics} (in order, once each)"
        after = events_out()
        return {peer: after[peer] - before[peer] for peer in after}

    direct = batch("before")
    assert direct == {"B": 20, "D": 0}, f"before the cut A sent {direct} (events per link)"

    t.cut("A", "B", mode=mode)
    cut_at = time.monotonic()
    poll_until(lambda: (lambda doc: not link_up(doc, "B") and distance(doc, "B") == 3)(a.mesh()),
               10, lambda: f"A to see the A-B link down and B 3 hops away ({mode})\n{states(everyone)}")
    converged_a = time.monotonic() - cut_at
    poll_until(lambda: (lambda doc: not link_up(doc, "A") and distance(doc, "A") == 3)(b.mesh()),
               10, lambda: f"B to see the A-B link down and A 3 hops away ({mode})\n{states(everyone)}")
    converged_b = time.monotonic() - cut_at
    around_first, probes = probe_until_delivered(a, "ring/around/first", sub.receive, 10,
                                                 "after the cut, a path A -> D -> C -> B")
    around_first += converged_a
    around = batch("around")
    assert around == {"B": 0, "D": 20}, f"with A-B cut ({mode}) A sent {around} (events per link)"

    t.heal("A", "B")
    healed_at = time.monotonic()
    poll_until(lambda: (lambda doc: link_up(doc, "B") and distance(doc, "B") == 1)(a.mesh()),
               10, lambda: f"A to use the A-B link again\n{states(everyone)}")
    relinked = time.monotonic() - healed_at
    wait_converged(everyone, ring)
    back = batch("after")
    assert back == {"B": 20, "D": 0}, f"after the heal A sent {back} (events per link)"
    report(capsys, f"ring A-B-C-D-A, 4 x (50 ms, 1% loss), cut A-B mode={mode} "
                   f"(heartbeat {HEARTBEAT_MS} ms, dead after {DEAD_AFTER_MS} ms): converged at A after "
                   f"{converged_a * 1000:.0f} ms, at B after {converged_b * 1000:.0f} ms, first event "
                   f"around the ring {around_first * 1000:.0f} ms after the cut ({probes} probes after "
                   f"A converged); after the heal the direct link was back after {relinked * 1000:.0f} ms")


# --- 3. persistent events wait out a cut ------------------------------------------------


def refusals(answers):
    """The persistent publishes not answered 201, grouped by answer (the
    topic in the answer's text replaced by <topic>): {answer: [names]}."""
    out = {}
    for name, (status, body) in answers.items():
        if status != 201:
            text = re.sub(r"topic [^\s\"]+", "topic <topic>", body.decode(errors="replace"))
            out.setdefault(f"{status} {text}", []).append(name)
    return out


def test_persistent_events_cross_a_cut_once(env, capsys):
    """Persistent events published at A while A-B is cut (silently), for a
    persistent MQTT session at C: each answered 201 once stored at A (held
    in A's outbox for B), all delivered after the heal, none twice. Every
    finding is collected, so that one failure shows them all."""
    t, nodes = line_topology(env)
    a, b, c = nodes["A"], nodes["B"], nodes["C"]
    client = env.mqtt(c, "t3-durable", clean=False)
    assert client.subscribe("t3/#", qos=1) == [1]
    inbox = MqttCollector(client)
    wait_filter([a, b], "t3/>")
    answers = {"warmup": a.publish("t3/warmup", b"warmup", persistent=True)}
    inbox.wait_for(lambda m: "warmup" in [p for _, p in m], 10, "the warm-up event at C")

    t.cut("A", "B", mode="drop")
    # Half while A still believes in the link (sent into the void, to be sent
    # again), half once A knows it is down (kept in the held outbox).
    for i in range(10):
        answers[f"ev-{i}"] = a.publish(f"t3/ev/{i}", f"ev-{i}".encode(), persistent=True)
    poll_until(lambda: not link_up(a.mesh(), "B"), 10,
               lambda: f"A to see the A-B link down\n{states(nodes.values())}")
    for i in range(10, 20):
        answers[f"ev-{i}"] = a.publish(f"t3/ev/{i}", f"ev-{i}".encode(), persistent=True)
    during = a.mesh()
    held = link_entry(during, "B")["outbox"]["events"]

    t.heal("A", "B")
    healed_at = time.monotonic()
    want = [f"ev-{i}" for i in range(20)]
    inbox.wait_for(lambda m: set(want) <= {p for _, p in m}, 20, "all 20 events at C after the heal")
    delivered = time.monotonic() - healed_at
    # Everything acknowledged hop by hop, then a last event as a fence: all
    # that could come twice would come before it.
    poll_until(lambda: link_entry(a.mesh(), "B")["outbox"]["events"] == 0
               and link_entry(b.mesh(), "C")["outbox"]["events"] == 0, 10,
               lambda: f"the outboxes to empty\n{states(nodes.values())}")
    answers["fence"] = a.publish("t3/fence", b"fence", persistent=True)
    inbox.wait_for(lambda m: "fence" in [p for _, p in m], 10, "the fence at C")
    got = [p for p in inbox.payloads() if p.startswith("ev-")]
    twice = sorted({p for p in got if got.count(p) > 1}, key=lambda p: int(p[3:]))
    report(capsys, f"20 persistent events during an A-B cut (drop), {held} held in A's outbox: "
                   f"all at C {delivered * 1000:.0f} ms after the heal; duplicates at C: {twice}; "
                   f"A/B duplicates counted: {a.mesh()['duplicates']}/{b.mesh()['duplicates']}; "
                   f"answers not 201: {sum(map(len, refusals(answers).values()))} of {len(answers)}")
    problems = []
    if held < 10:
        problems.append(f"A's outbox for B held {held} events during the cut: {summary(during)}")
    if twice:
        problems.append(f"delivered twice to the persistent session at C: {twice} (all: {got})")
    if sorted(set(got), key=lambda p: int(p[3:])) != want:
        problems.append(f"delivered {got}, expected {want}")
    if refusals(answers):
        problems.append(f"persistent publishes at A not answered 201 (delivered to C all the same: "
                        f"{sorted(set(inbox.payloads()))}): {refusals(answers)}")
    assert not problems, "\n".join(problems)


# --- 4. kill -9 and restart of the middle node ------------------------------------------


def test_middle_node_killed_and_restarted(env, capsys):
    """B is killed while persistent events that A acknowledged (201) are in
    its hands: A's outbox for B is empty (B acknowledged them) and B's outbox
    for C holds them (the B-C link was silently cut just before they were
    published, so C never saw them). B restarts with the same data and
    name; links re-form by themselves; those events reach C's persistent
    MQTT session, and so do events published after the restart (direct and
    persistent). DESIGN.md §2: at least once, duplicates suppressed by
    (origin, sequence), so none twice either. Every finding is collected
    and reported together."""
    t, nodes = line_topology(env)
    a, b, c = nodes["A"], nodes["B"], nodes["C"]
    everyone = list(nodes.values())
    client = env.mqtt(c, "t4-durable", clean=False)
    assert client.subscribe("t4/#", qos=1) == [1]
    inbox = MqttCollector(client)
    direct = SseCollector(env.sse(c, "t4/direct/>"))
    wait_filter([a, b], "t4/>")
    wait_filter([a, b], "t4/direct/>")
    answers = {}

    def publish_batch(tag, count=10):
        names = [f"{tag}-{i}" for i in range(count)]
        for i, name in enumerate(names):
            answers[name] = a.publish(f"t4/{tag}/{i}", name.encode(), persistent=True)
        return names

    before = publish_batch("before")
    inbox.wait_for(lambda m: set(before) <= {p for _, p in m}, 10, "the first batch at C")

    t.cut("B", "C", mode="drop")
    held = publish_batch("held")
    acked = poll_until(lambda: (lambda doc: doc if link_entry(doc, "B")["outbox"]["events"] == 0
                                and link_entry(doc, "B")["persistent_out"] >= 20 else None)(a.mesh()),
                       10, lambda: f"B to acknowledge the held batch to A\n{states(everyone)}")
    at_b = b.mesh()
    b_outbox = link_entry(at_b, "C")["outbox"]
    b.kill9()
    killed_at = time.monotonic()
    poll_until(lambda: not link_up(a.mesh(), "B"), 10, "A to see B gone")
    # The kernel keeps retransmitting what the dead process had written (an
    # orphaned socket): heal only once C has closed its end of the old link,
    # so that only B's outbox can bring the held events to C.
    poll_until(lambda: not link_up(c.mesh(), "B"), 10, "C to close the silent link to the old B")
    t.heal("B", "C")
    restarted_at = time.monotonic()
    b.start()
    restarted = time.monotonic() - restarted_at
    wait_converged(everyone, {"A": {"B": 1, "C": 2}, "B": {"A": 1, "C": 1}, "C": {"A": 2, "B": 1}})
    relinked = time.monotonic() - restarted_at
    first_direct, probes = probe_until_delivered(a, "t4/direct/probe", direct.receive, 10,
                                                 "after B's restart, a direct event A -> C")
    after = publish_batch("after")
    answers["fence"] = a.publish("t4/fence", b"fence", persistent=True)
    inbox.wait_for(lambda m: "fence" in [p for _, p in m], 20, "the fence at C")
    poll_until(lambda: link_entry(a.mesh(), "B")["outbox"]["events"] == 0
               and link_entry(b.mesh(), "C")["outbox"]["events"] == 0, 10,
               lambda: f"the outboxes to empty\n{states(everyone)}")
    got = inbox.payloads()
    counts = {p: got.count(p) for p in before + held + after}
    lost = [p for p, n in counts.items() if n == 0]
    twice = [p for p, n in counts.items() if n > 1]
    report(capsys, f"kill -9 of B, restarted {(restarted_at - killed_at) * 1000:.0f} ms later (ready in "
                   f"{restarted * 1000:.0f} ms): links re-formed and the mesh converged "
                   f"{relinked * 1000:.0f} ms after the restart, first direct event A->C "
                   f"{first_direct * 1000:.0f} ms after that ({probes} probes); B held {b_outbox} for C "
                   f"at the kill; lost at C: {lost}; delivered twice: {twice}; "
                   f"answers not 201: {sum(map(len, refusals(answers).values()))} of {len(answers)}")
    problems = []
    # Every held event waits in B's outbox; so may the last events of the
    # first batch, delivered to C but whose acknowledgement the cut dropped
    # (they come again after the restart, and C must not take them twice).
    if not len(held) <= b_outbox["events"] <= len(held) + len(before):
        problems.append(f"B's outbox for C before the kill: {b_outbox} (expected the {len(held)} "
                        f"held events, and at most the {len(before)} before them)\n{summary(at_b)}")
    if lost:
        problems.append(
            f"persistent events published at A (answers below) that B had acknowledged to A "
            f"before B's kill -9 never reached C: {lost}\nA before the kill: {summary(acked)}\nB before the kill: "
            f"{summary(at_b)}\nafter:\n{states(everyone)}\n--- B's log\n{b.log_tail(12)}")
    if twice:
        problems.append(f"delivered twice to C's persistent session: {twice}")
    if refusals(answers):
        problems.append(f"persistent publishes at A not answered 201 (delivered to C: "
                        f"{sorted(p for p in counts if counts[p])}): {refusals(answers)}")
    assert not problems, "\n".join(problems)


# --- 5. a node of another mesh, or without the secret, is refused -----------------------


@pytest.mark.parametrize("wrong", ["mesh-name", "secret"])
def test_foreign_node_is_refused(env, wrong):
    t = env.topology("A", "X", "Y")
    t.link("A", "X")
    t.link("A", "Y")
    bad = {"mesh-name": ["--mesh-name", "other", "--mesh-secret", "s3cret"],
           "secret": ["--mesh-secret", "not-the-secret"]}[wrong]
    nodes = env.start_nodes(t, {"X": ["A"], "Y": ["A"]},
                            extra={"A": ["--mesh-secret", "s3cret"], "X": bad,
                                   "Y": ["--mesh-secret", "s3cret"]})
    a, x = nodes["A"], nodes["X"]
    reason = {"mesh-name": 'mesh "other" is not this node\'s mesh',
              "secret": "does not know this mesh's secret"}[wrong]
    seen = []

    def refused_twice():
        doc = a.mesh()
        seen.append(doc)
        assert link_entry(doc, "X") is None and node_entry(doc, "X") is None, \
            f"A shows X as linked: {summary(doc)}"
        return sum(1 for line in a.read_log().splitlines()
                   if "refused the link" in line and reason in line) >= 2
    # Twice: X's dialer tries again after its backoff, and is refused again.
    poll_until(refused_twice, 10, lambda: f"A to refuse X twice ({reason})\n--- A's log\n"
               f"{a.log_tail(20)}\n--- X's log\n{x.log_tail(20)}")
    # The control: Y, with the right name and secret, is linked meanwhile.
    poll_until(lambda: link_up(a.mesh(), "Y") and distance(a.mesh(), "Y") == 1, 10,
               lambda: f"Y to link with A\n{states([a, nodes['Y']])}")
    doc = a.mesh()
    assert link_entry(doc, "X") is None and node_entry(doc, "X") is None, summary(doc)
    assert sorted(n["name"] for n in doc["nodes"]) == ["A", "Y"], summary(doc)
    xdoc = x.mesh()
    assert xdoc["links"] == [] and [n["name"] for n in xdoc["nodes"]] == ["X"], summary(xdoc)
    assert xdoc["dialing"][0]["state"] != "linked" and xdoc["dialing"][0]["last_error"], xdoc["dialing"]
    lines = [line for line in a.read_log().splitlines() if "refused the link" in line]
    assert all(x.topo.address("X", "A") in line for line in lines), lines
