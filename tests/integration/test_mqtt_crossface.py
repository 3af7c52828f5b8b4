"""MQTT meets the node's other faces (DESIGN.md §1 "ingress, once", §6): an
MQTT PUBLISH reaches SSE and WebSocket subscribers (Skein filters `*`, `>`),
an HTTP publish reaches MQTT subscribers (`+`, `#`), a Kafka consumer of a
stream that attracts MQTT topics reads the QoS 1 publishes (stored before
the PUBACK, so through kill -9), and MQTT 5 user properties and content type
are the event's headers and content type."""
import http.client
import json
import signal
import urllib.parse

import pytest

from conftest import SseClient, read_to_end, ws_subscribe
from mqtt_support import broker, connected, unique  # noqa: F401  (broker is a fixture)

V = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])


def create_stream(node, **body):
    status, raw, _ = node.request("POST", "/v1/streams", json.dumps(body).encode(),
                                  {"Content-Type": "application/json"})
    assert status == 201, (status, raw)


class HttpPublisher:
    """One keep-alive HTTP connection: one publisher, whose events keep their
    order (DESIGN.md §2)."""

    def __init__(self, node):
        self.conn = http.client.HTTPConnection(node.host, node.port, timeout=10)

    def publish(self, topic, payload=b"", headers=None):
        self.conn.request("POST", "/v1/topics/" + urllib.parse.quote(topic, safe="/"), body=payload,
                          headers=headers or {})
        resp = self.conn.getresponse()
        body = resp.read()
        assert resp.status == 202, (topic, resp.status, body)
        return json.loads(body)

    def close(self):
        self.conn.close()


@pytest.mark.parametrize("qos", [0, 1, 2])
@V
def test_mqtt_publish_reaches_sse_and_websocket_subscribers(node, broker, version, qos):
    """An MQTT PUBLISH is an event: SSE (`cf/*/x`) and WebSocket (`cf/>`)
    subscribers get the matching ones, in order, payload unchanged (binary
    as payload_base64 in the WebSocket frame)."""
    sse = SseClient(node, "cf/*/x", timeout=15)
    ws = ws_subscribe(node, "cf/>", timeout=15)
    pub = connected(broker, version)
    sent = [("cf/a/x", b"hello"), ("cf/b/y/z", b"\x00\xffbinary"), ("zz/a/x", b"elsewhere"),
            ("cf/c/x", b"last")]
    for topic, payload in sent:
        pub.publish(topic, payload, qos=qos)
    assert [(e["event"], e["data"]) for e in sse.events(2)] == [("cf/a/x", "hello"), ("cf/c/x", "last")]
    frames = [json.loads(ws.recv()) for _ in range(3)]
    assert [f["topic"] for f in frames] == ["cf/a/x", "cf/b/y/z", "cf/c/x"]
    assert frames[0]["payload"] == "hello"
    import base64
    assert base64.b64decode(frames[1]["payload_base64"]) == b"\x00\xffbinary"
    sse.close()
    ws.close()
    pub.disconnect()


@V
def test_http_publish_reaches_mqtt_wildcard_subscribers(node, broker, version):
    """An HTTP publish reaches MQTT subscriptions: `+` one level, `#` the
    parent level and everything below, nothing else."""
    plus, hash_ = connected(broker, version), connected(broker, version)
    plus.subscribe(("hp/+/x", 1))
    hash_.subscribe(("hp/#", 1))
    http_pub = HttpPublisher(node)
    for topic in ["hp/a/x", "hp", "hp/a/b/c", "zz/a/x", "hp/b/y", "hp/end/x"]:
        http_pub.publish(topic, topic.encode())
    got = plus.publishes_until("hp/end/x")
    assert [(p.topic, p.payload) for p in got] == [("hp/a/x", b"hp/a/x")]
    assert [p.topic for p in hash_.publishes_until("hp/end/x")] == ["hp/a/x", "hp", "hp/a/b/c", "hp/b/y"]
    http_pub.close()
    plus.disconnect()
    hash_.disconnect()


