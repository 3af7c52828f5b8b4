"""Load: one pipelined publisher fanned out to several subscribers, exactly
once and in order; and a stalled subscriber that must not slow anyone else."""
import json
import socket
import threading

from conftest import SseClient, subscribe_path, wait_for, ws_subscribe

BATCH = 500  # requests written at once on the publisher's connection


class PipelinedPublisher:
    """HTTP/1.1 pipelining over one TCP connection: writes a batch of POSTs in
    one go, then reads their responses in order."""

    def __init__(self, node, timeout=30.0):
        self.sock = socket.create_connection((node.host, node.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        self.host = node.host

    def _request(self, topic, payload):
        head = (f"POST /v1/topics/{topic} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(payload)}\r\n\r\n")
        return head.encode() + payload

    def _response(self):
        status_line = self.file.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = self.file.readline()
            assert line, "connection closed inside a response header"
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = self.file.read(length)
        assert len(body) == length
        return status, body

    def publish(self, topic, payloads):
        """Publishes every payload to `topic`; returns [(status, body)] in order."""
        results = []
        for start in range(0, len(payloads), BATCH):
            chunk = payloads[start:start + BATCH]
            self.sock.sendall(b"".join(self._request(topic, p) for p in chunk))
            results.extend(self._response() for _ in chunk)
        return results

    def close(self):
        self.file.close()
        self.sock.close()


def accepted_ids(results):
    """Asserts every response is a 202 and returns the event ids, in order."""
    refused = [(status, body) for status, body in results if status != 202]
    assert not refused, f"{len(refused)} publishes refused, first: {refused[0]}"
    return [int(json.loads(body)["id"]) for _, body in results]


class Reader(threading.Thread):
    """Reads `count` events from a subscriber in the background, as (id, payload)."""

    def __init__(self, next_event, count):
        super().__init__(daemon=True)
        self.next_event, self.count = next_event, count
        self.events, self.error = [], None

    def run(self):
        try:
            while len(self.events) < self.count:
                event = self.next_event()
                if event is None:
                    raise AssertionError(f"stream ended after {len(self.events)} events")
                self.events.append(event)
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self, timeout):
        self.join(timeout)
        assert not self.is_alive(), f"only {len(self.events)} of {self.count} events arrived"
        assert self.error is None, self.error
        return self.events


def sse_reader(client, count):
    def next_event():
        event = client.next_event()
        return None if event is None else (int(event["id"]), event["data"])
    return Reader(next_event, count)


def ws_reader(ws, count):
    def next_event():
        frame = json.loads(ws.recv())
        return int(frame["id"]), frame["payload"]
    return Reader(next_event, count)


def assert_exactly_once_in_order(events, ids, payloads):
    got_ids = [i for i, _ in events]
    assert all(a < b for a, b in zip(got_ids, got_ids[1:])), "ids do not strictly increase"
    assert got_ids == ids
    assert [p for _, p in events] == payloads


def test_100k_pipelined_events_reach_every_subscriber_once_in_order(make_node):
    node = make_node("--subscriber-queue", "200000")
    count = 100_000
    subscribers = [SseClient(node, "load/>"), SseClient(node, "load/*/1")]
    ws = ws_subscribe(node, "*/stream/>")
    readers = [sse_reader(s, count) for s in subscribers] + [ws_reader(ws, count)]
    for reader in readers:
        reader.start()

    publisher = PipelinedPublisher(node)
    payloads = [str(i) for i in range(count)]
    ids = accepted_ids(publisher.publish("load/stream/1", [p.encode() for p in payloads]))
    publisher.close()
    assert all(a < b for a, b in zip(ids, ids[1:]))

    for reader in readers:
        assert_exactly_once_in_order(reader.finish(timeout=40), ids, payloads)
    assert node.metric_sum("skein_events_published_total") == count
    assert node.metric_sum("skein_events_delivered_total") == 3 * count
    assert node.metric_sum("skein_events_dropped_total") == 0
    for s in subscribers:
        s.close()
    ws.close()


# --- a stalled subscriber -------------------------------------------------

STALL_EVENTS = 20_000


def stalled_subscriber(node, slow):
    """Subscribes over a raw socket with a small receive buffer and returns it
    once the subscription is in effect; the caller then stops reading."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((node.host, node.port))
    path = subscribe_path("stall/>", slow=slow, queue=100)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {node.host}\r\n\r\n".encode())
    received = b""
    while b": subscribed\n\n" not in received:
        chunk = sock.recv(1)  # byte by byte: leave every event in the socket
        assert chunk, "stalled subscriber refused"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200 "), received
    return sock


def drain(sock):
    """Everything left in the socket until EOF (or a reset), as bytes."""
    data = bytearray()
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            return bytes(data), "reset"
        if not chunk:
            return bytes(data), "eof"
        data += chunk


def publish_kib_events(node, fast_reader_filter="stall/>"):
    """B reads in a thread while 20,000 events of ~1 KiB are pipelined in;
    returns (ids in publish order, B's events)."""
    b = SseClient(node, fast_reader_filter)
    reader = sse_reader(b, STALL_EVENTS)
    reader.start()
    publisher = PipelinedPublisher(node)
    payloads = [f"{i:06d}:".encode() + b"x" * 1017 for i in range(STALL_EVENTS)]
    ids = accepted_ids(publisher.publish("stall/kib", payloads))
    publisher.close()
    events = reader.finish(timeout=40)
    assert_exactly_once_in_order(events, ids, [p.decode() for p in payloads])
    b.close()
    return ids


def test_stalled_subscriber_is_disconnected_without_delaying_another(make_node):
    node = make_node("--subscriber-queue", "200000")
    a = stalled_subscriber(node, "disconnect")
    publish_kib_events(node)
    # B has everything while A still has not read a byte.
    wait_for(lambda: node.metric_sum("skein_slow_subscribers_disconnected_total") >= 1,
             what="the stalled subscriber to be disconnected")
    data, end = drain(a)
    assert end in ("eof", "reset")
    assert len(data) < STALL_EVENTS * 1024, "the stalled subscriber was never cut off"
    a.close()
    wait_for(lambda: node.metric_sum("skein_http_subscribers") == 0,
             what="the disconnected subscriber to be gone")
    assert node.metric_sum("skein_events_dropped_total") == 0


def parse_sse_ids(data):
    """(id, payload) of every complete SSE message in `data`."""
    events = []
    for message in data.split(b"\n\n"):
        fields = dict(line.split(b": ", 1) for line in message.split(b"\n") if b": " in line)
        if b"id" in fields and b"data" in fields:
            events.append((int(fields[b"id"]), fields[b"data"]))
    return events


def test_stalled_drop_oldest_subscriber_loses_old_events_only(make_node):
    node = make_node("--subscriber-queue", "200000")
    a = stalled_subscriber(node, "drop-oldest")
    ids = publish_kib_events(node)
    assert node.metric_sum("skein_events_dropped_total") > 0
    assert node.metric_sum("skein_slow_subscribers_disconnected_total") == 0

    # A is still subscribed; now it reads until the last published event.
    received = bytearray()
    last = f"id: {ids[-1]}\n".encode()
    while last not in received or not received.endswith(b"\n\n"):
        chunk = a.recv(1 << 16)
        assert chunk, f"stream ended before event {ids[-1]}"
        received += chunk
    events = parse_sse_ids(bytes(received))
    got = [i for i, _ in events]
    assert len(got) < STALL_EVENTS, "nothing was dropped for A"
    assert all(x < y for x, y in zip(got, got[1:])), "A's events are out of order"
    assert got[-1] == ids[-1]
    for event_id, payload in events:  # each id carries its own payload
        assert ids[int(payload[:6])] == event_id
    a.close()
