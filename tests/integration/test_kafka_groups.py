"""Consumer groups with real clients: a group of three shares the partitions
and reads each record once, a member leaving triggers a rebalance with
nothing lost or read twice after its commits, committed offsets survive a
restart of the node, static members keep their partitions, and the group
admin calls (list, describe, offsets, delete) of kafka-python."""
import threading

import pytest
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

FAST_GROUPS = ("--kafka-group-initial-rebalance-delay-ms", "300")


def create(node, topic, partitions):
    client = AdminClient({"bootstrap.servers": node.kafka})
    client.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def produce(node, topic, count, partitions):
    producer = Producer({"bootstrap.servers": node.kafka, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, key=b"%d" % i, value=b"%d" % i, partition=i % partitions)
        if i % 5000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def group_consumer(node, group, name, **extra):
    return Consumer({"bootstrap.servers": node.kafka, "group.id": group, "client.id": name,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "session.timeout.ms": 10000, "heartbeat.interval.ms": 500, **extra})


def commit_before_revoke(consumer, partitions):
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as e:
        # Nothing read since the last commit: nothing to commit.
        assert e.args[0].code() == KafkaError._NO_OFFSET, e


def test_three_consumers_share_the_partitions_and_one_leaving_loses_nothing(make_node):
    node = make_node(*FAST_GROUPS)
    topic, partitions, count = "shared", 6, 100_000
    create(node, topic, partitions)
    produce(node, topic, count, partitions)

    seen = {}  # (partition, offset) -> consumer names
    lock = threading.Lock()
    assignments = {}
    leaver_done = threading.Event()

    def run(name, leave_after):
        consumer = group_consumer(node, "sharers", name, **{"enable.auto.offset.store": False})
        # Commit what was read before giving partitions up: nothing is then
        # read twice across the rebalance.
        consumer.subscribe([topic], on_revoke=commit_before_revoke)
        read = 0
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline:
                with lock:
                    if len(seen) >= count:
                        break
                batch = [m for m in consumer.consume(2000, 0.5) if not m.error()]
                with lock:
                    for m in batch:
                        seen.setdefault((m.partition(), m.offset()), []).append(name)
                        # Only what was processed is committed (librdkafka
                        # would otherwise store offsets of messages it drops
                        # when a rebalance interrupts a batch).
                        consumer.store_offsets(message=m)
                if batch:
                    consumer.commit(asynchronous=False)
                    read += len(batch)
                    assignments[name] = sorted(p.partition for p in consumer.assignment())
                if leave_after is not None and read >= leave_after:
                    break
        finally:
            consumer.close()  # sends LeaveGroup
            if leave_after is not None:
                leaver_done.set()

    threads = [threading.Thread(target=run, args=("c0", None)),
               threading.Thread(target=run, args=("c1", None)),
               threading.Thread(target=run, args=("c2", 15_000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert leaver_done.is_set()
    missing = {}
    for p in range(partitions):
        got = sum(1 for (q, o) in seen if q == p)
        if got < count // partitions:
            missing[p] = count // partitions - got
    assert len(seen) == count, f"never read, by partition: {missing}; assignments {assignments}"
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    assert twice == {}, f"{len(twice)} records read twice, e.g. {list(twice.items())[:3]}"
    # Every member got some of the work at some point.
    assert {names[0] for names in seen.values()} == {"c0", "c1", "c2"}
    node.assert_no_sanitizer_report()


def test_committed_offsets_survive_a_restart_of_the_node(make_node):
    node = make_node(*FAST_GROUPS)
    create(node, "resume", 1)
    produce(node, "resume", 1000, 1)
    consumer = group_consumer(node, "resumers", "first")
    consumer.subscribe(["resume"])
    read = []
    deadline = time.monotonic() + 30
    while len(read) < 600 and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            read.append(m.offset())
    assert read == list(range(600))
    consumer.commit(message=m, asynchronous=False)  # commits offset 600
    consumer.close()

    node.stop()
    node.start()
    consumer = group_consumer(node, "resumers", "second")
    committed = consumer.committed([TopicPartition("resume", 0)], timeout=10)
    assert committed[0].offset == 600
    consumer.subscribe(["resume"])
    rest = []
    deadline = time.monotonic() + 30
    while len(rest) < 400 and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            rest.append(m.offset())
    consumer.close()
    assert rest == list(range(600, 1000))


def test_a_static_member_that_restarts_gets_its_partitions_back(make_node):
    node = make_node(*FAST_GROUPS)
    create(node, "static", 4)
    produce(node, "static", 400, 4)

    def member(instance):
        c = group_consumer(node, "statics", instance, **{"group.instance.id": instance})
        c.subscribe(["static"])
        return c

    def settle(consumers):
        """Polls every member (a rebalance needs them all) until the four
        partitions are split among them; returns each one's partitions."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for c in consumers:
                c.poll(0.1)
            parts = [sorted(p.partition for p in c.assignment()) for c in consumers]
            if sorted(sum(parts, [])) == [0, 1, 2, 3] and all(parts):
                return parts
        raise AssertionError(f"never settled: {parts}")

    a, b = member("static-a"), member("static-b")
    first_a, first_b = settle([a, b])
    # A static member closing sends no LeaveGroup; back within its session
    # timeout under the same instance id, it takes its old place and gets
    # its old partitions, and the other member keeps its own.
    a.close()
    a = member("static-a")
    again_a, again_b = settle([a, b])
    assert (again_a, again_b) == (first_a, first_b)
    a.close()
    b.close()


def test_kafka_python_group_consumer_and_group_admin(make_node):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTopicPartition
    from kafka.admin import KafkaAdminClient

    node = make_node(*FAST_GROUPS)
    create(node, "kpg", 2)
    producer = KafkaProducer(bootstrap_servers=node.kafka, acks="all")
    for i in range(200):
        producer.send("kpg", key=b"%d" % i, value=b"%d" % i, partition=i % 2)
    producer.flush(30)
    producer.close()

    consumer = KafkaConsumer("kpg", bootstrap_servers=node.kafka, group_id="kp-group",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=8000)
    values = set()
    for message in consumer:
        values.add(message.value)
        if len(values) == 200:
            break
    consumer.commit()
    assert values == {b"%d" % i for i in range(200)}

    admin = KafkaAdminClient(bootstrap_servers=node.kafka)
    groups = dict(admin.list_consumer_groups())
    assert groups.get("kp-group") == "consumer"
    described = admin.describe_consumer_groups(["kp-group"])[0]
    assert described.state == "Stable"
    assert len(described.members) == 1
    offsets = admin.list_consumer_group_offsets("kp-group")
    assert {tp.partition: meta.offset for tp, meta in offsets.items()} == {0: 100, 1: 100}
    consumer.close()

    # Empty now: it can be deleted, with its offsets.
    deadline = time.monotonic() + 20
    while admin.describe_consumer_groups(["kp-group"])[0].state != "Empty":
        assert time.monotonic() < deadline, "the group never emptied"
        time.sleep(0.1)  # polling a state, bounded by the deadline above
    result = dict(admin.delete_consumer_groups(["kp-group"]))
    assert result["kp-group"] is None or getattr(result["kp-group"], "errno", 0) == 0
    assert "kp-group" not in dict(admin.list_consumer_groups())
    admin.close()
    check = KafkaConsumer(bootstrap_servers=node.kafka, group_id="kp-group",
                          enable_auto_commit=False)
    assert check.committed(KTopicPartition("kpg", 0)) is None
    check.close()


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_each_assignor_splits_the_partitions_and_a_third_member_joins(make_node, strategy):
    """The assignors run in the clients; the coordinator passes their
    metadata through. Two members split six partitions, then a third joins
    (cooperative-sticky: in two incremental rebalances) and all records are
    read exactly once."""
    node = make_node(*FAST_GROUPS)
    topic = "assign-" + strategy
    create(node, topic, 6)
    produce(node, topic, 600, 6)
    consumers = [group_consumer(node, "g-" + strategy, f"m{i}",
                                **{"partition.assignment.strategy": strategy,
                                   "enable.auto.offset.store": False})
                 for i in range(3)]
    seen = {}

    def poll(active):
        for c in active:
            for m in c.consume(100, 0.1):
                if not m.error():
                    seen.setdefault((m.partition(), m.offset()), []).append(c)
                    c.store_offsets(message=m)
            try:
                c.commit(asynchronous=False)
            except KafkaException as e:
                # Nothing new to commit; or the group is between JoinGroup and
                # SyncGroup, when Kafka refuses commits (the offsets stay stored
                # and go with the next commit, or the one before a revoke).
                assert e.args[0].code() in (KafkaError._NO_OFFSET,
                                            KafkaError.REBALANCE_IN_PROGRESS), e

    def split(active):
        return [sorted(p.partition for p in c.assignment()) for c in active]

    # Closed while the node is still up, even when an assertion fails: a
    # librdkafka consumer left open blocks its destructor once the node is gone.
    try:
        active = consumers[:2]
        for c in active:
            c.subscribe([topic], on_revoke=commit_before_revoke)
        deadline = time.monotonic() + 30
        while sorted(sum(split(active), [])) != list(range(6)) or not all(split(active)):
            assert time.monotonic() < deadline, f"two members never split: {split(active)}"
            poll(active)
        consumers[2].subscribe([topic], on_revoke=commit_before_revoke)
        active = consumers
        deadline = time.monotonic() + 30
        while (sorted(sum(split(active), [])) != list(range(6)) or not all(split(active))
               or len(seen) < 600):
            assert time.monotonic() < deadline, f"three members never split: {split(active)}"
            poll(active)
        assert len(seen) == 600
        assert all(len(v) == 1 for v in seen.values()), "a record was read twice"
    finally:
        for c in consumers:
            c.close()
