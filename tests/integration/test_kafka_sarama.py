"""The Kafka face with sarama (Go, from Debian), the client whose default
dialect is Kafka 0.8.2: Produce v0 with magic 0 message sets, Fetch v0 and
ListOffsets v0, no version negotiation. Then the 0.10 dialect (magic 1, with
each of its codecs), a consumer group, and records crossing between the old
formats and the v2 batches that librdkafka (kcat) writes and reads."""
import json
import os
import pathlib
import subprocess
import time

import pytest

SOURCE = pathlib.Path(__file__).parent / "go" / "sarama_client"


@pytest.fixture(scope="session")
def sarama(tmp_path_factory):
    """The test client, built against Debian's sarama (GOPATH mode, offline)."""
    binary = tmp_path_factory.mktemp("sarama") / "sarama_client"
    env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off", GOFLAGS="",
               CGO_CFLAGS="-O2 -Wno-deprecated-declarations")
    result = subprocess.run(["go", "build", "-o", str(binary), "."], cwd=SOURCE, env=env,
                            capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return binary


def run(sarama, node, command, topic, *args, timeout=90):
    result = subprocess.run([str(sarama), command, "-brokers", node.kafka, "-topic", topic,
                             *map(str, args)], capture_output=True, timeout=timeout)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]


def expected(n, start=0):
    """What sarama_client produce sends: every tenth record keyless."""
    return [(None if i % 10 == 9 else f"key-{i}", f"value-{i}") for i in range(start, start + n)]


def test_the_0_8_dialect_produces_and_consumes_magic_0_message_sets(sarama, node):
    acks = run(sarama, node, "produce", "dialect-082", "-version", "0.8.2.0", "-n", 250)
    assert [a["offset"] for a in acks] == list(range(250))
    records = run(sarama, node, "consume", "dialect-082", "-version", "0.8.2.0", "-n", 250)
    assert [r["offset"] for r in records] == list(range(250))
    assert [(r["key"], r["value"]) for r in records] == expected(250)
    # ListOffsets v0: the old-style offset lists.
    assert run(sarama, node, "offsets", "dialect-082", "-version", "0.8.2.0") == [
        {"oldest": 0, "newest": 250}]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4"])
def test_the_0_10_dialect_sends_magic_1_with_each_codec(sarama, node, codec):
    topic = "dialect-010-" + codec
    before = time.time() * 1000
    acks = run(sarama, node, "produce", topic, "-version", "0.10.0.0", "-compression", codec,
               "-n", 300)
    after = time.time() * 1000
    assert [a["offset"] for a in acks] == list(range(300))
    records = run(sarama, node, "consume", topic, "-version", "0.10.0.0", "-n", 300)
    assert [r["offset"] for r in records] == list(range(300))
    assert [(r["key"], r["value"]) for r in records] == expected(300)
    # Magic 1 carries the producer's timestamps through the v2 log and back.
    assert all(before - 1000 <= r["timestamp"] <= after + 1000 for r in records)


def test_gzip_wrappers_in_the_0_8_dialect(sarama, node):
    run(sarama, node, "produce", "wrapped-082", "-version", "0.8.2.0", "-compression", "gzip",
        "-n", 150)
    records = run(sarama, node, "consume", "wrapped-082", "-version", "0.8.2.0", "-n", 150)
    assert [(r["offset"], r["key"], r["value"]) for r in records] == [
        (i, k, v) for i, (k, v) in enumerate(expected(150))]


def kcat(node, *args, stdin=None):
    result = subprocess.run(["kcat", "-b", node.kafka, *args], input=stdin, capture_output=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def test_old_formats_and_v2_batches_read_each_other(sarama, node):
    # magic 0 in, v2 out: kcat reads what the 0.8 dialect wrote.
    run(sarama, node, "produce", "crossing", "-version", "0.8.2.0", "-n", 100)
    out = kcat(node, "-C", "-t", "crossing", "-p", "0", "-o", "beginning", "-e", "-J")
    records = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert [(r["offset"], r["key"], r["payload"]) for r in records] == [
        (i, k, v) for i, (k, v) in enumerate(expected(100))]
    # v2 in (zstd, with headers), magic 0 and magic 1 out.
    lines = [f"k{i}:v{i}" for i in range(100)]
    kcat(node, "-P", "-t", "crossing", "-p", "0", "-z", "zstd", "-K:", "-H", "h=1",
         stdin=("\n".join(lines) + "\n").encode())
    for version in ["0.8.2.0", "0.10.0.0"]:
        records = run(sarama, node, "consume", "crossing", "-version", version, "-n", 200)
        assert [r["offset"] for r in records] == list(range(200))
        assert [(r["key"], r["value"]) for r in records[100:]] == [
            (f"k{i}", f"v{i}") for i in range(100)]


def test_a_group_of_the_0_10_2_dialect_commits_and_resumes(sarama, node):
    run(sarama, node, "produce", "grouped", "-version", "0.10.2.0", "-n", 200)
    first = run(sarama, node, "group", "grouped", "-version", "0.10.2.0", "-group", "g", "-n", 200)
    assert sorted(r["offset"] for r in first) == list(range(200))
    run(sarama, node, "produce", "grouped", "-version", "0.10.2.0", "-n", 50)
    # The group resumes after what it committed: only the 50 new records.
    second = run(sarama, node, "group", "grouped", "-version", "0.10.2.0", "-group", "g", "-n", 50)
    assert sorted(r["offset"] for r in second) == list(range(200, 250))
