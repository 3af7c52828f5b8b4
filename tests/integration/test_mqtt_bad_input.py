"""Bad input on the MQTT listener (DESIGN.md §2: a clear protocol-level error
or a closed connection, never a crash, never harm to another client).

Each test connects a bystander first, sends its offence on another
connection, checks that connection is closed (MQTT 5.0: after a DISCONNECT
with the reason code the specification gives, 0x81 malformed packet, 0x82
protocol error, ... [MQTT-4.13.1-1] [MQTT-4.13.2-1]; MQTT 3.1.1: closed,
nothing sent [MQTT-4.8.0-1]), then that the bystander still receives. The
statements each case breaks are named in its id and docstring; a failure
shows what came back."""
import random

import pytest

from mqtt_support import (  # noqa: F401  (broker is a fixture)
    CONNACK, DISCONNECT, PINGREQ, PUBACK, PUBREC, SUBACK, RawClient, broker, connect_packet,
    connected, fixed, publish_packet, raw, string, subscribe_packet, u16, unique, unsubscribe_packet,
    varint)


@pytest.fixture
def bystander(broker):
    """A v5 session subscribed to by/#, connected before the offence."""
    sub = connected(broker, 5)
    sub.subscribe(("by/#", 1))
    yield sub
    sub.close()


def assert_alive(broker, bystander):
    """The node still serves: a new client connects and publishes, the
    bystander (connected before the offence) receives."""
    pub = connected(broker, 4)
    pub.publish("by/alive", b"still here", qos=1)
    p = bystander.next_publish()
    assert (p.topic, p.payload) == ("by/alive", b"still here")
    assert bystander.is_open()
    pub.disconnect()


def offend(broker, version, data, connect=True):
    """Sends `data` on a new connection (after a successful CONNECT if
    `connect`); returns what the server sent before closing it."""
    c = raw(broker, version)
    if connect:
        c.connect(unique())
    c.send(data)
    return c.expect_closed(timeout=10)


def assert_refused(packets, version, reasons):
    """v5: exactly one DISCONNECT with one of `reasons`, then the close;
    3.1.1: a close with nothing sent."""
    reasons = (reasons,) if isinstance(reasons, int) else reasons
    got = [(p.name, hex(p.reason) if hasattr(p, "reason") else None) for p in packets]
    if version == 5:
        assert len(packets) == 1 and packets[0].type == DISCONNECT and packets[0].reason in reasons, \
            f"expected DISCONNECT {[hex(r) for r in reasons]} then close, got {got}"
        assert "session_expiry_interval" not in packets[0].properties  # [MQTT-3.14.2-2]
    else:
        assert packets == [], f"expected a close with nothing sent, got {got}"


# --- before CONNECT -----------------------------------------------------------------

FIRST_PACKETS = {
    "publish": publish_packet("by/x", b"x", version=4),
    "subscribe": subscribe_packet(1, [("by/#", 0)], 4),
    "pingreq": fixed(PINGREQ, 0, b""),
    "connack": fixed(CONNACK, 0, b"\x00\x00"),
    # whole "packets" as framed by their first two bytes, so that a server
    # that reads a whole packet before judging it is not left waiting
    # ("GET" reads as a packet of 2 + 0x45 = 71 bytes: the request is 71 long)
    "http": b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: mqtt-test/1.0 (padded)\r\n\r\n",
    "garbage": bytes([0x9a, 0x3e]) + bytes(random.Random(7).randrange(256) for _ in range(62)),
}


assert all(len(p) == 2 + p[1] for p in FIRST_PACKETS.values()), "framing of FIRST_PACKETS"


@pytest.mark.parametrize("first", FIRST_PACKETS)
def test_first_packet_not_connect_closes(broker, bystander, first):
    """3.1.1 and 5.0 [MQTT-3.1.0-1] [MQTT-3.2.0-1] [MQTT-3.14.0-1]: anything
    but CONNECT first closes the connection, no CONNACK nor DISCONNECT sent."""
    packets = offend(broker, 5, FIRST_PACKETS[first], connect=False)
    assert packets == [], packets
    assert_alive(broker, bystander)


