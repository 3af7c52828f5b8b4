"""Hostile and malformed input on the Kafka port, over raw sockets: unknown
API keys, unsupported versions, size fields that lie, truncated frames and
bodies, corrupt CRCs, oversized batches. Each gets a clear error code or a
closed connection, and the node keeps serving everyone else."""
import socket
import struct

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder


def connect(node):
    host, port = node.kafka.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def request(api_key, version, correlation, body, client="bad-input-test", tagged=False):
    """A request frame; `tagged`: header v2 (flexible versions), whose empty
    tagged-field section follows the client id."""
    payload = struct.pack(">hhi", api_key, version, correlation) + string(client)
    payload += (b"\x00" if tagged else b"") + body
    return struct.pack(">i", len(payload)) + payload


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None  # closed
        data += chunk
    return data


def read_response(sock):
    size = read_exactly(sock, 4)
    if size is None:
        return None
    return read_exactly(sock, struct.unpack(">i", size)[0])


def closed_by_peer(sock):
    """The node closed the connection (EOF or reset), waiting at most the timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def api_versions_works(node):
    """A fresh client is still served: ApiVersions v0 answers with error 0."""
    with connect(node) as sock:
        sock.sendall(request(18, 0, 77, b""))
        answer = read_response(sock)
    assert answer is not None
    correlation, error = struct.unpack(">ih", answer[:6])
    return correlation == 77 and error == 0


def test_unknown_api_key_closes_only_that_connection(node):
    with connect(node) as sock:
        sock.sendall(request(999, 0, 1, b""))
        assert closed_by_peer(sock)
    assert api_versions_works(node)
    assert "api key 999" in node.read_log()


def test_an_unsupported_api_versions_version_is_answered_with_the_served_range(node):
    with connect(node) as sock:
        # A newer client speaks a flexible version: header v2.
        sock.sendall(request(18, 99, 5, b"\x00", tagged=True))
        answer = read_response(sock)
    correlation, error, count = struct.unpack(">ihi", answer[:10])
    assert correlation == 5
    assert error == 35  # UNSUPPORTED_VERSION
    key, lowest, highest = struct.unpack(">hhh", answer[10:16])
    assert (key, lowest) == (18, 0) and highest >= 3


def test_an_unsupported_version_of_another_api_closes_the_connection(node):
    with connect(node) as sock:
        sock.sendall(request(3, 99, 6, b""))  # Metadata v99
        assert closed_by_peer(sock)
    assert api_versions_works(node)


@pytest.mark.parametrize("size", [0x7FFFFFFF, -1, 3])
def test_size_fields_out_of_bounds_close_the_connection(node, size):
    with connect(node) as sock:
        sock.sendall(struct.pack(">i", size) + b"\x00" * 8)
        assert closed_by_peer(sock)
    assert api_versions_works(node)


def test_a_frame_that_promises_more_than_it_sends_does_not_hold_up_others(node):
    stuck = connect(node)
    try:
        stuck.sendall(struct.pack(">i", 1000) + b"\x00\x12\x00\x00")  # 4 of 1000 bytes
        assert api_versions_works(node)
    finally:
        stuck.close()
    assert api_versions_works(node)


def test_a_truncated_body_closes_the_connection(node):
    # Metadata v1 announcing a million topics, then nothing.
    with connect(node) as sock:
        sock.sendall(request(3, 1, 8, struct.pack(">i", 1_000_000)))
        assert closed_by_peer(sock)
    assert api_versions_works(node)


def produce_v3(topic, batch, acks=1):
    body = struct.pack(">h", -1)  # transactional id: null
    body += struct.pack(">hi", acks, 10000)
    body += struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">i", 0) + struct.pack(">i", len(batch)) + batch
    return request(0, 3, 9, body)


def produce_error(sock):
    answer = read_response(sock)
    assert answer is not None
    rest = answer[4:]  # correlation id
    (topics,) = struct.unpack(">i", rest[:4])
    assert topics == 1
    (name_length,) = struct.unpack(">h", rest[4:6])
    rest = rest[6 + name_length:]
    partitions, index, error, base_offset = struct.unpack(">iihq", rest[:18])
    assert (partitions, index) == (1, 0)
    return error, base_offset


def a_batch(values):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(i, timestamp=1000 + i, key=None, value=value, headers=[])
    return bytes(builder.build())


def corrupt_then_good(node, corrupt, good):
    """Sends a produce request that must be refused with CORRUPT_MESSAGE, then
    on the same connection (which goes on) one whose records land at offset 0."""
    with connect(node) as sock:
        sock.sendall(corrupt)
        error, _ = produce_error(sock)
        assert error == 2  # CORRUPT_MESSAGE
        sock.sendall(good)
        error, base_offset = produce_error(sock)
        assert (error, base_offset) == (0, 0)


def test_a_corrupt_crc_is_refused_and_nothing_is_stored(node):
    good = a_batch([b"one", b"two"])
    corrupt = bytearray(good)
    corrupt[-1] ^= 0x01  # inside the records: covered by the CRC
    corrupt_then_good(node, produce_v3("crc", bytes(corrupt)), produce_v3("crc", good))


def test_a_batch_over_max_message_bytes_is_refused(node):
    with connect(node) as sock:
        sock.sendall(produce_v3("big", a_batch([b"x" * 2_000_000])))
        error, _ = produce_error(sock)
    assert error == 10  # MESSAGE_TOO_LARGE
    assert api_versions_works(node)


def test_garbage_instead_of_a_batch_is_refused(node):
    with connect(node) as sock:
        sock.sendall(produce_v3("junk", b"\x00" * 70))
        error, _ = produce_error(sock)
    assert error in (2, 87)  # CORRUPT_MESSAGE or INVALID_RECORD
    assert api_versions_works(node)


def produce_v0(topic, message_set):
    """Produce v0 (no transactional id), as clients of the 0.8 dialect send it."""
    body = struct.pack(">hi", 1, 10000)
    body += struct.pack(">i", 1) + string(topic)
    body += struct.pack(">i", 1) + struct.pack(">i", 0)
    body += struct.pack(">i", len(message_set)) + message_set
    return request(0, 0, 9, body)


def a_message_set(values, magic=0):
    """A message set of `magic` 0 or 1, encoded by kafka-python's own builder."""
    from kafka.record.legacy_records import LegacyRecordBatchBuilder
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1 << 20)
    for i, value in enumerate(values):
        builder.append(i, timestamp=1000 + i if magic else None, key=None, value=value)
    return bytes(builder.build())


@pytest.mark.parametrize("damage", ["crc", "magic", "size"])
def test_a_damaged_old_format_message_set_is_refused(node, damage):
    good = a_message_set([b"one", b"two"])
    bad = bytearray(good)
    if damage == "crc":
        bad[-1] ^= 0x01  # the last value byte, covered by the message's CRC-32
    elif damage == "magic":
        bad[16] = 7  # offset 8 + size 4 + crc 4: the first message's magic
    else:
        bad[8:12] = struct.pack(">i", 10_000)  # the first message claims more than there is
    corrupt_then_good(node, produce_v0("legacy", bytes(bad)), produce_v0("legacy", good))
    assert api_versions_works(node)
