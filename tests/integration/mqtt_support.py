"""Shared pieces of the MQTT integration suites (test_mqtt_*.py).

- A small MQTT 3.1.1 / 5.0 codec and a raw-socket client (`RawClient`),
  written from the OASIS specifications, for the checks that need exact
  bytes: malformed packets, reserved flags, step-by-step QoS 2 flows, reason
  codes, properties.
- `PahoClient`, a thin synchronous wrapper around python3-paho-mqtt (Debian's
  1.6 API: callbacks, no manual acknowledgements) whose received messages
  land in a queue.
- The `broker` fixture: the node under test as an MQTT client sees it
  (TCP address, WebSocket URL, restart).

Nothing here sleeps to synchronise: every wait is on a socket, a queue or an
event, bounded by a timeout that fails the test."""
import collections
import contextlib
import itertools
import os
import queue
import signal
import socket
import struct
import threading
import time

import pytest

# --- packet types --------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP = 8, 9, 10, 11, 12, 13
DISCONNECT, AUTH = 14, 15
PACKET_NAMES = {0: "RESERVED0", 1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK",
                5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
                10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
                14: "DISCONNECT", 15: "AUTH"}

# v5 reason codes the suites name
SUCCESS = 0x00
NO_MATCHING_SUBSCRIBERS = 0x10
NO_SUBSCRIPTION_EXISTED = 0x11
DISCONNECT_WITH_WILL = 0x04
UNSPECIFIED_ERROR = 0x80
MALFORMED_PACKET = 0x81
PROTOCOL_ERROR = 0x82
UNSUPPORTED_PROTOCOL_VERSION = 0x84
CLIENT_ID_NOT_VALID = 0x85
SESSION_TAKEN_OVER = 0x8E
TOPIC_FILTER_INVALID = 0x8F
TOPIC_NAME_INVALID = 0x90
PACKET_ID_NOT_FOUND = 0x92
RECEIVE_MAXIMUM_EXCEEDED = 0x93
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E

# --- primitive encoders ----------------------------------------------------------


def varint(n):
    """A Variable Byte Integer (1.5.5), minimal form."""
    assert 0 <= n <= 268_435_455
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(data, pos):
    """(value, next position) of the Variable Byte Integer at data[pos]."""
    value, shift = 0, 0
    for i in range(4):
        if pos + i >= len(data):
            raise IndexError("truncated variable byte integer")
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ValueError("variable byte integer longer than four bytes")


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def as_bytes(s):
    return s if isinstance(s, (bytes, bytearray)) else s.encode()


def string(s):
    """A UTF-8 Encoded String (str) or its raw bytes (bytes: sent as given)."""
    b = as_bytes(s)
    return u16(len(b)) + b


def binary(b):
    b = as_bytes(b)
    return u16(len(b)) + b


def fixed(ptype, flags, body):
    """A whole packet: fixed header (type, flags, remaining length) + body."""
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + bytes(body)


# --- v5 properties ---------------------------------------------------------------

# identifier: (name, kind)
PROPERTIES = {
    0x01: ("payload_format_indicator", "byte"),
    0x02: ("message_expiry_interval", "u32"),
    0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"),
    0x09: ("correlation_data", "bin"),
    0x0B: ("subscription_identifier", "varint"),
    0x11: ("session_expiry_interval", "u32"),
    0x12: ("assigned_client_identifier", "str"),
    0x13: ("server_keep_alive", "u16"),
    0x15: ("authentication_method", "str"),
    0x16: ("authentication_data", "bin"),
    0x17: ("request_problem_information", "byte"),
    0x18: ("will_delay_interval", "u32"),
    0x19: ("request_response_information", "byte"),
    0x1A: ("response_information", "str"),
    0x1C: ("server_reference", "str"),
    0x1F: ("reason_string", "str"),
    0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"),
    0x23: ("topic_alias", "u16"),
    0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"),
    0x26: ("user_property", "pair"),
    0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_subscription_available", "byte"),
    0x29: ("subscription_identifier_available", "byte"),
    0x2A: ("shared_subscription_available", "byte"),
}
PROPERTY_IDS = {name: (ident, kind) for ident, (name, kind) in PROPERTIES.items()}
# Properties that may appear more than once; decoded as lists.
REPEATABLE = {"user_property", "subscription_identifier"}


