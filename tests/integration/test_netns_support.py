"""Tests of netns_support itself: the sites, links, impairments, cuts,
counters and teardown that the mesh tests and benchmarks rely on.

On a machine that cannot build namespaces (not root, no `ip netns`), every
test here fails with the reason: a missing capability is a failure, never a
skip. Each wait polls against a deadline; the only fixed windows are the ones
that show an absence (nothing arrives while a link is cut)."""
import errno
import os
import select
import socket
import subprocess
import sys
import threading
import time

import pytest

import netns_support
from netns_support import Topology, cleanup_stale, support, wait_until

SO_RCVBUFFORCE = 33      # Linux; not exported by the socket module

ECHO_SERVER = r"""
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(16)
def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def fail_unless_supported():
    s = support()
    if not s.ok:
        pytest.fail("this machine cannot run the netns tests: " + s.reason)


@pytest.fixture
def line():
    """A - B - C, 50 ms one-way delay and 1 % loss in each direction of each link."""
    fail_unless_supported()
    with Topology("A", "B", "C") as topo:
        topo.link("A", "B", delay_ms=50, loss_pct=1.0)
        topo.link("B", "C", delay_ms=50, loss_pct=1.0)
        yield topo


def udp_echo(topo, site, host):
    """A UDP echo socket in `site` served by a thread; returns (address, closer)."""
    srv = topo.socket(site, type=socket.SOCK_DGRAM)
    srv.bind((host, 0))

    def serve():
        while True:
            try:
                data, peer = srv.recvfrom(2048)
                srv.sendto(data, peer)
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname(), srv


def udp_rtts(topo, site, address, answers=8, attempts=40, timeout=0.6):
    """Round trips (seconds) of numbered UDP probes; lost probes are retried."""
    sock = topo.socket(site, type=socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    rtts = []
    try:
        for i in range(attempts):
            if len(rtts) == answers:
                break
            token = f"probe-{i}".encode()
            start = time.monotonic()
            sock.sendto(token, address)
            deadline = start + timeout
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(2048)
                except socket.timeout:
                    break
                if data == token:
                    rtts.append(time.monotonic() - start)
                    break
    finally:
        sock.close()
    return rtts


def test_machine_supports_network_namespaces(capsys):
    s = support()
    with capsys.disabled():
        print(f"\nnetns support: {s.reason}")
    assert s.ok, s.reason
    # A delay needs either netem or the tap relay; the mesh tests need delays.
    assert s.netem or s.relay, s.reason


def test_round_trip_between_neighbours_is_twice_the_delay(line):
    link = line.get_link("A", "B")
    assert link["A"].address != link["B"].address
    assert line.address("A", "B") == link["A"].address
    # UDP: each answered probe took exactly one trip each way, no retransmission.
    address, srv = udp_echo(line, "B", line.address("B", "A"))
    try:
        rtts = udp_rtts(line, "A", address)
    finally:
        srv.close()
    assert len(rtts) == 8, f"only {len(rtts)} of up to 40 probes answered over a 1% loss link"
    assert all(0.100 <= r < 0.200 for r in rtts), [round(r * 1000, 1) for r in rtts]

    # TCP, to a server process spawned inside B.
    port = 7007
    server = line.spawn("B", [sys.executable, "-c", ECHO_SERVER, line.address("B", "A"), port])
    line.wait_port("A", line.address("B", "A"), port, timeout=15, proc=server)
    conn = line.connect("A", (line.address("B", "A"), port), timeout=10)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for i in range(7):
        start = time.monotonic()
        conn.sendall(b"%d" % i)
        assert conn.recv(16) == b"%d" % i
        times.append(time.monotonic() - start)
    conn.close()
    times.sort()
    # Physically at least the two delays; the median is one round trip (a lost
    # segment costs a retransmission, so a single slow sample is allowed).
    assert times[0] >= 0.100, times
    assert times[len(times) // 2] < 0.200, times


def test_no_routing_between_links(line):
    for target in (line.address("C", "B"), line.address("B", "C")):
        sock = line.socket("A", type=socket.SOCK_DGRAM)
        with pytest.raises(OSError) as info:
            sock.sendto(b"x", (target, 9))
        assert info.value.errno == errno.ENETUNREACH
        sock.close()
        tcp = line.socket("A")
        tcp.settimeout(2)
        with pytest.raises(OSError) as info:
            tcp.connect((target, 9))
        assert info.value.errno == errno.ENETUNREACH
        tcp.close()
    # and B, in the middle, does reach both sides
    for peer in ("A", "C"):
        address, srv = udp_echo(line, peer, line.address(peer, "B"))
        try:
            assert udp_rtts(line, "B", address, answers=1)
        finally:
            srv.close()


@pytest.mark.parametrize("kind", ["veth", "relay"])
def test_random_loss_is_about_what_was_asked(kind):
    """3000 datagrams over a 1 % loss link: the number lost is accounted for
    exactly and is binomially plausible (mean 30, standard deviation 5.5)."""
    fail_unless_supported()
    sent = 3000
    with Topology("A", "B") as topo:
        link = topo.link("A", "B", loss_pct=1.0, kind=kind, delay_ms=20 if kind == "relay" else 0)
        rx = topo.socket("B", type=socket.SOCK_DGRAM)
        rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        rx.bind((link["B"].address, 0))
        rx.setblocking(False)
        tx = topo.socket("A", type=socket.SOCK_DGRAM)
        before = topo.bytes("A", "B")
        for i in range(sent):
            tx.sendto(b"%06d" % i, rx.getsockname())
        got = set()

        def drain():
            while True:
                try:
                    got.add(rx.recv(64))
                except BlockingIOError:
                    return

        if kind == "relay":
            # Everything the relay took is either passed on or lost on the "wire".
            def relay_done():
                st = link.relay.stats()["a_to_b"]
                return st["passed"] + st["lost"] + st["overflow"] == sent and st["queued"] == 0 and st
            st = wait_until(relay_done, 10, "the relay to carry every datagram")
            assert st["overflow"] == 0 and st["write_errors"] == 0, st
            delivered = st["passed"]
        else:
            # The BPF filter drops before the interface counts a frame as sent.
            delivered = (topo.bytes("A", "B") - before).tx_packets
        wait_until(lambda: drain() or len(got) == delivered, 10, f"{delivered} datagrams at B")
        lost = sent - len(got)
        assert 10 <= lost <= 60, f"{lost} of {sent} lost at 1%"
        rx.close()
        tx.close()


@pytest.mark.parametrize("kind", ["veth", "relay"])
@pytest.mark.parametrize("mode", ["down", "drop"])
def test_cut_stops_traffic_and_heal_restores_it(mode, kind):
    fail_unless_supported()
    delay = 50 if kind == "relay" else 0
    with Topology("A", "B") as topo:
        link = topo.link("A", "B", delay_ms=delay, loss_pct=1.0, kind=kind)
        b_addr = link["B"].address
        listener = topo.socket("B")
        listener.bind((b_addr, 0))
        listener.listen(4)
        client = topo.connect("A", listener.getsockname(), timeout=10)
        server, _ = listener.accept()
        server.settimeout(10)
        client.sendall(b"before")
        assert server.recv(16) == b"before"
        echo, echo_sock = udp_echo(topo, "B", b_addr)
        assert udp_rtts(topo, "A", echo, answers=2)

        topo.cut("A", "B", mode=mode)
        assert link.cut_mode == mode
        rx_before = topo.bytes("B", "A").rx_packets
        probe = topo.socket("A")
        probe.settimeout(0.5)
        if mode == "down":
            # The route is gone with the device: a local error at once.
            with pytest.raises(OSError) as info:
                probe.connect(listener.getsockname())
            assert info.value.errno == errno.ENETUNREACH
        else:
            # Silence: the SYN goes nowhere and nothing answers.
            with pytest.raises(socket.timeout):
                probe.connect(listener.getsockname())
        probe.close()
        client.sendall(b"during")          # buffered; TCP keeps retransmitting
        server.settimeout(0.5)
        with pytest.raises(socket.timeout):
            server.recv(16)
        assert topo.bytes("B", "A").rx_packets == rx_before, "frames crossed a cut link"

        topo.heal("A", "B")
        assert link.cut_mode is None
        server.settimeout(15)
        # The established connection survived (no reset): its data arrives.
        assert server.recv(16) == b"during"
        client.sendall(b"after")
        assert server.recv(16) == b"after"
        rtts = udp_rtts(topo, "A", echo, answers=3)
        assert len(rtts) == 3
        assert all(r >= 2 * delay / 1000 for r in rtts), rtts      # delay is back
        # and so is the loss
        if kind == "relay":
            settings = link.relay.stats()["settings"]
            assert settings["drop"] is False and settings["loss_pct"] == 1.0 and settings["delay_ms"] == 50
        elif not support().netem:
            shown = topo.run("A", ["tc", "filter", "show", "dev", link["A"].ifname, "egress"])
            assert netns_support._bpf_random_loss(1.0) in shown, shown
        for s in (client, server, listener, echo_sock):
            s.close()


@pytest.mark.parametrize("kind", ["veth", "relay"])
def test_byte_counters_grow_by_at_least_what_was_sent(kind):
    fail_unless_supported()
    payload = os.urandom(1 << 20)
    with Topology("A", "B") as topo:
        link = topo.link("A", "B", kind=kind, delay_ms=10 if kind == "relay" else 0,
                         loss_pct=1.0 if kind == "relay" else 0.0)
        listener = topo.socket("B")
        listener.bind((link["B"].address, 0))
        listener.listen(1)
        a0, b0 = topo.bytes("A", "B"), topo.bytes("B", "A")
        client = topo.connect("A", listener.getsockname(), timeout=10)
        server, _ = listener.accept()
        received = bytearray()
        sender = threading.Thread(target=lambda: (client.sendall(payload), client.shutdown(socket.SHUT_WR)))
        sender.start()
        server.settimeout(20)
        while len(received) < len(payload):
            chunk = server.recv(1 << 20)
            assert chunk, "connection closed early"
            received += chunk
        sender.join()
        assert bytes(received) == payload
        a = topo.bytes("A", "B") - a0
        if kind == "veth":
            # A loss-free wire: what A sent is what B received, frame for frame.
            def settled():
                b = topo.bytes("B", "A") - b0
                a_now = topo.bytes("A", "B") - a0
                return a_now.tx_bytes == b.rx_bytes and a_now.rx_bytes == b.tx_bytes and (a_now, b)
            a, b = wait_until(settled, 5, "the counters of both ends to agree")
        else:
            b = topo.bytes("B", "A") - b0
        assert a.tx_bytes >= len(payload), a
        assert b.rx_bytes >= len(payload), b
        assert a.tx_packets >= len(payload) // 1500, a       # wire-sized frames, not GSO blobs
        assert a.rx_packets > 0 and b.tx_bytes > 0, (a, b)   # the acknowledgements
        # headers, acknowledgements and (on a loaded machine) retransmissions
        # cost something, but not a second copy
        assert a.total_bytes < 1.5 * len(payload), a
        for s in (client, server, listener):
            s.close()


def _dead(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_teardown_kills_processes_and_deletes_namespaces():
    fail_unless_supported()
    topo = Topology("A", "B", grace=0.5).start()
    link = topo.link("A", "B", delay_ms=5, kind="relay")
    stubborn = topo.spawn("A", [sys.executable, "-c",
                                "import signal, sys, time\n"
                                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                "print('ready', flush=True)\n"
                                "time.sleep(120)\n"], stdout=subprocess.PIPE, text=True)
    assert select.select([stubborn.stdout], [], [], 10)[0], "the stubborn process did not start"
    assert stubborn.stdout.readline().strip() == "ready"
    parent = topo.spawn("B", ["sh", "-c", "sleep 120 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    assert select.select([parent.stdout], [], [], 10)[0]
    grandchild = int(parent.stdout.readline())
    names = list(topo.netns.values())
    assert all(n in netns_support._list_netns() for n in names)
    started = time.monotonic()
    topo.close()
    assert time.monotonic() - started < 10
    assert stubborn.returncode == -9, "SIGTERM was ignored, so SIGKILL must have ended it"
    assert parent.returncode is not None
    assert _dead(grandchild), "a process started by a spawned process survived teardown"
    assert link.relay.proc.returncode is not None
    assert topo.leftover_namespaces() == []
    assert not set(names) & set(netns_support._list_netns())
    topo.close()                              # twice is harmless
    stubborn.stdout.close()
    parent.stdout.close()


def test_teardown_happens_when_the_test_body_fails():
    fail_unless_supported()
    with pytest.raises(ZeroDivisionError):
        with Topology("A", "B") as topo:
            topo.link("A", "B")
            proc = topo.spawn("A", ["sleep", "120"])
            1 / 0
    assert proc.returncode is not None
    assert topo.leftover_namespaces() == []


def test_cleanup_of_namespaces_left_by_dead_processes():
    fail_unless_supported()
    gone = subprocess.Popen(["true"])
    gone.wait()                              # a pid that no longer exists
    # (the second number, normally a counter, is our pid: unique among parallel runs)
    stale = f"{netns_support.NAME_PREFIX}-{gone.pid}-{os.getpid()}-X"
    alive = f"{netns_support.NAME_PREFIX}-{os.getppid()}-{os.getpid()}-Y"   # its owner still runs
    subprocess.run(["ip", "netns", "add", stale], check=True)
    subprocess.run(["ip", "netns", "add", alive], check=True)
    try:
        squatter = subprocess.Popen(["ip", "netns", "exec", stale, "sh", "-c", "echo inside; exec sleep 120"],
                                    stdout=subprocess.PIPE, text=True)
        assert select.select([squatter.stdout], [], [], 10)[0]
        assert squatter.stdout.readline().strip() == "inside"
        cleanup_stale()                       # (a parallel test process may get there first)
        assert stale not in netns_support._list_netns()
        assert alive in netns_support._list_netns()
        assert squatter.wait(5) == -9
        squatter.stdout.close()
    finally:
        subprocess.run(["ip", "netns", "del", alive])
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)
