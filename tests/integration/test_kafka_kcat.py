"""The Kafka face with kcat (librdkafka): metadata, and produce then consume
with every compression codec, keys and headers intact, offsets in order."""
import json
import queue
import subprocess
import threading
import time

import pytest

KCAT = "kcat"


def kcat(node, *args, stdin=None, timeout=30):
    result = subprocess.run([KCAT, "-b", node.kafka, *args], input=stdin, capture_output=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def consume_all(node, topic):
    """Every record of partition 0 from the beginning, as kcat's JSON envelopes."""
    out = kcat(node, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-J")
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def test_metadata_lists_this_broker_and_created_streams(node):
    kcat(node, "-P", "-t", "listed", stdin=b"x\n")
    meta = json.loads(kcat(node, "-L", "-J"))
    assert [(b["id"], b["name"]) for b in meta["brokers"]] == [(0, node.kafka)]
    assert meta["controllerid"] == 0
    topics = {t["topic"]: t for t in meta["topics"]}
    assert "listed" in topics
    partitions = topics["listed"]["partitions"]
    assert [p["partition"] for p in partitions] == [0]
    assert partitions[0]["leader"] == 0


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_and_consume_with_each_codec(node, codec):
    topic = "codec-" + codec
    lines = [f"key-{i}:value {i} via {codec}" for i in range(200)]
    kcat(node, "-P", "-t", topic, "-z", codec, "-K:", "-H", "origin=kcat",
         stdin=("\n".join(lines) + "\n").encode())
    records = consume_all(node, topic)
    assert [r["offset"] for r in records] == list(range(200))
    assert [f'{r["key"]}:{r["payload"]}' for r in records] == lines
    assert all(r["headers"] == ["origin", "kcat"] for r in records)


def test_consumer_waiting_at_the_end_gets_what_is_produced_next(node):
    """A long-polling fetch is woken by an append rather than by its timeout."""
    kcat(node, "-P", "-t", "later", stdin=b"first\n")
    # -u: unbuffered, so each record is readable as soon as kcat has it.
    consumer = subprocess.Popen([KCAT, "-b", node.kafka, "-C", "-u", "-t", "later", "-p", "0",
                                 "-o", "beginning", "-c", "2", "-f", "%s\n",
                                 "-X", "fetch.wait.max.ms=30000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in consumer.stdout],
                              daemon=True)
    reader.start()
    try:
        assert lines.get(timeout=20) == b"first\n"
        started = time.monotonic()
        kcat(node, "-P", "-t", "later", stdin=b"second\n")
        assert lines.get(timeout=20) == b"second\n"
        # Well below the 30 s fetch wait: the append woke the fetch.
        assert time.monotonic() - started < 15
        assert consumer.wait(timeout=10) == 0
    finally:
        consumer.kill()
        consumer.wait()
