"""MQTT 3.1.1 and 5.0 conformance of the node's MQTT listener, test by test
against the specifications' normative statements, named in each test's
docstring as [MQTT-x.y.z-n] with the version they are numbered in (3.1.1
and 5.0 number some statements differently).

Exact bytes go through mqtt_support.RawClient (its own encoder and decoder);
python3-paho-mqtt (1.6 API) is the ordinary client where the bytes do not
matter. Closing-the-connection cases (malformed packets, reserved flags,
protocol errors) live in test_mqtt_bad_input.py, Skein's own topic rules in
test_mqtt_skein_topics.py.

"Nothing arrives" is checked with a sentinel: a later message on the same
session, from the same publisher, acknowledged before the next step; the
unwanted message would have come before it."""
import time

import pytest

from mqtt_support import (  # noqa: F401  (broker is a fixture)
    CONNACK, DISCONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, UNSUBACK,
    PacketTypes, PahoClient, ack_packet, broker, connect_packet, connected, decode_packet,
    disconnect_packet, paho_properties, publish_packet, raw, read_varint, sub_options,
    subscribe_packet, unique, unsubscribe_packet, user_properties)

V = pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])


def persistent(version, expiry=300):
    """CONNECT arguments for a session that outlives its connection."""
    return {"clean": False, "properties": {"session_expiry_interval": expiry} if version == 5 else None}


# --- CONNECT and CONNACK ------------------------------------------------------


@V
def test_connect_is_acknowledged_with_connack_0_and_no_session(broker, version):
    """3.1.1 [MQTT-3.2.0-1] [MQTT-3.1.4-4] [MQTT-3.2.2-1]; 5.0 [MQTT-3.2.0-1]
    [MQTT-3.1.4-5] [MQTT-3.2.2-1] [MQTT-3.2.2-2]: the first packet back is
    CONNACK, reason 0, session present 0 on a clean session, reserved
    acknowledge flags 0; the server answers PINGREQ [MQTT-3.12.4-1]."""
    c = raw(broker, version)
    c.send(connect_packet(unique(), version, clean=True))
    ack = c.recv()
    assert ack.type == CONNACK, ack
    assert ack.raw[0] == 0x20, "CONNACK fixed header flags are reserved (0)"
    assert ack.reason == 0 and ack.ack_flags == 0
    if version == 4:
        assert ack.raw == b"\x20\x02\x00\x00"
    assert c.is_open()
    c.disconnect()


@V
def test_session_present_reflects_the_stored_session(broker, version):
    """3.1.1 [MQTT-3.1.2-4] [MQTT-3.2.2-2] [MQTT-3.2.2-3]; 5.0 [MQTT-3.1.2-5]
    [MQTT-3.1.2-6] [MQTT-3.1.2-23] [MQTT-3.2.2-3]: a new persistent session
    starts with session present 0; reconnecting to it gives session present 1
    and its subscription still delivers."""
    cid = unique()
    c = raw(broker, version)
    assert not c.connect(cid, **persistent(version)).session_present
    assert c.subscribe(("sp/t", 1)) == [1]
    c.disconnect()
    c = raw(broker, version)
    assert c.connect(cid, **persistent(version)).session_present
    pub = connected(broker, version)
    pub.publish("sp/t", b"still subscribed", qos=1)
    p = c.next_publish()
    assert (p.topic, p.payload) == ("sp/t", b"still subscribed")
    c.disconnect()
    pub.disconnect()


@V
def test_clean_session_discards_the_stored_session(broker, version):
    """3.1.1 [MQTT-3.1.2-6] [MQTT-3.2.2-1]; 5.0 [MQTT-3.1.2-4] [MQTT-3.2.2-2]:
    connecting with clean session / clean start 1 to a stored session gives
    session present 0 and drops its subscriptions; that clean session is not
    kept after it ends."""
    cid = unique()
    c = raw(broker, version)
    c.connect(cid, **persistent(version))
    c.subscribe(("cs/old", 1))
    c.disconnect()
    c = raw(broker, version)
    assert not c.connect(cid, clean=True).session_present
    c.subscribe(("cs/sentinel", 1))
    pub = connected(broker, version)
    pub.publish("cs/old", b"to the discarded subscription", qos=1)
    pub.publish("cs/sentinel", b"s", qos=1)
    assert [p.topic for p in c.publishes_until("cs/sentinel")] == []
    c.disconnect()
    c = raw(broker, version)
    assert not c.connect(cid, **persistent(version)).session_present
    c.disconnect()
    pub.disconnect()


def test_v5_session_expiry_interval(broker):
    """5.0 [MQTT-3.1.2-23] [MQTT-4.1.0-2] [MQTT-3.2.2-3]: with no Session
    Expiry Interval (0) the session ends with the connection; with one it is
    kept while the interval runs and discarded once it has passed."""
    cid = unique()
    c = raw(broker, 5)
    c.connect(cid, clean=False)
    c.subscribe(("se/t", 1))
    c.disconnect()
    c = raw(broker, 5)
    assert not c.connect(cid, clean=False, properties={"session_expiry_interval": 1}).session_present
    c.subscribe(("se/t", 1))
    c.disconnect()
    c = raw(broker, 5)
    assert c.connect(cid, clean=False, properties={"session_expiry_interval": 1}).session_present
    c.disconnect()
    time.sleep(2.5)  # the 1 s expiry interval passes: the time under test, not a synchronisation
    c = raw(broker, 5)
    assert not c.connect(cid, clean=False).session_present
    c.disconnect()


# --- client identifiers -------------------------------------------------------


@V
def test_client_identifier_of_23_alphanumerics_is_accepted(broker, version):
    """3.1.1 and 5.0 [MQTT-3.1.3-5]: 1 to 23 bytes of [0-9a-zA-Z]."""
    cid = ("Zz9" + unique("").replace("x", "Q") + "0123456789abcdefghij")[:23]
    assert len(cid) == 23 and cid.isalnum()
    c = raw(broker, version)
    c.connect(cid)
    assert c.is_open()
    c.disconnect()


def test_v5_empty_client_identifier_is_assigned(broker):
    """5.0 [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16]: an empty ClientID
    gets a unique Assigned Client Identifier in CONNACK, and the session is
    processed under it (connecting with it takes the connection over)."""
    a, b = raw(broker, 5), raw(broker, 5)
    id_a = a.connect("").properties.get("assigned_client_identifier")
    id_b = b.connect("").properties.get("assigned_client_identifier")
    assert id_a and id_b and id_a != id_b
    c = raw(broker, 5)
    c.connect(id_a)
    closing = a.expect_closed()
    assert [(p.type, p.reason) for p in closing] == [(DISCONNECT, 0x8E)]
    assert b.is_open() and c.is_open()
    b.disconnect()
    c.disconnect()


def test_v311_empty_client_identifier_with_clean_session_is_accepted(broker):
    """3.1.1 [MQTT-3.1.3-6]: the server assigns an identifier and the
    connection works."""
    c = raw(broker, 4)
    ack = c.connect("", clean=True)
    assert ack.reason == 0 and not ack.session_present
    c.subscribe(("ec/t", 1))
    pub = connected(broker, 4)
    pub.publish("ec/t", b"x", qos=1)
    assert c.next_publish().payload == b"x"
    c.disconnect()
    pub.disconnect()


def test_v311_empty_client_identifier_without_clean_session_is_refused(broker):
    """3.1.1 [MQTT-3.1.3-8] [MQTT-3.2.2-4] [MQTT-3.2.2-5]: CONNACK 0x02
    (identifier rejected) with session present 0, then the connection closes."""
    c = raw(broker, 4)
    c.send(connect_packet("", 4, clean=False))
    packets = c.expect_closed()
    assert [p.type for p in packets] == [CONNACK], packets
    assert packets[0].reason == 0x02 and not packets[0].session_present


# --- protocol name and level --------------------------------------------------


@pytest.mark.parametrize("level", [3, 6, 255])
def test_unsupported_protocol_level_is_refused(broker, level):
    """3.1.1 [MQTT-3.1.2-2]; 5.0 [MQTT-3.1.2-2] [MQTT-3.2.2-6] [MQTT-3.2.2-7]:
    a CONNECT with a protocol level the server does not support gets a CONNACK
    0x01 (3.1.1's unacceptable protocol version; 5.0's 0x84 accepted too) with
    session present 0, then the connection closes."""
    c = raw(broker, 4)
    c.send(connect_packet(unique(), 4, level=level))
    packets = c.expect_closed()
    assert [p.type for p in packets] == [CONNACK], packets
    assert packets[0].reason in (0x01, 0x84) and not packets[0].session_present


