// Kafka's message formats before the v2 record batch ("message sets", magic 0
// and 1; the layout is the public "Messagesets" section of the Kafka protocol
// guide and KIP-31/32), kept only at the edge: the log stores v2 batches, so
// Produce v0-2 requests are converted up on the way in and Fetch v0-3
// responses down on the way out. This is what clients that speak the 0.8-0.10
// dialects (sarama's default, old kafka-python) send and expect.
//
//   MessageSet => [Offset int64, MessageSize int32, Message]
//   Message    => Crc uint32 (CRC-32 over Magic..end), Magic int8, Attributes int8,
//                 [Timestamp int64 when Magic = 1], Key bytes, Value bytes
//
// Attributes bits 0-2 name the codec (none, gzip, snappy, lz4), bit 3 the
// timestamp type (magic 1). A compressed message is a wrapper whose value is
// a whole inner message set, compressed; inner offsets are relative from
// magic 1 on (the wrapper carries the last absolute offset).
//
// Bytes only: no files, no sockets. Input is hostile: every failure is a
// message, never a crash, and nesting and decompressed sizes are bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace skein::kafka {

// Whether `bytes` starts like a message set (magic 0 or 1 at the place a
// message keeps it), as opposed to a v2 record batch.
bool is_message_set(std::span<const std::byte> bytes);

struct MessageSetLimits {
  std::size_t max_batch_bytes = 1 << 20;  // the v2 batch built (max.message.bytes)
  std::size_t max_decompressed_bytes = 64u << 20;
};

// One uncompressed v2 batch (base offset 0, offsets 0..n-1 in the order
// given, the CRC set) holding every message of a produced message set, or a
// message saying what is wrong. Magic 0 messages have no timestamp and get
// `now_ms` stamped as log-append time, which is what their offsets mean.
// Key and value (null or not) carry over; there are no headers. A trailing
// partial message is an error here: a producer sends whole messages.
std::variant<std::vector<std::byte>, std::string> message_set_to_batch(
    std::span<const std::byte> message_set, std::int64_t now_ms, const MessageSetLimits& limits);

// The v2 batches in `batches` (whole ones, as a log read returns them) as an
// uncompressed message set of `magic` (0 or 1) with absolute offsets, for an
// old Fetch. Records before `from_offset` are left out (a batch can start
// before the offset asked); control batches are left out; headers are lost,
// as the old formats have none. A batch that cannot be read is an error.
std::variant<std::vector<std::byte>, std::string> batches_to_message_set(
    std::span<const std::byte> batches, std::int8_t magic, std::int64_t from_offset,
    const MessageSetLimits& limits);

}  // namespace skein::kafka
