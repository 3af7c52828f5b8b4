// Kafka's v2 record batch, the unit the log stores verbatim (DESIGN.md §4;
// the layout is the public "Record Batch" definition of the Kafka protocol):
//
//   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
//   magic int8 (=2) | crc uint32 | attributes int16 | lastOffsetDelta int32 |
//   baseTimestamp int64 | maxTimestamp int64 | producerId int64 |
//   producerEpoch int16 | baseSequence int32 | recordCount int32 | records...
//
// All integers big-endian. batchLength counts the bytes after itself; the CRC
// is CRC-32C (Castagnoli) over everything from attributes to the end, so the
// base offset (and the leader epoch) can be rewritten without touching it.
// Bytes only: no files, no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace skein::storage {

inline constexpr std::size_t kBatchHeaderBytes = 61;
inline constexpr std::size_t kBatchLengthPrefixBytes = 12;  // baseOffset + batchLength
inline constexpr std::int8_t kMagicV2 = 2;

struct BatchHeader {
  std::int64_t base_offset = 0;
  std::int32_t batch_length = 0;
  std::int32_t leader_epoch = 0;
  std::int8_t magic = kMagicV2;
  std::uint32_t crc = 0;
  std::int16_t attributes =
      0;  // bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp = 0;
  std::int64_t max_timestamp = 0;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  std::int32_t base_sequence = -1;
  std::int32_t record_count = 0;

  // The whole batch on disk: 12 + batch_length.
  std::size_t total_bytes() const {
    return kBatchLengthPrefixBytes + static_cast<std::size_t>(batch_length);
  }
  std::int64_t last_offset() const { return base_offset + last_offset_delta; }
  int compression() const { return attributes & 0x7; }  // 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
  bool log_append_time() const { return (attributes & 0x8) != 0; }  // else CreateTime
  bool transactional() const { return (attributes & 0x10) != 0; }
  bool control() const { return (attributes & 0x20) != 0; }  // a transaction marker
};

enum class BatchError {
  truncated,    // fewer bytes than the header, or than batchLength announces
  bad_length,   // batchLength too small for a header, or over the limit given
  bad_magic,    // magic is not 2
  bad_crc,      // the CRC-32C does not match
  bad_records,  // recordCount / lastOffsetDelta inconsistent (negative, or count > delta + 1)
};

struct BatchCheck {
  std::optional<BatchHeader> header;  // set when the batch is valid
  BatchError error = BatchError::truncated;
  std::string message;  // what is wrong, with the numbers: "batchLength 12 is below 49"
};

// Checks the batch at the start of `bytes` (which may continue with further
// batches): a whole header, batchLength within [49, max_batch_bytes - 12] and
// within `bytes`, magic 2, consistent counts, and, when `verify_crc`, the CRC.
BatchCheck check_batch(std::span<const std::byte> bytes, std::size_t max_batch_bytes,
                       bool verify_crc = true);

// Rewrites the base offset of the batch at the start of `batch` (outside the CRC).
void set_base_offset(std::span<std::byte> batch, std::int64_t base_offset);

// CRC-32C (Castagnoli), as Kafka computes it; `crc` continues an earlier value.
std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc = 0);

namespace detail {
// The ways crc32c can compute (the fastest the CPU has is used), for tests to
// check each; nullopt when this CPU lacks the one asked for.
enum class Crc32cWay { tables, sse42, vpclmulqdq };
std::optional<std::uint32_t> crc32c_using(Crc32cWay way, std::span<const std::byte> bytes,
                                          std::uint32_t crc = 0);
}  // namespace detail

// One record to build into a batch.
struct RecordSpec {
  std::optional<std::string> key;    // nullopt: null key
  std::optional<std::string> value;  // nullopt: null value (a tombstone)
  std::vector<std::pair<std::string, std::string>> headers;
  std::int64_t timestamp = 0;  // absolute, ms
};

// Builds an uncompressed v2 batch (base offset 0, CRC set), as a Kafka client
// would send it. base_timestamp is the first record's timestamp.
std::vector<std::byte> build_batch(const std::vector<RecordSpec>& records,
                                   std::int64_t producer_id = -1, std::int16_t producer_epoch = -1,
                                   std::int32_t base_sequence = -1);

// Marks the batch at the start of `batch` as stamped by the log
// (LogAppendTime, attributes bit 3) at `time_ms`, which becomes its max
// timestamp, and computes the CRC anew.
void set_log_append_time(std::span<std::byte> batch, std::int64_t time_ms);

// One decoded record of an uncompressed batch; views point into the batch.
struct RecordView {
  std::int64_t offset = 0;     // base offset + offset delta
  std::int64_t timestamp = 0;  // base timestamp + timestamp delta
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::span<const std::byte> raw;  // the whole record as stored, its length varint included
};

// Decodes the records of a valid, uncompressed batch. nullopt when a record
// is malformed (a varint runs past the end, a length is negative and not -1,
// the records do not fill the batch exactly, or there are not recordCount).
std::optional<std::vector<RecordView>> decode_records(std::span<const std::byte> batch);

// Decodes a records section that follows the header `header`: the bytes after
// the 61-byte header of an uncompressed batch, or a compressed batch's
// payload once decompressed. Same rules as decode_records.
std::optional<std::vector<RecordView>> decode_record_section(const BatchHeader& header,
                                                             std::span<const std::byte> records);

// A batch holding some of the records of `original` (their `raw` bytes, in
// order): base offset, leader epoch, lastOffsetDelta, timestamps and producer
// fields stay as they were, so every kept record keeps its offset and
// timestamp (what compaction needs); the records are stored uncompressed and
// the CRC is computed anew.
std::vector<std::byte> rebuild_batch(const BatchHeader& original,
                                     std::span<const std::span<const std::byte>> records);

}  // namespace skein::storage