@pytest.mark.parametrize("name", ["MQTX", "MQIsdp", "mqtt"])
@V
def test_wrong_protocol_name_is_refused(broker, version, name):
    """3.1.1 [MQTT-3.1.2-1] [MQTT-3.1.4-1]; 5.0 [MQTT-3.1.2-1] [MQTT-3.1.4-1]:
    a protocol name other than "MQTT" is not processed as MQTT 3.1.1/5.0: the
    connection closes without a successful CONNACK."""
    c = raw(broker, version)
    c.send(connect_packet(unique(), version, protocol_name=name))
    packets = c.expect_closed()
    assert all(p.type == CONNACK and p.reason != 0 for p in packets), packets
    assert len(packets) <= 1


# --- keep alive ---------------------------------------------------------------


@V
def test_keep_alive_expiry_closes_the_connection(broker, version):
    """3.1.1 [MQTT-3.1.2-24]; 5.0 [MQTT-3.1.2-22] [MQTT-3.2.2-21]
    [MQTT-3.2.2-22]: a client silent for one and a half times its Keep Alive
    (or the Server Keep Alive the CONNACK gives) is disconnected, not
    before the Keep Alive itself has passed."""
    c = raw(broker, version)
    ack = c.connect(unique(), keepalive=1)
    keep_alive = ack.properties.get("server_keep_alive", 1) if version == 5 else 1
    assert 0 < keep_alive <= 5, f"Server Keep Alive {keep_alive} for a client asking 1 s"
    start = time.monotonic()
    packets = c.expect_closed(timeout=1.5 * keep_alive + 2.0)
    elapsed = time.monotonic() - start
    assert elapsed >= keep_alive * 0.9, f"closed after {elapsed:.2f}s, keep alive {keep_alive}s"
    if version == 5:
        assert all(p.type == DISCONNECT and p.reason == 0x8D for p in packets), packets
    else:
        assert packets == []


def test_v5_server_keep_alive_is_announced_and_enforced(make_node):
    """5.0 [MQTT-3.2.2-21] [MQTT-3.1.2-22], with the node's
    mqtt.max_keep_alive_s at 1: a client asking for 60 s is told Server Keep
    Alive 1 in CONNACK and, silent, is closed after about 1.5 s, not 90 s."""
    from mqtt_support import SkeinMqtt
    node = make_node("--mqtt-max-keep-alive-s", "1")
    c = raw(SkeinMqtt(node), 5)
    ack = c.connect(unique(), keepalive=60)
    assert ack.properties.get("server_keep_alive") == 1, ack
    start = time.monotonic()
    packets = c.expect_closed(timeout=4.0)
    assert time.monotonic() - start >= 0.9
    assert all(p.type == DISCONNECT and p.reason == 0x8D for p in packets), packets
    quick = raw(SkeinMqtt(node), 5)
    assert "server_keep_alive" not in quick.connect(unique(), keepalive=1).properties or \
        quick.connack.properties["server_keep_alive"] <= 1
    quick.close()


@V
def test_pingreq_keeps_the_connection_alive(broker, version):
    """3.1.1 [MQTT-3.1.2-24] [MQTT-3.12.4-1]; 5.0 [MQTT-3.1.2-22]
    [MQTT-3.12.4-1]: a client that sends PINGREQ within its Keep Alive stays
    connected for several Keep Alive periods, each PINGREQ answered."""
    c = raw(broker, version)
    c.connect(unique(), keepalive=1)
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        assert c.is_open(timeout=2.0)
        time.sleep(0.4)  # pacing the client's own pings, below its 1 s keep alive
    assert c.is_open()
    c.disconnect()


# --- takeover ---------------------------------------------------------------


@V
def test_second_connection_with_the_same_client_id_takes_over(broker, version):
    """3.1.1 [MQTT-3.1.4-2]; 5.0 [MQTT-3.1.4-3]: the existing connection is
    closed (5.0: after DISCONNECT 0x8E, session taken over) and the new one
    resumes the persistent session [MQTT-3.1.2-4 (3.1.1) / MQTT-3.1.2-5 (5.0)]."""
    cid = unique()
    old = raw(broker, version)
    old.connect(cid, **persistent(version))
    old.subscribe(("to/t", 1))
    new = raw(broker, version)
    assert new.connect(cid, **persistent(version)).session_present
    packets = old.expect_closed()
    if version == 5:
        assert [(p.type, p.reason) for p in packets] == [(DISCONNECT, 0x8E)], packets
    else:
        assert packets == []
    pub = connected(broker, version)
    pub.publish("to/t", b"to the new connection", qos=1)
    assert new.next_publish().payload == b"to the new connection"
    new.disconnect()
    pub.disconnect()


# --- wills ----------------------------------------------------------------------


@V
def test_will_is_published_when_the_connection_drops(broker, version):
    """3.1.1 [MQTT-3.1.2-8] [MQTT-3.1.2-16]; 5.0 [MQTT-3.1.2-7] [MQTT-3.1.2-8]
    [MQTT-3.1.2-14]: a connection closed without DISCONNECT publishes its Will
    (topic, payload, Will QoS, not retained)."""
    sub = connected(broker, version)
    sub.subscribe(("wd/#", 2))
    w = raw(broker, version)
    w.connect(unique(), will={"topic": "wd/will", "payload": b"gone", "qos": 1})
    w.abort()
    p = sub.next_publish()
    assert (p.topic, p.payload, p.qos, p.retain) == ("wd/will", b"gone", 1, False)
    sub.disconnect()


@V
def test_will_is_not_published_after_disconnect(broker, version):
    """3.1.1 [MQTT-3.14.4-3] [MQTT-3.1.2-10]; 5.0 [MQTT-3.14.4-3]
    [MQTT-3.1.2-10]: a normal DISCONNECT discards the Will."""
    sub = connected(broker, version)
    sub.subscribe(("wn/#", 1))
    w = raw(broker, version)
    w.connect(unique(), will={"topic": "wn/will", "payload": b"must not", "qos": 1})
    w.disconnect()  # returns once the server has closed the connection
    pub = connected(broker, version)
    pub.publish("wn/sentinel", b"s", qos=1)
    assert [p.topic for p in sub.publishes_until("wn/sentinel")] == []
    sub.disconnect()
    pub.disconnect()


def test_v5_will_is_published_on_disconnect_with_will_message(broker):
    """5.0 [MQTT-3.1.2-8] [MQTT-3.14.2-1]: only reason 0x00 deletes the Will;
    DISCONNECT 0x04 (disconnect with Will Message) publishes it."""
    sub = connected(broker, 5)
    sub.subscribe(("w4/#", 1))
    w = raw(broker, 5)
    w.connect(unique(), will={"topic": "w4/will", "payload": b"asked for", "qos": 1})
    w.disconnect(reason=0x04)
    p = sub.next_publish()
    assert (p.topic, p.payload) == ("w4/will", b"asked for")
    sub.disconnect()


@V
def test_will_retain_publishes_a_retained_message(broker, version):
    """3.1.1 [MQTT-3.1.2-17] [MQTT-3.3.1-8]; 5.0 [MQTT-3.1.2-15]
    [MQTT-3.3.1-9]: a Will with Will Retain 1 is published retained: a later
    subscriber gets it with RETAIN 1."""
    live = connected(broker, version)
    live.subscribe(("wr/#", 1))
    w = raw(broker, version)
    w.connect(unique(), will={"topic": "wr/will", "payload": b"last words", "qos": 1, "retain": True})
    w.abort()
    assert live.next_publish().payload == b"last words"
    later = connected(broker, version)
    later.subscribe(("wr/#", 1))
    p = later.next_publish()
    assert (p.topic, p.payload, p.retain) == ("wr/will", b"last words", True)
    live.disconnect()
    later.disconnect()


