"""Network-namespace topologies for the mesh integration tests and benchmarks.

A `Topology` is a set of named *sites*. Each site is its own Linux network
namespace (its own interfaces, addresses, routes and ports), so several brokers
can all listen on the same port without meeting, and the only way from one site
to another is a *link* made with `Topology.link`: a point-to-point Ethernet pair
with its own /30 subnet. There is no routing between links (IP forwarding stays
off, as in any new namespace), so on a line A-B-C, site A cannot reach C at all;
whatever goes from A to C must be carried by a process at B.

    with Topology("A", "B", "C") as topo:
        topo.link("A", "B", delay_ms=50, loss_pct=1.0)
        topo.link("B", "C")
        server = topo.spawn("B", ["nats-server", "-a", topo.address("B", "A")])
        sock = topo.socket("A")                   # a socket living in site A
        sock.connect((topo.address("B", "A"), 4222))
        before = topo.bytes("A", "B")
        ...
        print((topo.bytes("A", "B") - before).total_bytes)
        topo.cut("A", "B", mode="drop")           # silence both ways
        topo.heal("A", "B")                       # back to 50 ms, 1 % loss

How links are built, depending on what the kernel offers (see `support()`):

- *veth*: a kernel veth pair, one end in each namespace. Loss and the silent
  cut use a classic-BPF classifier on the egress hook (clsact + cls_bpf in
  direct-action mode, which needs no tc action modules); a rate limit uses the
  tbf qdisc. Fast: this is what benchmarks without delay should use.
- *veth + netem*: when the kernel has sch_netem, delay and loss go through
  netem, as one would expect. (Not available on every machine: the Firecracker
  kernels we run on are built without it.)
- *relay*: when a delay is asked for and netem is missing, each end is a tap
  device and a small relay process (this very file, run as a script) copies
  Ethernet frames between the two taps, holding each one for the delay,
  dropping the given share at random, pacing to the rate, or dropping
  everything while the link is cut in "drop" mode. Everything above the link
  (ARP, IP, TCP) is the kernel's own; only the wire is emulated. It is slower
  than veth (a Python process touches every frame), fine for tests and for
  counting bytes, not for throughput records.

Every link gets fixed MAC addresses and permanent neighbour entries (no ARP on
the wire, so the first packet is not delayed by a resolution and byte counters
hold only what the programs sent), IPv6 is disabled in every site (no router or
neighbour solicitations adding bytes), and veth ends are told not to build
GSO super-packets, so their counters count wire-sized frames like a tap does.

Teardown (`close`, or leaving the `with` block, also on an exception) kills the
processes started with `spawn` (SIGTERM, then SIGKILL after a short grace) and
anything else still running in the namespaces, stops the relays and deletes the
namespaces. Namespaces are named `skeintest-<pid>-<counter>-<site>`: unique per
process and per Topology, so parallel test processes never collide, and
`cleanup_stale()` (called by every new Topology) deletes those left behind by a
process that no longer exists.

Nothing here sleeps to synchronise: waits poll a condition against a deadline.
Everything needs root; `support()` says whether this machine can do it and, if
not, why. Tests must fail with that reason, not skip.
"""
import atexit
import collections
import ctypes
import dataclasses
import errno
import fcntl
import functools
import itertools
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

# iproute2 lives in /usr/sbin, which a non-login PATH may lack.
for _dir in ("/usr/sbin", "/sbin"):
    if _dir not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = os.environ.get("PATH", "") + ":" + _dir

NAME_PREFIX = "skeintest"
_NAME_RE = re.compile(rf"^{NAME_PREFIX}-(\d+)-(\d+)-")
_counter = itertools.count(1)
_counter_lock = threading.Lock()

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# Classic BPF programs for the egress classifier (tc's "bytecode" syntax: the
# instruction count, then "code jt jf k" per instruction). In direct-action
# mode the program's return value is the verdict: 0 = TC_ACT_OK, 2 = TC_ACT_SHOT.
_BPF_DROP_ALL = "1,6 0 0 2"


