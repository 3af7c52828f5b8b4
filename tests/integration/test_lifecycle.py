"""The node's life: the ready file, graceful shutdown on SIGTERM and SIGINT,
configuration layering, the data directory lock, metrics, and the skein
command line against a running node."""
import http.client
import json
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import SKEIN, Node, SseClient, subscribe_path, wait_for, ws_subscribe


def run_skein(*args, input=None, env=None, timeout=20):
    return subprocess.run([SKEIN, *args], input=input, capture_output=True, timeout=timeout,
                          env=env)


# --- start ------------------------------------------------------------------------

def test_ready_file_names_the_http_address_that_answers(node):
    faces = json.loads(node.ready_file.read_text())
    assert sorted(faces) == ["http", "kafka", "mesh", "mqtt"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", faces["http"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", faces["mesh"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", faces["kafka"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", faces["mqtt"])
    host, port = faces["http"].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/readyz")
    response = conn.getresponse()
    assert response.status == 200
    assert json.loads(response.read()) == {"status": "ready"}
    conn.close()
    assert node.request("GET", "/healthz")[0] == 200


# --- graceful shutdown --------------------------------------------------------------

def read_ws_frame(sock):
    """One server frame from a raw socket: (opcode, payload); None at EOF."""
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    head = exactly(2)
    if head is None:
        return None
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(exactly(8), "big")
    return opcode, exactly(length) if length else b""


def read_to_eof(sock):
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_drains_streams_and_exits_0(node, sig):
    sse = SseClient(node, "bye/>")
    ws = ws_subscribe(node, "bye/>")
    ws.settimeout(10)
    idle = http.client.HTTPConnection(node.host, node.port, timeout=10)
    idle.request("GET", "/healthz")
    assert idle.getresponse().read() == b'{"status":"ok"}'  # now idle, kept alive

    status, body, _ = node.publish("bye/last", b"last words")
    assert status == 202
    last_id = json.loads(body)["id"]
    started = time.monotonic()
    node.proc.send_signal(sig)

    # SSE: the queued event, then the end of the stream.
    event = sse.next_event()
    assert event == {"id": last_id, "event": "bye/last", "data": "last words"}
    assert sse.next_event() is None
    sse.close()
    # WebSocket: the queued event, then close 1001 (going away).
    frame = read_ws_frame(ws.sock)
    assert frame[0] == 0x1 and json.loads(frame[1])["id"] == last_id
    opcode, payload = read_ws_frame(ws.sock)
    assert opcode == 0x8
    assert int.from_bytes(payload[:2], "big") == 1001
    ws.sock.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + (1000).to_bytes(2, "big"))  # masked close
    read_to_eof(ws.sock)
    ws.sock.close()
    # The idle keep-alive connection is closed by the node.
    assert read_to_eof(idle.sock) == b""
    idle.close()

    assert node.proc.wait(10) == 0
    elapsed = time.monotonic() - started
    assert elapsed < 5.0, f"took {elapsed:.2f}s to stop"
    log = node.read_log()
    assert "still open at the shutdown deadline" not in log, log


def refuses_connections(node):
    try:
        socket.create_connection((node.host, node.port), timeout=1).close()
        return False
    except (ConnectionRefusedError, ConnectionResetError):
        # Reset: the probe sat in the backlog as the listener closed.
        return True


def test_request_in_flight_at_the_signal_is_answered(node):
    sock = socket.create_connection((node.host, node.port), timeout=10)
    sock.sendall(b"POST /v1/topics/flight/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 100 ")  # the node is reading the body now
    node.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: refuses_connections(node), what="the node to stop accepting")
    sock.sendall(b"in air")
    reply = read_to_eof(sock)  # answered, then closed
    assert reply.startswith(b"HTTP/1.1 202 "), reply
    assert b"Connection: close" in reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["topic"] == "flight/1"
    sock.close()
    assert node.proc.wait(10) == 0


def test_stop_while_idle_is_prompt(node):
    started = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    assert node.proc.wait(10) == 0
    assert time.monotonic() - started < 2.0