def _connect_body(flags, payload, version=4, level=None):
    body = string("MQTT") + bytes([level or version, flags]) + u16(60)
    if version == 5:
        body += b"\x00"
    return fixed(1, 0, body + payload)


BAD_CONNECTS = [
    # (id, version, bytes, statements)
    ("reserved-flag-v311", 4, _connect_body(0x03, string("c1")), "3.1.1 [MQTT-3.1.2-3]"),
    ("reserved-flag-v5", 5, _connect_body(0x03, string("c1"), 5), "5.0 [MQTT-3.1.2-3]"),
    ("will-qos-without-will-v311", 4, _connect_body(0x0A, string("c1")), "3.1.1 [MQTT-3.1.2-13]"),
    ("will-qos-without-will-v5", 5, _connect_body(0x0A, string("c1"), 5), "5.0 [MQTT-3.1.2-11]"),
    ("will-retain-without-will-v311", 4, _connect_body(0x22, string("c1")), "3.1.1 [MQTT-3.1.2-15]"),
    ("will-retain-without-will-v5", 5, _connect_body(0x22, string("c1"), 5), "5.0 [MQTT-3.1.2-13]"),
    ("will-qos-3-v311", 4, _connect_body(0x1E, string("c1") + string("w/t") + string("x")),
     "3.1.1 [MQTT-3.1.2-14]"),
    ("will-qos-3-v5", 5, _connect_body(0x1E, string("c1") + b"\x00" + string("w/t") + string("x"), 5),
     "5.0 [MQTT-3.1.2-12]"),
    ("password-without-user-v311", 4, _connect_body(0x42, string("c1") + string("pw")),
     "3.1.1 [MQTT-3.1.2-22]"),
    ("will-fields-missing-v311", 4, _connect_body(0x06, string("c1")), "3.1.1 [MQTT-3.1.2-9]"),
    ("client-id-bad-utf8-v311", 4, _connect_body(0x02, string(b"c\xff\xfe")), "3.1.1 [MQTT-1.5.3-1]"),
    ("client-id-bad-utf8-v5", 5, _connect_body(0x02, string(b"c\xed\xa0\x80"), 5), "5.0 [MQTT-1.5.4-1]"),
    ("client-id-nul-v5", 5, _connect_body(0x02, string(b"c\x00d"), 5), "5.0 [MQTT-1.5.4-2]"),
    ("client-id-past-the-end-v311", 4, _connect_body(0x02, u16(40) + b"short"), "3.1.1 [MQTT-3.1.4-1]"),
    ("trailing-bytes-v311", 4, _connect_body(0x02, string("c1") + b"\x00\x01"), "3.1.1 [MQTT-3.1.4-1]"),
    ("will-topic-wildcard-v5", 5, _connect_body(0x06, string("c1") + b"\x00" + string("w/#") + string("x"), 5),
     "5.0 [MQTT-3.1.3-11] [MQTT-3.3.2-2]"),
    ("properties-past-the-end-v5", 5, fixed(1, 0, string("MQTT") + b"\x05\x02\x00\x3c\x10\x11"),
     "5.0 [MQTT-3.1.4-1]"),
]