@V
def test_kafka_consumer_reads_mqtt_qos1_publishes_from_an_attracting_stream(node, broker, version):
    """A stream attracting `orders/>` appends every MQTT QoS 1 publish to
    it before the PUBACK: a Kafka consumer (confluent-kafka) reads them in
    order with the skein-topic header, keyless; topics it does not attract
    are not in it."""
    create_stream(node, name="mqtt-orders", partitions=1, attract=["orders/>"])
    pub = connected(broker, version)
    topics = [f"orders/{i % 3}/new" for i in range(10)]
    for i, topic in enumerate(topics):
        ack = pub.publish(topic, f"o{i}".encode(), qos=1)
        assert ack.reason == 0x00, ack
        pub.publish("other/x", b"not attracted", qos=1)
    records = sorted(read_to_end(node, "mqtt-orders", 1).values(), key=lambda r: r["offset"])
    assert [r["value"] for r in records] == [f"o{i}".encode() for i in range(10)]
    assert [dict(r["headers"]).get("skein-topic") for r in records] == [t.encode() for t in topics]
    assert all(r["key"] is None for r in records)
    pub.disconnect()


def test_mqtt_v5_properties_become_event_headers(node, broker):
    """MQTT 5 user properties are the event's headers and the content type
    its content type: a WebSocket subscriber's frame and the Kafka record of
    an attracting stream carry them."""
    create_stream(node, name="hdr", partitions=1, attract=["hdr/>"])
    ws = ws_subscribe(node, "hdr/>", timeout=15)
    pub = connected(broker, 5)
    ack = pub.publish("hdr/t", b'{"n":1}', qos=1, properties={
        "content_type": "application/json", "user_property": [("trace", "abc"), ("tenant", "t1")]})
    assert ack.reason == 0x00
    frame = json.loads(ws.recv())
    assert frame["topic"] == "hdr/t" and frame["payload"] == '{"n":1}'
    assert frame["headers"] == {"trace": "abc", "tenant": "t1"}
    assert frame["content_type"] == "application/json"
    [record] = read_to_end(node, "hdr", 1).values()
    headers = record["headers"]
    assert ("trace", b"abc") in headers and ("tenant", b"t1") in headers
    assert ("content-type", b"application/json") in headers
    assert ("skein-topic", b"hdr/t") in headers
    ws.close()
    pub.disconnect()


def test_http_headers_reach_mqtt_v5_subscribers_as_user_properties(node, broker):
    """The other way (DESIGN.md §1: an event has headers, whatever face it
    entered by): an HTTP publish's Skein-Header-* headers arrive at an MQTT 5
    subscriber as user properties and its Content-Type as the content type;
    an MQTT 3.1.1 subscriber gets the payload alone."""
    v5, v311 = connected(broker, 5), connected(broker, 4)
    v5.subscribe(("hh/#", 1))
    v311.subscribe(("hh/#", 1))
    http_pub = HttpPublisher(node)
    http_pub.publish("hh/t", b"payload", {"Skein-Header-Trace": "abc", "Content-Type": "text/plain"})
    p = v5.next_publish()
    assert p.payload == b"payload"
    assert p.properties.get("user_property") == [("Trace", "abc")]
    assert p.properties.get("content_type") == "text/plain"
    q = v311.next_publish()
    assert (q.topic, q.payload) == ("hh/t", b"payload")
    http_pub.close()
    v5.disconnect()
    v311.disconnect()


def test_mqtt_qos1_publishes_in_an_attracting_stream_survive_kill_9(node, broker):
    """DESIGN.md §2: a QoS 1 PUBLISH is acknowledged only once stored: after
    kill -9 right after the last PUBACK, the stream holds every acknowledged
    message once."""
    create_stream(node, name="mqtt-durable", partitions=2, attract=["md/>"], fsync="interval")
    pub = connected(broker, 5)
    acked = []
    for i in range(200):
        payload = f"m{i}".encode()
        assert pub.publish(f"md/{i % 7}", payload, qos=1).reason == 0x00
        acked.append(payload)
    node.stop(sig=signal.SIGKILL)
    node.start()
    stored = [r["value"] for r in read_to_end(node, "mqtt-durable", 2).values()]
    assert len(stored) == len(set(stored)), "a message stored twice"
    assert set(acked) <= set(stored), f"{len(set(acked) - set(stored))} acknowledged messages lost"


def test_mqtt_will_reaches_http_subscribers(node, broker):
    """An MQTT Will is an event like any other publish: an SSE subscriber
    gets it when the connection drops."""
    from mqtt_support import raw
    sse = SseClient(node, "wills/>", timeout=15)
    w = raw(broker, 5)
    w.connect(unique(), will={"topic": "wills/dev1", "payload": b"offline", "qos": 1})
    w.abort()
    event = sse.next_event()
    assert (event["event"], event["data"]) == ("wills/dev1", "offline")
    sse.close()