def encode_properties(props):
    """The property block (length + properties) of a v5 packet. `props` is a
    dict name -> value (user_property: list of (name, value) pairs;
    subscription_identifier: an int or a list), or bytes: a whole block,
    length included, sent as given."""
    if isinstance(props, (bytes, bytearray)):
        return bytes(props)
    out = bytearray()
    for name, value in (props or {}).items():
        ident, kind = PROPERTY_IDS[name]
        values = value if name in REPEATABLE and isinstance(value, (list, tuple)) else [value]
        for v in values:
            out += varint(ident)
            if kind == "byte":
                out.append(v)
            elif kind == "u16":
                out += u16(v)
            elif kind == "u32":
                out += u32(v)
            elif kind == "varint":
                out += varint(v)
            elif kind == "str":
                out += string(v)
            elif kind == "bin":
                out += binary(v)
            elif kind == "pair":
                out += string(v[0]) + string(v[1])
    return varint(len(out)) + bytes(out)


def decode_properties(data, pos):
    """(dict, next position) of the property block at data[pos]."""
    length, pos = read_varint(data, pos)
    end = pos + length
    props = {}
    while pos < end:
        ident, pos = read_varint(data, pos)
        if ident not in PROPERTIES:
            raise ValueError(f"unknown property identifier 0x{ident:02x}")
        name, kind = PROPERTIES[ident]
        if kind == "byte":
            value, pos = data[pos], pos + 1
        elif kind == "u16":
            value, pos = struct.unpack_from(">H", data, pos)[0], pos + 2
        elif kind == "u32":
            value, pos = struct.unpack_from(">I", data, pos)[0], pos + 4
        elif kind == "varint":
            value, pos = read_varint(data, pos)
        elif kind in ("str", "bin"):
            n = struct.unpack_from(">H", data, pos)[0]
            raw = bytes(data[pos + 2:pos + 2 + n])
            value, pos = (raw.decode() if kind == "str" else raw), pos + 2 + n
        else:  # pair
            k, pos = _read_str(data, pos)
            v, pos = _read_str(data, pos)
            value = (k, v)
        if name in REPEATABLE:
            props.setdefault(name, []).append(value)
        else:
            assert name not in props, f"property {name} sent twice"
            props[name] = value
    assert pos == end, "property block overran its length"
    return props, end


def _read_str(data, pos):
    n = struct.unpack_from(">H", data, pos)[0]
    return bytes(data[pos + 2:pos + 2 + n]).decode(), pos + 2 + n


# --- packet encoders (client to server) ------------------------------------------


def connect_packet(client_id="", version=5, clean=True, keepalive=60, properties=None,
                   will=None, username=None, password=None, protocol_name="MQTT",
                   level=None, flags=None):
    """CONNECT. `will`: dict(topic, payload, qos=0, retain=False, properties=None).
    `level` and `flags` override the protocol level and the connect flags."""
    if flags is None:
        flags = (0x02 if clean else 0)
        if will is not None:
            flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if password is not None:
            flags |= 0x40
        if username is not None:
            flags |= 0x80
    body = bytearray(string(protocol_name))
    body.append(version if level is None else level)
    body.append(flags)
    body += u16(keepalive)
    if version == 5:
        body += encode_properties(properties)
    body += string(client_id)
    if will is not None:
        if version == 5:
            body += encode_properties(will.get("properties"))
        body += string(will["topic"]) + binary(will.get("payload", b""))
    if username is not None:
        body += string(username)
    if password is not None:
        body += binary(password)
    return fixed(CONNECT, 0, body)


