"""Replay: GET /v1/subscribe?stream=S&from=... streams a stream's stored
records as events over SSE or WebSocket, then follows the stream live.
Every event's id is the stream position after it ("0:16,1:7,2:33"), so a
client resumes with from=<id> or SSE's Last-Event-ID. Real node, real HTTP,
kcat and kafkajs for records produced over Kafka; no sleeps for
synchronisation (blocking reads with timeouts, or wait_for)."""
import datetime
import json
import pathlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import SseClient, wait_for, ws_subscribe

READ_TIMEOUT = 10.0


# --- helpers ---------------------------------------------------------------

def create_stream(node, name, partitions=1, attract=None, **settings):
    body = {"name": name, "partitions": partitions, **settings}
    if attract is not None:
        body["attract"] = attract
    status, resp, _ = node.request("POST", "/v1/streams", json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})
    assert status in (200, 201), resp
    return json.loads(resp)


def describe(node, name):
    status, resp, _ = node.request("GET", "/v1/streams/" + urllib.parse.quote(name, safe=""))
    assert status == 200, resp
    return json.loads(resp)


def end_offsets(node, name):
    return [p["end_offset"] for p in describe(node, name)["partition_state"]]


def publish_stored(node, topic, payload, key=None):
    """A persistent publish: answered once the attracting streams hold it."""
    headers = {"Skein-Persistent": "true"}
    if key is not None:
        headers["Skein-Key"] = key
    status, resp, _ = node.publish(topic, payload.encode(), headers)
    assert status == 201, (status, resp)
    assert json.loads(resp)["stored"] >= 1, resp


def parse_cursor(text):
    """The client's reading of an id: {partition: next offset}."""
    cursor = {}
    for item in text.split(","):
        p, o = item.split(":")
        assert p.isdigit() and o.isdigit(), text
        assert int(p) not in cursor, text
        cursor[int(p)] = int(o)
    return cursor


def step_of(before, after):
    """The (partition, offset) of the one event between two ids of an
    unfiltered replay: exactly one partition moves, by exactly one."""
    moved = [p for p in after if after[p] != before.get(p)]
    assert len(moved) == 1, (before, after)
    p = moved[0]
    assert after[p] == before[p] + 1, (before, after)
    return p, before[p]


def subscribe_query(stream, filters=(), **params):
    query = [("stream", stream)] + [("filter", f) for f in filters] + list(params.items())
    return "/v1/subscribe?" + urllib.parse.urlencode(query)


class Sse(SseClient):
    """SseClient for a replay, with request headers (Last-Event-ID)."""

    def __init__(self, node, stream, filters=(), headers=None, timeout=READ_TIMEOUT, **params):
        super().__init__(node, timeout=timeout, headers=headers,
                         path=subscribe_query(stream, filters, **params))


def rfc3339_ms(ms):
    """Unix milliseconds as an RFC 3339 date-time in UTC with milliseconds."""
    dt = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def now_ms():
    return time.time_ns() // 1_000_000


def wait_until_ms(target):
    """Returns once the wall clock (which stamps events) reads >= target ms."""
    wait_for(lambda: now_ms() >= target, timeout=5, what=f"the clock to reach {target}")


