"""Durability through kill -9: records a producer saw acknowledged with
acks=all before the node was killed at a random moment are all readable,
byte for byte at their offsets, after it restarts; 50 rounds on one data
directory, with the log growing across them."""
import random
import signal
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import read_to_end

ROUNDS = 50
PER_ROUND = 20_000  # records a round produces at most


def read_everything(node, topic, partitions, starts=None):
    """{(partition, offset): value} from `starts` (offsets; default 0) to the end."""
    return {k: r["value"] for k, r in read_to_end(node, topic, partitions, starts).items()}


def test_acknowledged_records_survive_kill_9(make_node):
    node = make_node()
    topic, partitions = "durable", 3
    admin = AdminClient({"bootstrap.servers": node.kafka})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    rng = random.Random(20261123)
    acked = {}
    ends = {}  # per partition, where the log ended after the last round
    for round_number in range(ROUNDS):
        lock = threading.Lock()
        this_round = {}  # written by the delivery callback, read here: both under poll()

        def delivered(err, msg):
            if err is None:
                with lock:
                    this_round[(msg.partition(), msg.offset())] = msg.value()

        producer = Producer({"bootstrap.servers": node.kafka, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 1,
                             "message.timeout.ms": 5000})
        # Kill at a random moment once acknowledgements flow (a slow, e.g.
        # sanitized, node may take a while to answer its first produce).
        delay = rng.uniform(0.0, 0.5)
        kill_at = None
        give_up = time.monotonic() + 30
        i = 0
        while kill_at is None or time.monotonic() < kill_at:
            assert time.monotonic() < give_up, "no acknowledgement in 30 s"
            if kill_at is None and this_round:
                kill_at = time.monotonic() + delay
            if i >= PER_ROUND:  # bounded: the log is read back every round
                producer.poll(0.01)
                continue
            try:
                producer.produce(topic, value=b"r%d-%d" % (round_number, i),
                                 partition=i % partitions, on_delivery=delivered)
                i += 1
            except BufferError:  # the client's queue is full: let acknowledgements in
                producer.poll(0.01)
            producer.poll(0)
        node.stop(sig=signal.SIGKILL)
        with lock:
            acked.update(this_round)  # only what was acknowledged before the kill
        producer.flush(0)
        node.start()
        # This round's records (earlier ones were checked, and are again at the end).
        stored = read_everything(node, topic, partitions, ends)
        lost = {k: v for k, v in this_round.items() if stored.get(k) != v}
        assert lost == {}, f"round {round_number}: {len(lost)} acknowledged records lost"
        for (p, offset) in stored:
            ends[p] = max(ends.get(p, 0), offset + 1)
    assert len(acked) > ROUNDS  # the rounds did produce
    stored = read_everything(node, topic, partitions)
    lost = {k: v for k, v in acked.items() if stored.get(k) != v}
    assert lost == {}, f"{len(lost)} acknowledged records lost by the end"
    node.assert_no_sanitizer_report()
