"""NATS servers on a netns Topology: the peer the mesh benchmark compares
Skein against, on the same three-site line A - B - C.

Shapes (`start_line(topo, shape)`):

- "leaf-hub": B is the hub and accepts leaf-node connections; A and C are leaf
  nodes that dial B. A leaf node tells its hub which subjects its clients want
  (LS+), the hub passes that interest on to its other leaf connections, so a
  message published at A goes to B once and B sends it on to C once, however
  many subscribers sit at B and C.
- "leaf-chain": A is a leaf of B and B is a leaf of C (each server dials the
  next one along the line). Same traffic on each link as the hub; it shows a
  chain of any length works, since leaf nodes may form any acyclic graph.
- "gateway-line": one single-server cluster per site joined by gateways, each
  server configured with the gateways of its direct neighbours only. This is
  NOT a working line, and is kept to show why: gateways are meant to form a
  full mesh of clusters. A server learns of the other clusters by gossip (B
  tells A about C) and then dials each of them directly; a message is sent
  once to each cluster that has interest and a server never passes a message
  received from a gateway on to another gateway (one hop, like routes inside
  a cluster). On a line where A cannot reach C, A's dial to C fails over and
  over and nothing published at A reaches C (test_nats_topology checks that).
- "gateway-routed": the same gateways with B forwarding IP between its two
  links (static routes at A and C through B), so the gateways can form their
  full mesh over the line. A's connection to C is then carried by the A-B
  and B-C links at the IP level, and a message for subscribers at B and C
  crosses A-B twice, once to each cluster: the cost of a full mesh laid
  over a line.

So for a line with no transit routing, the shape to compare against is leaf
nodes; "gateway-routed" is what a super-cluster costs when the network routes.

Every server listens for clients on 0.0.0.0:4222 inside its own site (the
site's link addresses and its loopback; the namespace isolates it), for
monitoring on 8222, gateways on 7222 and leaf nodes on 7422. Readiness is
polled through the monitoring endpoint, never slept for.

Also here: `NatsClient`, a minimal client of the NATS text protocol
(INFO/CONNECT/PING/PONG/SUB/UNSUB/PUB/MSG, as described at
docs.nats.io/reference/protocols/client) over a socket made inside a site.
"""
import http.client
import json
import os
import select
import subprocess
import tempfile
import time

from netns_support import wait_until

NATS_SERVER = os.environ.get("NATS_SERVER", "/usr/sbin/nats-server")
CLIENT_PORT, MONITOR_PORT, GATEWAY_PORT, LEAF_PORT = 4222, 8222, 7222, 7422
SHAPES = ("leaf-hub", "leaf-chain", "gateway-line", "gateway-routed")


# --- a raw client ---------------------------------------------------------------------


class NatsError(Exception):
    pass


