"""Bad input over HTTP: every refusal names what is wrong, and no request,
however hostile, stops the node serving everyone else (DESIGN.md §2)."""
import base64
import json
import os
import socket
import struct
import subprocess

import pytest

from conftest import SseClient, subscribe_path, wait_for, ws_subscribe


def raw_exchange(node, data, timeout=10.0):
    """Sends `data` on a fresh connection, then reads until the node closes it."""
    sock = socket.create_connection((node.host, node.port), timeout=timeout)
    try:
        sock.sendall(data)
        reply = bytearray()
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except ConnectionResetError:
                break
            if not chunk:
                break
            reply += chunk
        return bytes(reply)
    finally:
        sock.close()


def status_of(reply):
    assert reply.startswith(b"HTTP/1.1 "), reply[:200]
    return int(reply.split(b" ", 2)[1])


def json_body(reply):
    return json.loads(reply.split(b"\r\n\r\n", 1)[1])


# --- topics and filters -----------------------------------------------------

BAD_TOPICS = [
    ("a//b", "empty_level"),
    ("a/*/b", "wildcard_in_topic"),
    ("a/>", "wildcard_in_topic"),
    ("a/+", "mqtt_character"),
    ("$sys/x", "reserved_prefix"),
    ("t" * 251, "too_long"),
]


@pytest.mark.parametrize("topic,rule", BAD_TOPICS)
def test_bad_topic_is_refused_naming_the_rule(node, topic, rule):
    status, body, _ = node.publish(topic, b"x")
    assert status == 400, body
    error = json.loads(body)
    assert error["error"] == "invalid_topic" and error["rule"] == rule
    assert isinstance(error["offset"], int) and error["message"]


@pytest.mark.parametrize("path,rule", [("/v1/topics/a/%C3%28", "invalid_utf8"),
                                       ("/v1/topics/a/%00/b", "nul_character")])
def test_percent_encoded_bad_bytes_in_topic(node, path, rule):
    status, body, _ = node.request("POST", path, b"x")
    assert status == 400
    assert json.loads(body)["rule"] == rule


def test_topic_of_250_bytes_is_the_longest_accepted(node):
    status, body, _ = node.publish("t" * 250, b"x")
    assert status == 202, body


@pytest.mark.parametrize("target,rule", [("/v1/topics/a/>", "wildcard_in_topic"),
                                         ("/v1/topics/a/*/b", "wildcard_in_topic"),
                                         ("/v1/topics/a/#", "mqtt_character")])
def test_unencoded_wildcards_in_the_target_are_read_as_typed(node, target, rule):
    # curl sends what the user typed: the node must see a topic, not a bad target.
    reply = raw_exchange(node, f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                               "Connection: close\r\n\r\nx".encode())
    assert status_of(reply) == 400
    assert json_body(reply)["rule"] == rule


def test_unencoded_wildcard_filter_from_curl_subscribes(node):
    # README: curl -N 'http://HOST:PORT/v1/subscribe?filter=orders/*/us/>'
    proc = subprocess.Popen(["curl", "-sN", f"{node.url}/v1/subscribe?filter=orders/*/us/>"],
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b": subscribed\n"
        assert proc.stdout.readline() == b"\n"
        assert node.publish("orders/new/us/1", b"raw")[0] == 202
        assert proc.stdout.readline().startswith(b"id: ")
        assert proc.stdout.readline() == b"event: orders/new/us/1\n"
        assert proc.stdout.readline() == b"data: raw\n"
    finally:
        proc.kill()
        proc.wait()


BAD_FILTERS = [
    ("a//b", "empty_level"),
    ("a/>/b", "misplaced_tail"),
    ("a/x>", "misplaced_tail"),
    ("a/b*c", "misplaced_star"),
    ("a/+", "mqtt_character"),
    ("a/\x00", "nul_character"),
    ("f" * 251, "too_long"),
]


@pytest.mark.parametrize("bad,rule", BAD_FILTERS)
def test_bad_filter_is_refused_over_sse_and_websocket(node, bad, rule):
    import websocket
    status, body, _ = node.request("GET", subscribe_path("ok/>", bad))
    assert status == 400
    error = json.loads(body)
    assert error["error"] == "invalid_filter" and error["rule"] == rule
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ws_subscribe(node, bad)
    assert refused.value.status_code == 400
    assert node.metric_sum("skein_subscriptions") == 0


@pytest.mark.parametrize("query,code", [
    ("", "missing_filter"),
    ("?slow=disconnect", "missing_filter"),
    ("?filter=a&slow=fast", "invalid_parameter"),
    ("?filter=a&slow=", "invalid_parameter"),
    ("?filter=a&queue=0", "invalid_parameter"),
    ("?filter=a&queue=-1", "invalid_parameter"),
    ("?filter=a&queue=ten", "invalid_parameter"),
    ("?filter=a&queue=10001", "invalid_parameter"),  # over router.subscriber_queue
])
def test_bad_subscribe_parameters(node, query, code):
    import websocket
    status, body, _ = node.request("GET", "/v1/subscribe" + query)
    assert status == 400
    assert json.loads(body)["error"] == code
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"ws://{node.host}:{node.port}/v1/subscribe{query}",
                                    timeout=10)
    assert refused.value.status_code == 400


