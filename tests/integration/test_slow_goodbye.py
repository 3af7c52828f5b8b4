"""A subscriber disconnected for being slow is told so when it can still
hear it: a WebSocket gets close code 1008 and an SSE stream a final comment,
and the node logs a warning naming the filters."""
import socket

import websocket  # python3-websocket

from conftest import SseClient, subscribe_path, wait_for
from test_load import PipelinedPublisher

BIG = b"x" * 16384


def overflow(node, topic):
    """Publishes 16 KiB events until the node reports a slow disconnect."""
    publisher = PipelinedPublisher(node)
    for _ in range(200):
        results = publisher.publish(topic, [BIG] * 20)
        assert all(status == 202 for status, _ in results)
        if node.metric_sum("skein_slow_subscribers_disconnected_total") >= 1:
            break
    publisher.close()
    assert node.metric_sum("skein_slow_subscribers_disconnected_total") >= 1


def test_slow_websocket_subscriber_gets_close_1008(make_node):
    node = make_node()
    ws = websocket.WebSocket(sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 8192),))
    ws.connect(f"ws://{node.host}:{node.port}{subscribe_path('slowws/>', queue=4)}", timeout=30)
    overflow(node, "slowws/a")
    # Read what was in flight (maybe nothing: a queue of 4 can fill before
    # the first write), then the close frame, within the node's grace.
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        assert opcode == websocket.ABNF.OPCODE_TEXT
    code = int.from_bytes(data[:2], "big")
    assert code == 1008, (code, data)
    assert b"slow subscriber" in data[2:]
    ws.close()
    wait_for(lambda: "slow subscriber disconnected" in node.read_log(), what="the warning")
    assert "slowws/>" in node.read_log()


def test_slow_sse_subscriber_gets_a_farewell_comment(make_node):
    node = make_node()
    sub = SseClient(node, "slowsse/>", queue=4)
    overflow(node, "slowsse/a")
    tail = b""
    while True:
        chunk = sub.file.read1(1 << 20)
        if not chunk:
            break
        tail = (tail + chunk)[-4096:]
    assert tail.endswith(b": disconnected: slow subscriber, queue full\n\n")
    sub.close()
