"""Skein's own topic rules on the MQTT face (DESIGN.md §1: UTF-8, 1..250
bytes, no empty level; `*` and `>` are Skein's wildcards). A topic MQTT
allows but Skein does not is refused: MQTT 5 gets PUBACK / PUBREC with
reason 0x90 (topic name invalid) for QoS 1 and 2, and the connection goes
on; a QoS 0 PUBLISH, which has no answer, gets DISCONNECT 0x90; MQTT 3.1.1,
which has no reason codes, is disconnected. Nothing refused is delivered.
MQTT filters keep MQTT's meaning: `*` and `>` in an MQTT filter are not
wildcards [MQTT-4.7.3-4]."""
import pytest

from mqtt_support import (  # noqa: F401  (broker is a fixture)
    DISCONNECT, PUBACK, PUBREC, SUBACK, broker, connected, publish_packet,
    subscribe_packet)

SKEIN_INVALID = {
    "empty-level": "sk/a//b",
    "leading-slash": "/sk/a",
    "trailing-slash": "sk/a/",
    "251-bytes": "sk/" + "x" * 248,
    "star": "sk/a*/b",
    "star-level": "sk/*/b",
    "greater-than": "sk/a/>",
    "greater-than-inside": "sk/a>b",
}


@pytest.fixture
def watcher(broker):
    """A `#` subscriber: whatever is refused must never reach it."""
    c = connected(broker, 5)
    c.subscribe(("#", 1))
    yield c
    c.close()


def assert_nothing_leaked_but(broker, watcher, expected):
    """What the `#` watcher got before a sentinel published afterwards."""
    pub = connected(broker, 4)
    pub.publish("sk/sentinel", b"s", qos=1)
    got = [(p.topic, p.payload) for p in watcher.publishes_until("sk/sentinel")]
    assert got == expected, f"delivered: {got}"
    pub.disconnect()


def assert_nothing_leaked(broker, watcher):
    assert_nothing_leaked_but(broker, watcher, [])


@pytest.mark.parametrize("qos", [1, 2])
@pytest.mark.parametrize("name", SKEIN_INVALID)
def test_v5_qos1_and_qos2_publish_to_a_skein_invalid_topic_gets_0x90(broker, watcher, name, qos):
    """MQTT 5: PUBACK / PUBREC 0x90 (topic name invalid) with the packet
    identifier, the connection stays usable, nothing is delivered."""
    c = connected(broker, 5)
    c.send(publish_packet(SKEIN_INVALID[name], b"refused", qos=qos, packet_id=77))
    ack = c.expect(PUBACK if qos == 1 else PUBREC)
    assert ack.packet_id == 77 and ack.reason == 0x90, ack
    assert c.is_open()
    assert c.publish("sk/ok", b"fine", qos=qos).reason == 0x00  # the connection still publishes
    assert_nothing_leaked_but(broker, watcher, [("sk/ok", b"fine")])
    c.disconnect()


@pytest.mark.parametrize("name", SKEIN_INVALID)
def test_v5_qos0_publish_to_a_skein_invalid_topic_gets_disconnect_0x90(broker, watcher, name):
    """MQTT 5, QoS 0: DISCONNECT 0x90, then the close; nothing delivered."""
    c = connected(broker, 5)
    c.send(publish_packet(SKEIN_INVALID[name], b"refused"))
    packets = c.expect_closed()
    assert [(p.type, p.reason) for p in packets] == [(DISCONNECT, 0x90)], packets
    assert_nothing_leaked(broker, watcher)


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("name", SKEIN_INVALID)
def test_v311_publish_to_a_skein_invalid_topic_disconnects(broker, watcher, name, qos):
    """MQTT 3.1.1 has no refusal code: the connection is closed, with no
    PUBACK (3.1.1 [MQTT-3.3.5-2] allows either a positive acknowledgement
    or a close; Skein closes); nothing delivered."""
    c = connected(broker, 4)
    c.send(publish_packet(SKEIN_INVALID[name], b"refused", qos=qos, packet_id=5 if qos else None, version=4))
    packets = c.expect_closed()
    assert packets == [], packets
    assert_nothing_leaked(broker, watcher)


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_longest_valid_topic_is_accepted(broker, watcher, version):
    """250 bytes, the longest Skein topic, is published and delivered."""
    topic = "sk/" + "y" * 247
    assert len(topic.encode()) == 250
    c = connected(broker, version)
    ack = c.publish(topic, b"longest", qos=1)
    assert ack.reason == 0x00
    assert_nothing_leaked_but(broker, watcher, [(topic, b"longest")])
    c.disconnect()


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_skein_wildcard_characters_in_an_mqtt_filter_are_not_wildcards(broker, version):
    """[MQTT-4.7.3-4] (no substitution of characters) with Skein's
    translation of filters: an MQTT filter containing `*` or `>` is either
    refused (SUBACK 0x80 or more) or subscribes to those literal characters,
    which no topic can contain: it never matches `sk/x` or `sk/x/y`."""
    c = connected(broker, version)
    c.send(subscribe_packet(9, [("sk/*", 1), ("sk/>", 1), ("sk/x*", 1), ("sk/sentinel", 1)], version))
    ack = c.expect(SUBACK)
    assert ack.packet_id == 9 and ack.reasons[3] == 1
    assert all(r in (0, 1) or r >= 0x80 for r in ack.reasons[:3]), ack
    pub = connected(broker, version)
    for topic in ["sk/x", "sk/x/y", "sk/xa"]:
        pub.publish(topic, b"must not match", qos=1)
    pub.publish("sk/sentinel", b"s", qos=1)
    assert [p.topic for p in c.publishes_until("sk/sentinel")] == []
    c.disconnect()
    pub.disconnect()


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_mqtt_filter_with_an_empty_level_is_refused(broker, version):
    """An MQTT filter with an empty level (`sk//x`, `/sk/#`) can match no
    Skein topic: the SUBACK refuses it (5.0: 0x8F topic filter invalid, or
    0x80 or more; 3.1.1: 0x80) and the connection goes on."""
    c = connected(broker, version)
    reasons = c.subscribe(("sk//x", 1), ("/sk/#", 1), ("sk/ok", 1))
    assert reasons[0] >= 0x80 and reasons[1] >= 0x80 and reasons[2] == 1, reasons
    assert c.is_open()
    c.disconnect()