@pytest.mark.parametrize("name,version,data,statements", BAD_CONNECTS, ids=[b[0] for b in BAD_CONNECTS])
def test_malformed_connect_closes_without_accepting(broker, bystander, name, version, data, statements):
    """[MQTT-3.1.4-1] (both) and the statement in the id: a CONNECT that
    breaks the format closes the connection, without a CONNACK in 3.1.1 and
    at most a CONNACK with a reason code of 0x80 or more in 5.0 (3.1.1's
    0x02, identifier rejected, accepted for a bad client identifier)."""
    packets = offend(broker, version, data, connect=False)
    got = [(p.name, getattr(p, "reason", None)) for p in packets]
    if version == 5:
        assert all(p.type == CONNACK and p.reason >= 0x80 for p in packets) and len(packets) <= 1, got
    elif name.startswith("client-id"):
        assert packets == [] or [(p.type, p.reason) for p in packets] == [(CONNACK, 0x02)], got
    else:
        assert packets == [], got
    assert_alive(broker, bystander)


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_second_connect_closes(broker, bystander, version):
    """3.1.1 and 5.0 [MQTT-3.1.0-2]: a second CONNECT is a protocol error
    (5.0: DISCONNECT 0x82)."""
    packets = offend(broker, version, connect_packet(unique(), version))
    assert_refused(packets, version, 0x82)
    assert_alive(broker, bystander)


# --- framing --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_remaining_length_of_five_bytes_closes(broker, bystander, version):
    """5.0 [MQTT-1.5.5-1], 3.1.1 2.2.3 (at most four bytes) and
    [MQTT-4.8.0-1]: malformed packet (5.0: DISCONNECT 0x81)."""
    packets = offend(broker, version, b"\x30\xff\xff\xff\xff\x01" + b"\x00" * 16)
    assert_refused(packets, version, 0x81)
    assert_alive(broker, bystander)


def test_remaining_length_not_minimal_closes(broker, bystander):
    """5.0 [MQTT-1.5.5-1]: a Variable Byte Integer must use the fewest bytes
    (PINGREQ with remaining length 0x80 0x00): DISCONNECT 0x81."""
    packets = offend(broker, 5, b"\xc0\x80\x00")
    assert_refused(packets, 5, 0x81)
    assert_alive(broker, bystander)


def _server_maximum(broker):
    c = raw(broker, 5)
    maximum = c.connect(unique()).properties.get("maximum_packet_size")
    c.disconnect()
    return maximum


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_packet_larger_than_the_server_maximum_closes(broker, bystander, version):
    """5.0 [MQTT-3.2.2-15] and 3.2.2.3.6: a packet over the Maximum Packet
    Size the server announced is refused with DISCONNECT 0x95 (packet too
    large); 3.1.1 clients, told nothing, are closed at the same limit."""
    maximum = _server_maximum(broker)
    assert maximum, "the server announces a Maximum Packet Size"
    topic = "by/big"
    overhead = 1 + len(varint(maximum)) + 2 + len(topic) + (1 if version == 5 else 0)
    data = publish_packet(topic, b"x" * (maximum + 1 - overhead), version=version)
    assert len(data) == maximum + 1
    packets = offend(broker, version, data)
    assert_refused(packets, version, 0x95)
    assert_alive(broker, bystander)


def test_packet_just_at_the_server_maximum_is_accepted(broker, bystander):
    """5.0 3.2.2.3.6: Maximum Packet Size is the largest accepted packet: one
    of exactly that size is delivered."""
    maximum = _server_maximum(broker)
    assert maximum
    topic = "by/fits"
    overhead = 1 + len(varint(maximum)) + 2 + len(topic) + 2 + 1
    data = publish_packet(topic, b"y" * (maximum - overhead), qos=1, packet_id=1)
    assert len(data) == maximum
    c = connected(broker, 5)
    c.send(data)
    assert c.wait_for(PUBACK).reason < 0x80
    assert len(bystander.next_publish().payload) == maximum - overhead
    c.disconnect()


def test_announced_huge_packet_is_refused_before_its_body(broker, bystander):
    """5.0 3.2.2.3.6: a fixed header announcing 200 MB is refused (DISCONNECT
    0x95) without the server waiting for the body."""
    packets = offend(broker, 5, b"\x30" + varint(200_000_000) + b"\x00\x04by/x")
    assert_refused(packets, 5, 0x95)
    assert_alive(broker, bystander)


# --- packet types and reserved flags ---------------------------------------------------