def test_v5_will_delay_interval_defers_the_will(broker):
    """5.0 [MQTT-3.1.2-8]: the Will waits for its Will Delay Interval (2 s)
    while the session lives on."""
    sub = connected(broker, 5)
    sub.subscribe(("wdl/#", 1))
    w = raw(broker, 5)
    w.connect(unique(), clean=False, properties={"session_expiry_interval": 60},
              will={"topic": "wdl/will", "payload": b"late", "qos": 1,
                    "properties": {"will_delay_interval": 2}})
    start = time.monotonic()
    w.abort()
    p = sub.next_publish(timeout=10)
    elapsed = time.monotonic() - start
    assert p.payload == b"late"
    assert elapsed >= 1.8, f"the Will came {elapsed:.2f}s after the close, its delay is 2 s"
    sub.disconnect()


def test_v5_reconnect_within_the_will_delay_cancels_the_will(broker):
    """5.0 [MQTT-3.1.3-9] [MQTT-3.1.2-8]: a new connection to the session
    before the Will Delay Interval has passed means no Will."""
    cid = unique()
    sub = connected(broker, 5)
    sub.subscribe(("wc/#", 1))
    w = raw(broker, 5)
    w.connect(cid, clean=False, properties={"session_expiry_interval": 60},
              will={"topic": "wc/will", "payload": b"must not", "qos": 1,
                    "properties": {"will_delay_interval": 2}})
    w.abort()
    back = raw(broker, 5)
    assert back.connect(cid, clean=False, properties={"session_expiry_interval": 60}).session_present
    time.sleep(3)  # the Will Delay Interval passes: the time under test
    pub = connected(broker, 5)
    pub.publish("wc/sentinel", b"s", qos=1)
    assert [p.topic for p in sub.publishes_until("wc/sentinel")] == []
    back.disconnect()
    sub.disconnect()
    pub.disconnect()


def test_v5_will_is_published_when_the_session_ends_before_its_delay(broker):
    """5.0 [MQTT-3.1.2-8]: the Will goes out when the Will Delay Interval has
    passed or the session ends, whichever is first (session expiry 1 s, will
    delay 30 s)."""
    sub = connected(broker, 5)
    sub.subscribe(("wse/#", 1))
    w = raw(broker, 5)
    w.connect(unique(), clean=False, properties={"session_expiry_interval": 1},
              will={"topic": "wse/will", "payload": b"session over", "qos": 1,
                    "properties": {"will_delay_interval": 30}})
    start = time.monotonic()
    w.abort()
    p = sub.next_publish(timeout=15)
    assert p.payload == b"session over"
    assert time.monotonic() - start < 10
    sub.disconnect()


def test_v5_will_properties_are_passed_on(broker):
    """5.0 [MQTT-3.1.3-10] [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16]
    [MQTT-3.3.2-20]: the Will's user properties (in order), payload format
    indicator, content type, response topic and correlation data reach the
    subscriber unaltered."""
    sub = connected(broker, 5)
    sub.subscribe(("wp/#", 1))
    props = {"payload_format_indicator": 1, "content_type": "text/plain",
             "response_topic": "wp/reply", "correlation_data": b"\x00\x01corr",
             "user_property": [("z", "1"), ("a", "2"), ("z", "3")]}
    w = raw(broker, 5)
    w.connect(unique(), will={"topic": "wp/will", "payload": b"props", "qos": 1, "properties": props})
    w.abort()
    p = sub.next_publish()
    for name, value in props.items():
        assert p.properties.get(name) == value, (name, p.properties)
    sub.disconnect()


# --- QoS flows -------------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1, 2])
@V
def test_publish_flow_client_to_server(broker, version, qos):
    """3.1.1 [MQTT-3.3.4-1] [MQTT-4.3.2-2] [MQTT-4.3.3-2] [MQTT-2.3.1-6];
    5.0 [MQTT-3.3.4-1] [MQTT-4.3.2-4] [MQTT-4.3.3-8] [MQTT-4.3.3-11]
    [MQTT-2.2.1-5]: QoS 0 gets no answer; QoS 1 a PUBACK, QoS 2 a PUBREC then,
    on PUBREL, a PUBCOMP, each with the PUBLISH's packet identifier (5.0:
    reason 0 when a subscriber matched)."""
    sub = connected(broker, version)
    sub.subscribe(("qf/t", 2))
    c = connected(broker, version)
    pid = 0x1234
    c.send(publish_packet("qf/t", b"flow", qos=qos, packet_id=pid if qos else None, version=version))
    if qos == 0:
        assert c.is_open()  # the PINGRESP is the next packet: nothing answered the QoS 0 PUBLISH
        assert not c.stash
    elif qos == 1:
        ack = c.expect(PUBACK)
        assert ack.packet_id == pid and ack.reason == 0 and ack.raw[0] == 0x40
    else:
        rec = c.expect(PUBREC)
        assert rec.packet_id == pid and rec.reason == 0 and rec.raw[0] == 0x50
        c.send(ack_packet(PUBREL, pid, version=version))
        comp = c.expect(PUBCOMP)
        assert comp.packet_id == pid and comp.reason == 0 and comp.raw[0] == 0x70
    p = sub.next_publish()
    assert (p.topic, p.payload, p.qos) == ("qf/t", b"flow", qos)
    sub.disconnect()
    c.disconnect()


@pytest.mark.parametrize("qos", [0, 1, 2])
@V
def test_publish_flow_server_to_client(broker, version, qos):
    """3.1.1 [MQTT-2.3.1-1] [MQTT-2.3.1-5] [MQTT-3.3.1-2] [MQTT-4.3.1-1]
    [MQTT-4.3.2-1] [MQTT-4.3.3-1]; 5.0 [MQTT-2.2.1-2] [MQTT-2.2.1-4]
    [MQTT-3.3.1-2] [MQTT-4.3.1-1] [MQTT-4.3.2-2] [MQTT-4.3.3-2]
    [MQTT-4.3.3-4]: the server's PUBLISH has DUP 0, a non-zero packet
    identifier for QoS > 0 and none for QoS 0; for QoS 2 it answers PUBREC
    with a PUBREL (flags 0010) of the same identifier."""
    sub = connected(broker, version)
    sub.subscribe(("qs/t", 2))
    pub = connected(broker, version)
    pub.publish("qs/t", b"down", qos=qos)
    p = sub.next_publish(ack=False)
    assert (p.payload, p.qos, p.dup) == (b"down", qos, False)
    if qos == 0:
        assert p.packet_id is None  # and the payload decoded right after the topic (and properties)
    else:
        assert p.packet_id != 0
        if qos == 1:
            sub.send(ack_packet(PUBACK, p.packet_id, version=version))
        else:
            sub.send(ack_packet(PUBREC, p.packet_id, version=version))
            rel = sub.expect(PUBREL)
            assert rel.packet_id == p.packet_id and rel.flags == 0x2
            sub.send(ack_packet(PUBCOMP, p.packet_id, version=version))
    assert sub.is_open()
    assert not sub.stash, "the server sent more after the flow was complete"
    sub.disconnect()
    pub.disconnect()


@V
def test_delivered_qos_is_the_minimum_of_published_and_granted(broker, version):
    """3.1.1 [MQTT-3.8.4-5] [MQTT-3.8.4-6]; 5.0 [MQTT-3.8.4-7]
    [MQTT-3.8.4-8]: SUBACK grants the requested QoS; delivery is at
    min(published QoS, granted QoS)."""
    subs = {}
    for granted in (0, 1, 2):
        subs[granted] = connected(broker, version)
        assert subs[granted].subscribe((f"mq/{granted}", granted)) == [granted]
    pub = connected(broker, version)
    for published in (0, 1, 2):
        for granted, sub in subs.items():
            pub.publish(f"mq/{granted}", f"{published}".encode(), qos=published)
            p = sub.next_publish()
            assert p.qos == min(published, granted), (published, granted, p)
    for sub in subs.values():
        sub.disconnect()
    pub.disconnect()


@V
def test_packet_identifier_is_reusable_after_the_flow(broker, version):
    """3.1.1 [MQTT-4.3.2-2] [MQTT-4.3.3-2]; 5.0 [MQTT-4.3.2-5]
    [MQTT-4.3.3-12]: once PUBACK / PUBCOMP is sent, a PUBLISH with the same
    packet identifier is a new message, whatever its DUP flag."""
    sub = connected(broker, version)
    sub.subscribe(("pr/t", 2))
    c = connected(broker, version)
    c.send(publish_packet("pr/t", b"q1-first", qos=1, packet_id=7, version=version))
    assert c.expect(PUBACK).packet_id == 7
    c.send(publish_packet("pr/t", b"q1-second", qos=1, packet_id=7, dup=True, version=version))
    assert c.expect(PUBACK).packet_id == 7
    for payload in (b"q2-first", b"q2-second"):
        c.send(publish_packet("pr/t", payload, qos=2, packet_id=9, version=version))
        assert c.expect(PUBREC).packet_id == 9
        c.send(ack_packet(PUBREL, 9, version=version))
        assert c.expect(PUBCOMP).packet_id == 9
    got = [sub.next_publish().payload for _ in range(4)]
    assert got == [b"q1-first", b"q1-second", b"q2-first", b"q2-second"]
    sub.disconnect()
    c.disconnect()


