"""Fixtures for the integration suites: a real `skein serve` process on an
ephemeral port with a temporary data directory, and small real clients
(HTTP with http.client, SSE over a raw response stream, WebSocket with
python3-websocket)."""
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.parse

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SKEIN = os.environ.get("SKEIN_BINARY", str(REPO / "build/release/src/cli/skein"))


def wait_for(predicate, timeout=10.0, what="condition"):
    """Polls `predicate` until it is true; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Node:
    """One skein serve process. start() returns once its ready file exists."""

    def __init__(self, workdir: pathlib.Path, *extra_args, env=None):
        self.workdir = workdir
        self.data = workdir / "data"
        self.ready_file = workdir / "ready.json"
        self.log_path = workdir / "skein.log"
        self.args = [SKEIN, "serve", "--data", str(self.data), "--http", "127.0.0.1:0",
                     "--kafka", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--mesh", "127.0.0.1:0", "--ready-file", str(self.ready_file), *extra_args]
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.addresses = {}

    def start(self, timeout=20.0):
        # A restart must not read the addresses of the run before.
        self.ready_file.unlink(missing_ok=True)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log, env=self.env)
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"skein exited with {self.proc.returncode}:\n{self.read_log()}")
            return self.ready_file.exists()
        wait_for(ready, timeout, "the ready file")
        self.addresses = json.loads(self.ready_file.read_text())
        host, port = self.addresses["http"].rsplit(":", 1)
        self.host, self.port = host, int(port)
        return self

    def read_log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def kafka(self):
        """The Kafka bootstrap address, HOST:PORT."""
        return self.addresses["kafka"]

    def assert_no_sanitizer_report(self):
        """Under `make test` the suites also run against an ASan+UBSan build."""
        log = self.read_log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in log, f"sanitizer report in the node's log:\n{log}"

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("skein did not exit after " + sig.name)
        return self.proc.returncode

    # --- HTTP helpers ---------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10.0):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(), dict(resp.getheaders())
        finally:
            conn.close()

    def publish(self, topic, payload=b"", headers=None):
        path = "/v1/topics/" + urllib.parse.quote(topic, safe="/")
        return self.request("POST", path, payload, headers)

    def metrics(self):
        status, body, _ = self.request("GET", "/metrics")
        assert status == 200
        values = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def metric_sum(self, family):
        return sum(v for k, v in self.metrics().items() if k.split("{")[0] == family)


def subscribe_path(*filters, **params):
    query = [("filter", f) for f in filters] + list(params.items())
    return "/v1/subscribe?" + urllib.parse.urlencode(query)


class SseClient:
    """A Server-Sent Events subscriber over a plain socket. Connected (and its
    subscription in effect on the node) when the constructor returns."""

    def __init__(self, node, *filters, timeout=30.0, headers=None, path=None, **params):
        """`path`: a whole subscribe path instead of one built from `filters`
        and `params`; `headers`: extra request headers (Last-Event-ID)."""
        self.sock = socket.create_connection((node.host, node.port), timeout=timeout)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (f"GET {path or subscribe_path(*filters, **params)} HTTP/1.1\r\n"
                   f"Host: {node.host}\r\nAccept: text/event-stream\r\n{extra}\r\n")
        self.sock.sendall(request.encode())
        self.file = self.sock.makefile("rb")
        status_line = self.file.readline().decode()
        self.status = int(status_line.split()[1])
        self.headers = {}
        while True:
            line = self.file.readline().decode().rstrip("\r\n")
            if not line:
                break
            key, value = line.split(":", 1)
            self.headers[key.strip().lower()] = value.strip()
        if self.status == 200:
            assert self.file.readline() == b": subscribed\n"
            assert self.file.readline() == b"\n"

    def next_event(self):
        """The next event as a dict(id, event, data), or None at end of stream."""
        event = {}
        data = []
        while True:
            line = self.file.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if data or event:
                    event["data"] = "\n".join(data)
                    return event
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            else:
                event[field] = value

    def events(self, count):
        out = []
        for _ in range(count):
            event = self.next_event()
            assert event is not None, f"stream ended after {len(out)} of {count} events"
            out.append(event)
        return out

    def close(self):
        # The makefile() reader holds the descriptor too: shut the socket down
        # so the node sees the close whatever else refers to it.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.file.close()
        self.sock.close()


def ws_subscribe(node, *filters, timeout=30.0, **params):
    """A WebSocket subscriber (python3-websocket), subscribed when returned."""
    import websocket  # python3-websocket
    return websocket.create_connection(f"ws://{node.host}:{node.port}{subscribe_path(*filters, **params)}",
                                       timeout=timeout)


@pytest.fixture
def node(tmp_path):
    n = Node(tmp_path).start()
    yield n
    n.stop()
    n.assert_no_sanitizer_report()


@pytest.fixture
def make_node(tmp_path):
    """Starts nodes with extra arguments; stops them all at the end."""
    nodes = []
    def make(*args, env=None, start=True):
        d = tmp_path / f"node{len(nodes)}"
        d.mkdir()
        n = Node(d, *args, env=env)
        nodes.append(n)
        return n.start() if start else n
    yield make
    for n in nodes:
        n.stop()
    for n in nodes:
        n.assert_no_sanitizer_report()


def read_to_end(node, topic, partitions, starts=None, timeout=120):
    """Every record of `topic` from `starts` ({partition: offset}; default 0)
    to the end of every partition, with confluent-kafka and no group:
    {(partition, offset): {"partition", "offset", "key", "value", "headers"}}.
    A record read twice, or a partition not read to its end, fails."""
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": node.kafka, "group.id": "unused",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, (starts or {}).get(p, 0))
                     for p in range(partitions)])
    records, at_end = {}, set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_end) < partitions and time.monotonic() < deadline:
            for msg in consumer.consume(10000, 0.5):
                if msg.error():
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        at_end.add(msg.partition())
                    continue
                where = (msg.partition(), msg.offset())
                assert where not in records, f"record {where} read twice"
                records[where] = {"partition": msg.partition(), "offset": msg.offset(),
                                  "key": msg.key(), "value": msg.value(),
                                  "headers": [(k, v) for k, v in (msg.headers() or [])]}
    finally:
        consumer.close()
    assert len(at_end) == partitions, f"{topic} was not read to its end"
    return records