BAD_PACKETS = [
    # (id, version, bytes, v5 reason codes, statements)
    ("type-0-v311", 4, b"\x00\x00", None, "3.1.1 2.2.1 (type 0 reserved) [MQTT-4.8.0-1]"),
    ("type-15-v311", 4, b"\xf0\x00", None, "3.1.1 2.2.1 (type 15 reserved) [MQTT-4.8.0-1]"),
    ("type-0-v5", 5, b"\x00\x00", (0x81, 0x82), "5.0 2.1.2 (type 0 reserved)"),
    ("auth-without-method-v5", 5, b"\xf0\x02\x18\x00", 0x82, "5.0 [MQTT-4.12.0-7]"),
    ("connack-from-client-v5", 5, b"\x20\x03\x00\x00\x00", (0x81, 0x82), "5.0 [MQTT-4.13.1-1]"),
    ("pubrel-flags-0000-v311", 4, b"\x60\x02\x00\x01", None, "3.1.1 [MQTT-3.6.1-1] [MQTT-2.2.2-2]"),
    ("pubrel-flags-0000-v5", 5, b"\x60\x02\x00\x01", 0x81, "5.0 [MQTT-3.6.1-1] [MQTT-2.1.3-1]"),
    ("subscribe-flags-0000-v311", 4, b"\x80\x08\x00\x01\x00\x03by/\x00", None, "3.1.1 [MQTT-3.8.1-1]"),
    ("subscribe-flags-0000-v5", 5, b"\x80\x09\x00\x01\x00\x00\x03by/\x00", 0x81, "5.0 [MQTT-3.8.1-1]"),
    ("unsubscribe-flags-0000-v311", 4, b"\xa0\x07\x00\x01\x00\x03by/", None, "3.1.1 [MQTT-3.10.1-1]"),
    ("unsubscribe-flags-0000-v5", 5, b"\xa0\x08\x00\x01\x00\x00\x03by/", 0x81, "5.0 [MQTT-3.10.1-1]"),
    ("pingreq-flags-0001-v311", 4, b"\xc1\x00", None, "3.1.1 [MQTT-2.2.2-1] [MQTT-2.2.2-2]"),
    ("pingreq-flags-0001-v5", 5, b"\xc1\x00", 0x81, "5.0 [MQTT-2.1.3-1]"),
    ("puback-flags-0010-v5", 5, b"\x42\x02\x00\x01", 0x81, "5.0 [MQTT-2.1.3-1]"),
    ("disconnect-flags-0001-v311", 4, b"\xe1\x00", None, "3.1.1 [MQTT-3.14.1-1]"),
    ("disconnect-flags-0001-v5", 5, b"\xe1\x00", 0x81, "5.0 [MQTT-3.14.1-1]"),
    ("publish-qos-3-v311", 4, b"\x36\x07\x00\x03by/\x00\x01", None, "3.1.1 [MQTT-3.3.1-4]"),
    ("publish-qos-3-v5", 5, b"\x36\x08\x00\x03by/\x00\x01\x00", 0x81, "5.0 [MQTT-3.3.1-4]"),
    ("publish-qos0-dup-v5", 5, b"\x38\x07\x00\x03by/\x00x", (0x81, 0x82),
     "5.0 [MQTT-3.3.1-2]"),
    ("publish-packet-id-0-v311", 4, publish_packet("by/z", b"x", qos=1, packet_id=0, version=4), None,
     "3.1.1 [MQTT-2.3.1-1]"),
    ("publish-packet-id-0-v5", 5, publish_packet("by/z", b"x", qos=1, packet_id=0), (0x81, 0x82),
     "5.0 [MQTT-2.2.1-3]"),
    ("subscribe-packet-id-0-v5", 5, subscribe_packet(0, [("by/#", 0)], 5), (0x81, 0x82), "5.0 [MQTT-2.2.1-3]"),
    ("publish-topic-past-the-end-v5", 5, b"\x30\x05\x00\x10by/", 0x81, "5.0 [MQTT-1.5.4-1] 1.5.4"),
    ("publish-properties-past-the-end-v5", 5, b"\x30\x06\x00\x03by/\x09", 0x81, "5.0 2.2.2"),
]