class NatsClient:
    """A NATS client speaking the text protocol over one socket. Synchronous:
    reading happens in `poll()`/`next_msg()`/`flush()`, which also answer the
    server's PINGs. Messages land in `self.messages` as (subject, sid, payload)."""

    def __init__(self, sock, name="raw", timeout=10.0):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""
        self.messages = []
        self.pongs = 0
        self.info = None
        line = self._read_line()
        if not line.startswith(b"INFO "):
            raise NatsError(f"expected INFO, got {line!r}")
        self.info = json.loads(line[5:])
        connect = {"verbose": False, "pedantic": False, "tls_required": False, "name": name,
                   "lang": "python-raw", "version": "0.1", "protocol": 1, "headers": False,
                   "echo": True}
        self._send(b"CONNECT " + json.dumps(connect).encode() + b"\r\n")
        self.flush()

    @classmethod
    def connect(cls, topo, site, host="127.0.0.1", port=CLIENT_PORT, name=None):
        """A client made from inside `site` (by default to the site's own server)."""
        return cls(topo.connect(site, (host, port)), name=name or f"raw-{site}")

    def close(self):
        self.sock.close()

    def _send(self, data):
        self.sock.sendall(data)

    # reading -----------------------------------------------------------------------
    def _fill(self, block):
        """Reads what the socket has; blocks (up to the timeout) if `block`."""
        self.sock.setblocking(block)
        if block:
            self.sock.settimeout(self.timeout)
        try:
            chunk = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return False
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            raise NatsError("server closed the connection")
        self.buf += chunk
        return True

    def _read_line(self):
        while b"\r\n" not in self.buf:
            self._fill(True)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _parse(self):
        """Handles every complete protocol message in the buffer."""
        while True:
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            line = self.buf[:end]
            op = line.split(b" ", 1)[0].upper()
            if op == b"MSG":
                # MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n
                parts = line.split()
                size = int(parts[-1])
                total = end + 2 + size + 2
                if len(self.buf) < total:
                    return
                payload = self.buf[end + 2:end + 2 + size]
                self.messages.append((parts[1].decode(), parts[2].decode(), payload))
                self.buf = self.buf[total:]
                continue
            self.buf = self.buf[end + 2:]
            if op == b"PING":
                self._send(b"PONG\r\n")
            elif op == b"PONG":
                self.pongs += 1
            elif op == b"-ERR":
                raise NatsError(line.decode(errors="replace"))
            # +OK and asynchronous INFO updates need nothing

    def poll(self):
        """Takes in whatever has arrived, without blocking."""
        while self._fill(False):
            pass
        self._parse()

    def fileno(self):
        return self.sock.fileno()

    # commands ----------------------------------------------------------------------
    def sub(self, subject, sid, queue=None):
        self._send(f"SUB {subject} {queue + ' ' if queue else ''}{sid}\r\n".encode())

    def unsub(self, sid):
        self._send(f"UNSUB {sid}\r\n".encode())

    def pub(self, subject, payload=b""):
        self._send(f"PUB {subject} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def pub_many(self, messages):
        """Several PUBs in one write: messages is an iterable of (subject, payload)."""
        self._send(b"".join(f"PUB {subject} {len(p)}\r\n".encode() + p + b"\r\n" for subject, p in messages))

    def flush(self):
        """PING and wait for its PONG: the server has processed everything sent
        before (for a SUB: it is registered at this server)."""
        want = self.pongs + 1
        self._send(b"PING\r\n")
        deadline = time.monotonic() + self.timeout
        while self.pongs < want:
            if time.monotonic() > deadline:
                raise NatsError("no PONG in time")
            self._fill(True)
            self._parse()

    def wait_messages(self, count, timeout=10.0):
        """Blocks until `count` messages are held (or raises)."""
        wait_for_messages([self], count, timeout)
        return self.messages


def wait_for_messages(clients, count, timeout=10.0, what="messages"):
    """Waits until every client holds at least `count` messages."""
    deadline = time.monotonic() + timeout
    while True:
        for c in clients:
            c.poll()
        behind = [c for c in clients if len(c.messages) < count]
        if not behind:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {count} {what}: have "
                                 f"{[len(c.messages) for c in clients]}")
        select.select(behind, [], [], min(left, 0.1))


# --- servers --------------------------------------------------------------------------


class NatsServer:
    """One nats-server process at a site."""

    def __init__(self, topo, site, config, workdir):
        self.topo, self.site = topo, site
        self.config_path = os.path.join(workdir, f"{site}.conf")
        self.log_path = os.path.join(workdir, f"{site}.log")
        with open(self.config_path, "w") as f:
            f.write(config)
        self.log = open(self.log_path, "ab")
        self.proc = topo.spawn(site, [NATS_SERVER, "-c", self.config_path],
                               stdout=self.log, stderr=subprocess.STDOUT)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def monitor(self, path):
        """GETs a monitoring endpoint (/varz, /leafz, /gatewayz...) as JSON."""
        conn = http.client.HTTPConnection("127.0.0.1", MONITOR_PORT, timeout=5)
        conn.sock = self.topo.connect(self.site, ("127.0.0.1", MONITOR_PORT))
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return json.loads(resp.read())
        finally:
            conn.close()

    def _try_monitor(self, path):
        if self.proc.poll() is not None:
            raise AssertionError(f"nats-server at {self.site} exited with {self.proc.returncode}:\n"
                                 + self.read_log())
        try:
            return self.monitor(path)
        except (OSError, http.client.HTTPException, ValueError):
            return None

    def wait_ready(self, timeout=10.0):
        wait_until(lambda: self._try_monitor("/varz"), timeout, f"nats-server at {self.site}")

    def client(self, name=None):
        return NatsClient.connect(self.topo, self.site, name=name)


class NatsLine:
    """The servers of one shape, by site."""

    def __init__(self, shape, servers, workdir):
        self.shape, self.servers, self.workdir = shape, servers, workdir

    def __getitem__(self, site):
        return self.servers[site]

    def logs(self):
        return "\n".join(f"--- {s} ---\n{srv.read_log()}" for s, srv in self.servers.items())


def _base_config(site):
    return (f"server_name: {site}\n"
            f"listen: 0.0.0.0:{CLIENT_PORT}\n"
            f"http: 0.0.0.0:{MONITOR_PORT}\n")


def _gateway_config(site, remotes):
    """remotes: {cluster name: address of its server}."""
    remotes = ",\n".join(
        f'    {{name: "{n}", urls: ["nats://{addr}:{GATEWAY_PORT}"]}}' for n, addr in remotes.items())
    return (_base_config(site) +
            "gateway {\n"
            f'  name: "{site}"\n'
            f"  listen: 0.0.0.0:{GATEWAY_PORT}\n"
            f"  gateways: [\n{remotes}\n  ]\n"
            "}\n")