@V
def test_qos2_resent_publish_before_pubrel_is_delivered_once(broker, version):
    """3.1.1 [MQTT-4.3.3-2]; 5.0 [MQTT-4.3.3-10]: until PUBREL, a PUBLISH
    with the same packet identifier is answered PUBREC again and not
    delivered again."""
    sub = connected(broker, version)
    sub.subscribe(("q2/#", 2))
    c = connected(broker, version)
    c.send(publish_packet("q2/t", b"once", qos=2, packet_id=5, version=version))
    assert c.expect(PUBREC).packet_id == 5
    c.send(publish_packet("q2/t", b"once", qos=2, packet_id=5, dup=True, version=version))
    assert c.expect(PUBREC).packet_id == 5
    c.send(ack_packet(PUBREL, 5, version=version))
    assert c.expect(PUBCOMP).packet_id == 5
    c.publish("q2/sentinel", b"s", qos=2)
    assert [p.payload for p in sub.publishes_until("q2/sentinel")] == [b"once"]
    sub.disconnect()
    c.disconnect()


@V
def test_pubrel_for_an_unknown_packet_identifier_gets_pubcomp(broker, version):
    """3.1.1 [MQTT-4.3.3-2]; 5.0 [MQTT-4.3.3-11] [MQTT-3.7.2-1]: PUBREL is
    answered with PUBCOMP of the same identifier (5.0: 0x92, packet
    identifier not found, or 0x00) and the connection goes on."""
    c = connected(broker, version)
    c.send(ack_packet(PUBREL, 4242, version=version))
    comp = c.expect(PUBCOMP)
    assert comp.packet_id == 4242
    if version == 5:
        assert comp.reason in (0x00, 0x92), comp
    assert c.is_open()
    c.disconnect()


@pytest.mark.parametrize("qos", [1, 2])
@V
def test_unacknowledged_messages_are_resent_with_dup_on_reconnect(broker, version, qos):
    """3.1.1 [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-2.3.1-4] [MQTT-3.3.1-3];
    5.0 [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-3.3.1-3] [MQTT-4.6.0-5]:
    PUBLISH packets the client did not acknowledge are sent again, in order,
    with their original packet identifiers and DUP 1, when it resumes the
    session; a new message after them has DUP 0."""
    cid = unique()
    sub = raw(broker, version)
    sub.connect(cid, **persistent(version))
    sub.subscribe(("rd/t", qos))
    pub = connected(broker, version)
    pub.publish("rd/t", b"m1", qos=qos)
    pub.publish("rd/t", b"m2", qos=qos)
    first = [sub.next_publish(ack=False) for _ in range(2)]
    assert [p.payload for p in first] == [b"m1", b"m2"] and not any(p.dup for p in first)
    sub.abort()
    sub = raw(broker, version)
    assert sub.connect(cid, **persistent(version)).session_present
    again = [sub.next_publish() for _ in range(2)]
    assert [(p.payload, p.packet_id, p.dup) for p in again] == \
        [(p.payload, p.packet_id, True) for p in first]
    pub.publish("rd/t", b"m3", qos=qos)
    p = sub.next_publish()
    assert (p.payload, p.dup) == (b"m3", False)
    sub.disconnect()
    pub.disconnect()


@V
def test_qos2_pubrel_is_resent_on_reconnect_not_the_publish(broker, version):
    """3.1.1 [MQTT-4.4.0-1] [MQTT-4.3.3-1]; 5.0 [MQTT-4.4.0-1]
    [MQTT-4.3.3-5] [MQTT-4.3.3-6]: after the client's PUBREC the server has
    sent PUBREL; if the PUBCOMP never came, the resumed session gets the
    PUBREL again, never the PUBLISH."""
    cid = unique()
    sub = raw(broker, version)
    sub.connect(cid, **persistent(version))
    sub.subscribe(("rr/t", 2))
    pub = connected(broker, version)
    pub.publish("rr/t", b"released", qos=2)
    p = sub.next_publish(ack=False)
    sub.send(ack_packet(PUBREC, p.packet_id, version=version))
    assert sub.expect(PUBREL).packet_id == p.packet_id
    sub.abort()
    sub = raw(broker, version)
    assert sub.connect(cid, **persistent(version)).session_present
    rel = sub.expect(PUBREL)
    assert rel.packet_id == p.packet_id
    sub.send(ack_packet(PUBCOMP, rel.packet_id, version=version))
    pub.publish("rr/t", b"sentinel", qos=1)
    assert [q.payload for q in sub.publishes_until("rr/t")] == []  # the next PUBLISH is the sentinel
    sub.disconnect()
    pub.disconnect()


@V
def test_persistent_session_queues_qos1_and_qos2_while_offline(broker, version):
    """3.1.1 [MQTT-3.1.2-5] [MQTT-4.5.0-1]; 5.0 [MQTT-3.1.2-23]
    [MQTT-4.5.0-1] [MQTT-4.6.0-5]: QoS 1 and 2 messages matching a
    disconnected persistent session are kept and delivered, in order, when it
    resumes."""
    cid = unique()
    sub = raw(broker, version)
    sub.connect(cid, **persistent(version))
    sub.subscribe(("off/#", 2))
    sub.disconnect()
    pub = connected(broker, version)
    for i in range(5):
        pub.publish("off/t", f"m{i}".encode(), qos=1 + i % 2)
    sub = raw(broker, version)
    assert sub.connect(cid, **persistent(version)).session_present
    got = [sub.next_publish() for _ in range(5)]
    assert [(p.payload, p.qos) for p in got] == [(f"m{i}".encode(), 1 + i % 2) for i in range(5)]
    sub.disconnect()
    pub.disconnect()


@V
def test_order_of_messages_from_one_publisher_is_kept(broker, version):
    """3.1.1 [MQTT-4.6.0-5] [MQTT-4.6.0-6]; 5.0 [MQTT-4.6.0-5]
    [MQTT-4.6.0-6]: 200 pipelined QoS 1 PUBLISH packets (sent without waiting
    for PUBACKs) and 200 QoS 0 ones reach the subscriber in order; every QoS 1
    one is acknowledged once."""
    sub = connected(broker, version)
    sub.subscribe(("ord/q1", 1), ("ord/q0", 0))
    pub = connected(broker, version)
    # v5: never more unacknowledged than the server's Receive Maximum [MQTT-3.3.4-7]
    window = pub.connack.properties.get("receive_maximum", 65535) if version == 5 else 200
    acks = []
    for start in range(0, 200, window):
        ids = range(start, min(200, start + window))
        pub.send(b"".join(publish_packet("ord/q1", f"{i}".encode(), qos=1, packet_id=i + 1,
                                         version=version) for i in ids))
        acks += [pub.expect(PUBACK).packet_id for _ in ids]
    assert sorted(acks) == list(range(1, 201))
    pub.send(b"".join(publish_packet("ord/q0", f"{i}".encode(), version=version) for i in range(200)))
    got = [sub.next_publish() for _ in range(400)]
    assert [int(p.payload) for p in got if p.topic == "ord/q1"] == list(range(200))
    assert [int(p.payload) for p in got if p.topic == "ord/q0"] == list(range(200))
    sub.disconnect()
    pub.disconnect()


# --- retained messages -------------------------------------------------------------


@V
def test_retained_message_is_sent_to_new_subscribers(broker, version):
    """3.1.1 [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8] [MQTT-3.1.2-7];
    5.0 [MQTT-3.3.1-5] [MQTT-3.3.1-9]: a retained message outlives its
    publisher's session and reaches each new matching subscription with RETAIN
    1 and its QoS (at most the granted one)."""
    pub = connected(broker, version)
    pub.publish("rt/a", b"kept", qos=1, retain=True)
    pub.disconnect()
    for granted in (1, 0):
        sub = connected(broker, version)
        sub.subscribe(("rt/+", granted))
        p = sub.next_publish()
        assert (p.topic, p.payload, p.retain, p.qos) == ("rt/a", b"kept", True, granted)
        sub.disconnect()