@pytest.mark.parametrize("name,version,data,reasons,statements", BAD_PACKETS, ids=[b[0] for b in BAD_PACKETS])
def test_bad_packet_closes_the_connection(broker, bystander, name, version, data, reasons, statements):
    """The statements in the id: reserved packet types and wrong reserved
    flags are malformed packets (5.0: DISCONNECT 0x81, or 0x82 where the
    specification calls it a protocol error); 3.1.1 closes [MQTT-4.8.0-1]."""
    packets = offend(broker, version, data)
    assert_refused(packets, version, reasons or ())
    assert_alive(broker, bystander)


# --- topics, filters, SUBSCRIBE and UNSUBSCRIBE ------------------------------------------

BAD_PUBLISH_TOPICS = [
    ("invalid-utf8", b"by/\xff\xfe", 0x81, "[MQTT-1.5.4-1] / 3.1.1 [MQTT-1.5.3-1]"),
    ("utf16-surrogate", b"by/\xed\xa0\x80", 0x81, "[MQTT-1.5.4-1] / 3.1.1 [MQTT-1.5.3-1]"),
    ("overlong-utf8", b"by/\xc0\xaf", 0x81, "[MQTT-1.5.4-1] / 3.1.1 [MQTT-1.5.3-1]"),
    ("nul", b"by/a\x00b", 0x81, "[MQTT-1.5.4-2] [MQTT-4.7.3-2] / 3.1.1 [MQTT-1.5.3-2]"),
    ("plus-wildcard", b"by/+/x", (0x81, 0x82, 0x90), "[MQTT-3.3.2-2] [MQTT-4.7.0-1] / 3.1.1 [MQTT-4.7.1-1]"),
    ("hash-wildcard", b"by/#", (0x81, 0x82, 0x90), "[MQTT-3.3.2-2] [MQTT-4.7.0-1] / 3.1.1 [MQTT-4.7.1-1]"),
    ("empty", b"", (0x82, 0x90), "[MQTT-4.7.3-1] (5.0: empty topic without a Topic Alias)"),
]


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
@pytest.mark.parametrize("name,topic,reasons,statements", BAD_PUBLISH_TOPICS,
                         ids=[t[0] for t in BAD_PUBLISH_TOPICS])
def test_publish_to_an_invalid_topic_name_closes(broker, bystander, version, qos, name, topic, reasons,
                                                 statements):
    """The statements in the id: a topic name that is not well-formed UTF-8,
    contains U+0000 or a wildcard, or is empty closes the connection (5.0:
    DISCONNECT 0x81 for encoding errors, a protocol error or topic name
    invalid otherwise) and nothing is delivered."""
    packets = offend(broker, version, publish_packet(topic, b"bad", qos=qos, packet_id=1 if qos else None,
                                                     version=version))
    assert_refused(packets, version, reasons)
    assert_alive(broker, bystander)  # the bystander's next message is the sentinel: nothing leaked


def test_subscribe_with_no_filter_closes(broker, bystander):
    """5.0 [MQTT-3.8.3-2]: a SUBSCRIBE with no payload is a protocol error
    (DISCONNECT 0x82)."""
    packets = offend(broker, 5, subscribe_packet(1, [], 5))
    assert_refused(packets, 5, 0x82)
    assert_alive(broker, bystander)


