"""Streams meet topics (DESIGN.md §1, docs/architecture.md "Streams meet
topics"): the streams admin API (/v1/streams), streams attracting published
events by filter (partitioned by Kafka's murmur2 of the key, of the topic when
keyless), Kafka records produced to a stream reaching HTTP subscribers under
skein-topic or the stream's topic template ("ingress, once"), and persistent
publish (?persistent=true / Skein-Persistent) answered only once stored,
through kill -9. Real clients only: http.client, SSE, WebSocket,
confluent-kafka and kcat."""
import http.client
import json
import pathlib
import shutil
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from conftest import SseClient, read_to_end, wait_for, ws_subscribe

KCAT = "kcat"
KAFKAJS_SCRIPT = pathlib.Path(__file__).resolve().parent / "kafkajs_client.js"
FAST_GROUPS = ("--kafka-group-initial-rebalance-delay-ms", "200")

ISSUE_BODY = {"name": "us-orders", "partitions": 3, "attract": ["orders/*/us/>"],
              "topic_template": "orders/{key}", "retention_ms": 604800000,
              "retention_bytes": -1, "cleanup_policy": "delete", "fsync": "interval"}


# --- helpers ------------------------------------------------------------------

def api(node, method, path, body=None, raw=None):
    """One admin API exchange: (status, parsed JSON body or None)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"} if data is not None else {}
    status, text, _ = node.request(method, path, data, headers)
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return status, parsed


def create_stream(node, **body):
    status, desc = api(node, "POST", "/v1/streams", body)
    assert status == 201, (status, desc)
    return desc


def patch_stream(node, name, **body):
    status, desc = api(node, "PATCH", f"/v1/streams/{name}", body)
    assert status == 200, (status, desc)
    return desc


def end_offsets(node, name):
    status, desc = api(node, "GET", f"/v1/streams/{name}")
    assert status == 200, (status, desc)
    return [p["end_offset"] for p in sorted(desc["partition_state"], key=lambda p: p["partition"])]


def persist(node, topic, payload=b"", headers=None):
    """A persistent publish: (status, parsed body)."""
    status, body, _ = node.publish(topic, payload, dict(headers or {}, **{
        "Skein-Persistent": "true"}))
    return status, json.loads(body)


def topic_path(topic, query=""):
    return "/v1/topics/" + urllib.parse.quote(topic, safe="/") + query


def kcat(node, *args, stdin=None, timeout=30):
    result = subprocess.run([KCAT, "-b", node.kafka, *args], input=stdin, capture_output=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def kafkajs_produce(node, topic, messages):
    """Produces with kafkajs (tests/integration/kafkajs_client.js, acks=-1)."""
    node_js = shutil.which("node")
    assert node_js, "node is not installed: run scripts/install-deps"
    command = {"op": "produce", "brokers": [node.kafka], "topic": topic, "messages": messages}
    proc = subprocess.run([node_js, str(KAFKAJS_SCRIPT)], input=json.dumps(command),
                          capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0 and lines and "result" in lines[-1], (proc.stdout, proc.stderr)
    return lines[-1]["result"]


def kcat_read_all(node, stream):
    """Every record of every partition, as kcat's JSON envelopes."""
    out = kcat(node, "-C", "-t", stream, "-o", "beginning", "-e", "-J")
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def read_stream(node, stream, partitions, timeout=60):
    """Every record of the stream read to the end of every partition: list
    of dicts in (partition, offset) order."""
    records = read_to_end(node, stream, partitions, timeout=timeout)
    return [records[k] for k in sorted(records)]