# --- body size ----------------------------------------------------------------

MAX = 1048576


def curl_post(node, path, body_file, *extra):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *extra,
                          "--data-binary", f"@{body_file}", node.url + path],
                         capture_output=True, timeout=30)
    return int(out.stdout)


def test_body_over_the_limit_is_413(node):
    status, body, headers = node.request("POST", "/v1/topics/big", b"a" * (MAX + 1))
    assert status == 413
    assert json.loads(body)["error"] == "too_large"
    assert node.metric_sum("skein_events_published_total") == 0


def test_body_over_the_limit_with_expect_100_continue(node, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"a" * (MAX + 1))
    # curl sends Expect: 100-continue for a body this size: 413 comes before the body.
    assert curl_post(node, "/v1/topics/big", big) == 413
    assert curl_post(node, "/v1/topics/big", big, "-H", "Expect:") == 413
    exact = tmp_path / "exact"
    exact.write_bytes(b"a" * MAX)
    assert curl_post(node, "/v1/topics/big", exact) == 202
    assert node.metric_sum("skein_events_published_total") == 1


def test_body_of_exactly_the_limit_is_delivered_intact(node):
    sub = SseClient(node, "big/>")
    payload = os.urandom(MAX)
    status, body, _ = node.request("POST", "/v1/topics/big/one", payload)
    assert status == 202, body
    event = sub.next_event()
    assert event["event"] == "big/one"
    assert base64.b64decode(event["data"].removeprefix("base64:")) == payload
    sub.close()


def test_configured_limit(make_node):
    node = make_node("--max-event-bytes", "1000")
    assert node.request("POST", "/v1/topics/t", b"a" * 1001)[0] == 413
    assert node.request("POST", "/v1/topics/t", b"a" * 1000)[0] == 202


def chunked(body, size=4096):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def test_chunked_body_over_the_limit_is_413(make_node):
    node = make_node("--max-event-bytes", "10000")
    head = b"POST /v1/topics/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    reply = raw_exchange(node, head + chunked(b"b" * 10001))
    assert status_of(reply) == 413
    assert json_body(reply)["error"] == "too_large"
    reply = raw_exchange(node, head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") +
                         chunked(b"b" * 10000))
    assert status_of(reply) == 202


# --- routing --------------------------------------------------------------------

def test_unknown_path_is_404(node):
    status, body, _ = node.request("GET", "/v2/nothing")
    assert status == 404 and json.loads(body)["error"] == "not_found"
    assert node.request("POST", "/healthz", b"")[0] == 404


def test_get_on_a_topic_is_405_with_allow(node):
    status, body, headers = node.request("GET", "/v1/topics/x")
    assert status == 405
    assert headers["Allow"] == "POST"
    assert json.loads(body)["error"] == "method_not_allowed"
    assert node.request("DELETE", "/v1/topics/x")[0] == 405


# --- hostile clients --------------------------------------------------------------

class Witness:
    """A subscriber that stays connected through every attack; check() proves
    the node still answers and still delivers."""

    def __init__(self, node):
        self.node = node
        self.sub = SseClient(node, "alive/>")
        self.sent = 0

    def check(self):
        status, _, _ = self.node.request("GET", "/healthz")
        assert status == 200
        self.sent += 1
        payload = f"still here {self.sent}".encode()
        assert self.node.publish("alive/check", payload)[0] == 202
        assert self.sub.next_event()["data"] == payload.decode()
        fresh = SseClient(self.node, "alive/>")
        assert self.node.publish("alive/fresh", b"y")[0] == 202
        assert fresh.next_event()["event"] == "alive/fresh"
        assert self.sub.next_event()["event"] == "alive/fresh"
        fresh.close()


