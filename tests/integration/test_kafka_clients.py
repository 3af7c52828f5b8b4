"""The Kafka face with confluent-kafka-python and kafka-python, unchanged:
idempotent acks=all production across partitions, consumption of every
record exactly once, restart with nothing lost, the AdminClient's topic and
config calls, SASL PLAIN, and the errors a client must see (oversized
batches)."""
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic


def admin(node):
    return AdminClient({"bootstrap.servers": node.kafka})


def produce(node, topic, count, partitions, **config):
    """Keyed records spread by key; returns {(partition, offset): value}."""
    acked = {}
    failures = []

    def report(err, msg):
        if err is not None:
            failures.append(err)
        else:
            acked[(msg.partition(), msg.offset())] = msg.value()

    producer = Producer({"bootstrap.servers": node.kafka, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 5, **config})
    for i in range(count):
        producer.produce(topic, key=b"k%d" % i, value=b"value-%d" % i,
                         partition=i % partitions, on_delivery=report)
        if i % 5000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    assert failures == []
    return acked


def consume_assigned(node, topic, partitions, expected, timeout=60):
    """Reads every partition from the beginning without a group; returns
    {(partition, offset): value} and fails on any duplicate."""
    consumer = Consumer({"bootstrap.servers": node.kafka, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = {}
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                key = (msg.partition(), msg.offset())
                assert key not in seen, f"record {key} read twice"
                seen[key] = msg.value()
    finally:
        consumer.close()
    return seen


def test_idempotent_acks_all_records_are_each_read_once_and_survive_restart(make_node):
    node = make_node()
    topic, partitions, count = "events", 6, 100_000
    client = admin(node)  # kept: the futures die with their client
    client.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    acked = produce(node, topic, count, partitions)
    assert len(acked) == count
    # Offsets per partition are dense, from 0.
    for p in range(partitions):
        offsets = sorted(o for (q, o) in acked if q == p)
        assert offsets == list(range(len(offsets)))
    assert consume_assigned(node, topic, partitions, count) == acked

    node.stop()
    node.start()
    assert consume_assigned(node, topic, partitions, count) == acked
    node.assert_no_sanitizer_report()


def test_admin_client_creates_describes_alters_grows_and_deletes_topics(node):
    client = admin(node)
    client.create_topics([NewTopic("admin-t", 3, 1, config={"retention.ms": "3600000",
                                                             "cleanup.policy": "compact"})])[
        "admin-t"].result(30)
    topics = client.list_topics(timeout=10).topics
    assert len(topics["admin-t"].partitions) == 3

    with pytest.raises(KafkaException) as exists:
        client.create_topics([NewTopic("admin-t", 1, 1)])["admin-t"].result(30)
    assert exists.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    with pytest.raises(KafkaException) as replicas:
        client.create_topics([NewTopic("replicated", 1, 3)])["replicated"].result(30)
    assert replicas.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR
    with pytest.raises(KafkaException) as bad_config:
        client.create_topics([NewTopic("badcfg", 1, 1, config={"retention.ms": "soon"})])[
            "badcfg"].result(30)
    assert bad_config.value.args[0].code() == KafkaError.INVALID_CONFIG

    resource = ConfigResource("topic", "admin-t")
    configs = client.describe_configs([resource])[resource].result(30)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "compact"
    assert configs["segment.bytes"].is_default

    client.create_partitions([NewPartitions("admin-t", 5)])["admin-t"].result(30)
    assert len(client.list_topics(timeout=10).topics["admin-t"].partitions) == 5
    with pytest.raises(KafkaException) as shrink:
        client.create_partitions([NewPartitions("admin-t", 2)])["admin-t"].result(30)
    assert shrink.value.args[0].code() == KafkaError.INVALID_PARTITIONS

    client.delete_topics(["admin-t"])["admin-t"].result(30)
    assert "admin-t" not in client.list_topics(timeout=10).topics
    with pytest.raises(KafkaException) as missing:
        client.delete_topics(["admin-t"])["admin-t"].result(30)
    assert missing.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_incremental_alter_configs_changes_a_stream(node):
    client = admin(node)
    client.create_topics([NewTopic("alter-t", 1, 1)])["alter-t"].result(30)
    # confluent-kafka 1.7 and kafka-python 2.0 have only the legacy
    # AlterConfigs: the incremental request is written by hand below.
    resource = ConfigResource("topic", "alter-t")
    before = client.describe_configs([resource])[resource].result(30)
    assert before["retention.ms"].value == "604800000"
    _incremental_alter(node, "alter-t", [("retention.ms", 0, "1000"), ("cleanup.policy", 2,
                                                                      "compact")])
    after = client.describe_configs([resource])[resource].result(30)
    assert after["retention.ms"].value == "1000"
    assert after["cleanup.policy"].value == "compact,delete"


def _incremental_alter(node, topic, changes):
    """IncrementalAlterConfigs v0 over a raw socket: (name, op, value) changes."""
    import socket
    import struct

    def string(s):
        b = s.encode()
        return struct.pack(">h", len(b)) + b

    body = struct.pack(">i", 1)  # one resource
    body += struct.pack(">b", 2) + string(topic)
    body += struct.pack(">i", len(changes))
    for name, op, value in changes:
        body += string(name) + struct.pack(">b", op) + string(value)
    body += struct.pack(">?", False)  # validate_only
    header = struct.pack(">hhi", 44, 0, 7) + string("test")
    frame = header + body
    host, port = node.kafka.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _read(sock, 4))[0]
        answer = _read(sock, size)
    correlation, throttle, count = struct.unpack(">iii", answer[:12])
    assert correlation == 7 and count == 1
    error = struct.unpack(">h", answer[12:14])[0]
    assert error == 0, answer


def _read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def test_a_batch_over_max_message_bytes_is_refused(node):
    client = admin(node)
    client.create_topics([NewTopic("small", 1, 1, config={"max.message.bytes": "2000"})])[
        "small"].result(30)
    errors = []
    producer = Producer({"bootstrap.servers": node.kafka, "message.max.bytes": 100000,
                         "compression.type": "none"})
    producer.produce("small", value=b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    producer.produce("small", value=b"fits", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert errors[1] is None


def test_sasl_plain_login_then_produce_and_consume(node):
    config = {"bootstrap.servers": node.kafka, "security.protocol": "SASL_PLAINTEXT",
              "sasl.mechanisms": "PLAIN", "sasl.username": "alice", "sasl.password": "secret"}
    producer = Producer(config)
    producer.produce("sasl-t", value=b"over sasl")
    assert producer.flush(30) == 0
    consumer = Consumer({**config, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition("sasl-t", 0, 0)])
    msg = None
    deadline = time.monotonic() + 30
    while msg is None and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
    consumer.close()
    assert msg is not None and msg.value() == b"over sasl"


def test_kafka_python_produces_and_consumes(node):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic
    admin_client = KafkaAdminClient(bootstrap_servers=node.kafka)
    admin_client.create_topics([KNewTopic("kp", num_partitions=2, replication_factor=1)])
    assert "kp" in admin_client.list_topics()
    admin_client.close()

    producer = KafkaProducer(bootstrap_servers=node.kafka, acks="all", compression_type="gzip")
    futures = [producer.send("kp", key=b"k%d" % i, value=b"v%d" % i, partition=i % 2)
               for i in range(1000)]
    offsets = [f.get(timeout=30) for f in futures]
    producer.close()
    assert sorted((m.partition, m.offset) for m in offsets) == sorted(
        [(0, o) for o in range(500)] + [(1, o) for o in range(500)])

    consumer = KafkaConsumer(bootstrap_servers=node.kafka, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    consumer.assign([KTopicPartition("kp", 0), KTopicPartition("kp", 1)])
    values = sorted(m.value for m in consumer)
    consumer.close()
    assert values == sorted(b"v%d" % i for i in range(1000))


def test_the_internal_offsets_stream_is_listed_internal_and_protected(node):
    client = admin(node)
    topics = client.list_topics(timeout=10).topics
    assert "__consumer_offsets" in topics
    with pytest.raises(KafkaException) as deleting:
        client.delete_topics(["__consumer_offsets"])["__consumer_offsets"].result(30)
    assert deleting.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    errors = []
    producer = Producer({"bootstrap.servers": node.kafka, "message.send.max.retries": 0})
    producer.produce("__consumer_offsets", key=b"junk", value=b"junk",
                     on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == KafkaError.TOPIC_EXCEPTION
    assert "__consumer_offsets" in client.list_topics(timeout=10).topics