@V
def test_retained_message_is_replaced_kept_and_cleared(broker, version):
    """3.1.1 [MQTT-3.3.1-5] [MQTT-3.3.1-10] [MQTT-3.3.1-11] [MQTT-3.3.1-12];
    5.0 [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7] [MQTT-3.3.1-8]: a new
    retained message replaces the old; a non-retained one leaves it; an
    empty retained one is delivered to current subscribers as usual and
    clears it."""
    pub = connected(broker, version)
    watcher = connected(broker, version)
    watcher.subscribe(("rc/a", 1))

    def retained_for_a_new_subscriber():
        s = connected(broker, version)
        s.subscribe(("rc/a", 1))
        pub.publish("rc/a", b"sentinel", qos=1)
        got = s.publishes_until("rc/a", payload=b"sentinel")
        s.disconnect()
        assert all(p.retain for p in got), got
        return [p.payload for p in got]

    pub.publish("rc/a", b"v1", qos=1, retain=True)
    pub.publish("rc/a", b"v2", qos=1, retain=True)
    assert retained_for_a_new_subscriber() == [b"v2"]
    pub.publish("rc/a", b"live", qos=1)
    assert retained_for_a_new_subscriber() == [b"v2"]
    pub.publish("rc/a", b"", qos=1, retain=True)
    assert retained_for_a_new_subscriber() == []
    assert [watcher.next_publish().payload for _ in range(7)] == \
        [b"v1", b"v2", b"sentinel", b"live", b"sentinel", b"", b"sentinel"]
    watcher.disconnect()
    pub.disconnect()


def test_v311_live_delivery_of_a_retained_message_has_retain_0(broker):
    """3.1.1 [MQTT-3.3.1-9]: a message delivered to an established
    subscription has RETAIN 0, however it was published."""
    sub = connected(broker, 4)
    sub.subscribe(("rl/t", 1))
    pub = connected(broker, 4)
    pub.publish("rl/t", b"r", qos=1, retain=True)
    p = sub.next_publish()
    assert (p.payload, p.retain) == (b"r", False)
    sub.disconnect()
    pub.disconnect()


def test_v5_retain_as_published(broker):
    """5.0 [MQTT-3.3.1-12] [MQTT-3.3.1-13]: Retain As Published 0 forwards
    RETAIN 0; 1 keeps the publisher's RETAIN flag."""
    plain, rap = connected(broker, 5), connected(broker, 5)
    plain.subscribe(("rap/t", sub_options(qos=1)))
    rap.subscribe(("rap/t", sub_options(qos=1, retain_as_published=True)))
    pub = connected(broker, 5)
    pub.publish("rap/t", b"retained", qos=1, retain=True)
    pub.publish("rap/t", b"plain", qos=1)
    assert [(p.payload, p.retain) for p in (plain.next_publish(), plain.next_publish())] == \
        [(b"retained", False), (b"plain", False)]
    assert [(p.payload, p.retain) for p in (rap.next_publish(), rap.next_publish())] == \
        [(b"retained", True), (b"plain", False)]
    for c in (plain, rap, pub):
        c.disconnect()


def test_v5_retain_handling(broker):
    """5.0 [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] [MQTT-3.8.4-3]
    [MQTT-3.8.4-4]: Retain Handling 0 sends retained messages at every
    subscribe (subscribing again replaces the subscription and sends them
    again); 1 only when the subscription is new; 2 never."""
    pub = connected(broker, 5)
    for handling, expected in ((0, [True, True]), (1, [True, False]), (2, [False, False])):
        topic = f"rh/{handling}"
        pub.publish(topic, b"retained", qos=1, retain=True)
        c = connected(broker, 5)
        sent = []
        for _ in range(2):  # a new subscription, then the same filter again
            c.subscribe((topic, sub_options(qos=1, retain_handling=handling)))
            pub.publish(topic, b"live", qos=1)
            got = c.publishes_until(topic, payload=b"live")
            assert [(p.payload, p.retain) for p in got] in ([], [(b"retained", True)]), got
            sent.append(bool(got))
        assert sent == expected, f"retain handling {handling}"
        c.disconnect()
    pub.disconnect()


# --- SUBSCRIBE, UNSUBSCRIBE, topic filters ------------------------------------------


@V
def test_subscribe_with_several_filters_gets_one_suback_in_order(broker, version):
    """3.1.1 [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-4] [MQTT-3.8.4-5]
    [MQTT-3.9.3-1]; 5.0 [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-5]
    [MQTT-3.8.4-6] [MQTT-3.9.3-1]: one SUBACK with the SUBSCRIBE's identifier
    and one code per filter, in order."""
    c = connected(broker, version)
    c.send(subscribe_packet(0x0102, [("ms/a", 2), ("ms/b", 0), ("ms/+/c", 1), ("ms/#", 2)], version))
    ack = c.expect(SUBACK)
    assert ack.packet_id == 0x0102 and ack.reasons == [2, 0, 1, 2]
    assert c.is_open()
    c.disconnect()


@V
def test_resubscribing_replaces_the_subscription(broker, version):
    """3.1.1 [MQTT-3.8.4-3]; 5.0 [MQTT-3.8.4-3]: the same filter again
    replaces the subscription (new QoS), not adds a second one."""
    sub = connected(broker, version)
    assert sub.subscribe(("rs/t", 0)) == [0]
    assert sub.subscribe(("rs/t", 2)) == [2]
    pub = connected(broker, version)
    pub.publish("rs/t", b"once", qos=2)
    pub.publish("rs/t", b"sentinel", qos=1)
    got = [sub.next_publish() for _ in range(2)]
    assert [(p.payload, p.qos) for p in got] == [(b"once", 2), (b"sentinel", 1)]
    sub.disconnect()
    pub.disconnect()


@V
def test_unsubscribe(broker, version):
    """3.1.1 [MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4] [MQTT-3.10.4-5]
    [MQTT-3.10.4-6]; 5.0 [MQTT-3.10.4-1] [MQTT-3.10.4-2] [MQTT-3.10.4-4]
    [MQTT-3.10.4-5] [MQTT-3.10.4-6] [MQTT-3.11.3-1] [MQTT-3.11.3-2]: filters
    are compared character by character; one UNSUBACK with the identifier
    (5.0: 0x00 for a removed subscription, 0x11 for none) even when nothing
    matched; delivery stops for the removed filters only."""
    sub = connected(broker, version)
    sub.subscribe(("un/a", 1), ("un/+", 1), ("un/keep/#", 1))
    sub.send(unsubscribe_packet(0x0A0B, ["un/a", "un/#", "un/+"], version))
    ack = sub.expect(UNSUBACK)
    assert ack.packet_id == 0x0A0B
    if version == 5:
        assert ack.reasons == [0x00, 0x11, 0x00]
    else:
        assert ack.raw == b"\xb0\x02\x0a\x0b"
    sub.send(unsubscribe_packet(0x0A0C, ["never/subscribed"], version))
    assert sub.expect(UNSUBACK).packet_id == 0x0A0C
    pub = connected(broker, version)
    pub.publish("un/a", b"gone", qos=1)
    pub.publish("un/b", b"gone", qos=1)
    pub.publish("un/keep/x", b"kept", qos=1)
    assert [p.topic for p in sub.publishes_until("un/keep/x")] == []
    sub.disconnect()
    pub.disconnect()


@V
def test_overlapping_subscriptions_deliver_at_the_highest_qos(broker, version):
    """3.1.1 [MQTT-3.3.5-1]; 5.0 [MQTT-3.3.4-2]: a message matching two
    subscriptions of one session (QoS 0 and QoS 2) is delivered respecting
    the maximum QoS: one copy at QoS 2, or one copy per subscription."""
    sub = connected(broker, version)
    sub.subscribe(("ov/#", 0), ("ov/+/x", 2))
    pub = connected(broker, version)
    pub.publish("ov/a/x", b"both", qos=2)
    pub.publish("ov/sentinel", b"s", qos=1)
    copies = sub.publishes_until("ov/sentinel")
    assert 1 <= len(copies) <= 2 and all(p.payload == b"both" for p in copies), copies
    assert max(p.qos for p in copies) == 2
    sub.disconnect()
    pub.disconnect()


