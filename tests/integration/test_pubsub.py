"""Publish over HTTP, subscribe over SSE and WebSocket, with wildcards."""
import base64
import json
import time

from conftest import SseClient, ws_subscribe


def publish_all(node, topics, payload=b"x"):
    for topic in topics:
        status, body, _ = node.publish(topic, payload)
        assert status == 202, (topic, status, body)


def test_star_and_tail_wildcards_over_sse(node):
    sub = SseClient(node, "orders/*/us/>")
    publish_all(node, ["orders/new/us/1", "orders/new/eu/1", "orders/new/us",
                       "orders/paid/us/7/items", "orders/us/1", "other/new/us/1",
                       "orders/done/us/last"])
    got = [e["event"] for e in sub.events(3)]
    assert got == ["orders/new/us/1", "orders/paid/us/7/items", "orders/done/us/last"]
    sub.close()


def test_prefix_wildcard_matches_one_level_with_that_start(node):
    sub = SseClient(node, "fleet/eu*/>")
    publish_all(node, ["fleet/eu-west/v1", "fleet/us/v1", "fleet/eu/v9", "fleet/xeu/v1",
                       "fleet/eu-north", "fleet/eu-north/v2/t"])
    got = [e["event"] for e in sub.events(3)]
    assert got == ["fleet/eu-west/v1", "fleet/eu/v9", "fleet/eu-north/v2/t"]
    sub.close()


def test_several_filters_on_one_stream_deliver_each_event_once(node):
    sub = SseClient(node, "a/>", "a/*", "a/b")
    publish_all(node, ["a/b", "a/c/d", "z/z", "a/end"])
    got = [e["event"] for e in sub.events(3)]
    assert got == ["a/b", "a/c/d", "a/end"]
    sub.close()


def test_sse_event_fields_and_payload_forms(node):
    sub = SseClient(node, "p/>")
    node.publish("p/text", b"hello world")
    node.publish("p/lines", b"one\ntwo\n\nfour")
    node.publish("p/binary", b"\x00\xff\x10")
    node.publish("p/marker", b"base64:not really")
    events = sub.events(4)
    assert events[0]["event"] == "p/text" and events[0]["data"] == "hello world"
    assert events[1]["data"] == "one\ntwo\n\nfour"
    assert events[2]["data"] == "base64:" + base64.b64encode(b"\x00\xff\x10").decode()
    assert events[3]["data"] == "base64:" + base64.b64encode(b"base64:not really").decode()
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4
    sub.close()


def test_websocket_json_frames_carry_key_headers_and_content_type(node):
    ws = ws_subscribe(node, "orders/*/us/>")
    node.publish("orders/new/eu/1", b"no")
    status, body, _ = node.publish("orders/new/us/1", b'{"n":1}', headers={
        "Skein-Key": "customer-9", "Skein-Header-Trace": "abc", "Content-Type": "application/json"})
    assert status == 202
    reply = json.loads(body)
    frame = json.loads(ws.recv())
    assert frame["topic"] == "orders/new/us/1"
    assert frame["payload"] == '{"n":1}'
    assert frame["key"] == "customer-9"
    assert frame["headers"] == {"Trace": "abc"}
    assert frame["content_type"] == "application/json"
    assert frame["id"] == reply["id"]
    assert isinstance(frame["timestamp"], int) and frame["timestamp"] > 0
    node.publish("orders/x/us/bin", b"\x01\x02\xfe")
    frame = json.loads(ws.recv())
    assert base64.b64decode(frame["payload_base64"]) == b"\x01\x02\xfe"
    assert "payload" not in frame
    ws.close()


def test_publish_reports_how_many_subscribers_matched(node):
    a = SseClient(node, "m/>")
    b = ws_subscribe(node, "m/*")
    status, body, _ = node.publish("m/1", b"x")
    assert status == 202 and json.loads(body)["subscribers"] == 2
    status, body, _ = node.publish("n/1", b"x")
    assert json.loads(body)["subscribers"] == 0
    a.close()
    b.close()


def test_unsubscribed_on_disconnect(node):
    sub = SseClient(node, "gone/>")
    assert node.metric_sum("skein_subscriptions") == 1
    sub.close()
    from conftest import wait_for
    wait_for(lambda: node.metric_sum("skein_subscriptions") == 0, what="unsubscribe on close")
    status, body, _ = node.publish("gone/1", b"x")
    assert json.loads(body)["subscribers"] == 0


def test_reserved_topics_are_not_matched_by_first_level_wildcards(node):
    # Clients cannot publish to $ topics, so check the filter side only: a $sys
    # filter is accepted, and a client publish to $sys is refused.
    sub = SseClient(node, "$sys/>")
    assert sub.status == 200
    status, body, _ = node.publish("$sys/x", b"x")
    assert status == 400 and json.loads(body)["rule"] == "reserved_prefix"
    sub.close()


def test_filters_typed_raw_in_the_url_work_as_curl_sends_them(node):
    # curl sends `>` and `*` as typed; the node encodes such stray bytes itself.
    import subprocess
    curl = subprocess.Popen(["curl", "-s", "-N", "--max-time", "20",
                             f"{node.url}/v1/subscribe?filter=raw/*/us/>"],
                            stdout=subprocess.PIPE)
    assert curl.stdout.readline() == b": subscribed\n"
    node.publish("raw/new/us/1", b"typed")
    lines = [curl.stdout.readline() for _ in range(5)]
    curl.kill()
    curl.wait()
    assert b"event: raw/new/us/1\n" in lines and b"data: typed\n" in lines


def test_subscribers_outlive_the_http_idle_timeout(make_node):
    """http.idle_timeout closes quiet keep-alive connections, not subscribers:
    a WebSocket or SSE subscriber that sends nothing still gets events after
    it has passed (the wait is the time under test, not a synchronisation)."""
    node = make_node("--http-idle-timeout-s", "1")
    ws = ws_subscribe(node, "quiet/>")
    sse = SseClient(node, "quiet/>")
    try:
        time.sleep(2.5)
        status, _, _ = node.publish("quiet/1", b"still here")
        assert status == 202
        assert json.loads(ws.recv())["payload"] == "still here"
        assert sse.next_event()["data"] == "still here"
    finally:
        ws.close()
        sse.close()