def test_v311_subscribe_with_no_filter_closes(broker, bystander):
    """3.1.1 [MQTT-3.8.3-3] [MQTT-4.8.0-1]."""
    packets = offend(broker, 4, subscribe_packet(1, [], 4))
    assert_refused(packets, 4, ())
    assert_alive(broker, bystander)


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_unsubscribe_with_no_filter_closes(broker, bystander, version):
    """3.1.1 and 5.0 [MQTT-3.10.3-2]: protocol error (5.0: DISCONNECT 0x82)."""
    packets = offend(broker, version, unsubscribe_packet(1, [], version))
    assert_refused(packets, version, 0x82)
    assert_alive(broker, bystander)


BAD_OPTIONS = [
    ("reserved-bits-v311", 4, 0x04, None, "3.1.1 [MQTT-3-8.3-4]"),
    ("qos-3-v311", 4, 0x03, None, "3.1.1 [MQTT-3-8.3-4]"),
    ("reserved-bits-v5", 5, 0xC1, 0x81, "5.0 [MQTT-3.8.3-5]"),
    ("qos-3-v5", 5, 0x03, (0x81, 0x82), "5.0 3.8.3.1 (Maximum QoS 3 is a protocol error)"),
    ("retain-handling-3-v5", 5, 0x31, (0x81, 0x82), "5.0 3.8.3.1 (Retain Handling 3 is a protocol error)"),
]


@pytest.mark.parametrize("name,version,options,reasons,statements", BAD_OPTIONS, ids=[b[0] for b in BAD_OPTIONS])
def test_bad_subscription_options_close(broker, bystander, name, version, options, reasons, statements):
    """The statements in the id: reserved bits of the subscription options
    are malformed; QoS 3 and Retain Handling 3 are protocol errors."""
    packets = offend(broker, version, subscribe_packet(1, [("by/#", options)], version))
    assert_refused(packets, version, reasons or ())
    assert_alive(broker, bystander)


def test_no_local_on_a_shared_subscription_closes(broker, bystander):
    """5.0 [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol
    error (DISCONNECT 0x82)."""
    packets = offend(broker, 5, subscribe_packet(1, [("$share/g/by/#", 0x05)], 5))
    assert_refused(packets, 5, 0x82)
    assert_alive(broker, bystander)


BAD_FILTERS = [(f, v) for f in ["by/#/x", "by/a#", "by/a+", "+by/x", "#/by", "by/\x00", ""] for v in (4, 5)] + \
    [(f, 5) for f in ["$share/g", "$share//by/x", "$share/g+/by"]]  # shared subscriptions are 5.0's


@pytest.mark.parametrize("topic_filter,version", BAD_FILTERS, ids=[f"{f!r}-v{v}" for f, v in BAD_FILTERS])
def test_invalid_topic_filter_is_refused(broker, bystander, version, topic_filter):
    """3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] [MQTT-4.7.3-2];
    5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] [MQTT-4.7.3-2]
    [MQTT-4.8.2-1] [MQTT-4.8.2-2]: an invalid filter is refused, either in
    the SUBACK (0x80 in 3.1.1; 0x8F topic filter invalid, or another code of
    0x80 or more, in 5.0) with the connection left open, or by closing it
    (5.0: after DISCONNECT 0x81, 0x82 or 0x8F); it never subscribes."""
    c = connected(broker, version)
    c.send(subscribe_packet(3, [(topic_filter, 1)], version))
    try:
        first = c.recv(10)
    except AssertionError:  # Closed included
        first = None
    if first is not None and first.type == SUBACK:
        assert first.packet_id == 3 and len(first.reasons) == 1 and first.reasons[0] >= 0x80, first
        assert c.is_open()
        c.disconnect()
    else:
        packets = ([first] if first is not None else []) + c.expect_closed()
        assert_refused(packets, version, (0x81, 0x82, 0x8F))
    assert_alive(broker, bystander)


# --- v5 properties ---------------------------------------------------------------------