@V
def test_topic_filter_wildcards(broker, version):
    """3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-3.3.2-3] [MQTT-4.7.3-4];
    5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-3.3.2-3] [MQTT-4.7.3-4]: `#`
    matches its parent level and any number of levels below; `+` exactly one
    level, anywhere in the filter; matching is exact (case, no
    normalisation)."""
    topics = ["sport/tennis/player1", "sport/tennis/player1/ranking",
              "sport/tennis/player1/score/wimbledon", "sport/tennis/player2",
              "sport/badminton", "sport", "Sport/tennis/player1", "sportx/y",
              "a/b/c/d", "a/x/c/d", "a/b/c", "caf\u00e9/x", "cafe\u0301/x"]
    filters = {
        "sport/tennis/player1/#": ["sport/tennis/player1", "sport/tennis/player1/ranking",
                                   "sport/tennis/player1/score/wimbledon"],
        "sport/#": ["sport/tennis/player1", "sport/tennis/player1/ranking",
                    "sport/tennis/player1/score/wimbledon", "sport/tennis/player2",
                    "sport/badminton", "sport"],
        "sport/+": ["sport/badminton"],
        "sport/tennis/+": ["sport/tennis/player1", "sport/tennis/player2"],
        "+/tennis/#": ["sport/tennis/player1", "sport/tennis/player1/ranking",
                       "sport/tennis/player1/score/wimbledon", "sport/tennis/player2",
                       "Sport/tennis/player1"],
        "a/+/c/+": ["a/b/c/d", "a/x/c/d"],
        "+/+": ["sport/badminton", "sportx/y", "caf\u00e9/x", "cafe\u0301/x"],
        "caf\u00e9/x": ["caf\u00e9/x"],
        "#": topics,
    }
    subs = {}
    for f in filters:
        subs[f] = connected(broker, version)
        subs[f].subscribe((f, 0), ("zz/sentinel", 0))
    pub = connected(broker, version)
    for t in topics + ["zz/sentinel"]:
        pub.publish(t, t.encode(), qos=1)
    for f, expected in filters.items():
        got = [p.topic for p in subs[f].publishes_until("zz/sentinel")]
        assert got == expected, f"filter {f!r}"
    for c in list(subs.values()) + [pub]:
        c.disconnect()


@V
def test_wildcards_do_not_match_dollar_topics(broker, version):
    """3.1.1 and 5.0 [MQTT-4.7.2-1]: filters starting with a wildcard do not
    match topic names starting with `$` (whether or not the server lets a
    client publish to such a topic; if it does, `$x/#` gets it)."""
    hash_sub, plus_sub, dollar_sub = (connected(broker, version) for _ in range(3))
    hash_sub.subscribe(("#", 1))
    plus_sub.subscribe(("+/d", 1), ("zz/sentinel", 1))
    dollar_granted = dollar_sub.subscribe(("$dt/#", 1), ("zz/sentinel", 1))[0] < 0x80
    pub = connected(broker, 5)
    ack = pub.publish("$dt/d", b"dollar", qos=1)
    accepted = ack.reason < 0x80
    pub.publish("zz/sentinel", b"s", qos=1)
    assert [p.topic for p in hash_sub.publishes_until("zz/sentinel")] == []
    assert [p.topic for p in plus_sub.publishes_until("zz/sentinel")] == []
    assert [p.topic for p in dollar_sub.publishes_until("zz/sentinel")] == \
        (["$dt/d"] if accepted and dollar_granted else [])
    for c in (hash_sub, plus_sub, dollar_sub, pub):
        c.disconnect()


# --- MQTT 5 features -----------------------------------------------------------------


def test_v5_puback_reason_codes(broker):
    """5.0 [MQTT-3.4.2-1] [MQTT-3.5.2-1]: PUBACK / PUBREC carry 0x00 when
    the message matched a subscriber, 0x00 or 0x10 (no matching subscribers)
    when it did not."""
    sub = connected(broker, 5)
    sub.subscribe(("rcd/t", 1))
    pub = connected(broker, 5)
    assert pub.publish("rcd/t", b"x", qos=1).reason == 0x00
    assert pub.publish("rcd/t", b"x", qos=2).pubrec.reason == 0x00
    assert pub.publish("rcd/nobody", b"x", qos=1).reason in (0x00, 0x10)
    rec = pub.publish("rcd/nobody", b"x", qos=2)
    assert getattr(rec, "pubrec", rec).reason in (0x00, 0x10)
    sub.disconnect()
    pub.disconnect()


def test_v5_user_properties_and_content_properties_pass_through(broker):
    """5.0 [MQTT-3.3.2-4] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]:
    user properties (repeated names included) arrive unaltered and in order,
    with the payload format indicator and content type."""
    sub = connected(broker, 5)
    sub.subscribe(("up/t", 1))
    pub = connected(broker, 5)
    props = {"payload_format_indicator": 1, "content_type": "application/json; charset=utf-8",
             "user_property": [("k", "v1"), ("a", ""), ("k", "v2"), ("\u00fcml", "\u263a")]}
    pub.publish("up/t", b'{"x":1}', qos=1, properties=props)
    p = sub.next_publish()
    for name, value in props.items():
        assert p.properties.get(name) == value, (name, p.properties)
    sub.disconnect()
    pub.disconnect()


def test_v5_paho_user_properties(broker):
    """5.0 [MQTT-3.3.2-17] [MQTT-3.3.2-18] with paho-mqtt on both ends."""
    sub = PahoClient(broker, unique(), 5)
    sub.connect()
    assert sub.subscribe("pu/#", 1) == [1]
    pub = PahoClient(broker, unique(), 5)
    pub.connect()
    pub.publish("pu/x", b"p", 1, properties=paho_properties(
        PacketTypes.PUBLISH, UserProperty=[("one", "1"), ("two", "2"), ("one", "3")]))
    msg = sub.next()
    assert msg.topic == "pu/x" and user_properties(msg) == [("one", "1"), ("two", "2"), ("one", "3")]
    sub.close()
    pub.close()


def test_v5_request_response(broker):
    """5.0 [MQTT-3.3.2-15] [MQTT-3.3.2-16]: Response Topic and Correlation
    Data reach the responder unaltered; its answer on the response topic
    carries the correlation data back."""
    requester, responder = connected(broker, 5), connected(broker, 5)
    responder.subscribe(("svc/time", 1))
    requester.subscribe(("reply/me", 1))
    corr = bytes(range(256))
    requester.publish("svc/time", b"now?", qos=1,
                      properties={"response_topic": "reply/me", "correlation_data": corr})
    req = responder.next_publish()
    assert req.properties.get("response_topic") == "reply/me"
    assert req.properties.get("correlation_data") == corr
    responder.publish(req.properties["response_topic"], b"noon", qos=1,
                      properties={"correlation_data": req.properties["correlation_data"]})
    resp = requester.next_publish()
    assert (resp.topic, resp.payload, resp.properties.get("correlation_data")) == ("reply/me", b"noon", corr)
    requester.disconnect()
    responder.disconnect()


def test_v5_topic_aliases_from_the_client(broker):
    """5.0 [MQTT-3.3.2-12] [MQTT-3.3.2-7]: the server accepts every alias
    from 1 to its Topic Alias Maximum, for a topic and then alone (empty
    topic name); an alias can be remapped; a new connection starts with no
    mapping (an unknown alias with an empty topic is a protocol error,
    DISCONNECT 0x82)."""
    sub = connected(broker, 5)
    sub.subscribe(("ta/#", 0))
    c = raw(broker, 5)
    ack = c.connect(unique())
    maximum = ack.properties.get("topic_alias_maximum", 0)
    assert maximum >= 1, "the server accepts topic aliases"
    top = min(maximum, 10)
    for alias in range(1, top + 1):
        c.publish(f"ta/{alias}", b"set", properties={"topic_alias": alias})
    for alias in range(1, top + 1):
        c.publish("", b"use", properties={"topic_alias": alias})
    c.publish("ta/remapped", b"remap", properties={"topic_alias": 1})
    c.publish("", b"use", qos=1, properties={"topic_alias": 1})
    got = [(p.topic, p.payload) for p in (sub.next_publish() for _ in range(2 * top + 2))]
    assert got == [(f"ta/{a}", b"set") for a in range(1, top + 1)] + \
        [(f"ta/{a}", b"use") for a in range(1, top + 1)] + \
        [("ta/remapped", b"remap"), ("ta/remapped", b"use")]
    c.disconnect()
    fresh = connected(broker, 5)
    fresh.send(publish_packet("", b"no mapping here", properties={"topic_alias": 1}))
    packets = fresh.expect_closed()
    assert [(p.type, p.reason) for p in packets] == [(DISCONNECT, 0x82)], packets
    sub.disconnect()