def publish_packet(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None,
                   properties=None, version=5, flags=None):
    body = bytearray(string(topic))
    if qos > 0 or packet_id is not None:
        body += u16(packet_id if packet_id is not None else 1)
    if version == 5:
        body += encode_properties(properties)
    body += as_bytes(payload)
    if flags is None:
        flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    return fixed(PUBLISH, flags, body)


def ack_packet(ptype, packet_id, reason=None, properties=None, version=5, flags=None):
    """PUBACK, PUBREC, PUBREL or PUBCOMP. In v5 the reason code (and
    properties) are sent when given; the short form otherwise."""
    body = bytearray(u16(packet_id))
    if version == 5 and (reason is not None or properties is not None):
        body.append(reason or 0)
        if properties is not None:
            body += encode_properties(properties)
    if flags is None:
        flags = 0x02 if ptype == PUBREL else 0
    return fixed(ptype, flags, body)


def subscribe_packet(packet_id, subscriptions, version=5, properties=None, flags=0x02):
    """`subscriptions`: list of (filter, options) where options is the whole
    options byte (QoS in bits 0-1; v5: no local bit 2, retain as published
    bit 3, retain handling bits 4-5)."""
    body = bytearray(u16(packet_id))
    if version == 5:
        body += encode_properties(properties)
    for topic_filter, options in subscriptions:
        body += string(topic_filter) + bytes([options])
    return fixed(SUBSCRIBE, flags, body)


def sub_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    return qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | (retain_handling << 4)


def unsubscribe_packet(packet_id, filters, version=5, properties=None, flags=0x02):
    body = bytearray(u16(packet_id))
    if version == 5:
        body += encode_properties(properties)
    for topic_filter in filters:
        body += string(topic_filter)
    return fixed(UNSUBSCRIBE, flags, body)


def pingreq_packet():
    return fixed(PINGREQ, 0, b"")


def disconnect_packet(reason=None, properties=None, version=5):
    body = bytearray()
    if version == 5 and (reason is not None or properties is not None):
        body.append(reason or 0)
        if properties is not None:
            body += encode_properties(properties)
    return fixed(DISCONNECT, 0, body)


# --- packet decoder (server to client) -------------------------------------------


class Packet:
    """One decoded packet: `type`, `flags`, `raw` (the whole packet) and the
    fields of its type as attributes (see decode_packet)."""

    def __init__(self, ptype, flags, raw, **fields):
        self.type, self.flags, self.raw = ptype, flags, raw
        self.__dict__.update(fields)

    @property
    def name(self):
        return PACKET_NAMES[self.type]

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("type", "flags", "raw")}
        return f"{self.name}(flags=0x{self.flags:x}, {fields})"


def decode_packet(raw, version):
    """Decodes one whole packet as a server sends it."""
    ptype, flags = raw[0] >> 4, raw[0] & 0x0F
    length, pos = read_varint(raw, 1)
    body = raw[pos:]
    assert len(body) == length
    f = {}
    if ptype == CONNACK:
        f["ack_flags"] = body[0]
        f["session_present"] = bool(body[0] & 1)
        f["reason"] = body[1]
        f["properties"] = decode_properties(body, 2)[0] if version == 5 and len(body) > 2 else {}
    elif ptype == PUBLISH:
        f["dup"], f["qos"], f["retain"] = bool(flags & 8), (flags >> 1) & 3, bool(flags & 1)
        n = struct.unpack_from(">H", body, 0)[0]
        f["topic_bytes"] = bytes(body[2:2 + n])
        f["topic"] = f["topic_bytes"].decode(errors="replace")
        p = 2 + n
        f["packet_id"] = None
        if f["qos"]:
            f["packet_id"], p = struct.unpack_from(">H", body, p)[0], p + 2
        f["properties"] = {}
        if version == 5:
            f["properties"], p = decode_properties(body, p)
        f["payload"] = bytes(body[p:])
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        f["packet_id"] = struct.unpack_from(">H", body, 0)[0]
        f["reason"] = body[2] if version == 5 and len(body) > 2 else 0
        f["properties"] = decode_properties(body, 3)[0] if version == 5 and len(body) > 3 else {}
    elif ptype in (SUBACK, UNSUBACK):
        f["packet_id"] = struct.unpack_from(">H", body, 0)[0]
        p = 2
        f["properties"] = {}
        if version == 5:
            f["properties"], p = decode_properties(body, p)
        f["reasons"] = list(body[p:])
    elif ptype in (DISCONNECT, AUTH):
        f["reason"] = body[0] if len(body) > 0 else 0
        f["properties"] = decode_properties(body, 1)[0] if len(body) > 1 else {}
    return Packet(ptype, flags, bytes(raw), **f)