@pytest.fixture
def witness(node):
    w = Witness(node)
    yield w
    assert node.proc.poll() is None, "the node died"
    w.sub.close()
    log = node.read_log()
    assert "critical" not in log, log
    assert "unhandled exception" not in log, log


def test_garbage_instead_of_http(node, witness):
    reply = raw_exchange(node, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)))
    assert reply == b"" or status_of(reply) == 400
    reply = raw_exchange(node, b"HELLO WORLD\r\n\r\n")
    assert reply == b"" or status_of(reply) == 400
    witness.check()


def test_request_line_of_100_kb(node, witness):
    reply = raw_exchange(node, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(reply) in (400, 414, 431)
    witness.check()


def test_header_over_16_kib_is_431(node, witness):
    reply = raw_exchange(node, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17000 +
                         b"\r\n\r\n")
    assert status_of(reply) == 431
    many = b"".join(f"X-H{i}: {'v' * 60}\r\n".encode() for i in range(400))
    reply = raw_exchange(node, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status_of(reply) == 431
    witness.check()


def test_truncated_request_then_close(node, witness):
    for data in [b"POST /v1/topics/alive/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
                 b"POST /v1/topics/alive/cut HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                 b"\r\n\r\n10\r\nabc",
                 b"POST /v1/topics/alive/cut HTTP/1.1\r\nHo"]:
        sock = socket.create_connection((node.host, node.port))
        sock.sendall(data)
        sock.close()
    wait_for(lambda: node.metric_sum("skein_http_connections") == 2,  # witness + this request
             what="the truncated requests to be dropped")
    witness.check()
    # No half request became an event.
    assert node.metric_sum("skein_events_published_total") == 2 * witness.sent


def test_slowloris_half_request_does_not_block_others(node, witness):
    slow = []
    for _ in range(20):
        sock = socket.create_connection((node.host, node.port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(sock)
    for i in range(5):
        for sock in slow:
            sock.sendall(b"a")
        witness.check()  # everyone else is served while they dribble
    for sock in slow:
        sock.close()
    wait_for(lambda: node.metric_sum("skein_http_connections") == 2,  # witness + this request
             what="the half-open connections to be closed")
    witness.check()


@pytest.mark.parametrize("target", ["/v1/topics/a%zz", "/v1/topics/a%", "/v1/topics/%%41",
                                    "/v1/subscribe?filter=%G1", "/v1/subscribe?filter=a%2"])
def test_invalid_percent_encoding_and_odd_targets(node, witness, target):
    reply = raw_exchange(node, f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n".encode())
    assert status_of(reply) == 400
    witness.check()


def test_a_thousand_connections_opened_and_closed(node, witness):
    linger_reset = struct.pack("ii", 1, 0)
    for i in range(1000):
        sock = socket.create_connection((node.host, node.port))
        if i % 3 == 1:
            sock.sendall(b"GET /heal")
        elif i % 3 == 2:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_reset)  # close = RST
            sock.sendall(b"POST /v1/topics/alive/x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
        sock.close()
    wait_for(lambda: node.metric_sum("skein_http_connections") == 2,
             what="every closed connection to be released")
    assert node.metric_sum("skein_http_connections_total") >= 1000
    witness.check()


def test_websocket_garbage_after_upgrade(node, witness):
    import websocket
    ws = ws_subscribe(node, "alive/>")
    ws.sock.sendall(b"\xff\xff" + os.urandom(64))  # not a valid frame
    # The node closes that stream (with a close frame or by resetting it).
    ws.settimeout(10)
    with pytest.raises((websocket.WebSocketException, ConnectionError, OSError)):
        while True:
            ws.recv()
    ws.close()
    witness.check()


def test_subscribe_with_another_method_is_405(node):
    status, body, headers = node.request("POST", "/v1/subscribe?filter=a", b"x")
    assert status == 405
    assert headers.get("Allow") == "GET"
    assert json.loads(body)["error"] == "method_not_allowed"