def test_v5_server_sends_no_topic_alias_unless_allowed(broker):
    """5.0 [MQTT-3.1.2-26] [MQTT-3.1.2-27]: a client that gave no Topic Alias
    Maximum never gets a Topic Alias; one that allows 2 never gets one above
    2, and every PUBLISH can be resolved to its topic."""
    none, two = raw(broker, 5), raw(broker, 5)
    none.connect(unique())
    two.connect(unique(), properties={"topic_alias_maximum": 2})
    none.subscribe(("al/#", 0))
    two.subscribe(("al/#", 0))
    pub = connected(broker, 5)
    topics = [f"al/{i % 3}/long/topic/name" for i in range(12)]
    for t in topics:
        pub.publish(t, b"x", qos=1)
    got = [none.next_publish() for _ in topics]
    assert all("topic_alias" not in p.properties for p in got)
    assert [p.topic for p in got] == topics
    mapping, resolved = {}, []
    for _ in topics:
        p = two.next_publish()
        alias = p.properties.get("topic_alias")
        if alias is not None:
            assert 1 <= alias <= 2
            if p.topic:
                mapping[alias] = p.topic
            resolved.append(p.topic or mapping[alias])
        else:
            assert p.topic
            resolved.append(p.topic)
    assert resolved == topics
    for c in (none, two, pub):
        c.disconnect()


def test_v5_message_expiry(broker):
    """5.0 [MQTT-3.3.2-5] [MQTT-3.3.2-6]: a queued message whose Message
    Expiry Interval passed is not delivered to the offline session; one still
    alive is delivered with the interval reduced by the time it waited."""
    cid = unique()
    sub = raw(broker, 5)
    sub.connect(cid, clean=False, properties={"session_expiry_interval": 300})
    sub.subscribe(("mx/t", 1))
    sub.disconnect()
    pub = connected(broker, 5)
    pub.publish("mx/t", b"expires", qos=1, properties={"message_expiry_interval": 1})
    pub.publish("mx/t", b"lives", qos=1, properties={"message_expiry_interval": 60})
    pub.publish("mx/t", b"forever", qos=1)
    time.sleep(2.2)  # the first message's 1 s expiry passes: the time under test
    sub = raw(broker, 5)
    assert sub.connect(cid, clean=False, properties={"session_expiry_interval": 300}).session_present
    got = [sub.next_publish() for _ in range(2)]
    assert [p.payload for p in got] == [b"lives", b"forever"]
    remaining = got[0].properties.get("message_expiry_interval")
    assert remaining is not None and 50 <= remaining <= 59, remaining
    assert "message_expiry_interval" not in got[1].properties
    sub.disconnect()
    pub.disconnect()


def test_v5_no_local(broker):
    """5.0 [MQTT-3.8.3-3]: with No Local, the session's own publications are
    not sent back to it; other clients' are."""
    c = connected(broker, 5)
    c.subscribe(("nl/#", sub_options(qos=1, no_local=True)), ("nls/sentinel", 1))
    c.publish("nl/own", b"own", qos=1)
    c.publish("nls/sentinel", b"s", qos=1)
    assert [p.topic for p in c.publishes_until("nls/sentinel")] == []
    other = connected(broker, 5)
    other.publish("nl/other", b"other", qos=1)
    assert c.next_publish().payload == b"other"
    c.disconnect()
    other.disconnect()


def test_v5_subscription_identifiers(broker):
    """5.0 [MQTT-3.3.4-3] [MQTT-3.3.4-4] [MQTT-3.3.4-5]: a PUBLISH carries the
    Subscription Identifiers of the subscriptions it matched: all of them in
    a single copy, or each copy its own; none for a subscription without
    one."""
    c = raw(broker, 5)
    ack = c.connect(unique())
    assert ack.properties.get("subscription_identifier_available", 1) == 1
    c.subscribe(("si/#", 1), properties={"subscription_identifier": 7})
    c.subscribe(("si/+/x", 1), properties={"subscription_identifier": 268435455})
    c.subscribe(("si/plain", 1))
    pub = connected(broker, 5)
    pub.publish("si/a/x", b"two", qos=1)
    pub.publish("si/b", b"one", qos=1)
    pub.publish("si/plain", b"mixed", qos=1)
    pub.publish("si/zz", b"sentinel", qos=1)
    got = c.publishes_until("si/zz")
    by_payload = {}
    for p in got:
        by_payload.setdefault(p.payload, []).append(sorted(p.properties.get("subscription_identifier", [])))
    two = by_payload[b"two"]
    assert two in ([[7, 268435455]], [[7], [268435455]], [[268435455], [7]]), two
    assert by_payload[b"one"] == [[7]]
    assert sorted(by_payload[b"mixed"]) in ([[7]], [[], [7]]), by_payload[b"mixed"]
    c.disconnect()
    pub.disconnect()


def test_v5_shared_subscription_spreads_messages(broker):
    """5.0 [MQTT-4.8.2-1] [MQTT-4.8.2-2] [MQTT-4.8.2-3]: members of
    `$share/group/filter` share the messages (each message to one member, at
    the member's granted QoS, every member getting some); a plain subscriber
    on the same filter gets every message."""
    members = [connected(broker, 5) for _ in range(2)]
    for m in members:
        assert m.subscribe(("$share/grp/sh/#", 1)) == [1]
    plain = connected(broker, 5)
    plain.subscribe(("sh/#", 0))
    pub = connected(broker, 5)
    n = 40
    for i in range(n):
        pub.publish(f"sh/{i % 4}", f"{i}".encode(), qos=1)
    assert sorted(int(p.payload) for p in (plain.next_publish() for _ in range(n))) == list(range(n))
    received = {0: [], 1: []}
    deadline = time.monotonic() + 15
    while sum(map(len, received.values())) < n and time.monotonic() < deadline:
        for i, m in enumerate(members):
            p = m.poll(0.05)
            if p is not None:
                assert p.type == PUBLISH, p
                assert p.qos == 1
                m.ack(p)
                received[i].append(int(p.payload))
    all_got = received[0] + received[1]
    assert sorted(all_got) == list(range(n)), "each message exactly once across the group"
    assert received[0] and received[1], f"one member got everything: {received}"
    for c in members + [plain, pub]:
        c.disconnect()


def test_v5_shared_subscription_member_leaving_unacked_hands_messages_on(broker):
    """5.0 4.8.2 (SHOULD, no statement id): QoS 1 messages a member received
    but never acknowledged go to another member once the first one's session
    ends."""
    a = connected(broker, 5)
    a.subscribe(("$share/g2/hs/#", 1))
    pub = connected(broker, 5)
    for i in range(3):
        pub.publish("hs/t", f"m{i}".encode(), qos=1)
    assert [a.next_publish(ack=False).payload for _ in range(3)] == [b"m0", b"m1", b"m2"]
    b = connected(broker, 5)
    b.subscribe(("$share/g2/hs/#", 1))
    a.abort()  # session expiry 0: the session ends with the connection
    got = sorted(b.next_publish().payload for _ in range(3))
    assert got == [b"m0", b"m1", b"m2"]
    pub.publish("hs/t", b"m3", qos=1)
    assert b.next_publish().payload == b"m3"
    b.disconnect()
    pub.disconnect()