# --- the raw client --------------------------------------------------------------


class Closed(AssertionError):
    """The server closed the connection while a packet was expected."""


class RawClient:
    """One TCP connection speaking MQTT byte by byte. Nothing is sent or
    acknowledged behind the test's back. Packets read while waiting for a
    particular one (wait_for) are kept, in order, for the next recv()."""

    def __init__(self, address, version=5, timeout=10.0):
        self.version = version
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.stash = collections.deque()
        self.ids = itertools.count(1)
        self.connack = None

    # --- bytes
    def send(self, data):
        """Sends bytes; a connection the server already closed is not an error
        here (the test asserts the close where it matters)."""
        try:
            self.sock.sendall(bytes(data))
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, ConnectionAbortedError):
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk
        return True

    def _take(self):
        """The next whole packet in the buffer as bytes, or None."""
        if len(self.buf) < 2:
            return None
        try:
            length, pos = read_varint(self.buf, 1)
        except IndexError:
            return None
        if len(self.buf) < pos + length:
            return None
        raw = bytes(self.buf[:pos + length])
        del self.buf[:pos + length]
        return raw

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            raw = self._take()
            if raw is not None:
                return decode_packet(raw, self.version)
            if self.eof:
                raise Closed("connection closed by the server")
            if not self._fill(deadline):
                raise AssertionError(f"no packet from the server within {timeout:.1f}s")

    # --- packets in
    def recv(self, timeout=10.0):
        """The next packet; Closed if the connection ends first; AssertionError
        on timeout."""
        if self.stash:
            return self.stash.popleft()
        return self._read(timeout)

    def poll(self, timeout):
        """The next packet, or None if none comes within `timeout` or the
        connection is closed."""
        try:
            return self.recv(timeout)
        except AssertionError:  # Closed included
            return None

    def expect(self, ptype, timeout=10.0):
        """The next packet, which must be of type `ptype`."""
        packet = self.recv(timeout)
        assert packet.type == ptype, f"expected {PACKET_NAMES[ptype]}, got {packet!r}"
        return packet

    def wait_for(self, ptype, packet_id=None, timeout=10.0):
        """The first packet of `ptype` (and `packet_id`) from the socket; the
        others read meanwhile are kept for recv()."""
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                packet = self._read(max(0.0, deadline - time.monotonic()))
                if packet.type == ptype and (packet_id is None or packet.packet_id == packet_id):
                    return packet
                skipped.append(packet)
        finally:
            self.stash.extend(skipped)

    def expect_closed(self, timeout=10.0):
        """Reads until the server closes the connection; returns the packets
        it sent before closing. Fails if the connection is still open after
        `timeout`."""
        deadline = time.monotonic() + timeout
        packets = list(self.stash)
        self.stash.clear()
        while True:
            raw = self._take()
            if raw is not None:
                packets.append(decode_packet(raw, self.version))
                continue
            if self.eof:
                return packets
            if not self._fill(deadline):
                raise AssertionError(
                    f"the connection is still open {timeout}s later (packets before: {packets})")

    def is_open(self, timeout=10.0):
        """True if a PINGREQ is answered with a PINGRESP [MQTT-3.12.4-1]."""
        if not self.send(pingreq_packet()):
            return False
        try:
            self.wait_for(PINGRESP, timeout=timeout)
            return True
        except AssertionError:
            return False

    # --- sessions and flows
    def next_id(self):
        return next(self.ids)

    def connect(self, client_id="", clean=True, keepalive=60, properties=None, will=None,
                expect_success=True, timeout=10.0, **kw):
        self.send(connect_packet(client_id, self.version, clean, keepalive, properties, will, **kw))
        packet = self.expect(CONNACK, timeout)
        self.connack = packet
        if expect_success:
            assert packet.reason == 0, f"CONNECT refused: {packet!r}"
        return packet

    def subscribe(self, *subscriptions, properties=None, timeout=10.0):
        """subscriptions: (filter, options) pairs or bare filters (QoS 0).
        Returns the SUBACK's reason codes."""
        subs = [(s, 0) if isinstance(s, (str, bytes)) else s for s in subscriptions]
        pid = self.next_id()
        self.send(subscribe_packet(pid, subs, self.version, properties))
        ack = self.wait_for(SUBACK, timeout=timeout)
        assert ack.packet_id == pid, f"SUBACK for {ack.packet_id}, SUBSCRIBE was {pid} [MQTT-3.8.4-2]"
        return ack.reasons

    def unsubscribe(self, *filters, timeout=10.0):
        pid = self.next_id()
        self.send(unsubscribe_packet(pid, filters, self.version))
        ack = self.wait_for(UNSUBACK, timeout=timeout)
        assert ack.packet_id == pid, f"UNSUBACK for {ack.packet_id}, UNSUBSCRIBE was {pid}"
        return ack.reasons

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, timeout=10.0):
        """Publishes and runs the QoS flow to its end; returns the PUBACK
        (QoS 1), the PUBCOMP (QoS 2, its PUBREC as .pubrec), the PUBREC if it
        refused (reason >= 0x80), or None (QoS 0)."""
        if qos == 0:
            self.send(publish_packet(topic, payload, 0, retain, properties=properties,
                                     version=self.version))
            return None
        pid = self.next_id()
        self.send(publish_packet(topic, payload, qos, retain, packet_id=pid,
                                 properties=properties, version=self.version))
        if qos == 1:
            return self.wait_for(PUBACK, pid, timeout)
        rec = self.wait_for(PUBREC, pid, timeout)
        if rec.reason >= 0x80:
            return rec
        self.send(ack_packet(PUBREL, pid, version=self.version))
        comp = self.wait_for(PUBCOMP, pid, timeout)
        comp.pubrec = rec
        return comp

    def ack(self, packet):
        """Acknowledges a received PUBLISH: PUBACK (QoS 1) or PUBREC (QoS 2;
        the PUBREL is answered by next_publish when it comes)."""
        if packet.qos == 1:
            self.send(ack_packet(PUBACK, packet.packet_id, version=self.version))
        elif packet.qos == 2:
            self.send(ack_packet(PUBREC, packet.packet_id, version=self.version))

    def next_publish(self, timeout=10.0, ack=True):
        """The next PUBLISH, acknowledged if `ack` (PUBRELs met on the way are
        answered with PUBCOMP). Any other packet fails."""
        deadline = time.monotonic() + timeout
        while True:
            packet = self.recv(max(0.0, deadline - time.monotonic()))
            if packet.type == PUBREL and ack:
                self.send(ack_packet(PUBCOMP, packet.packet_id, version=self.version))
                continue
            assert packet.type == PUBLISH, f"expected PUBLISH, got {packet!r}"
            if ack:
                self.ack(packet)
            return packet

    def publishes_until(self, sentinel_topic, payload=None, timeout=10.0, ack=True):
        """The PUBLISH packets received before the first one on
        `sentinel_topic` (with `payload`, if given), which is consumed."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            packet = self.next_publish(max(0.0, deadline - time.monotonic()), ack)
            if packet.topic == sentinel_topic and payload in (None, packet.payload):
                return got
            got.append(packet)

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def abort(self):
        """Drops the connection without DISCONNECT (as a network failure)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.close()

    def disconnect(self, reason=None, properties=None):
        """DISCONNECT, then waits for the server to close the connection, so
        that what follows sees its effects."""
        self.send(disconnect_packet(reason, properties, self.version))
        with contextlib.suppress(AssertionError):
            self.expect_closed(5.0)
        self.close()