def _bpf_random_loss(loss_pct):
    """Drops a packet when a fresh random number mod 10000 is below
    loss_pct * 100:  A = random; A %= 10000; if A >= T: pass else drop."""
    threshold = max(0, min(10000, round(loss_pct * 100)))
    rand = (1 << 32) - 0x1000 + 56          # SKF_AD_OFF + SKF_AD_RANDOM
    return f"5,32 0 0 {rand},148 0 0 10000,53 0 1 {threshold},6 0 0 0,6 0 0 2"


class NetnsUnavailable(RuntimeError):
    """This machine cannot build topologies; the message says why."""


# --- small helpers --------------------------------------------------------------------


def _run(argv, check=True, timeout=20, input=None):
    """Runs a command, returns its stdout; on failure raises with its stderr."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _ip_batch(netns, commands):
    """Several `ip` commands in one namespace with one process."""
    _run(["ip", "-n", netns, "-batch", "-"], input="\n".join(c for c in commands if c) + "\n")


def _setns(netns):
    """Moves the calling thread into a named network namespace."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({netns}): {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in_netns(netns, fn, *args):
    """Calls fn(*args) on a short-lived thread that has entered `netns`, and
    returns its result (or raises its exception). A network namespace is a
    per-thread attribute, so the rest of the process stays where it is; what
    the call creates (sockets above all) stays bound to `netns` for good."""
    result = {}

    def body():
        try:
            _setns(netns)
            result["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller below
            result["error"] = exc

    thread = threading.Thread(target=body, name=f"in-{netns}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _write_proc(path, value):
    with open(path, "w") as f:
        f.write(value)


def wait_until(predicate, timeout, what, interval=0.01):
    """Polls `predicate` until it returns something true, which is returned;
    raises AssertionError naming `what` after `timeout` seconds (`what` may
    be a callable giving the state seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {detail}")
        time.sleep(interval)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _list_netns():
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def _kill_netns_processes(netns):
    """SIGKILLs whatever still runs in a namespace (a child of a spawned
    process, or the processes of a crashed run)."""
    out = _run(["ip", "netns", "pids", netns], check=False)
    for word in out.split():
        try:
            os.kill(int(word), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


def _delete_netns(netns):
    _kill_netns_processes(netns)
    _run(["ip", "netns", "del", netns], check=False)


def cleanup_stale():
    """Deletes the namespaces this module made in processes that are gone
    (a crashed or killed test run), with whatever still runs in them.
    Returns the names deleted."""
    deleted = []
    for name in _list_netns():
        m = _NAME_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            _delete_netns(name)
            deleted.append(name)
    return deleted


def parse_rate(rate):
    """A rate in bits per second from an int or tc-style text: "10mbit",
    "512kbit", "1gbit", "8000bit", or bytes with "bps"/"kbps"/"mbps"."""
    if rate is None:
        return None
    if isinstance(rate, (int, float)):
        return int(rate)
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kmg]?)(bit|bps)?\s*", rate.lower())
    if not m:
        raise ValueError(f"unreadable rate {rate!r} (use e.g. 10mbit, 512kbit, 1gbit)")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]
    per = 8 if m.group(3) == "bps" else 1
    return int(float(m.group(1)) * scale * per)


# --- what the machine can do ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Support:
    ok: bool             # namespaces and veth links work
    reason: str          # why not, when not ok; otherwise a summary
    netem: bool          # sch_netem exists: delay and loss in the kernel
    relay: bool          # tap devices work: delay through the relay
    bpf_loss: bool       # cls_bpf on clsact works: loss and silent cut on veth
    tbf: bool            # rate limits on veth
    details: tuple = ()  # one line per probe

    def require(self):
        """Raises NetnsUnavailable with the reason when topologies cannot work."""
        if not self.ok:
            raise NetnsUnavailable(self.reason)


@functools.lru_cache(maxsize=None)
def support():
    """Probes (once per process) whether this machine can build topologies,
    and which link features work. Never raises."""
    if os.geteuid() != 0:
        return Support(False, "network namespaces need root (euid is %d)" % os.geteuid(),
                       False, False, False, False)
    for tool in ("ip", "tc"):
        if not shutil.which(tool):
            return Support(False, f"the `{tool}` command (iproute2) is not installed",
                           False, False, False, False)
    cleanup_stale()
    probe = f"{NAME_PREFIX}-{os.getpid()}-{_next_counter()}-probe"
    details = []
    try:
        try:
            _run(["ip", "netns", "add", probe])
        except Exception as exc:
            return Support(False, f"`ip netns add` does not work here: {exc}",
                           False, False, False, False)
        try:
            _ip_batch(probe, ["link add pa type veth peer name pb", "link set pa up", "link set pb up"])
        except Exception as exc:
            return Support(False, f"veth pairs cannot be made here: {exc}", False, False, False, False)

        def probe_cmd(label, argv):
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            ok = proc.returncode == 0
            details.append(f"{label}: {'yes' if ok else 'no (' + proc.stderr.strip() + ')'}")
            return ok

        tc = ["ip", "netns", "exec", probe, "tc"]
        netem = probe_cmd("netem", tc + ["qdisc", "add", "dev", "pa", "root", "netem", "delay", "1ms"])
        tbf = probe_cmd("tbf", tc + ["qdisc", "replace", "dev", "pa", "root", "tbf", "rate", "1mbit",
                                     "burst", "16kb", "latency", "100ms"])
        bpf = (probe_cmd("clsact", tc + ["qdisc", "add", "dev", "pb", "clsact"])
               and probe_cmd("cls_bpf", tc + ["filter", "add", "dev", "pb", "egress", "bpf", "da",
                                              "bytecode", _bpf_random_loss(1.0)]))
        relay = os.path.exists("/dev/net/tun") and probe_cmd(
            "tap", ["ip", "-n", probe, "tuntap", "add", "dev", "pt", "mode", "tap"])
    finally:
        _delete_netns(probe)
    summary = "network namespaces and veth work; " + "; ".join(details)
    return Support(True, summary, netem, relay, bpf, tbf, tuple(details))


def _next_counter():
    with _counter_lock:
        return next(_counter)


# --- links ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class End:
    """One side of a link: the site, its interface there, and its address."""
    site: str
    ifname: str
    address: str
    mac: str


@dataclasses.dataclass(frozen=True)
class Counters:
    """Interface counters of one end of a link: tx is what the site sent into
    the link, rx what the link delivered to it (Ethernet frames, headers
    included). Subtract two readings to get the traffic in between."""
    tx_bytes: int
    tx_packets: int
    rx_bytes: int
    rx_packets: int

    def __sub__(self, other):
        return Counters(*(a - b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    @property
    def total_bytes(self):
        return self.tx_bytes + self.rx_bytes

    @property
    def total_packets(self):
        return self.tx_packets + self.rx_packets


class Link:
    """A point-to-point link between two sites. `link[site]` is that site's
    End; `kind` is "veth", "veth+netem" or "relay"."""

    def __init__(self, kind, index, subnet, a, b, delay_ms, loss_pct, rate_bps):
        self.kind, self.index, self.subnet = kind, index, subnet
        self.ends = {a.site: a, b.site: b}
        self.delay_ms, self.loss_pct, self.rate_bps = delay_ms, loss_pct, rate_bps
        self.cut_mode = None       # None, "down" or "drop"
        self.relay = None          # the relay process, for kind "relay"

    def __getitem__(self, site):
        return self.ends[site]

    def peer(self, site):
        (other,) = [e for s, e in self.ends.items() if s != site]
        return other

    def __repr__(self):
        a, b = self.ends.values()
        return (f"Link({self.kind} {a.site}:{a.ifname}/{a.address} <-> {b.site}:{b.ifname}/{b.address}, "
                f"delay={self.delay_ms}ms loss={self.loss_pct}% rate={self.rate_bps} cut={self.cut_mode})")


def _ifname(index, peer):
    """An interface name (at most 15 characters) saying where the link goes."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "", peer) or "x"
    return f"l{index}-{clean}"[:15]


# --- the topology ---------------------------------------------------------------------

_live = set()      # topologies not closed yet, closed at exit if a caller forgot


class Topology:
    """Named sites (one network namespace each) and the links between them.
    Use as a context manager; see the module's docstring."""

    def __init__(self, *sites, grace=2.0):
        self.grace = grace       # seconds between SIGTERM and SIGKILL at teardown
        self.id = f"{os.getpid()}-{_next_counter()}"
        self.prefix = f"{NAME_PREFIX}-{self.id}-"
        self.netns = {}          # site -> namespace name
        self.links = {}          # frozenset({a, b}) -> Link
        self.processes = []      # (site, Popen) started by spawn
        self._link_counter = itertools.count()
        self._closed = False
        self._started = False
        self._pending_sites = list(sites)

    # lifecycle
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        """Creates the sites. Called by `with`; calling it first is fine too."""
        if self._started:
            return self
        self._started = True
        support().require()
        cleanup_stale()
        _live.add(self)
        try:
            for site in self._pending_sites:
                self.add_site(site)
        except BaseException:
            self.close()
            raise
        return self

    def add_site(self, site):
        """Adds a site: a fresh namespace with loopback up and IPv6 off."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", site):
            raise ValueError(f"site names are 1-40 of [A-Za-z0-9_.-], not {site!r}")
        if site in self.netns:
            raise ValueError(f"site {site!r} exists already")
        name = self.prefix + site
        _run(["ip", "netns", "add", name])
        self.netns[site] = name
        run_in_netns(name, self._quiet_ipv6)
        _ip_batch(name, ["link set lo up"])
        return name

    @staticmethod
    def _quiet_ipv6():
        # New interfaces would otherwise send router and neighbour
        # solicitations, which show up in the byte counters.
        for conf in ("all", "default"):
            _write_proc(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "1")

    def close(self):
        """Kills tracked processes, stops relays, deletes the namespaces.
        Safe to call twice; runs every step even if one fails."""
        if self._closed:
            return
        self._closed = True
        errors = []
        procs = [p for _, p in self.processes]
        for proc in procs:
            if proc.poll() is None:
                try:
                    proc.terminate()
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.grace
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for link in self.links.values():
            if link.relay is not None:
                try:
                    link.relay.stop()
                except Exception as exc:
                    errors.append(exc)
        for name in self.netns.values():
            try:
                _delete_netns(name)
            except Exception as exc:
                errors.append(exc)
        _live.discard(self)
        if errors:
            raise errors[0]

    def leftover_namespaces(self):
        """This topology's namespaces that still exist (empty after close)."""
        return [n for n in _list_netns() if n.startswith(self.prefix)]

    # links
    def link(self, a, b, delay_ms=0, loss_pct=0.0, rate=None, kind="auto", gso=False):
        """Links sites a and b: a point-to-point pair with its own /30, up,
        with `delay_ms` of one-way delay and `loss_pct` percent random loss in
        each direction, and an optional rate limit in each direction (bits
        per second, or tc text such as "10mbit"). kind "auto" picks veth (with
        netem for delay when the kernel has it) and the tap relay when a delay
        is asked for without netem; "veth" and "relay" force one.
        gso=True lets a veth pair carry GSO super-packets (up to 64 kB with
        one set of headers): much faster (about 20x for bulk TCP on a small
        VM), but the byte counters then miss the per-segment headers a real
        wire carries. The default counts wire-sized frames.
        Returns the Link."""
        for site in (a, b):
            if site not in self.netns:
                raise KeyError(f"no site {site!r}")
        if a == b or frozenset((a, b)) in self.links:
            raise ValueError(f"sites {a} and {b} are the same or linked already")
        sup = support()
        rate_bps = parse_rate(rate)
        if kind == "auto":
            kind = "veth" if (sup.netem or not delay_ms) else "relay"
        if kind == "veth" and sup.netem and (delay_ms or loss_pct or rate_bps):
            kind = "veth+netem"
        if kind == "veth" and delay_ms:
            raise NetnsUnavailable(f"delay on a veth link needs sch_netem, which this kernel lacks; "
                                   f"use kind='relay' ({'; '.join(sup.details)})")
        if kind == "veth" and loss_pct and not sup.bpf_loss:
            raise NetnsUnavailable("loss on a veth link needs netem or cls_bpf: " + "; ".join(sup.details))
        if kind == "veth" and rate_bps and not sup.tbf:
            raise NetnsUnavailable("rate limits need netem or tbf: " + "; ".join(sup.details))
        if kind == "relay" and not sup.relay:
            raise NetnsUnavailable("the relay needs tap devices (/dev/net/tun): " + "; ".join(sup.details))
        if kind not in ("veth", "veth+netem", "relay"):
            raise ValueError(f"unknown link kind {kind!r}")

        n = next(self._link_counter)
        if n >= 16384:
            raise ValueError("at most 16384 links per topology")
        # Link n is 10.200.x.y/30 with x.y = 4n: .1 on a's side, .2 on b's.
        host = 4 * n
        base, last = f"10.200.{host // 256}", host % 256
        end_a = End(a, _ifname(n, b), f"{base}.{last + 1}", f"02:5e:{n >> 8:02x}:{n & 255:02x}:00:01")
        end_b = End(b, _ifname(n, a), f"{base}.{last + 2}", f"02:5e:{n >> 8:02x}:{n & 255:02x}:00:02")
        link = Link(kind, n, f"{base}.{last}/30", end_a, end_b, delay_ms, loss_pct, rate_bps)
        self.links[frozenset((a, b))] = link

        if kind == "relay":
            for end in (end_a, end_b):
                _run(["ip", "-n", self.netns[end.site], "tuntap", "add", "dev", end.ifname, "mode", "tap"])
            link.relay = _RelayHandle(self.netns[a], end_a.ifname, self.netns[b], end_b.ifname,
                                      delay_ms, loss_pct, rate_bps)
        else:
            # Created straight into the two namespaces: the names need only be
            # unique there, not in the namespace of the test process.
            segs = [] if gso else ["gso_max_segs", "1"]
            _run(["ip", "link", "add", end_a.ifname, "netns", self.netns[a], *segs,
                  "type", "veth", "peer", "name", end_b.ifname, "netns", self.netns[b], *segs])
        for end in (end_a, end_b):
            other = link.peer(end.site)
            _ip_batch(self.netns[end.site], [
                # A deep queue in front of the relay, so a burst waits for it
                # rather than being dropped by the kernel.
                f"link set dev {end.ifname} txqueuelen 10000" if kind == "relay" else "",
                f"link set dev {end.ifname} address {end.mac}",
                f"addr add {end.address}/30 dev {end.ifname}",
                f"link set dev {end.ifname} up",
                f"neigh replace {other.address} lladdr {other.mac} dev {end.ifname} nud permanent",
            ])
        if kind != "relay":
            for end in (end_a, end_b):
                self._apply_kernel_impairment(link, end)
        return link

    def _tc(self, end, *args, check=True):
        return _run(["ip", "netns", "exec", self.netns[end.site], "tc", *args], check=check)

    def _apply_kernel_impairment(self, link, end, drop_all=False):
        """(Re)applies a veth end's delay, loss and rate, or drops everything."""
        dev = end.ifname
        if link.kind == "veth+netem":
            params = []
            if drop_all:
                params = ["loss", "100%"]
            else:
                if link.delay_ms:
                    params += ["delay", f"{link.delay_ms}ms"]
                if link.loss_pct:
                    params += ["loss", f"{link.loss_pct}%"]
                if link.rate_bps:
                    params += ["rate", f"{link.rate_bps}bit"]
            self._tc(end, "qdisc", "del", "dev", dev, "root", check=False)
            if params:
                self._tc(end, "qdisc", "add", "dev", dev, "root", "netem", "limit", "100000", *params)
            return
        # plain veth: loss / silence through a BPF egress classifier, rate through tbf
        self._tc(end, "qdisc", "del", "dev", dev, "clsact", check=False)
        program = _BPF_DROP_ALL if drop_all else (_bpf_random_loss(link.loss_pct) if link.loss_pct else None)
        if program:
            self._tc(end, "qdisc", "add", "dev", dev, "clsact")
            self._tc(end, "filter", "add", "dev", dev, "egress", "bpf", "da", "bytecode", program)
        if link.rate_bps and not drop_all:
            burst = max(16000, link.rate_bps // 8 // 100)          # 10 ms worth, at least 16 kB
            self._tc(end, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{link.rate_bps}bit",
                     "burst", str(burst), "latency", "200ms")

    def get_link(self, a, b):
        try:
            return self.links[frozenset((a, b))]
        except KeyError:
            raise KeyError(f"sites {a} and {b} are not linked") from None

    def address(self, site, peer):
        """The IP address `site` has on its link to `peer`."""
        return self.get_link(site, peer)[site].address

    def interface(self, site, peer):
        return self.get_link(site, peer)[site].ifname

    def route(self, a, via, c):
        """Makes `via` a router between its links to a and c: IP forwarding on
        at `via`, and a static route at a to the via-c subnet (and at c to the
        a-via subnet) through `via`. Off by default: sites only reach their
        direct neighbours unless a test asks for transit."""
        run_in_netns(self.netns[via], _write_proc, "/proc/sys/net/ipv4/ip_forward", "1")
        for src, far in ((a, c), (c, a)):
            _ip_batch(self.netns[src], [
                f"route replace {self.get_link(via, far).subnet} via {self.address(via, src)}"])

    def cut(self, a, b, mode="down"):
        """Cuts the a-b link both ways.
        mode "down": both interfaces go down (the connected routes go with
          them, so local senders get "network unreachable" at once, and
          established TCP connections see errors on retransmission, not a reset).
        mode "drop": the interfaces stay up and every frame is silently dropped
          (netem loss 100%, a drop-all BPF classifier, or the relay dropping),
          so TCP sees silence: retransmissions, then its own timeouts."""
        link = self.get_link(a, b)
        if mode not in ("down", "drop"):
            raise ValueError("mode is 'down' or 'drop'")
        if link.cut_mode:
            self.heal(a, b)
        if mode == "down":
            for end in link.ends.values():
                _ip_batch(self.netns[end.site], [f"link set dev {end.ifname} down"])
        elif link.kind == "relay":
            link.relay.configure(drop=True)
        else:
            for end in link.ends.values():
                self._apply_kernel_impairment(link, end, drop_all=True)
        link.cut_mode = mode

    def heal(self, a, b):
        """Undoes `cut`: the link is back with its delay, loss and rate."""
        link = self.get_link(a, b)
        if link.cut_mode == "down":
            for end in link.ends.values():
                other = link.peer(end.site)
                # Taking a device down flushes even permanent neighbour entries.
                _ip_batch(self.netns[end.site], [
                    f"link set dev {end.ifname} up",
                    f"neigh replace {other.address} lladdr {other.mac} dev {end.ifname} nud permanent",
                ])
        elif link.cut_mode == "drop":
            if link.kind == "relay":
                link.relay.configure(drop=False)
            else:
                for end in link.ends.values():
                    self._apply_kernel_impairment(link, end)
        link.cut_mode = None

    def bytes(self, a, b):
        """Counters of a's end of the a-b link (see Counters)."""
        end = self.get_link(a, b)[a]

        def read():
            # /proc/thread-self/net is the calling thread's namespace view.
            with open("/proc/thread-self/net/dev") as f:
                for line in f:
                    name, _, rest = line.partition(":")
                    if name.strip() == end.ifname:
                        v = [int(x) for x in rest.split()]
                        return Counters(tx_bytes=v[8], tx_packets=v[9], rx_bytes=v[0], rx_packets=v[1])
            raise KeyError(f"no interface {end.ifname} in site {a}")
        return run_in_netns(self.netns[a], read)

    # processes and sockets
    def spawn(self, site, argv, **popen_kwargs):
        """Starts argv inside the site's namespace (`ip netns exec`; the
        process sees the site's own /sys too) and tracks it for teardown.
        Returns the Popen."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns[site], *map(str, argv)], **popen_kwargs)
        self.processes.append((site, proc))
        return proc

    def run(self, site, argv, timeout=20, check=True):
        """Runs argv to completion inside the site; returns its stdout."""
        return _run(["ip", "netns", "exec", self.netns[site], *map(str, argv)], check=check, timeout=timeout)

    def socket(self, site, family=socket.AF_INET, type=socket.SOCK_STREAM, proto=0):
        """A socket that lives in the site's namespace, usable from this
        process (bind, connect and traffic all happen in the site)."""
        return run_in_netns(self.netns[site], socket.socket, family, type, proto)

    def connect(self, site, address, timeout=5.0):
        """A TCP connection made from inside `site` to (host, port)."""
        sock = self.socket(site)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock

    def wait_port(self, site, host, port, timeout=10.0, proc=None):
        """Polls until a TCP connection from `site` to host:port succeeds
        (and, if `proc` is given, fails at once if that process has exited)."""
        def ready():
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"process {proc.args} exited with {proc.returncode}")
            try:
                self.connect(site, (host, port), timeout=1.0).close()
                return True
            except OSError:
                return False
        wait_until(ready, timeout, f"{host}:{port} to accept connections in site {site}")


@atexit.register
def _close_all():
    for topo in list(_live):
        try:
            topo.close()
        except Exception:
            pass


# --- the relay ------------------------------------------------------------------------
#
# For links with a delay and no netem: a separate process (this file run as a
# script) holding one tap device in each namespace. The test process talks to it
# over its stdin/stdout, one JSON object a line: it answers "ready" once both taps
# are attached, {"ok": true} to each {"op": "set", ...} and its counts to
# {"op": "stats"}. It exits when its stdin closes, which also happens when the
# test process dies, however it dies (nothing else holds that pipe).

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
QUEUE_LIMIT = 20000       # frames held per direction; beyond that, tail drop


class _RelayHandle:
    """The test process's side of one relay."""

    def __init__(self, ns_a, if_a, ns_b, if_b, delay_ms, loss_pct, rate_bps):
        config = json.dumps({"delay_ms": delay_ms, "loss_pct": loss_pct, "rate_bps": rate_bps})
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "relay", ns_a, if_a, ns_b, if_b, config],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self._expect("ready")

    def _expect(self, what, timeout=10.0):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line.strip():
            self.proc.kill()
            err = self.proc.stderr.read() if self.proc.poll() is not None else "(no answer in time)"
            raise RuntimeError(f"link relay failed while waiting for {what}: {err}")
        return json.loads(line)

    def configure(self, **settings):
        self.proc.stdin.write(json.dumps({"op": "set", **settings}) + "\n")
        self.proc.stdin.flush()
        self._expect("configure")

    def stats(self):
        self.proc.stdin.write('{"op": "stats"}\n')
        self.proc.stdin.flush()
        return self._expect("stats")

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


class _Direction:
    """Frames on their way from one tap to the other."""

    def __init__(self, out_fd):
        self.out_fd = out_fd
        self.queue = collections.deque()      # (due time, frame)
        self.next_free = 0.0                  # when the "wire" is free again (rate)
        self.passed = self.lost = self.overflow = self.write_errors = 0


def _relay_open_tap(netns, ifname):
    # A tap is looked up by name in the namespace of whoever opens /dev/net/tun.
    _setns(netns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", ifname.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def _relay_main(ns_a, if_a, ns_b, if_b, config):
    settings = {"delay_ms": 0, "loss_pct": 0.0, "rate_bps": None, "drop": False}
    settings.update(json.loads(config))
    fd_a = _relay_open_tap(ns_a, if_a)
    fd_b = _relay_open_tap(ns_b, if_b)
    directions = {fd_a: _Direction(fd_b), fd_b: _Direction(fd_a)}
    rng = random.Random()
    poller = select.epoll()
    for fd in (fd_a, fd_b, 0):
        poller.register(fd, select.EPOLLIN)
    os.set_blocking(0, False)
    control = b""
    sys.stdout.write('"ready"\n')
    sys.stdout.flush()

    while True:
        now = time.monotonic()
        heads = [d.queue[0][0] for d in directions.values() if d.queue]
        timeout = max(0.0, min(heads) - now) if heads else -1
        for fd, _ in poller.poll(timeout):
            if fd == 0:
                chunk = os.read(0, 65536)
                if not chunk:
                    return 0                                     # the test process is done
                control += chunk
                while b"\n" in control:
                    line, control = control.split(b"\n", 1)
                    request = json.loads(line)
                    if request.get("op") == "set":
                        settings.update({k: v for k, v in request.items() if k != "op"})
                        reply = {"ok": True}
                    else:
                        reply = {name: {"passed": d.passed, "lost": d.lost, "overflow": d.overflow,
                                        "write_errors": d.write_errors, "queued": len(d.queue)}
                                 for name, d in (("a_to_b", directions[fd_a]), ("b_to_a", directions[fd_b]))}
                        reply["settings"] = settings
                    sys.stdout.write(json.dumps(reply) + "\n")
                    sys.stdout.flush()
                continue
            d = directions[fd]
            for _ in range(512):
                try:
                    frame = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.EBADFD):
                        break                                    # tap is down
                    raise
                if settings["drop"] or (settings["loss_pct"] and rng.random() * 100 < settings["loss_pct"]):
                    d.lost += 1
                    continue
                if len(d.queue) >= QUEUE_LIMIT:
                    d.overflow += 1
                    continue
                t = time.monotonic()
                start = max(t, d.next_free)
                rate = settings["rate_bps"]
                d.next_free = start + (len(frame) * 8 / rate if rate else 0.0)
                d.queue.append((d.next_free + settings["delay_ms"] / 1000.0, frame))
        now = time.monotonic()
        for d in directions.values():
            while d.queue and d.queue[0][0] <= now:
                _, frame = d.queue.popleft()
                try:
                    os.write(d.out_fd, frame)
                    d.passed += 1
                except OSError:
                    d.write_errors += 1                          # far tap down or full


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "relay":
        sys.exit(_relay_main(*sys.argv[2:]))
    if len(sys.argv) == 2 and sys.argv[1] == "cleanup":
        print("\n".join(cleanup_stale()) or "nothing to clean")
        sys.exit(0)
    if len(sys.argv) == 2 and sys.argv[1] == "check":
        s = support()
        print(("OK: " if s.ok else "NOT AVAILABLE: ") + s.reason)
        sys.exit(0 if s.ok else 1)
    sys.exit("usage: netns_support.py check | cleanup   (relay is internal)")
