"""The Kafka face with kafkajs 2.2.4 (npm, pinned in tests/integration/js and
installed by scripts/install-deps), unchanged: the admin client's topic and
group calls, keyed acks=-1 production (plain and GZIP), a consumer group that
reads everything exactly once, commits and leaves, and a second member of the
same group that resumes from the committed offsets. Each client runs as
`node kafkajs_client.js` (one JSON command in, JSON lines out)."""
import json
import pathlib
import queue
import shutil
import subprocess
import threading
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
SCRIPT = HERE / "kafkajs_client.js"
NODE = shutil.which("node")
REBALANCE_DELAY = ("--kafka-group-initial-rebalance-delay-ms", "200")


@pytest.fixture(autouse=True)
def _kafkajs_installed():
    assert NODE, "node is not installed: run scripts/install-deps"
    assert (HERE / "js/node_modules/kafkajs/package.json").exists(), \
        "kafkajs is not installed: run scripts/install-deps"


def _parse(stdout, stderr, returncode):
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert lines, f"kafkajs_client printed nothing (exit {returncode}):\n{stderr}"
    last = lines[-1]
    assert "error" not in last, f"kafkajs_client failed: {last['error']}\n{stderr}"
    assert returncode == 0 and "result" in last, f"exit {returncode}: {lines}\n{stderr}"
    return last["result"]


def kafkajs(node, op, timeout=60, **command):
    """Runs one command to completion and returns its result."""
    command = {"op": op, "brokers": [node.kafka], **command}
    proc = subprocess.run([NODE, str(SCRIPT)], input=json.dumps(command), capture_output=True,
                          text=True, timeout=timeout)
    return _parse(proc.stdout, proc.stderr, proc.returncode)