def test_stop_with_a_stalled_subscriber_ends_at_the_grace_deadline(make_node):
    node = make_node("--shutdown-grace-ms", "1000", "--subscriber-queue", "1000000")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((node.host, node.port))
    sock.sendall(f"GET {subscribe_path('stuck/>')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert b": subscribed" in sock.recv(4096)
    for _ in range(20):  # several MB the client never reads
        assert node.publish("stuck/x", b"z" * 262144)[0] == 202
    started = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    assert node.proc.wait(10) == 0
    assert time.monotonic() - started < 4.0
    sock.close()


# --- configuration ----------------------------------------------------------------

def test_toml_file_sets_listen_and_subscriber_queue(tmp_path):
    config = tmp_path / "skein.toml"
    config.write_text('[http]\nlisten = "127.0.0.1:0"\n\n[router]\nsubscriber_queue = 50\n')
    node = Node(tmp_path, "--config", str(config))
    node.args.remove("--http")
    node.args.remove("127.0.0.1:0")  # the file, not a flag, picks the address
    node.start()
    try:
        assert node.host == "127.0.0.1" and node.port > 0
        assert node.request("GET", subscribe_path("q/>", queue=51))[0] == 400
        status, body, _ = node.request("GET", subscribe_path("q/>", queue=1000))
        assert status == 400 and b"from 1 to 50" in body
        sub = SseClient(node, "q/>", queue=50)
        assert sub.status == 200
        sub.close()
    finally:
        node.stop()


def serve_fails(tmp_path, *args, env=None):
    data = tmp_path / "data"
    return run_skein("serve", "--data", str(data), "--http", "127.0.0.1:0", *args, env=env)


def test_unknown_toml_key_stops_the_node_with_exit_2(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[http]\nlisten = "127.0.0.1:0"\nmax_event_byte = 10\n')
    result = serve_fails(tmp_path, "--config", str(config))
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert "unknown setting" in stderr and "http.max_event_byte" in stderr
    assert str(config) in stderr


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text('[node]\nshards = 2\n[http\nlisten = "x"\n')
    result = serve_fails(tmp_path, "--config", str(config))
    assert result.returncode == 2
    assert str(config) in result.stderr.decode() and "line 3" in result.stderr.decode()


def test_bad_values_name_their_source(tmp_path):
    import os
    env = dict(os.environ, SKEIN_SHARDS="many")
    result = serve_fails(tmp_path, env=env)
    assert result.returncode == 2 and "SKEIN_SHARDS" in result.stderr.decode()
    result = serve_fails(tmp_path, "--max-event-bytes", "0")
    assert result.returncode == 2 and "--max-event-bytes" in result.stderr.decode()
    config = tmp_path / "value.toml"
    config.write_text('[router]\nslow_subscriber = "sometimes"\n')
    result = serve_fails(tmp_path, "--config", str(config))
    assert result.returncode == 2
    assert "router.slow_subscriber" in result.stderr.decode()


def test_env_sets_the_event_limit(make_node):
    node = make_node(env={"SKEIN_MAX_EVENT_BYTES": "100"})
    assert node.request("POST", "/v1/topics/e", b"a" * 101)[0] == 413
    assert node.request("POST", "/v1/topics/e", b"a" * 100)[0] == 202


def test_flag_beats_env_and_env_beats_file(make_node, tmp_path):
    node = make_node("--max-event-bytes", "200", env={"SKEIN_MAX_EVENT_BYTES": "100"})
    assert node.request("POST", "/v1/topics/e", b"a" * 150)[0] == 202
    assert node.request("POST", "/v1/topics/e", b"a" * 201)[0] == 413
    config = tmp_path / "limit.toml"
    config.write_text("[http]\nmax_event_bytes = 1000\n")
    node = make_node("--config", str(config), env={"SKEIN_MAX_EVENT_BYTES": "100"})
    assert node.request("POST", "/v1/topics/e", b"a" * 101)[0] == 413


# --- the data directory ------------------------------------------------------------

def test_second_node_on_the_same_data_dir_exits_1(node):
    result = run_skein("serve", "--data", str(node.data), "--http", "127.0.0.1:0")
    assert result.returncode == 1
    assert "in use by another skein process" in result.stderr.decode()
    # The first one keeps serving.
    assert node.proc.poll() is None
    sub = SseClient(node, "lock/>")
    assert node.publish("lock/ok", b"still mine")[0] == 202
    assert sub.next_event()["data"] == "still mine"
    sub.close()


def test_data_dir_is_free_again_after_a_stop(make_node):
    first = make_node()
    first.stop()
    again = Node(first.workdir)
    again.ready_file.unlink()
    again.start()
    try:
        assert again.request("GET", "/healthz")[0] == 200
    finally:
        again.stop()


# --- metrics ----------------------------------------------------------------------------

def test_metrics_count_published_unmatched_and_delivered(make_node):
    node = make_node("--shards", "2")
    sub = SseClient(node, "met/sub/>")
    n, m = 7, 5
    for i in range(n):
        assert node.publish(f"met/sub/{i}", b"x")[0] == 202
    for i in range(m):
        assert node.publish(f"met/none/{i}", b"x")[0] == 202
    assert len(sub.events(n)) == n  # delivered everywhere once read
    metrics = node.metrics()
    def total(family):
        return sum(v for k, v in metrics.items() if k.split("{")[0] == family)
    assert total("skein_events_published_total") == n + m
    assert total("skein_events_unmatched_total") == m
    assert total("skein_events_delivered_total") == n
    assert metrics["skein_shards"] == 2
    lag = {k for k in metrics if k.startswith("skein_shard_loop_lag_seconds")}
    assert lag == {'skein_shard_loop_lag_seconds{shard="0"}',
                   'skein_shard_loop_lag_seconds{shard="1"}'}
    assert metrics["skein_subscriptions"] == 1
    assert metrics["skein_http_subscribers"] == 1
    assert metrics['skein_http_responses_total{code="2xx"}'] >= n + m
    sub.close()


# --- the command line ----------------------------------------------------------------------

def test_cli_pub_and_sub(node):
    sub = subprocess.Popen([SKEIN, "sub", "--url", node.url, "-n", "3", "cli/>"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: node.metric_sum("skein_http_subscribers") == 1,
                 what="skein sub to subscribe")
        assert run_skein("pub", "--url", node.url, "cli/a", "hello").returncode == 0
        assert run_skein("pub", "--url", node.url, "cli/b", "-", input=b"piped").returncode == 0
        result = run_skein("pub", "--url", node.url, "-k", "k1", "-H", "x=y", "cli/c", "text")
        assert result.returncode == 0, result.stderr
        out, err = sub.communicate(timeout=10)
    finally:
        sub.kill()
    assert sub.returncode == 0, err
    assert out.decode().splitlines() == ["cli/a hello", "cli/b piped", "cli/c text"]


def test_cli_sub_json_has_key_and_headers(node):
    sub = subprocess.Popen([SKEIN, "sub", "--url", node.url, "--json", "-n", "1", "j/>"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: node.metric_sum("skein_http_subscribers") == 1,
                 what="skein sub to subscribe")
        result = run_skein("pub", "--url", node.url, "j/1", "body", "-k", "k9", "-H", "trace=t1",
                           "-H", "tenant=acme", "--content-type", "text/plain")
        assert result.returncode == 0, result.stderr
        out, err = sub.communicate(timeout=10)
    finally:
        sub.kill()
    assert sub.returncode == 0, err
    event = json.loads(out)
    assert event["topic"] == "j/1" and event["payload"] == "body"
    assert event["key"] == "k9"
    assert event["headers"] == {"trace": "t1", "tenant": "acme"}
    assert event["content_type"] == "text/plain"


def test_cli_errors(node):
    result = run_skein("pub", "--url", node.url, "a//b", "x")
    assert result.returncode == 1
    assert "empty_level" in result.stderr.decode()
    result = run_skein("sub", "--url", node.url, "a/b*c")
    assert result.returncode == 1
    assert "misplaced_star" in result.stderr.decode()
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        result = run_skein("pub", "--url", url, "a/b", "x")
        assert result.returncode == 1
        assert "refused" in result.stderr.decode().lower()
        assert run_skein("sub", "--url", url, "a/>").returncode == 1


def test_cli_version_and_help():
    result = run_skein("version")
    assert result.returncode == 0
    assert re.fullmatch(r"skein \d+\.\d+\.\d+\n", result.stdout.decode())
    result = run_skein("--help")
    assert result.returncode == 0
    listed = re.findall(r"^\s+(\w+)\s", result.stdout.decode(), re.MULTILINE)
    assert {"serve", "pub", "sub"} <= set(listed)


def test_event_accepted_during_the_drain_reaches_open_streams(node):
    # Requests are drained before streams: a publish in flight at the signal
    # is routed to the subscribers that were connected, and they receive it
    # before their stream ends.
    sub = SseClient(node, "drain/>")
    sock = socket.create_connection((node.host, node.port), timeout=10)
    sock.sendall(b"POST /v1/topics/drain/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
    node.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: refuses_connections(node), what="the node to stop accepting")
    sock.sendall(b"late")
    reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 202 "), reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["subscribers"] == 1
    event = sub.next_event()
    assert event is not None and event["event"] == "drain/1" and event["data"] == "late"
    assert sub.next_event() is None  # then the stream ends
    sub.close()
    sock.close()
    assert node.proc.wait(10) == 0