def header(record, name):
    values = [v for k, v in record["headers"] if k == name]
    return values[0].decode() if values else None


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), unsigned."""
    mask = 0xFFFFFFFF
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    blocks = length // 4
    for i in range(blocks):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rest, tail = length & 3, blocks * 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def kafka_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class KeepAlive:
    """One keep-alive HTTP connection (one client, so one shard of the node)."""

    def __init__(self, node, timeout=35.0):
        self.conn = http.client.HTTPConnection(node.host, node.port, timeout=timeout)

    def post(self, topic, payload=b"", headers=None, query=""):
        self.conn.request("POST", topic_path(topic, query), body=payload, headers=headers or {})
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def close(self):
        self.conn.close()


# --- 1. the admin API ---------------------------------------------------------

def test_admin_api_creates_describes_lists_patches_and_deletes_streams(node):
    status, desc = api(node, "POST", "/v1/streams", ISSUE_BODY)
    assert status == 201, desc
    for field, value in ISSUE_BODY.items():
        assert desc[field] == value, field
    assert [p["partition"] for p in desc["partition_state"]] == [0, 1, 2]
    assert all(p["start_offset"] == 0 and p["end_offset"] == 0 and p["bytes"] == 0
               for p in desc["partition_state"])

    # Only a name: the defaults.
    status, plain = api(node, "POST", "/v1/streams", {"name": "plain"})
    assert status == 201, plain
    assert plain["partitions"] == 1
    assert plain["topic_template"] == "plain"
    assert plain["attract"] == []
    assert plain["cleanup_policy"] == "delete"
    assert len(plain["partition_state"]) == 1

    status, listing = api(node, "GET", "/v1/streams")
    assert status == 200
    names = {s["name"]: s for s in listing["streams"]}
    assert {"us-orders", "plain"} <= set(names)
    assert names["us-orders"]["attract"] == ["orders/*/us/>"]

    # partition_state grows with what is stored.
    before = {p["partition"]: p for p in api(node, "GET", "/v1/streams/us-orders")[1][
        "partition_state"]}
    for i in range(6):
        status, body = persist(node, f"orders/{i}/us/x", b"payload-%d" % i,
                               {"Skein-Key": f"k{i}"})
        assert status == 201 and body["stored"] == 1, body
    status, after_desc = api(node, "GET", "/v1/streams/us-orders")
    assert status == 200
    after = {p["partition"]: p for p in after_desc["partition_state"]}
    assert sum(p["end_offset"] for p in after.values()) == 6
    for p, state in after.items():
        grew = state["end_offset"] - before[p]["end_offset"]
        expected = sum(1 for i in range(6) if kafka_partition(b"k%d" % i, 3) == p)
        assert grew == expected, (p, state)
        assert state["start_offset"] == 0
        assert (state["bytes"] > before[p]["bytes"]) == (grew > 0), (p, state)

    # The stream is a Kafka topic.
    admin = AdminClient({"bootstrap.servers": node.kafka})
    assert len(admin.list_topics(timeout=10).topics["us-orders"].partitions) == 3
    resource = ConfigResource("topic", "us-orders")
    assert admin.describe_configs([resource])[resource].result(30)[
        "retention.ms"].value == "604800000"

    # PATCH: attract, template, retention; partitions grow only.
    desc = patch_stream(node, "us-orders", attract=["orders/*/ca/>", "shipments/>"],
                        topic_template="orders/{header:region}/{key}", retention_ms=3600000,
                        partitions=5)
    assert desc["attract"] == ["orders/*/ca/>", "shipments/>"]
    assert desc["topic_template"] == "orders/{header:region}/{key}"
    assert desc["retention_ms"] == 3600000
    assert desc["partitions"] == 5 and len(desc["partition_state"]) == 5
    assert desc["cleanup_policy"] == "delete"  # untouched settings stay
    assert api(node, "GET", "/v1/streams/us-orders")[1]["attract"] == desc["attract"]
    assert admin.describe_configs([resource])[resource].result(30)[
        "retention.ms"].value == "3600000"
    assert len(admin.list_topics(timeout=10).topics["us-orders"].partitions) == 5
    # The new filters are in force at the answer, the old one is gone.
    status, body = persist(node, "orders/1/ca/x")
    assert status == 201 and body["stored"] == 1, body
    status, body = persist(node, "orders/1/us/x")
    assert status == 503 and body["error"] == "not_stored", body
    status, body = api(node, "PATCH", "/v1/streams/us-orders", {"partitions": 4})
    assert status == 400 and "partitions" in body["message"], body
    assert api(node, "GET", "/v1/streams/us-orders")[1]["partitions"] == 5

    # 409 on a second create, 404 on an unknown stream.
    status, body = api(node, "POST", "/v1/streams", {"name": "us-orders"})
    assert status == 409, body
    assert api(node, "GET", "/v1/streams/nope")[0] == 404

    # DELETE, then gone everywhere.
    status, _, _ = node.request("DELETE", "/v1/streams/us-orders")
    assert status == 204
    assert api(node, "GET", "/v1/streams/us-orders")[0] == 404
    assert "us-orders" not in admin.list_topics(timeout=10).topics
    status, body = persist(node, "orders/1/ca/x")
    assert status == 503 and body["error"] == "not_stored", body


@pytest.mark.parametrize("body, field", [
    ({"name": "bad", "colour": "red"}, "colour"),
    ({"name": "bad", "attract": ["a//b"]}, "a//b"),
    ({"name": "bad", "attract": ["a/+"]}, "a/+"),
    ({"name": "bad", "attract": "a/>"}, "attract"),
    ({"name": "bad", "topic_template": "{foo}"}, "topic_template"),
    ({"name": "bad", "topic_template": "orders/{key"}, "topic_template"),
    ({"name": "bad", "cleanup_policy": "sometimes"}, "cleanup_policy"),
    ({"name": "bad", "partitions": 0}, "partitions"),
    ({"name": "bad", "partitions": "3"}, "partitions"),
    ({"partitions": 3}, "name"),
])
def test_admin_api_refuses_a_bad_body_naming_the_field(node, body, field):
    status, answer = api(node, "POST", "/v1/streams", body)
    assert status == 400, answer
    assert answer["error"] == "invalid_stream"
    assert field in answer["message"], answer
    # Nothing was created, and a PATCH refuses the same (bar the name).
    assert api(node, "GET", "/v1/streams/bad")[0] == 404
    if "name" in body and field != "name":
        create_stream(node, name="bad")
        patch = {k: v for k, v in body.items() if k != "name"}
        status, answer = api(node, "PATCH", "/v1/streams/bad", patch)
        assert status == 400 and field in answer["message"], answer
        assert api(node, "GET", "/v1/streams/bad")[1]["attract"] == []


def test_admin_api_refuses_changes_to_internal_streams(node):
    status, body = api(node, "PATCH", "/v1/streams/__consumer_offsets", {"retention_ms": 1})
    assert status == 403, body
    status, _, _ = node.request("DELETE", "/v1/streams/__consumer_offsets")
    assert status == 403
    assert api(node, "GET", "/v1/streams/__consumer_offsets")[0] == 200
    status, body = api(node, "POST", "/v1/streams", {"name": "__mine"})
    assert status == 400, body


# --- 2. the issue's main test ---------------------------------------------------

PUBLISHERS = 3
PER_PUBLISHER = 300  # ids per publisher; each id is published to us and eu


def test_three_http_publishers_fill_a_stream_with_exactly_the_us_events_partitioned_by_murmur2(
        make_node):
    node = make_node(*FAST_GROUPS)
    create_stream(node, name="us-orders", partitions=3, attract=["orders/*/us/>"])
    barrier = threading.Barrier(PUBLISHERS)
    errors = []

    def publisher(n):
        conn = KeepAlive(node)
        try:
            barrier.wait(10)
            for i in range(PER_PUBLISHER):
                for region in ("us", "eu"):
                    headers = {"Skein-Key": f"p{n}-{i % 7}", "Content-Type": "text/plain"}
                    last = i == PER_PUBLISHER - 1 and region == "us"
                    # The last US event is persistent: its 201 says everything
                    # this connection published before it is stored too.
                    status, body = conn.post(f"orders/{n}/{region}/{i}", b"%d:%d:%s" % (
                        n, i, region.encode()), headers, "?persistent=true" if last else "")
                    want = 201 if last else 202
                    if status != want:
                        errors.append((n, i, region, status, body))
                        return
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((n, repr(e)))
        finally:
            conn.close()

    threads = [threading.Thread(target=publisher, args=(n,)) for n in range(PUBLISHERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    expected = {(f"orders/{n}/us/{i}", f"{n}:{i}:us") for n in range(PUBLISHERS)
                for i in range(PER_PUBLISHER)}
    wait_for(lambda: sum(end_offsets(node, "us-orders")) >= len(expected), 20,
             "the US events to be stored")

    consumer = Consumer({"bootstrap.servers": node.kafka, "group.id": "us-readers",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(["us-orders"])
    records = []
    deadline = time.monotonic() + 30
    try:
        while len(records) < len(expected) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                records.append({"partition": msg.partition(), "offset": msg.offset(),
                                "key": msg.key(), "value": msg.value(),
                                "headers": list(msg.headers() or [])})
    finally:
        consumer.close()

    got = [(header(r, "skein-topic"), r["value"].decode()) for r in records]
    assert len(got) == len(set(got)), "an event was read twice"
    assert len({(r["partition"], r["offset"]) for r in records}) == len(records)
    assert set(got) == expected
    assert sum(end_offsets(node, "us-orders")) == len(expected), "extra records stored"
    for r in records:
        assert header(r, "content-type") == "text/plain"
        assert [k for k, _ in r["headers"]][:2] == ["skein-topic", "content-type"]

    # Within a partition, each publisher's events in publish order.
    for p in range(3):
        in_partition = sorted((r for r in records if r["partition"] == p),
                              key=lambda r: r["offset"])
        for n in range(PUBLISHERS):
            ids = [int(r["value"].split(b":")[1]) for r in in_partition
                   if r["value"].startswith(b"%d:" % n)]
            assert ids == sorted(ids), f"partition {p}, publisher {n} out of order"

    # Partition = Kafka's murmur2 of the key ...
    stream_partition = {}
    for r in records:
        assert r["partition"] == kafka_partition(r["key"], 3), r
        stream_partition.setdefault(r["key"], set()).add(r["partition"])
    assert all(len(ps) == 1 for ps in stream_partition.values())
    assert len({next(iter(ps)) for ps in stream_partition.values()}) > 1, "keys did not spread"
    # ... as librdkafka's own murmur2 partitioner chooses it.
    admin = AdminClient({"bootstrap.servers": node.kafka})
    admin.create_topics([NewTopic("probe", 3, 1)])["probe"].result(30)
    chosen = {}
    producer = Producer({"bootstrap.servers": node.kafka, "partitioner": "murmur2"})
    for key in stream_partition:
        producer.produce("probe", key=key, value=b"probe",
                         on_delivery=lambda err, msg: chosen.__setitem__(msg.key(), (
                             err, msg.partition())))
    assert producer.flush(30) == 0
    assert {k: v[1] for k, v in chosen.items()} == {
        k: next(iter(ps)) for k, ps in stream_partition.items()}
    assert all(err is None for err, _ in chosen.values())


# --- 3. ingress, once -------------------------------------------------------------

def test_kafka_records_reach_sse_and_websocket_under_template_or_skein_topic_and_are_stored_once(
        node):
    create_stream(node, name="devices", partitions=2, attract=["devices/>"],
                  topic_template="devices/{key}/{partition}")
    create_stream(node, name="mirror", attract=["devices/>"])
    sse = SseClient(node, "devices/>", timeout=15)
    ws = ws_subscribe(node, "devices/*/1", timeout=15)
    rooms_sse = SseClient(node, "rooms/>", timeout=15)
    rooms_ws = ws_subscribe(node, "rooms/*/temp", timeout=15)

    # kcat, templated: devices/{key}/{partition}.
    kcat(node, "-P", "-t", "devices", "-p", "1", "-K:", "-H", "trace=t1",
         stdin=b"sensor-1:temp=20\n")
    event = sse.next_event()
    assert event["event"] == "devices/sensor-1/1" and event["data"] == "temp=20", event
    frame = json.loads(ws.recv())
    assert frame["topic"] == "devices/sensor-1/1"
    assert frame["key"] == "sensor-1" and frame["payload"] == "temp=20"
    assert frame["headers"] == {"trace": "t1"}

    # A key with '/' spans levels; partition 0 does not match devices/*/1.
    kcat(node, "-P", "-t", "devices", "-p", "0", "-K|", stdin=b"eu/7|x\n")
    event = sse.next_event()
    assert event["event"] == "devices/eu/7/0" and event["data"] == "x", event

    # confluent-kafka with an explicit skein-topic header and a content type.
    producer = Producer({"bootstrap.servers": node.kafka, "acks": "all"})
    producer.produce("devices", key=b"thermo", value=b'{"t":21}', partition=1,
                     headers=[("skein-topic", b"rooms/7/temp"),
                              ("content-type", b"application/json"), ("unit", b"C")])
    assert producer.flush(30) == 0
    event = rooms_sse.next_event()
    assert event["event"] == "rooms/7/temp" and event["data"] == '{"t":21}', event
    frame = json.loads(rooms_ws.recv())
    assert frame["topic"] == "rooms/7/temp" and frame["key"] == "thermo"
    assert frame["content_type"] == "application/json"
    assert frame["headers"] == {"unit": "C"}
    assert frame["payload"] == '{"t":21}'
    # kafkajs, the same way.
    result = kafkajs_produce(node, "devices", [{"key": "js-1", "value": "from-js", "headers": {
        "skein-topic": "rooms/js/temp", "origin": "kafkajs"}}])
    assert [r["errorCode"] for r in result] == [0]
    event = rooms_sse.next_event()
    assert event["event"] == "rooms/js/temp" and event["data"] == "from-js", event
    frame = json.loads(rooms_ws.recv())
    assert frame["topic"] == "rooms/js/temp" and frame["key"] == "js-1"
    assert frame["headers"] == {"origin": "kafkajs"} and frame["payload"] == "from-js"

    # A batch, then a keyless record the template cannot name: stored, not
    # delivered; the keyed record after it is the next event.
    lines = b"".join(b"s%d:v%d\n" % (i, i) for i in range(20))
    kcat(node, "-P", "-t", "devices", "-p", "0", "-K:", stdin=lines)
    batch = sse.events(20)
    assert [(e["event"], e["data"]) for e in batch] == [
        (f"devices/s{i}/0", f"v{i}") for i in range(20)]
    kcat(node, "-P", "-t", "devices", "-p", "1", stdin=b"keyless\n")
    kcat(node, "-P", "-t", "devices", "-p", "1", "-K:", stdin=b"after:next\n")
    event = sse.next_event()
    assert event["event"] == "devices/after/1" and event["data"] == "next", event
    frame = json.loads(ws.recv())
    assert frame["topic"] == "devices/after/1", frame
    assert node.request("GET", "/healthz")[0] == 200

    produced = 1 + 1 + 1 + 1 + 20 + 1 + 1
    # A persistent sentinel: both attracting streams have it (and, draining
    # in order, everything attracted before it).
    status, body = persist(node, "devices/sentinel/x", b"end")
    assert status == 201 and body["stored"] == 2, body
    assert sum(end_offsets(node, "devices")) == produced + 1, "a produced record stored twice"
    # mirror has each routable devices/ record once: not rooms/, not the keyless one.
    wait_for(lambda: sum(end_offsets(node, "mirror")) >= produced - 3 + 1, 10,
             "mirror to attract the devices/ records")
    assert sum(end_offsets(node, "mirror")) == produced - 3 + 1
    records = kcat_read_all(node, "devices")
    assert len(records) == produced + 1
    keyless = [r for r in records if r["payload"] == "keyless"]
    assert len(keyless) == 1 and keyless[0]["key"] is None
    mirrored = read_stream(node, "mirror", 1)
    topics = [header(r, "skein-topic") for r in mirrored]
    assert len(topics) == len(set(topics))
    assert "devices/sensor-1/1" in topics and "devices/eu/7/0" in topics

    # A template naming a header.
    create_stream(node, name="regional", topic_template="orders/{header:region}/{key}")
    orders = SseClient(node, "orders/>", timeout=15)
    kcat(node, "-P", "-t", "regional", "-K:", "-H", "region=eu", stdin=b"o-1:first\n")
    kcat(node, "-P", "-t", "regional", "-K:", stdin=b"o-2:no-region\n")
    kcat(node, "-P", "-t", "regional", "-K:", "-H", "region=us", stdin=b"o-3:third\n")
    got = [(e["event"], e["data"]) for e in orders.events(2)]
    assert got == [("orders/eu/o-1", "first"), ("orders/us/o-3", "third")]
    for client in (sse, rooms_sse, orders):
        client.close()
    ws.close()
    rooms_ws.close()


# --- 4. persistent publish ----------------------------------------------------------

def test_persistent_publish_answers_201_once_stored_and_503_when_nothing_attracts(node):
    create_stream(node, name="us-orders", partitions=3, attract=["orders/*/us/>"])
    status, raw, _ = node.request("POST", topic_path("orders/1/us/x", "?persistent=true"),
                                  b"first", {"Skein-Header-trace": "abc",
                                             "Content-Type": "text/plain"})
    body = json.loads(raw)
    assert status == 201 and body["stored"] == 1 and body["topic"] == "orders/1/us/x", body
    # Readable by kcat at once.
    records = kcat_read_all(node, "us-orders")
    assert len(records) == 1
    rec = records[0]
    assert rec["payload"] == "first" and rec["key"] is None
    assert rec["headers"] == ["skein-topic", "orders/1/us/x", "content-type", "text/plain",
                              "trace", "abc"]
    # Keyless: partitioned by the topic's murmur2.
    assert rec["partition"] == kafka_partition(b"orders/1/us/x", 3)

    status, body = persist(node, "orders/2/us/y", b"second", {"Skein-Key": "k2"})
    assert status == 201 and body["stored"] == 1, body
    records = kcat_read_all(node, "us-orders")
    assert sorted(r["payload"] for r in records) == ["first", "second"]
    second = [r for r in records if r["payload"] == "second"][0]
    assert second["key"] == "k2" and second["partition"] == kafka_partition(b"k2", 3)

    # Nothing attracts it: 503 not_stored, and nothing is stored.
    status, body = persist(node, "orders/1/eu/x", b"nowhere")
    assert status == 503 and body["error"] == "not_stored", body
    status, raw, _ = node.request("POST", topic_path("orders/1/eu/x", "?persistent=true"), b"n")
    assert status == 503 and json.loads(raw)["error"] == "not_stored"
    assert sum(end_offsets(node, "us-orders")) == 2

    # Two streams attract it: stored in both.
    create_stream(node, name="all-orders", attract=["orders/>"])
    status, body = persist(node, "orders/3/us/z", b"both")
    assert status == 201 and body["stored"] == 2, body
    assert [r["payload"] for r in kcat_read_all(node, "all-orders")] == ["both"]
    assert "both" in [r["payload"] for r in kcat_read_all(node, "us-orders")]
    # A plain publish is 202 and says nothing of storage.
    status, raw, _ = node.request("POST", topic_path("orders/4/eu/z"), b"plain")
    assert status == 202 and "stored" not in json.loads(raw)


# --- 5. persistent publish through kill -9 ------------------------------------------

KILL_ROUNDS = 10


def test_persistent_publishes_acknowledged_before_kill_9_are_all_stored(make_node):
    node = make_node()
    create_stream(node, name="durable", partitions=2, attract=["dur/>"], fsync="interval")
    rng = random.Random(20261123)
    acked_all = set()
    for round_number in range(KILL_ROUNDS):
        acked = []
        stop = threading.Event()

        def publish():
            conn = KeepAlive(node, timeout=10)
            i = 0
            try:
                while not stop.is_set():
                    payload = b"r%d-%d" % (round_number, i)
                    status, _ = conn.post(f"dur/{i % 5}", payload, {"Skein-Key": f"k{i % 4}"},
                                          "?persistent=true")
                    if status == 201:
                        acked.append(payload)
                    i += 1
            except (OSError, http.client.HTTPException):
                pass  # the node was killed under the request
            finally:
                conn.close()

        thread = threading.Thread(target=publish)
        thread.start()
        target = rng.randint(1, 400)
        wait_for(lambda: len(acked) >= target, 30, f"{target} acknowledged publishes")
        node.stop(sig=signal.SIGKILL)
        stop.set()
        thread.join(15)
        assert not thread.is_alive()
        acked_all.update(acked)
        node.start()
        stored = [r["value"] for r in read_stream(node, "durable", 2)]
        assert len(stored) == len(set(stored)), f"round {round_number}: a record stored twice"
        lost = acked_all - set(stored)
        assert not lost, f"round {round_number}: {len(lost)} acknowledged events lost"
    assert len(acked_all) >= KILL_ROUNDS


# --- 6. filter changes under traffic ------------------------------------------------

def test_attract_changes_under_traffic_keep_every_event_published_while_in_force(node):
    create_stream(node, name="ab", partitions=2, attract=["a/>"])
    windows = [["a", time.monotonic(), float("inf")]]  # filter, from, until
    log = []  # (topic, seq, sent, answered)
    stop = threading.Event()
    errors = []

    def publish():
        conn = KeepAlive(node)
        i = 0
        try:
            while not stop.is_set():
                topic = "a/1" if i % 2 == 0 else "b/1"
                sent = time.monotonic()
                status, body = conn.post(topic, b"%d" % i)
                answered = time.monotonic()
                if status != 202:
                    errors.append((i, status, body))
                    return
                log.append((topic, i, sent, answered))
                i += 1
            # Drain: a persistent event through the same connection, to the
            # filter now in force, after all the others.
            status, body = conn.post(windows[-1][0] + "/1", b"sentinel", query="?persistent=true")
            if status != 201:
                errors.append(("sentinel", status, body))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            conn.close()

    thread = threading.Thread(target=publish)
    thread.start()
    for k in range(8):
        target = "b" if k % 2 == 0 else "a"
        seen = len(log)
        wait_for(lambda: len(log) >= seen + 150 or errors, 20, "publishes between changes")
        requested = time.monotonic()
        patch_stream(node, "ab", attract=[f"{target}/>"])
        answered = time.monotonic()
        windows[-1][2] = requested
        windows.append([target, answered, float("inf")])
    seen = len(log)
    wait_for(lambda: len(log) >= seen + 150 or errors, 20, "publishes after the last change")
    stop.set()
    thread.join(30)
    assert errors == []

    records = read_stream(node, "ab", 2)
    stored = [(header(r, "skein-topic"), r["value"]) for r in records]
    assert len(stored) == len(set(stored)), "an event stored twice"
    assert {t for t, _ in stored} <= {"a/1", "b/1"}
    stored = set(stored)
    assert (windows[-1][0] + "/1", b"sentinel") in stored

    missing, extra = [], []
    for topic, seq, sent, answered in log:
        level = topic.split("/")[0]
        inside = [f for f, start, end in windows if start <= sent and answered <= end]
        if not inside:
            continue  # published while a change was under way: either is right
        present = (topic, b"%d" % seq) in stored
        if inside[0] == level and not present:
            missing.append((topic, seq))
        if inside[0] != level and present:
            extra.append((topic, seq))
    in_force = sum(1 for t, _, s, a in log if any(
        f == t[0] and st <= s and a <= e for f, st, e in windows))
    assert in_force > 100, "too few events published while a filter was certainly in force"
    assert missing == [], f"{len(missing)} events published under their filter are missing"
    assert extra == [], f"{len(extra)} events published after their filter was removed are stored"


# --- 7. bad input -----------------------------------------------------------------

def test_deleted_streams_stop_attracting_and_bad_bodies_are_refused(node):
    create_stream(node, name="gone", attract=["gone/>"])
    status, body = persist(node, "gone/1", b"x")
    assert status == 201 and body["stored"] == 1
    assert node.request("DELETE", "/v1/streams/gone")[0] == 204
    status, body = persist(node, "gone/1", b"y")
    assert status == 503 and body["error"] == "not_stored", body
    assert node.request("DELETE", "/v1/streams/gone")[0] == 404

    # Deleted through Kafka: out of the router as well.
    create_stream(node, name="kgone", attract=["kgone/>"])
    admin = AdminClient({"bootstrap.servers": node.kafka})
    admin.delete_topics(["kgone"])["kgone"].result(30)
    assert api(node, "GET", "/v1/streams/kgone")[0] == 404
    status, body = persist(node, "kgone/1", b"y")
    assert status == 503 and body["error"] == "not_stored", body

    for raw in (b"not json", b"[1, 2]", b"", b'{"name": "x"'):
        status, body = api(node, "POST", "/v1/streams", raw=raw)
        assert status == 400 and body["error"] == "invalid_json", (raw, body)
    create_stream(node, name="patchme")
    status, body = api(node, "PATCH", "/v1/streams/patchme", raw=b"{oops")
    assert status == 400 and body["error"] == "invalid_json", body
    status, body = api(node, "PATCH", "/v1/streams/patchme", {"name": "renamed"})
    assert status == 400 and "name" in body["message"], body
    assert api(node, "PATCH", "/v1/streams/nope", {"retention_ms": 1})[0] == 404
    assert node.request("PUT", "/v1/streams/patchme", b"{}")[0] == 405
    assert node.request("GET", "/healthz")[0] == 200


def test_a_huge_attract_list_is_handled_cleanly(node):
    filters = [f"huge/{i}/>" for i in range(10_000)]
    status, body = api(node, "POST", "/v1/streams", {"name": "huge", "attract": filters})
    assert status in (201, 400, 413), (status, body)
    assert node.request("GET", "/healthz")[0] == 200
    if status == 201:
        assert len(body["attract"]) == 10_000
        status, answer = persist(node, "huge/9999/x", b"last")
        assert status == 201 and answer["stored"] == 1, answer
        status, answer = persist(node, "huge/10000/x", b"none")
        assert status == 503, answer
        desc = patch_stream(node, "huge", attract=filters[:10])
        assert desc["attract"] == filters[:10]
        status, answer = persist(node, "huge/9999/x", b"last")
        assert status == 503, answer
        assert node.request("DELETE", "/v1/streams/huge")[0] == 204
    else:
        assert body["error"], body
        assert api(node, "GET", "/v1/streams/huge")[0] == 404
    # And it still serves events.
    sse = SseClient(node, "still/>", timeout=10)
    assert node.publish("still/here", b"ok")[0] == 202
    assert sse.next_event()["data"] == "ok"
    sse.close()


# --- rounds under load: batches within max.message.bytes -----------------------

def pipeline_publishes(node, requests):
    """Sends `requests` (raw HTTP/1.1 requests) pipelined on one connection
    and returns the status codes of the answers, in order."""
    sock = socket.create_connection((node.host, node.port), timeout=30)
    sender = threading.Thread(target=sock.sendall, args=(b"".join(requests),), daemon=True)
    sender.start()
    reader = sock.makefile("rb")
    statuses = []
    try:
        for _ in requests:
            status_line = reader.readline()
            statuses.append(int(status_line.split()[1]))
            length = 0
            while True:
                line = reader.readline().rstrip(b"\r\n")
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            reader.read(length)
    finally:
        sender.join(30)
        reader.close()
        sock.close()
    return statuses


def publish_request(topic, payload, headers=(), query=""):
    head = [f"POST {topic_path(topic, query)} HTTP/1.1", "Host: skein",
            f"Content-Length: {len(payload)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def stored_warnings(node):
    return [line for line in node.read_log().splitlines() if "not stored" in line][:3]


def test_busy_rounds_of_events_with_a_content_type_are_all_stored(node):
    """Pipelined publishers fill the destination's queue while an append is
    under way, so the next round holds many events: its batches must stay
    within the stream's max.message.bytes (4000 here), whatever headers the
    events carry, and every accepted event be stored."""
    create_stream(node, name="burst", attract=["burst/>"], max_message_bytes=4000)
    connections, per_connection = 6, 1500
    results = [None] * connections

    def run(c):
        requests = [publish_request(f"burst/{c}/{i % 10}", b"%04d-%015d" % (c, i),
                                    ["Content-Type: text/plain"]) for i in range(per_connection)]
        # Last, a persistent one: stored once all before it on this connection are.
        requests.append(publish_request(f"burst/{c}/end", b"end", ["Content-Type: text/plain"],
                                        "?persistent=true"))
        results[c] = pipeline_publishes(node, requests)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for statuses in results:
        assert statuses[:-1] == [202] * per_connection
    total = connections * (per_connection + 1)
    try:
        wait_for(lambda: sum(end_offsets(node, "burst")) >= total, 5, "every event stored")
    except AssertionError:
        pass
    stored = sum(end_offsets(node, "burst"))
    assert stored == total, (f"{total - stored} of {total} accepted events were not stored; "
                             f"the node logged: {stored_warnings(node)}")
    assert [statuses[-1] for statuses in results] == [201] * connections


def test_records_produced_to_one_stream_are_all_attracted_by_another_with_default_settings(
        make_node):
    """A Kafka producer's batches (up to 1 MB) enter the router at once, so
    the attracting stream's round is large (one shard: the producer's shard
    is the destination's, which drains after the whole batch is published):
    with the default max.message.bytes, records carrying a content-type must
    all be stored."""
    node = make_node("--shards", "1")
    create_stream(node, name="ingress", topic_template="src/{key}")
    create_stream(node, name="collector", attract=["src/>"])
    count = 30_000
    producer = Producer({"bootstrap.servers": node.kafka, "acks": "all", "linger.ms": 100,
                         "batch.num.messages": 100_000})
    for i in range(count):
        producer.produce("ingress", key=b"k%d" % (i % 10), value=b"%0100d" % i,
                         headers=[("content-type", b"text/plain")])
        if i % 5000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    assert sum(end_offsets(node, "ingress")) == count
    try:
        wait_for(lambda: sum(end_offsets(node, "collector")) >= count, 5,
                 "every record attracted")
    except AssertionError:
        pass
    stored = sum(end_offsets(node, "collector"))
    assert stored == count, (f"{count - stored} of {count} produced records were not attracted; "
                             f"the node logged: {stored_warnings(node)}")


def test_metrics_count_each_streams_attracted_events(node):
    create_stream(node, name="counted", attract=["counted/>"])
    create_stream(node, name="idle", attract=["idle/>"])
    for i in range(3):
        status, body = persist(node, f"counted/{i}", b"x")
        assert status == 201, body
    metrics = node.metrics()
    assert metrics['skein_stream_attracted_events_total{stream="counted"}'] == 3
    assert metrics['skein_stream_attracted_events_total{stream="idle"}'] == 0
    assert metrics['skein_stream_attract_failures_total{stream="counted"}'] == 0