class Background:
    """A command running in its own node process; its JSON lines are read as
    they come, so a test can wait for an event (a group join) before acting."""

    def __init__(self, node, op, **command):
        command = {"op": op, "brokers": [node.kafka], **command}
        self.proc = subprocess.Popen([NODE, str(SCRIPT), json.dumps(command)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.stdout = []
        self.stderr = []
        self.out_reader = threading.Thread(target=self._read, args=(self.proc.stdout, True),
                                           daemon=True)
        self.err_reader = threading.Thread(target=self._read, args=(self.proc.stderr, False),
                                           daemon=True)
        self.out_reader.start()
        self.err_reader.start()

    def _read(self, stream, is_stdout):
        for line in stream:
            if is_stdout:
                self.stdout.append(line)
                if line.strip():
                    self.lines.put(json.loads(line))
            else:
                self.stderr.append(line)
        if is_stdout:
            self.lines.put(None)

    def wait_event(self, name, timeout=30.0, predicate=lambda e: True):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {name!r} event within {timeout}s: {self.stdout}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, \
                f"exited before a {name!r} event: {self.stdout}\n{''.join(self.stderr)}"
            if line.get("event") == name and predicate(line):
                return line

    def send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def result(self, timeout=60.0):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"kafkajs_client did not finish in {timeout}s: {self.stdout}")
        self.out_reader.join(10)
        self.err_reader.join(10)
        return _parse("".join(self.stdout), "".join(self.stderr), self.proc.returncode)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def admin(node, *actions):
    """Runs admin actions in one client; returns each one's value, failing on
    any error (use admin_results for actions expected to fail)."""
    results = admin_results(node, *actions)
    for action, result in zip(actions, results):
        assert "ok" in result, f"{action} failed: {result}"
    return [r["ok"] for r in results]


def admin_results(node, *actions, retries=5):
    return kafkajs(node, "admin", actions=list(actions), retries=retries)


def ends(node, topic):
    """{partition: high watermark} from ListOffsets."""
    [offsets] = admin(node, {"action": "fetchTopicOffsets", "topic": topic})
    return {p["partition"]: int(p["high"]) for p in offsets}


def committed(node, group, topic):
    [offsets] = admin(node, {"action": "fetchOffsets", "groupId": group, "topics": [topic]})
    [t] = offsets
    assert t["topic"] == topic
    return {p["partition"]: int(p["offset"]) for p in t["partitions"]}


def check_consumed(result, expected):
    """The consumer read exactly `expected` ({key: value}) once each, with its
    headers, and committed the offset after the last record of each partition."""
    assert not result["timedOut"], f"timed out with {len(result['messages'])} messages"
    assert result["crashes"] == []
    messages = result["messages"]
    positions = [(m["partition"], int(m["offset"])) for m in messages]
    assert len(positions) == len(set(positions)), "a record was delivered twice"
    keys = [m["key"] for m in messages]
    assert len(keys) == len(set(keys)), "a key was delivered twice"
    assert {m["key"]: m["value"] for m in messages} == expected
    for m in messages:
        assert m["headers"] == {"source": "kafkajs", "key": m["key"]}
    # Within a partition, offsets arrive in order.
    for p in {m["partition"] for m in messages}:
        offsets = [int(m["offset"]) for m in messages if m["partition"] == p]
        assert offsets == sorted(offsets)
    last = {}
    for p, o in positions:
        last[p] = max(last.get(p, -1), o)
    assert {int(p): int(o) for p, o in result["committed"].items()} == \
        {p: o + 1 for p, o in last.items()}
    return messages


def messages_for(keys, tag):
    return [{"key": k, "value": f"{tag}-{k}", "headers": {"source": "kafkajs", "key": k}}
            for k in keys]


@pytest.mark.parametrize("commit", ["auto", "manual"])
def test_admin_produce_group_consume_commit_and_resume(make_node, commit):
    node = make_node(*REBALANCE_DELAY)
    topic, group = f"js-orders-{commit}", f"js-group-{commit}"

    # Admin: create (3 partitions), create again (kafkajs answers false for an
    # existing topic), describe, list.
    created, again, metadata, topics = admin(
        node,
        {"action": "createTopics", "topic": topic, "partitions": 3},
        {"action": "createTopics", "topic": topic, "partitions": 3},
        {"action": "fetchTopicMetadata", "topics": [topic]},
        {"action": "listTopics"})
    assert created is True
    assert again is False
    [described] = metadata
    assert described["name"] == topic
    assert [p["partitionId"] for p in described["partitions"]] == [0, 1, 2]
    leader = described["partitions"][0]["leader"]
    for p in described["partitions"]:
        assert p["partitionErrorCode"] == 0
        assert p["leader"] == leader and p["replicas"] == [leader] and p["isr"] == [leader]
    assert topic in topics
    assert ends(node, topic) == {0: 0, 1: 0, 2: 0}

    # Produce 40 keyed records, acks=-1: half plain, half GZIP.
    plain_keys = [f"k{i:02d}" for i in range(20)]
    gzip_keys = [f"k{i:02d}" for i in range(20, 40)]
    sent = {}
    for keys, compression in ((plain_keys, "none"), (gzip_keys, "gzip")):
        acks = kafkajs(node, "produce", topic=topic, acks=-1, compression=compression,
                       messages=messages_for(keys, "v"))
        assert acks and all(a["errorCode"] == 0 and a["topic"] == topic for a in acks)
        sent.update({k: f"v-{k}" for k in keys})
    high = ends(node, topic)
    assert sum(high.values()) == 40
    # The default (murmur2) partitioner spreads these keys over every partition.
    assert all(high[p] > 0 for p in range(3)), high

    # A consumer in the group reads everything once from the beginning,
    # commits, and leaves.
    first = kafkajs(node, "consume", groupId=group, topic=topic, count=40, timeoutMs=30000,
                    commit=commit)
    consumed = check_consumed(first, sent)
    assert len(first["joins"]) >= 1
    assert sorted(first["joins"][-1]["assignment"][topic]) == [0, 1, 2]
    per_partition = {}
    for m in consumed:
        per_partition[m["partition"]] = per_partition.get(m["partition"], 0) + 1
    assert per_partition == high

    # The committed offsets are the partition ends; the group is empty now.
    assert committed(node, group, topic) == high
    groups, described_groups = admin(node, {"action": "listGroups"},
                                     {"action": "describeGroups", "groupIds": [group]})
    assert {"groupId": group, "protocolType": "consumer"} in groups
    [g] = described_groups
    assert g["groupId"] == group and g["errorCode"] == 0
    assert g["state"] == "Empty" and g["members"] == 0

    # A second member of the same group resumes from the committed offsets:
    # nothing old, but the record produced once it has joined.
    second = Background(node, "consume", groupId=group, topic=topic, count=1, timeoutMs=30000,
                        commit=commit)
    try:
        joined = second.wait_event("joined", 30)
        assert sorted(joined["assignment"][topic]) == [0, 1, 2]
        [ack] = kafkajs(node, "produce", topic=topic, acks=-1, compression="gzip",
                        messages=messages_for(["late"], "new"))
        assert ack["errorCode"] == 0
        late_partition = ack["partition"]
        assert int(ack["baseOffset"]) == high[late_partition]
        resumed = second.result(60)
    finally:
        second.kill()
    [late] = check_consumed(resumed, {"late": "new-late"})
    assert (late["partition"], int(late["offset"])) == (late_partition, high[late_partition])

    after = dict(high)
    after[late_partition] += 1
    assert ends(node, topic) == after
    assert committed(node, group, topic) == after

    # Delete: gone from the list; deleting again is UNKNOWN_TOPIC_OR_PARTITION.
    deleted, topics_after = admin(node, {"action": "deleteTopics", "topics": [topic]},
                                  {"action": "listTopics"})
    assert deleted is True
    assert topic not in topics_after
    # (kafkajs retries that error: with no retries, it is the broker's own.)
    [again] = admin_results(node, {"action": "deleteTopics", "topics": [topic]}, retries=0)
    assert "error" in again, again
    error = again["error"]["cause"] or again["error"]
    assert (error["type"], error["code"]) == ("UNKNOWN_TOPIC_OR_PARTITION", 3), again


def test_two_members_share_the_partitions_and_read_each_record_once(make_node):
    node = make_node(*REBALANCE_DELAY)
    topic, group = "js-shared", "js-shared-group"
    assert admin(node, {"action": "createTopics", "topic": topic, "partitions": 3}) == [True]

    members = [Background(node, "consume", groupId=group, topic=topic, countFromStdin=True,
                          timeoutMs=60000, commit="auto", clientId=f"member-{i}")
               for i in range(2)]
    try:
        # Wait until the members' latest assignments split the partitions
        # between them: that generation is stable from then on.
        latest = [None, None]

        def split():
            return (all(a is not None for a in latest)
                    and all(a.get(topic) for a in latest)
                    and sorted(latest[0][topic] + latest[1][topic]) == [0, 1, 2])

        deadline = time.monotonic() + 30
        while not split():
            assert time.monotonic() < deadline, f"no shared assignment: {latest}"
            for i, m in enumerate(members):
                try:
                    line = m.lines.get(timeout=0.05)
                except queue.Empty:
                    continue
                assert line is not None, f"member {i} exited: {m.stdout}"
                if line.get("event") == "joined":
                    latest[i] = line["assignment"]

        keys = [f"s{i:02d}" for i in range(30)]
        acks = kafkajs(node, "produce", topic=topic, acks=-1, compression="gzip",
                       messages=messages_for(keys, "shared"))
        assert all(a["errorCode"] == 0 for a in acks)
        high = ends(node, topic)
        assert sum(high.values()) == 30

        # Each member learns its share (the records in its partitions), reads
        # it, commits and leaves.
        for i, m in enumerate(members):
            m.send({"count": sum(high[p] for p in latest[i][topic])})
        results = [m.result(60) for m in members]
    finally:
        for m in members:
            m.kill()
    union = []
    for i, r in enumerate(results):
        assert not r["timedOut"] and r["crashes"] == []
        assert {m["partition"] for m in r["messages"]} <= set(latest[i][topic])
        union += r["messages"]
    keys_read = [m["key"] for m in union]
    assert sorted(keys_read) == keys
    assert {m["key"]: m["value"] for m in union} == {k: f"shared-{k}" for k in keys}
    assert committed(node, group, topic) == high