def kcat(node, *args, stdin=None, timeout=30):
    result = subprocess.run(["kcat", "-b", node.kafka, *args], input=stdin, capture_output=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def fill_orders(node, stream="orders", count=60, partitions=3):
    create_stream(node, stream, partitions=partitions, attract=["orders/>"])
    published = []
    for i in range(count):
        topic = f"orders/{['eu', 'us', 'apac'][i % 3]}/{i}"
        payload = f"order-{i}"
        publish_stored(node, topic, payload, key=f"customer-{i % 7}")
        published.append((topic, payload))
    assert sum(end_offsets(node, stream)) == count
    return published


# --- replay from the start, over SSE ----------------------------------------

def test_earliest_replays_everything_once_in_partition_order(node):
    published = fill_orders(node, count=60)
    ends = end_offsets(node, "orders")
    assert all(e > 0 for e in ends), ends  # keys spread over the 3 partitions
    sse = Sse(node, "orders", **{"from": "earliest"})
    try:
        events = sse.events(len(published))
    finally:
        sse.close()
    assert sorted((e["event"], e["data"]) for e in events) == sorted(published)
    cursor = {0: 0, 1: 0, 2: 0}
    seen = {0: [], 1: [], 2: []}
    for event in events:
        after = parse_cursor(event["id"])
        p, offset = step_of(cursor, after)
        seen[p].append(offset)
        cursor = after
    # Per partition: every offset once, in increasing order; the last id is the end.
    assert {p: offsets for p, offsets in seen.items()} == {p: list(range(ends[p])) for p in range(3)}
    assert cursor == {p: ends[p] for p in range(3)}
    # The same key stays in one partition, and its events keep publish order.
    by_key = {}
    for event in events:
        n = int(event["data"].split("-")[1])
        by_key.setdefault(n % 7, []).append(n)
    assert all(ns == sorted(ns) for ns in by_key.values()), by_key


def test_offset_starts_every_partition_there(node):
    create_stream(node, "single", partitions=1, attract=["single/>"])
    for i in range(10):
        publish_stored(node, "single/x", f"m{i}")
    sse = Sse(node, "single", **{"from": "offset:4"})
    try:
        events = sse.events(6)
        assert [e["data"] for e in events] == [f"m{i}" for i in range(4, 10)]
        assert [e["id"] for e in events] == [f"0:{i}" for i in range(5, 11)]
        # Nothing before offset 4 comes later either: the next one is new.
        publish_stored(node, "single/x", "m10")
        assert sse.next_event()["data"] == "m10"
    finally:
        sse.close()
    # Past the end: starts at the end, i.e. only what comes next.
    sse = Sse(node, "single", **{"from": "offset:1000"})
    try:
        publish_stored(node, "single/x", "m11")
        event = sse.next_event()
        assert (event["data"], event["id"]) == ("m11", "0:12")
    finally:
        sse.close()


def test_time_starts_at_the_first_record_at_or_after_it(node):
    create_stream(node, "timed", partitions=3, attract=["timed/>"])
    for i in range(9):
        publish_stored(node, f"timed/first/{i}", f"a{i}", key=f"k{i}")
    first_done = now_ms()
    # A margin of >= 20 ms of wall clock between the batches, by the clock.
    wait_until_ms(first_done + 40)
    second_start = now_ms()
    for i in range(9):
        publish_stored(node, f"timed/second/{i}", f"b{i}", key=f"k{i}")
    between = (first_done + second_start) // 2
    assert first_done + 20 <= between <= second_start - 20
    sse = Sse(node, "timed", **{"from": "time:" + rfc3339_ms(between)})
    try:
        events = sse.events(9)
        assert sorted(e["data"] for e in events) == [f"b{i}" for i in range(9)]
        publish_stored(node, "timed/third", "c0", key="k0")
        assert sse.next_event()["data"] == "c0"  # no first-batch event trails behind
    finally:
        sse.close()
    # The same instant written with an offset from UTC ('+' percent-encoded).
    local = datetime.datetime.fromtimestamp(between / 1000, tz=datetime.timezone(
        datetime.timedelta(hours=5, minutes=30)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{between % 1000:03d}+05:30"
    sse = Sse(node, "timed", **{"from": "time:" + text})
    try:
        assert sorted(e["data"] for e in sse.events(10)) == sorted([f"b{i}" for i in range(9)] + ["c0"])
    finally:
        sse.close()
    # Before everything: all of it; after everything: only what comes next.
    sse = Sse(node, "timed", **{"from": "time:1970-01-01T00:00:00Z"})
    try:
        assert len(sse.events(19)) == 19
    finally:
        sse.close()


def test_filter_restricts_topics(node):
    published = fill_orders(node, count=30)
    sse = Sse(node, "orders", filters=["orders/us/*", "orders/apac/>"], **{"from": "earliest"})
    try:
        wanted = [(t, p) for t, p in published if t.split("/")[1] in ("us", "apac")]
        events = sse.events(len(wanted))
        assert sorted((e["event"], e["data"]) for e in events) == sorted(wanted)
        # Ids still parse, and never go backwards in any partition.
        cursors = [parse_cursor(e["id"]) for e in events]
        for a, b in zip(cursors, cursors[1:]):
            assert all(b[p] >= a[p] for p in a), (a, b)
        # Live: an unwanted event is skipped, a wanted one arrives next.
        publish_stored(node, "orders/eu/live", "skipped", key="x")
        publish_stored(node, "orders/us/live", "wanted", key="x")
        event = sse.next_event()
        assert (event["event"], event["data"]) == ("orders/us/live", "wanted")
        # Its id covers the skipped one: resuming from it does not bring it back.
        resume_from = event["id"]
    finally:
        sse.close()
    sse = Sse(node, "orders", **{"from": resume_from})
    try:
        publish_stored(node, "orders/eu/after", "after", key="y")
        event = sse.next_event()
        assert (event["event"], event["data"]) == ("orders/eu/after", "after")
    finally:
        sse.close()


def test_invalid_filter_is_refused(node):
    create_stream(node, "orders", partitions=1, attract=["orders/>"])
    status, body, _ = node.request("GET", subscribe_query("orders", ["orders/>/x"], **{"from": "earliest"}))
    assert status == 400
    assert json.loads(body)["error"] == "invalid_filter"


# --- the live part -------------------------------------------------------------

def test_live_after_catching_up_has_no_gap_and_no_duplicate(node):
    published = fill_orders(node, count=30)
    sse = Sse(node, "orders", **{"from": "earliest"})
    try:
        stored = sse.events(len(published))
        cursor = parse_cursor(stored[-1]["id"])
        assert cursor == dict(enumerate(end_offsets(node, "orders")))
        live = []
        for i in range(30):
            topic = f"orders/live/{i}"
            # Half of them not persistent: they reach the stream all the same.
            if i % 2:
                status, _, _ = node.publish(topic, f"live-{i}".encode(), {"Skein-Key": f"c{i % 5}"})
                assert status == 202
            else:
                publish_stored(node, topic, f"live-{i}", key=f"c{i % 5}")
            live.append((topic, f"live-{i}"))
        got = sse.events(len(live))
        assert sorted((e["event"], e["data"]) for e in got) == sorted(live)
        for event in got:
            after = parse_cursor(event["id"])
            step_of(cursor, after)
            cursor = after
        # Nothing else queued: the next event is the one published next.
        publish_stored(node, "orders/live/sentinel", "sentinel", key="s")
        assert sse.next_event()["data"] == "sentinel"
    finally:
        sse.close()


def test_latest_gets_only_what_is_published_after_subscribing(node):
    create_stream(node, "single", partitions=1, attract=["single/>"])
    for i in range(5):
        publish_stored(node, "single/old", f"old{i}")
    sse = Sse(node, "single")  # from=latest is the default
    try:
        publish_stored(node, "single/new", "new0")
        event = sse.next_event()
        assert (event["data"], event["id"]) == ("new0", "0:6")
    finally:
        sse.close()


def test_latest_subscription_is_in_effect_once_answered(node):
    """As for live subscriptions (conftest.SseClient): once the response
    began, an event published next is delivered. Repeated, because the replay
    reader decides where "latest" is on its own, after the answer."""
    create_stream(node, "single", partitions=1, attract=["single/>"])
    missed = []
    for attempt in range(40):
        sse = Sse(node, "single", **{"from": "latest"})
        try:
            publish_stored(node, "single/x", f"attempt-{attempt}")
            event = sse.next_event()
            if event["data"] != f"attempt-{attempt}":
                missed.append((attempt, event["data"]))
        except socket.timeout:
            missed.append((attempt, "timeout"))
        finally:
            sse.close()
    assert not missed, f"events published right after subscribing were missed: {missed}"


# --- resuming --------------------------------------------------------------------

class Publisher(threading.Thread):
    """Publishes persistent events under orders/ until stopped."""

    def __init__(self, node):
        super().__init__(daemon=True)
        self.node = node
        self.published = []
        self.stop_at = None
        self.error = None
        self.lock = threading.Lock()

    def count(self):
        with self.lock:
            return len(self.published)

    def run(self):
        try:
            i = 0
            while self.stop_at is None or i < self.stop_at:
                topic, payload = f"orders/pub/{i}", f"p-{i}"
                publish_stored(self.node, topic, payload, key=f"key-{i % 11}")
                with self.lock:
                    self.published.append((topic, payload))
                i += 1
        except Exception as error:  # surfaced by the test
            self.error = error

    def finish(self):
        """Stops after the events published so far plus a few more."""
        self.stop_at = self.count() + 5
        self.join(20)
        assert not self.is_alive()
        assert self.error is None, self.error
        return list(self.published)


@pytest.mark.parametrize("how", ["from", "last-event-id"])
def test_resume_while_publishing_loses_and_repeats_nothing(node, how):
    create_stream(node, "orders", partitions=3, attract=["orders/>"])
    publisher = Publisher(node)
    publisher.start()
    try:
        wait_for(lambda: publisher.count() >= 20, what="20 events published")
        first = Sse(node, "orders", **{"from": "earliest"})
        try:
            session1 = first.events(25)
        finally:
            first.close()
        last_id = session1[-1]["id"]
        wait_for(lambda: publisher.count() >= 50, what="50 events published")
        if how == "from":
            second = Sse(node, "orders", **{"from": last_id})
        else:
            second = Sse(node, "orders", headers={"Last-Event-ID": last_id})
        try:
            session2 = second.events(10)  # some while the publisher still runs
            published = publisher.finish()
            session2 += second.events(len(published) - len(session1) - len(session2))
            # Nothing further: the next event is one published after the end.
            publish_stored(node, "orders/end", "end", key="end")
            assert second.next_event()["data"] == "end"
        finally:
            second.close()
    finally:
        if publisher.is_alive():
            publisher.stop_at = 0
            publisher.join(20)
    got = [(e["event"], e["data"]) for e in session1 + session2]
    assert len(got) == len(set(got)), "an event came twice"
    assert sorted(got) == sorted(published)
    # The second session's ids continue the first's.
    cursor = parse_cursor(last_id)
    for event in session2:
        after = parse_cursor(event["id"])
        step_of(cursor, after)
        cursor = after


def test_from_wins_over_last_event_id(node):
    create_stream(node, "single", partitions=1, attract=["single/>"])
    for i in range(6):
        publish_stored(node, "single/x", f"m{i}")
    sse = Sse(node, "single", headers={"Last-Event-ID": "0:4"}, **{"from": "offset:1"})
    try:
        assert sse.next_event()["data"] == "m1"
    finally:
        sse.close()
    sse = Sse(node, "single", headers={"Last-Event-ID": "0:4"})
    try:
        assert [e["data"] for e in sse.events(2)] == ["m4", "m5"]
    finally:
        sse.close()


# --- WebSocket --------------------------------------------------------------------

def test_websocket_replay_frames_carry_position_and_the_same_ids(node):
    published = fill_orders(node, count=30)
    sse = Sse(node, "orders", **{"from": "earliest"})
    try:
        sse_ids = [e["id"] for e in sse.events(len(published))]
    finally:
        sse.close()
    ws = ws_subscribe(node, timeout=READ_TIMEOUT, stream="orders", **{"from": "earliest"})
    try:
        frames = [json.loads(ws.recv()) for _ in published]
        for frame in frames:
            assert frame["stream"] == "orders"
            assert parse_cursor(frame["id"])[frame["partition"]] == frame["offset"] + 1
            assert frame["key"].startswith("customer-")
            assert "skein-topic" not in frame.get("headers", {})
        assert [f["id"] for f in frames] == sse_ids
        assert sorted((f["topic"], f["payload"]) for f in frames) == sorted(published)
        offsets = {}
        for frame in frames:
            offsets.setdefault(frame["partition"], []).append(frame["offset"])
        assert offsets == {p: list(range(e)) for p, e in enumerate(end_offsets(node, "orders"))}
        # Live over WebSocket too.
        publish_stored(node, "orders/ws/live", "ws-live", key="customer-1")
        frame = json.loads(ws.recv())
        assert (frame["topic"], frame["payload"]) == ("orders/ws/live", "ws-live")
        assert frame["offset"] == end_offsets(node, "orders")[frame["partition"]] - 1
    finally:
        ws.close()


# --- records produced over Kafka -----------------------------------------------

def test_kafka_records_replay_under_their_skein_topic_or_the_template(node):
    create_stream(node, "kstream", partitions=1, topic_template="made/{key}")
    kcat(node, "-P", "-t", "kstream", "-K:", "-H", "skein-topic=orders/kafka/1",
         "-H", "trace=abc", stdin=b"k1:with-header\n")
    kcat(node, "-P", "-t", "kstream", "-K:", stdin=b"k2:by-template\n")
    kcat(node, "-P", "-t", "kstream", "-K:", "-H", "skein-topic=bad//topic",
         stdin=b"k3:unnamable\n")
    kcat(node, "-P", "-t", "kstream", "-K:", "-H", "skein-topic=orders/kafka/4",
         "-H", "content-type=text/plain", stdin=b"k4:last\n")
    wait_for(lambda: end_offsets(node, "kstream") == [4], what="4 records stored")
    ws = ws_subscribe(node, timeout=READ_TIMEOUT, stream="kstream", **{"from": "earliest"})
    try:
        frames = [json.loads(ws.recv()) for _ in range(3)]
    finally:
        ws.close()
    assert [(f["topic"], f["payload"], f["key"], f["offset"], f["id"]) for f in frames] == [
        ("orders/kafka/1", "with-header", "k1", 0, "0:1"),
        ("made/k2", "by-template", "k2", 1, "0:2"),
        # Offset 2 has no topic a client could publish to: left out, its id skipped.
        ("orders/kafka/4", "last", "k4", 3, "0:4"),
    ]
    assert frames[0]["headers"] == {"trace": "abc"}
    assert frames[2]["content_type"] == "text/plain"
    # Filtered by the header-given topic.
    sse = Sse(node, "kstream", filters=["orders/kafka/*"], **{"from": "earliest"})
    try:
        assert [e["data"] for e in sse.events(2)] == ["with-header", "last"]
    finally:
        sse.close()


# --- bad input and endings ----------------------------------------------------

def test_unknown_stream_is_404(node):
    status, body, _ = node.request("GET", subscribe_query("nope", **{"from": "earliest"}))
    assert status == 404
    assert json.loads(body)["error"] == "not_found"
    sse = Sse(node, "nope")
    assert sse.status == 404
    sse.close()
    import websocket
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ws_subscribe(node, timeout=READ_TIMEOUT, stream="nope")
    assert refused.value.status_code == 404


@pytest.mark.parametrize("bad", ["offset:-1", "offset:x", "time:garbage", "time:2026-11-23T10:00:00",
                                 "0:1,0:2", "0:1,", "whenever"])
def test_bad_from_is_400(node, bad):
    create_stream(node, "single", partitions=1)
    status, body, _ = node.request("GET", subscribe_query("single", **{"from": bad}))
    assert status == 400, body
    error = json.loads(body)
    assert error["error"] == "invalid_parameter"
    assert "from" in error["message"]


def test_bad_last_event_id_is_400(node):
    create_stream(node, "single", partitions=1)
    status, body, _ = node.request("GET", subscribe_query("single"), headers={"Last-Event-ID": "0:1,0:2"})
    assert status == 400, body
    assert "from" in json.loads(body)["message"]


def test_deleting_the_stream_ends_the_replay_and_the_node_keeps_serving(node):
    create_stream(node, "doomed", partitions=2, attract=["doomed/>"])
    for i in range(4):
        publish_stored(node, f"doomed/{i}", f"d{i}", key=str(i))
    sse = Sse(node, "doomed", **{"from": "earliest"})
    ws = ws_subscribe(node, timeout=READ_TIMEOUT, stream="doomed", **{"from": "earliest"})
    try:
        assert len(sse.events(4)) == 4
        assert len([ws.recv() for _ in range(4)]) == 4
        status, body, _ = node.request("DELETE", "/v1/streams/doomed")
        assert status in (200, 204), body
        assert sse.next_event() is None  # the response ended
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == 8, (opcode, data)  # a close frame, saying why
        assert data[2:] == b"stream deleted", data
    finally:
        sse.close()
        ws.close()
    status, _, _ = node.request("GET", "/healthz")
    assert status == 200
    status, body, _ = node.request("GET", subscribe_query("doomed", **{"from": "earliest"}))
    assert status == 404, body
    # A stream of the same name again starts afresh.
    create_stream(node, "doomed", partitions=1, attract=["doomed/>"])
    publish_stored(node, "doomed/again", "again")
    sse = Sse(node, "doomed", **{"from": "earliest"})
    try:
        event = sse.next_event()
        assert (event["data"], event["id"]) == ("again", "0:1")
    finally:
        sse.close()
    wait_for(lambda: node.metric_sum("skein_http_subscribers") == 0,
             what="every replay subscriber released")


def test_closing_a_replay_client_releases_it(node):
    fill_orders(node, count=9)
    for _ in range(5):
        sse = Sse(node, "orders", **{"from": "earliest"})
        sse.events(3)
        sse.close()
    # The node still replays to a new client after clients left mid-replay.
    sse = Sse(node, "orders", **{"from": "earliest"})
    try:
        assert len(sse.events(9)) == 9
        assert node.metric_sum("skein_http_subscribers") >= 1
    finally:
        sse.close()
    wait_for(lambda: node.metric_sum("skein_http_subscribers") == 0,
             what="every replay subscriber released")


# --- records with explicit timestamps (kafkajs) -------------------------------

KAFKAJS_PRODUCE = r"""
const path = require('path');
const { Kafka, logLevel } = require(path.join(process.argv[1], 'js', 'node_modules', 'kafkajs'));
const cmd = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const kafka = new Kafka({ clientId: 'replay-test', brokers: [cmd.broker], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  // One send per batch: every message of a send to one partition is one record batch.
  for (const batch of cmd.batches) {
    await producer.send({ topic: cmd.topic, acks: -1, messages: batch.map(m => (
      { key: m.key, value: m.value, timestamp: String(m.timestamp) })) });
  }
  await producer.disconnect();
  process.stdout.write('ok\n');
})().catch(e => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
"""


def produce_with_timestamps(node, topic, batches):
    here = pathlib.Path(__file__).resolve().parent
    node_bin = shutil.which("node")
    assert node_bin and (here / "js/node_modules/kafkajs/package.json").exists(), \
        "node and kafkajs are needed: run scripts/install-deps"
    command = {"broker": node.kafka, "topic": topic, "batches": batches}
    result = subprocess.run([node_bin, "-e", KAFKAJS_PRODUCE, str(here)], input=json.dumps(command),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_time_with_explicit_timestamps_between_batches(node):
    create_stream(node, "ktime", partitions=1)
    produce_with_timestamps(node, "ktime", [
        [{"key": "a", "value": f"first-{i}", "timestamp": T0 + i * 1000} for i in range(3)],
        [{"key": "a", "value": f"second-{i}", "timestamp": T0 + 10_000 + i * 1000} for i in range(3)],
    ])
    assert rfc3339_ms(T0) == "2026-01-01T00:00:00.000Z"
    ws = ws_subscribe(node, timeout=READ_TIMEOUT, stream="ktime",
                      **{"from": "time:" + rfc3339_ms(T0 + 5_000)})
    try:
        frames = [json.loads(ws.recv()) for _ in range(3)]
    finally:
        ws.close()
    assert [(f["payload"], f["offset"], f["timestamp"]) for f in frames] == [
        (f"second-{i}", 3 + i, T0 + 10_000 + i * 1000) for i in range(3)]
    # Exactly at a record's timestamp: that record first.
    sse = Sse(node, "ktime", **{"from": "time:2026-01-01T00:00:10Z"})
    try:
        assert sse.next_event()["data"] == "second-0"
    finally:
        sse.close()


def test_time_inside_one_batch_starts_at_the_first_record_at_or_after_it(node):
    """The documented promise (subscribe_request.hpp): "each partition's first
    record at or after it", not the first batch that reaches it."""
    create_stream(node, "kbatch", partitions=1)
    produce_with_timestamps(node, "kbatch", [
        [{"key": "a", "value": f"r{i}", "timestamp": T0 + i * 1000} for i in range(4)],
    ])
    sse = Sse(node, "kbatch", **{"from": "time:" + rfc3339_ms(T0 + 1_500)})
    try:
        event = sse.next_event()
    finally:
        sse.close()
    assert (event["data"], event["id"]) == ("r2", "0:3"), \
        f"replay from T0+1.5s began with {event['data']} (timestamp T0+{event['data'][1:]}s)"


# --- small queues ------------------------------------------------------------------

@pytest.mark.parametrize("queue", [1, 2, 3])
def test_replay_with_a_small_queue_delivers_everything(node, queue):
    """queue=N is accepted for a replay (1..the node's bound); the reader
    never overfills it, and must still make progress with the smallest one."""
    create_stream(node, "small", partitions=2, attract=["small/>"])
    for i in range(20):
        publish_stored(node, f"small/{i}", f"s{i}", key=str(i))
    sse = Sse(node, "small", timeout=5, queue=str(queue), **{"from": "earliest"})
    try:
        try:
            events = sse.events(20)
        except socket.timeout:
            pytest.fail(f"replay with queue={queue} delivered nothing within 5 s")
        assert sorted(e["data"] for e in events) == sorted(f"s{i}" for i in range(20))
        publish_stored(node, "small/live", "live")
        assert sse.next_event()["data"] == "live"
    finally:
        sse.close()


# --- partitions added, node stopping ----------------------------------------------

def test_partitions_added_while_replaying_are_followed_from_their_start(node):
    create_stream(node, "growing", partitions=1, attract=["growing/>"])
    publish_stored(node, "growing/0", "before", key="k0")
    sse = Sse(node, "growing", **{"from": "earliest"})
    try:
        assert sse.next_event()["id"] == "0:1"
        status, body, _ = node.request("PATCH", "/v1/streams/growing", json.dumps({"partitions": 3}).encode(),
                                       {"Content-Type": "application/json"})
        assert status == 200, body
        expected = []
        for i in range(30):
            publish_stored(node, f"growing/{i}", f"after-{i}", key=f"k{i}")
            expected.append(f"after-{i}")
        ends = end_offsets(node, "growing")
        assert len(ends) == 3 and ends[1] > 0 and ends[2] > 0, ends
        events = sse.events(len(expected))
        assert sorted(e["data"] for e in events) == sorted(expected)
        # Ids name the new partitions too, and end at every partition's end.
        final = {}
        for e in events:
            for p, o in parse_cursor(e["id"]).items():
                final[p] = max(final.get(p, 0), o)
        assert final == dict(enumerate(ends))
    finally:
        sse.close()


def test_node_stops_cleanly_with_replay_subscribers(node):
    fill_orders(node, count=12)
    caught_up = Sse(node, "orders", **{"from": "earliest"})
    caught_up.events(12)
    ws = ws_subscribe(node, timeout=READ_TIMEOUT, stream="orders", **{"from": "earliest"})
    ws.recv()
    # One that has read nothing: its replay waits for room in its queue.
    stalled = Sse(node, "orders", queue="2", **{"from": "earliest"})
    try:
        assert node.stop() == 0
        assert caught_up.next_event() is None
    finally:
        caught_up.close()
        stalled.close()
        ws.close()