BAD_PROPERTIES = [
    ("repeated-message-expiry", b"\x0a\x02\x00\x00\x00\x05\x02\x00\x00\x00\x06", 0x82, "5.0 2.2.2.2 3.3.2.3.3"),
    ("unknown-identifier", b"\x02\x7f\x00", 0x81, "5.0 2.2.2.2"),
    ("session-expiry-in-publish", b"\x05\x11\x00\x00\x00\x05", 0x81, "5.0 2.2.2.2"),
    ("subscription-identifier-from-client", b"\x02\x0b\x07", (0x81, 0x82), "5.0 [MQTT-3.3.4-6]"),
    ("topic-alias-0", b"\x03\x23\x00\x00", (0x81, 0x82, 0x94), "5.0 [MQTT-3.3.2-8]"),
    ("topic-alias-above-maximum", b"\x03\x23\xff\xff", 0x94, "5.0 [MQTT-3.2.2-17] [MQTT-3.3.2-9]"),
    ("payload-format-2", b"\x02\x01\x02", (0x81, 0x82), "5.0 3.3.2.3.2"),
    ("response-topic-wildcard", b"\x06\x08\x00\x03a/#", (0x81, 0x82), "5.0 [MQTT-3.3.2-14]"),
    ("user-property-bad-utf8", b"\x07\x26\x00\x01\xff\x00\x01a", 0x81, "5.0 [MQTT-1.5.7-1] [MQTT-1.5.4-1]"),
]


@pytest.mark.parametrize("name,props,reasons,statements", BAD_PROPERTIES, ids=[b[0] for b in BAD_PROPERTIES])
def test_bad_publish_properties_close(broker, bystander, name, props, reasons, statements):
    """The statements in the id: a property twice that may appear once, one
    the PUBLISH may not carry, an unknown identifier, or a value the
    specification forbids closes the connection with the reason code it
    gives (0x81 malformed, 0x82 protocol error, 0x94 topic alias invalid)."""
    packets = offend(broker, 5, publish_packet("by/p", b"x", qos=1, packet_id=1, properties=props))
    assert_refused(packets, 5, reasons)
    assert_alive(broker, bystander)


def test_receive_maximum_exceeded_closes(broker, bystander):
    """5.0 [MQTT-3.3.4-7] and 3.3.4: one QoS 2 PUBLISH more than the server's
    Receive Maximum unacknowledged (no PUBREL sent) is answered with
    DISCONNECT 0x93 (receive maximum exceeded)."""
    c = raw(broker, 5)
    maximum = c.connect(unique()).properties.get("receive_maximum", 65535)
    if maximum > 5000:
        pytest.skip(f"Receive Maximum {maximum}: too many packets for this test")
    c.send(b"".join(publish_packet("rm/t", b"x", qos=2, packet_id=i + 1) for i in range(maximum + 1)))
    packets = c.expect_closed(timeout=20)
    assert [p.type for p in packets[:-1]] == [PUBREC] * maximum, [p.name for p in packets][-5:]
    assert_refused(packets[-1:], 5, 0x93)
    assert_alive(broker, bystander)


# --- garbage ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_garbage_after_connect_closes(broker, bystander, seed):
    """[MQTT-4.8.0-1] (3.1.1) / [MQTT-4.13.1-1] (5.0): random bytes after a
    good CONNECT close that connection (or, when they happen to frame as a
    valid packet, leave it working); the node keeps serving others."""
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 400)))
    c = raw(broker, 4)
    c.connect(unique(), keepalive=1)  # should the garbage frame as an unfinished packet, keep alive ends it
    c.send(data + b"\x00\x00" * 8)  # whatever came before, a reserved type 0 ends it
    c.expect_closed(timeout=10)
    assert_alive(broker, bystander)


def test_many_bad_connections_leave_the_node_serving(broker, bystander):
    """DESIGN.md §2: 200 connections with bad input in a row, then the node
    still serves its bystander and new clients."""
    rng = random.Random(42)
    for i in range(200):
        c = RawClient(broker.address, 4)
        if i % 2:
            c.connect(unique())
        c.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + b"\x00\x00" * 4)
        c.close()
    assert_alive(broker, bystander)