def _leaf_config(topo, site, accept, dial):
    lines = ["leafnodes {"]
    if accept:
        lines.append(f"  listen: 0.0.0.0:{LEAF_PORT}")
    if dial:
        urls = ", ".join(f'"nats-leaf://{topo.address(h, site)}:{LEAF_PORT}"' for h in dial)
        lines.append(f"  remotes: [ {{ urls: [{urls}] }} ]")
        lines.append("  reconnect: 1")
    lines.append("}")
    return _base_config(site) + "\n".join(lines) + "\n"


def start_line(topo, shape, sites=("A", "B", "C"), workdir=None, timeout=15.0):
    """Starts one nats-server per site of the line sites[0] - sites[1] - sites[2]
    (which must be linked in topo), in the given shape (see the module's
    docstring), and waits until each is up and its links to the others are
    established. Returns a NatsLine."""
    a, b, c = sites
    workdir = workdir or tempfile.mkdtemp(prefix=f"nats-{shape}-")
    os.makedirs(workdir, exist_ok=True)
    if shape == "leaf-hub":
        configs = {a: _leaf_config(topo, a, False, [b]),
                   b: _leaf_config(topo, b, True, []),
                   c: _leaf_config(topo, c, False, [b])}
        expect = {a: ("leafz", 1), b: ("leafz", 2), c: ("leafz", 1)}
    elif shape == "leaf-chain":
        configs = {a: _leaf_config(topo, a, False, [b]),
                   b: _leaf_config(topo, b, True, [c]),
                   c: _leaf_config(topo, c, True, [])}
        expect = {a: ("leafz", 1), b: ("leafz", 2), c: ("leafz", 1)}
    elif shape in ("gateway-line", "gateway-routed"):
        remotes = {a: {b: topo.address(b, a)},
                   b: {a: topo.address(a, b), c: topo.address(c, b)},
                   c: {b: topo.address(b, c)}}
        expect = {a: ("gatewayz", 1), b: ("gatewayz", 2), c: ("gatewayz", 1)}
        if shape == "gateway-routed":
            # A and C reach each other through B's forwarding, at the
            # addresses they have towards B.
            topo.route(a, b, c)
            remotes[a][c] = topo.address(c, b)
            remotes[c][a] = topo.address(a, b)
            expect = {s: ("gatewayz", 2) for s in sites}
        configs = {s: _gateway_config(s, remotes[s]) for s in sites}
    else:
        raise ValueError(f"unknown shape {shape!r}; one of {SHAPES}")

    # Servers that accept leaf connections start (and are ready) before those
    # that dial them, or the first dial fails and the retry costs a second.
    order = {"leaf-hub": (b, a, c), "leaf-chain": (c, b, a)}.get(shape, sites)
    servers = {}
    line = NatsLine(shape, servers, workdir)
    for s in order:
        servers[s] = NatsServer(topo, s, configs[s], workdir)
        servers[s].wait_ready(timeout)
    for s, (kind, count) in expect.items():
        try:
            wait_until(lambda: _links_up(servers[s], kind) >= count, timeout,
                       f"{count} {kind} connection(s) at {s} ({shape})")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{line.logs()}") from None
    return line


def _links_up(server, kind):
    """How many leaf connections, or how many other clusters reached both
    ways by gateway, a server has."""
    data = server._try_monitor("/" + kind)
    if not data:
        return 0
    if kind == "leafz":
        return int(data.get("leafnodes", 0))
    outbound = set((data.get("outbound_gateways") or {}).keys())
    inbound = set((data.get("inbound_gateways") or {}).keys())
    return len(outbound & inbound)


# --- interest propagation -------------------------------------------------------------


def await_interest(publisher, subscribers, subject_prefix="orders.probe.us", timeout=15.0):
    """Subscriptions made at one server reach the others asynchronously. This
    publishes numbered probes at `publisher` until every subscriber has seen
    one, then waits until every subscriber has the last probe sent, so no probe
    is still on its way afterwards; then clears the subscribers' messages.
    The subscribers must be subscribed to a filter matching
    `<subject_prefix>.<n>`."""
    deadline = time.monotonic() + timeout
    sent = 0
    while True:
        publisher.pub(f"{subject_prefix}.{sent}", b"probe")
        publisher.flush()
        sent += 1
        for s in subscribers:
            s.poll()
        if all(any(m[0].startswith(subject_prefix + ".") for m in s.messages) for s in subscribers):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"interest did not propagate in {timeout}s: "
                                 f"{[len(s.messages) for s in subscribers]} probes seen")
        select.select(subscribers, [], [], 0.02)
    last = f"{subject_prefix}.{sent - 1}"

    def all_have_last():
        for s in subscribers:
            s.poll()
        return all(any(m[0] == last for m in s.messages) for s in subscribers)
    wait_until(all_have_last, max(1.0, deadline - time.monotonic()), "the last interest probe")
    for s in subscribers:
        s.messages.clear()
    return sent