def test_v5_shared_subscription_negative_puback_is_not_handed_on(broker):
    """5.0 [MQTT-4.8.2-6] [MQTT-4.4.0-2]: a PUBACK with a reason code of
    0x80 or more ends the message: it goes to no other member, and is not
    resent."""
    a = connected(broker, 5)
    a.subscribe(("$share/g3/ng/#", 1))
    pub = connected(broker, 5)
    pub.publish("ng/t", b"refused", qos=1)
    p = a.next_publish(ack=False)
    b = connected(broker, 5)
    b.subscribe(("$share/g3/ng/#", 1))
    a.send(ack_packet(PUBACK, p.packet_id, reason=0x80, version=5))
    seen_by_b = []
    for i in range(50):
        pub.publish("ng/t", f"s{i}".encode(), qos=1)
        q = b.poll(0.2)
        if q is not None:
            assert q.type == PUBLISH, q
            b.ack(q)
            seen_by_b.append(q.payload)
            break
        a_msg = a.poll(0.05)
        if a_msg is not None:
            a.ack(a_msg)
            assert a_msg.payload != b"refused", "a negatively acknowledged message was resent"
    assert seen_by_b and b"refused" not in seen_by_b, seen_by_b
    for c in (a, b, pub):
        c.disconnect()


def test_v5_maximum_packet_size_of_the_client_is_respected(broker):
    """5.0 [MQTT-3.1.2-24] [MQTT-3.1.2-25]: the server never sends a packet
    larger than the client's Maximum Packet Size; it drops that message for
    this client (as if sent: not queued, not resent) and goes on."""
    cid = unique()
    small = raw(broker, 5)
    small.connect(cid, clean=False, properties={"maximum_packet_size": 128, "session_expiry_interval": 60})
    small.subscribe(("mp/#", 1))
    pub = connected(broker, 5)
    pub.publish("mp/t", b"x" * 200, qos=1)
    pub.publish("mp/t", b"y" * 50, qos=1)
    p = small.next_publish()
    assert p.payload == b"y" * 50 and len(p.raw) <= 128
    small.disconnect()
    small = raw(broker, 5)
    assert small.connect(cid, clean=False,
                         properties={"maximum_packet_size": 128, "session_expiry_interval": 60}).session_present
    pub.publish("mp/t", b"sentinel", qos=1)
    assert [q.payload for q in small.publishes_until("mp/t", payload=b"sentinel")] == []
    small.disconnect()
    pub.disconnect()


def test_v5_receive_maximum_of_the_client_is_respected(broker):
    """5.0 [MQTT-3.3.4-9] [MQTT-3.3.4-10] [MQTT-4.9.0-1] [MQTT-4.9.0-2]
    [MQTT-4.9.0-3]: with Receive Maximum 2 the server has at most two QoS 1
    messages unacknowledged, still answers PINGREQ at once, and sends the next
    as each PUBACK comes; all arrive in order."""
    sub = raw(broker, 5)
    sub.connect(unique(), properties={"receive_maximum": 2})
    sub.subscribe(("rm/t", 1))
    pub = connected(broker, 5)
    for i in range(6):
        pub.publish("rm/t", f"{i}".encode(), qos=1)
    inflight = [sub.next_publish(ack=False) for _ in range(2)]
    assert sub.is_open(), "PINGREQ not answered while the quota is used up"
    assert not sub.stash, f"more than Receive Maximum unacknowledged: {list(sub.stash)}"
    got = []
    while inflight:
        p = inflight.pop(0)
        got.append(int(p.payload))
        sub.ack(p)
        if len(got) + len(inflight) < 6:
            inflight.append(sub.next_publish(ack=False))
        assert sub.is_open()
        assert not sub.stash, f"more than Receive Maximum unacknowledged: {list(sub.stash)}"
    assert got == list(range(6))
    sub.disconnect()
    pub.disconnect()


def test_v5_connack_properties_are_consistent(broker):
    """5.0 [MQTT-3.2.2-8] [MQTT-3.2.2-9]: CONNACK 0x00; the server's
    limits, when present, are valid values (Maximum QoS 0 or 1, Receive
    Maximum and Maximum Packet Size non-zero, availability flags 0 or 1)."""
    c = raw(broker, 5)
    ack = c.connect(unique())
    props = ack.properties
    assert props.get("maximum_qos", 1) in (0, 1)
    assert props.get("receive_maximum", 1) > 0
    assert props.get("maximum_packet_size", 1) > 0
    for flag in ("retain_available", "wildcard_subscription_available",
                 "subscription_identifier_available", "shared_subscription_available"):
        assert props.get(flag, 1) in (0, 1)
    assert "session_expiry_interval" not in props or props["session_expiry_interval"] >= 0
    c.disconnect()


def test_v5_disconnect_with_session_expiry_after_zero_is_a_protocol_error(broker):
    """5.0 3.14.2.2.2 and [MQTT-3.14.2-1]: a Session Expiry Interval on
    DISCONNECT when CONNECT had 0 is a protocol error: DISCONNECT 0x82, and
    the Will is published (the DISCONNECT was not a valid normal one)."""
    sub = connected(broker, 5)
    sub.subscribe(("sx/#", 1))
    c = raw(broker, 5)
    c.connect(unique(), will={"topic": "sx/will", "payload": b"w", "qos": 1})
    c.send(disconnect_packet(0x00, {"session_expiry_interval": 60}))
    packets = c.expect_closed()
    assert [(p.type, p.reason) for p in packets] == [(DISCONNECT, 0x82)], packets
    assert sub.next_publish().payload == b"w"
    sub.disconnect()


# --- over WebSocket -----------------------------------------------------------


def test_mqtt_over_websocket_subprotocol_and_framing(broker):
    """3.1.1 and 5.0 [MQTT-6.0.0-2] [MQTT-6.0.0-4]: the server selects the
    `mqtt` subprotocol; MQTT packets split across and packed into binary
    frames are read as one byte stream."""
    import websocket  # python3-websocket
    ws = websocket.create_connection(broker.ws_url, subprotocols=["mqtt"], timeout=10)
    assert ws.getsubprotocol() == "mqtt"
    cid = unique()
    connect = connect_packet(cid, 5)
    ws.send_binary(connect[:3])
    ws.send_binary(connect[3:])
    buf = bytearray()

    def next_packet():
        while True:
            if len(buf) >= 2:
                try:
                    length, pos = read_varint(buf, 1)
                    if len(buf) >= pos + length:
                        raw_packet = bytes(buf[:pos + length])
                        del buf[:pos + length]
                        return decode_packet(raw_packet, 5)
                except IndexError:
                    pass
            opcode, data = ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_BINARY, opcode
            buf.extend(data)

    assert next_packet().type == CONNACK
    ws.send_binary(subscribe_packet(1, [("wsf/t", 1)], 5) + publish_packet("wsf/t", b"self", qos=1,
                                                                           packet_id=2))
    kinds = {}
    for _ in range(3):
        p = next_packet()
        kinds[p.type] = p
    assert set(kinds) == {SUBACK, PUBACK, PUBLISH}
    assert kinds[PUBLISH].payload == b"self"
    ws.close()


def test_mqtt_over_websocket_text_frame_closes(broker):
    """[MQTT-6.0.0-1]: MQTT packets travel in binary frames; a text frame
    closes the connection."""
    import websocket  # python3-websocket
    ws = websocket.create_connection(broker.ws_url, subprotocols=["mqtt"], timeout=10)
    ws.send_binary(connect_packet(unique(), 4))
    opcode, data = ws.recv_data()
    assert data[:1] == b"\x20"
    ws.send("0\x03\x00\x01a")  # a well-formed QoS 0 PUBLISH to "a", all ASCII, sent as text
    deadline = time.monotonic() + 10
    closed = False
    while time.monotonic() < deadline and not closed:
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            closed = True
            break
        except websocket.WebSocketTimeoutException:
            break
        closed = opcode == websocket.ABNF.OPCODE_CLOSE
    assert closed, "the connection stayed open after a text frame"
    ws.close()


@pytest.mark.parametrize("version", [4, 5], ids=["v311", "v5"])
def test_paho_over_websocket(broker, version):
    """[MQTT-6.0.0-3] [MQTT-6.0.0-4]: paho-mqtt over WebSocket (subprotocol
    mqtt, path /mqtt) publishes and receives like over TCP."""
    sub = PahoClient(broker, unique(), version, transport="websockets")
    sub.connect()
    assert sub.subscribe("pws/#", 1) == [1]
    tcp = PahoClient(broker, unique(), version)
    tcp.connect()
    tcp.publish("pws/a", b"from tcp", 1)
    msg = sub.next()
    assert (msg.topic, msg.payload, msg.qos) == ("pws/a", b"from tcp", 1)
    sub.publish("pws/b", b"from ws", 2)
    msg = sub.next()
    assert (msg.topic, msg.payload) == ("pws/b", b"from ws")
    sub.close()
    tcp.close()