# --- paho ------------------------------------------------------------------------

import paho.mqtt.client as paho  # noqa: E402  (python3-paho-mqtt, the 1.6 API)
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.reasoncodes import ReasonCodes  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402


def paho_properties(packet_type, **values):
    """A paho Properties object: paho_properties(PacketTypes.PUBLISH,
    UserProperty=[("a", "1")], ResponseTopic="r")."""
    props = Properties(packet_type)
    for name, value in values.items():
        setattr(props, name, value)
    return props


class PahoClient:
    """python3-paho-mqtt driven synchronously: connect() returns the
    CONNACK, subscribe() the SUBACK's codes, publish() once the QoS flow is
    complete; received messages queue up for next()/expect()."""

    def __init__(self, broker, client_id="", version=5, clean=True, keepalive=30,
                 transport="tcp", connect_properties=None, will=None):
        self.broker, self.version, self.clean = broker, version, clean
        self.keepalive, self.transport = keepalive, transport
        self.connect_properties = connect_properties
        self.client = paho.Client(client_id=client_id,
                                  clean_session=clean if version == 4 else None,
                                  protocol=paho.MQTTv5 if version == 5 else paho.MQTTv311,
                                  transport=transport, reconnect_on_failure=False)
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        if will is not None:
            self.client.will_set(will["topic"], will.get("payload"), will.get("qos", 0),
                                 will.get("retain", False), will.get("properties"))
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = {}
        self.unsubacks = {}
        self.disconnects = queue.Queue()
        self._acks = threading.Condition()
        c = self.client
        c.on_connect = self._on_connect
        c.on_message = lambda _c, _u, msg: self.messages.put(msg)
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_unsubscribe
        c.on_disconnect = self._on_disconnect

    def _on_connect(self, _c, _u, flags, rc, properties=None):
        self.connacks.put((flags, rc if isinstance(rc, int) else rc.value, properties))

    def _on_subscribe(self, _c, _u, mid, granted, properties=None):
        codes = [g if isinstance(g, int) else g.value for g in granted]
        with self._acks:
            self.subacks[mid] = codes
            self._acks.notify_all()

    def _on_unsubscribe(self, _c, _u, mid, properties=None, reasons=None):
        if reasons is not None and not isinstance(reasons, list):
            reasons = [reasons]
        codes = [r if isinstance(r, int) else r.value for r in (reasons or [])]
        with self._acks:
            self.unsubacks[mid] = codes
            self._acks.notify_all()

    def _on_disconnect(self, _c, _u, rc, properties=None):
        self.disconnects.put(rc if isinstance(rc, int) else rc.value)

    def connect(self, timeout=10.0, expect_success=True):
        host, port = self.broker.ws_address if self.transport == "websockets" else self.broker.address
        kwargs = {}
        if self.version == 5:
            kwargs = {"clean_start": self.clean, "properties": self.connect_properties}
        self.client.connect(host, port, self.keepalive, **kwargs)
        self.client.loop_start()
        try:
            flags, rc, props = self.connacks.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no CONNACK within {timeout}s") from None
        if expect_success:
            assert rc == 0, f"CONNECT refused with {rc:#x}"
        self.session_present = bool(flags.get("session present"))
        self.connack_properties = props
        return flags, rc, props

    def _wait_ack(self, table, mid, timeout, what):
        with self._acks:
            if not self._acks.wait_for(lambda: mid in table, timeout):
                raise AssertionError(f"no {what} within {timeout}s")
            return table.pop(mid)

    def subscribe(self, topic_filter, qos=0, no_local=False, retain_as_published=False,
                  retain_handling=0, properties=None, timeout=10.0):
        if self.version == 5:
            opts = SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                                    retainHandling=retain_handling)
            rc, mid = self.client.subscribe(topic_filter, options=opts, properties=properties)
        else:
            rc, mid = self.client.subscribe(topic_filter, qos)
        assert rc == paho.MQTT_ERR_SUCCESS, rc
        return self._wait_ack(self.subacks, mid, timeout, "SUBACK")

    def unsubscribe(self, topic_filter, timeout=10.0):
        rc, mid = self.client.unsubscribe(topic_filter)
        assert rc == paho.MQTT_ERR_SUCCESS, rc
        return self._wait_ack(self.unsubacks, mid, timeout, "UNSUBACK")

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, timeout=10.0):
        info = self.client.publish(topic, payload, qos, retain, properties)
        assert info.rc == paho.MQTT_ERR_SUCCESS, info.rc
        if qos > 0:
            info.wait_for_publish(timeout)
            assert info.is_published(), f"QoS {qos} publish to {topic} not acknowledged in {timeout}s"
        return info

    def next(self, timeout=10.0):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout}s") from None

    def expect(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        return [self.next(max(0.01, deadline - time.monotonic())) for _ in range(count)]

    def until(self, topic, timeout=10.0):
        """Every message up to and including the first on `topic` (a
        sentinel): what came before it."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            msg = self.next(max(0.01, deadline - time.monotonic()))
            got.append(msg)
            if msg.topic == topic:
                return got

    def disconnect(self, reasoncode=None, properties=None):
        """A normal DISCONNECT (v5: with `reasoncode`, an int), then the
        network loop stops."""
        if self.version == 5 and reasoncode is not None:
            self.client.disconnect(ReasonCodes(PacketTypes.DISCONNECT, identifier=reasoncode),
                                   properties)
        else:
            self.client.disconnect()
        self.client.loop_stop()

    def kill(self):
        """Drops the connection without DISCONNECT."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def close(self):
        with contextlib.suppress(Exception):
            self.client.disconnect()
        with contextlib.suppress(Exception):
            self.client.loop_stop()


def user_properties(msg):
    """The user properties of a paho message, as a list of pairs."""
    props = getattr(msg, "properties", None)
    return list(getattr(props, "UserProperty", []) or []) if props else []


# --- the node under test ---------------------------------------------------------


class SkeinMqtt:
    """A skein node's MQTT faces: the TCP listener (ready file key "mqtt")
    and MQTT over WebSocket on the HTTP port at /mqtt."""
    name = "skein"

    def __init__(self, node):
        self.node = node

    @property
    def address(self):
        host, port = self.node.addresses["mqtt"].rsplit(":", 1)
        return host, int(port)

    @property
    def ws_address(self):
        return self.node.host, self.node.port

    @property
    def ws_url(self):
        return f"ws://{self.node.host}:{self.node.port}/mqtt"

    def stop(self, sig=signal.SIGTERM):
        self.node.stop(sig)

    def start(self):
        self.node.start()

    def restart(self, sig=signal.SIGTERM):
        """Stops the node with `sig` (SIGKILL: kill -9) and starts it again on
        the same data directory. The MQTT port changes."""
        self.stop(sig)
        self.start()


def skein_broker(node, tmp_path):
    return contextlib.nullcontext(SkeinMqtt(node))


# Replaced by a local plugin to run the protocol-level tests against another
# broker (for checking the tests themselves); the suites do not know it.
BROKER_FACTORY = skein_broker


@pytest.fixture
def broker(node, tmp_path):
    with BROKER_FACTORY(node, tmp_path) as b:
        yield b


_counter = itertools.count(1)


def unique(prefix="c"):
    """A client identifier (or topic level) unique within the test run."""
    return f"{prefix}{os.getpid() % 10000}x{next(_counter)}"


def raw(broker, version=5, **kw):
    return RawClient(broker.address, version, **kw)


def connected(broker, version=5, client_id=None, **kw):
    """A RawClient, connected (CONNACK 0 checked)."""
    c = RawClient(broker.address, version)
    c.connect(client_id if client_id is not None else unique(), **kw)
    return c
