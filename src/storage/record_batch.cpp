// Kafka v2 record batches (record_batch.hpp): checking a batch's header and CRC before
// the log stores it or after recovery reads it, rewriting its base offset, building one
// as a client would, and decoding the records of an uncompressed one. Every read is
// bounds-checked: the input may be a torn tail or hostile bytes off the wire.
#include "storage/record_batch.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

namespace skein::storage {
namespace {

// Byte positions of the header's fields (the layout in record_batch.hpp).
constexpr std::size_t kBaseOffsetAt = 0;
constexpr std::size_t kBatchLengthAt = 8;
constexpr std::size_t kLeaderEpochAt = 12;
constexpr std::size_t kMagicAt = 16;
constexpr std::size_t kCrcAt = 17;
constexpr std::size_t kAttributesAt = 21;  // the CRC covers from here to the end
constexpr std::size_t kLastOffsetDeltaAt = 23;
constexpr std::size_t kBaseTimestampAt = 27;
constexpr std::size_t kMaxTimestampAt = 35;
constexpr std::size_t kProducerIdAt = 43;
constexpr std::size_t kProducerEpochAt = 51;
constexpr std::size_t kBaseSequenceAt = 53;
constexpr std::size_t kRecordCountAt = 57;
constexpr std::size_t kMinBatchLength = kBatchHeaderBytes - kBatchLengthPrefixBytes;  // 49

static_assert(kRecordCountAt + 4 == kBatchHeaderBytes);

// Big-endian, by hand: N bytes at `p` as an unsigned value.
template <typename U>
U load_be(const std::byte* p) {
  U v = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i)
    v = static_cast<U>((v << 8) | std::to_integer<U>(p[i]));
  return v;
}

template <typename U>
void store_be(std::byte* p, U v) {
  for (std::size_t i = sizeof(U); i-- > 0;) {
    p[i] = static_cast<std::byte>(v & 0xFF);
    v = static_cast<U>(v >> 8);
  }
}

std::int64_t get64(const std::byte* p) {
  return static_cast<std::int64_t>(load_be<std::uint64_t>(p));
}
std::int32_t get32(const std::byte* p) {
  return static_cast<std::int32_t>(load_be<std::uint32_t>(p));
}
std::int16_t get16(const std::byte* p) {
  return static_cast<std::int16_t>(load_be<std::uint16_t>(p));
}

std::string hex32(std::uint32_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x00000000";
  for (std::size_t i = 9; i >= 2; --i, v >>= 4) s[i] = kDigits[v & 0xF];
  return s;
}

BatchCheck fail(BatchError error, std::string message) {
  return BatchCheck{std::nullopt, error, std::move(message)};
}

BatchHeader parse_header(const std::byte* p) {
  BatchHeader h;
  h.base_offset = get64(p + kBaseOffsetAt);
  h.batch_length = get32(p + kBatchLengthAt);
  h.leader_epoch = get32(p + kLeaderEpochAt);
  h.magic = static_cast<std::int8_t>(p[kMagicAt]);
  h.crc = load_be<std::uint32_t>(p + kCrcAt);
  h.attributes = get16(p + kAttributesAt);
  h.last_offset_delta = get32(p + kLastOffsetDeltaAt);
  h.base_timestamp = get64(p + kBaseTimestampAt);
  h.max_timestamp = get64(p + kMaxTimestampAt);
  h.producer_id = get64(p + kProducerIdAt);
  h.producer_epoch = get16(p + kProducerEpochAt);
  h.base_sequence = get32(p + kBaseSequenceAt);
  h.record_count = get32(p + kRecordCountAt);
  return h;
}

// recordCount and lastOffsetDelta: compaction may drop records but keeps the delta, so
// count <= delta + 1 rather than equality; the last offset must fit in an int64.
std::optional<BatchCheck> check_counts(const BatchHeader& h) {
  if (h.record_count < 0) {
    return fail(BatchError::bad_records,
                "recordCount " + std::to_string(h.record_count) + " is negative");
  }
  if (h.last_offset_delta < 0) {
    return fail(BatchError::bad_records,
                "lastOffsetDelta " + std::to_string(h.last_offset_delta) + " is negative");
  }
  if (static_cast<std::int64_t>(h.record_count) > std::int64_t{h.last_offset_delta} + 1) {
    return fail(BatchError::bad_records, "recordCount " + std::to_string(h.record_count) +
                                             " exceeds lastOffsetDelta " +
                                             std::to_string(h.last_offset_delta) + " + 1");
  }
  if (h.base_offset > std::numeric_limits<std::int64_t>::max() - h.last_offset_delta) {
    return fail(BatchError::bad_records, "baseOffset " + std::to_string(h.base_offset) +
                                             " + lastOffsetDelta " +
                                             std::to_string(h.last_offset_delta) + " overflows");
  }
  return std::nullopt;
}

// Reads zigzag varints (Kafka's record fields) from [pos, end); any overrun, or an
// encoding longer or wider than the type, leaves `ok` false and the value 0.
class VarReader {
 public:
  VarReader(const std::byte* pos, const std::byte* end) : pos_(pos), end_(end) {}

  std::int32_t varint() { return static_cast<std::int32_t>(zigzag(raw(5, 0x0F))); }
  std::int64_t varlong() { return zigzag(raw(10, 0x01)); }

  std::optional<std::string_view> bytes(std::size_t n) {
    if (!ok_ || static_cast<std::size_t>(end_ - pos_) < n) return fail_view();
    std::string_view v(reinterpret_cast<const char*>(pos_), n);
    pos_ += n;
    return v;
  }

  // A length-prefixed field: -1 is null, other negatives are malformed.
  std::optional<std::string_view> nullable_bytes() {
    const std::int32_t len = varint();
    if (len == -1 || !ok_) return std::nullopt;
    if (len < 0) return fail_view();
    return bytes(static_cast<std::size_t>(len));
  }

  std::int8_t int8() {
    if (!ok_ || pos_ == end_) {
      ok_ = false;
      return 0;
    }
    return static_cast<std::int8_t>(*pos_++);
  }

  const std::byte* pos() const { return pos_; }
  bool ok() const { return ok_; }

 private:
  // Up to `max_bytes` base-128 groups; the last one may use only `last_mask`'s bits.
  std::uint64_t raw(int max_bytes, unsigned last_mask) {
    std::uint64_t v = 0;
    for (int i = 0; i < max_bytes && ok_ && pos_ != end_; ++i) {
      const auto b = std::to_integer<unsigned>(*pos_++);
      if (i == max_bytes - 1 && b > last_mask) break;
      v |= static_cast<std::uint64_t>(b & 0x7F) << (7 * i);
      if ((b & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }

  static std::int64_t zigzag(std::uint64_t v) {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
  }

  std::optional<std::string_view> fail_view() {
    ok_ = false;
    return std::nullopt;
  }

  const std::byte* pos_;
  const std::byte* end_;
  bool ok_ = true;
};

// Decodes one record's body (after its length) from `r`, which ends where the record
// does. Offset deltas must rise strictly and stay within [0, lastOffsetDelta].
std::optional<RecordView> decode_record(VarReader& r, const BatchHeader& h,
                                        std::int64_t& prev_delta) {
  RecordView rec;
  r.int8();  // record attributes: unused in v2
  const std::int64_t ts_delta = r.varlong();
  const std::int32_t offset_delta = r.varint();
  rec.key = r.nullable_bytes();
  rec.value = r.nullable_bytes();
  const std::int32_t header_count = r.varint();
  if (!r.ok() || header_count < 0 || offset_delta <= prev_delta ||
      offset_delta > h.last_offset_delta) {
    return std::nullopt;
  }
  prev_delta = offset_delta;
  rec.offset = h.base_offset + offset_delta;
  // Kafka adds the delta with Java's wrapping arithmetic.
  rec.timestamp = static_cast<std::int64_t>(static_cast<std::uint64_t>(h.base_timestamp) +
                                            static_cast<std::uint64_t>(ts_delta));
  for (std::int32_t i = 0; i < header_count; ++i) {
    const std::int32_t key_len = r.varint();
    if (key_len < 0) return std::nullopt;
    const auto key = r.bytes(static_cast<std::size_t>(key_len));
    const auto value = r.nullable_bytes();  // a null header value reads as empty
    if (!r.ok()) return std::nullopt;
    rec.headers.emplace_back(*key, value.value_or(std::string_view{}));
  }
  return rec;
}

// Appends zigzag varints and raw bytes while building a batch.
struct Writer {
  std::vector<std::byte>& out;

  void varlong(std::int64_t v) {
    auto z = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
    while (z >= 0x80) {
      out.push_back(static_cast<std::byte>((z & 0x7F) | 0x80));
      z >>= 7;
    }
    out.push_back(static_cast<std::byte>(z));
  }
  void bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out.insert(out.end(), p, p + s.size());
  }
  void nullable(const std::optional<std::string>& s) {
    varlong(s ? static_cast<std::int64_t>(s->size()) : -1);
    if (s) bytes(*s);
  }
};

void append_record(std::vector<std::byte>& out, const RecordSpec& rec, std::int64_t base_ts,
                   std::int32_t offset_delta, std::vector<std::byte>& scratch) {
  scratch.clear();
  Writer body{scratch};
  body.out.push_back(std::byte{0});  // attributes
  body.varlong(static_cast<std::int64_t>(static_cast<std::uint64_t>(rec.timestamp) -
                                         static_cast<std::uint64_t>(base_ts)));
  body.varlong(offset_delta);
  body.nullable(rec.key);
  body.nullable(rec.value);
  body.varlong(static_cast<std::int64_t>(rec.headers.size()));
  for (const auto& [key, value] : rec.headers) {
    body.varlong(static_cast<std::int64_t>(key.size()));
    body.bytes(key);
    body.varlong(static_cast<std::int64_t>(value.size()));
    body.bytes(value);
  }
  Writer w{out};
  w.varlong(static_cast<std::int64_t>(scratch.size()));
  out.insert(out.end(), scratch.begin(), scratch.end());
}

}  // namespace

BatchCheck check_batch(std::span<const std::byte> bytes, std::size_t max_batch_bytes,
                       bool verify_crc) {
  const std::size_t have = bytes.size();
  if (have < kBatchLengthPrefixBytes) {
    return fail(BatchError::truncated, "only " + std::to_string(have) + " bytes, below the " +
                                           std::to_string(kBatchLengthPrefixBytes) +
                                           " of baseOffset and batchLength");
  }
  const std::int32_t batch_length = get32(bytes.data() + kBatchLengthAt);
  if (batch_length < 0 || static_cast<std::size_t>(batch_length) < kMinBatchLength) {
    return fail(BatchError::bad_length, "batchLength " + std::to_string(batch_length) +
                                            " is below the minimum " +
                                            std::to_string(kMinBatchLength));
  }
  const std::size_t total = kBatchLengthPrefixBytes + static_cast<std::size_t>(batch_length);
  if (total > max_batch_bytes) {
    return fail(BatchError::bad_length, "batchLength " + std::to_string(batch_length) +
                                            " makes a batch of " + std::to_string(total) +
                                            " bytes, over the limit " +
                                            std::to_string(max_batch_bytes));
  }
  if (have <= kMagicAt) {
    return fail(BatchError::truncated,
                "only " + std::to_string(have) + " bytes, the magic byte is missing");
  }
  const auto magic = static_cast<std::int8_t>(bytes[kMagicAt]);
  if (magic != kMagicV2) {
    return fail(BatchError::bad_magic,
                "magic " + std::to_string(magic) + ": only v2 batches are accepted");
  }
  if (have < total) {
    return fail(BatchError::truncated, "only " + std::to_string(have) + " of the " +
                                           std::to_string(total) +
                                           " bytes batchLength announces are present");
  }
  BatchHeader h = parse_header(bytes.data());
  if (verify_crc) {
    const std::uint32_t computed = crc32c(bytes.subspan(kAttributesAt, total - kAttributesAt));
    if (computed != h.crc) {
      return fail(BatchError::bad_crc,
                  "CRC-32C " + hex32(computed) + " does not match the stored " + hex32(h.crc));
    }
  }
  if (auto bad = check_counts(h)) return std::move(*bad);
  return BatchCheck{h, BatchError::truncated, {}};
}

void set_base_offset(std::span<std::byte> batch, std::int64_t base_offset) {
  if (batch.size() < kBaseOffsetAt + 8) return;
  store_be(batch.data() + kBaseOffsetAt, static_cast<std::uint64_t>(base_offset));
}

std::vector<std::byte> build_batch(const std::vector<RecordSpec>& records, std::int64_t producer_id,
                                   std::int16_t producer_epoch, std::int32_t base_sequence) {
  const std::int64_t base_ts = records.empty() ? 0 : records.front().timestamp;
  std::int64_t max_ts = base_ts;
  for (const auto& rec : records) max_ts = std::max(max_ts, rec.timestamp);

  std::vector<std::byte> out(kBatchHeaderBytes);
  std::byte* p = out.data();
  store_be(p + kLeaderEpochAt, std::uint32_t{0});
  p[kMagicAt] = static_cast<std::byte>(kMagicV2);
  store_be(p + kAttributesAt, std::uint16_t{0});
  // An empty batch keeps lastOffsetDelta 0: check_batch refuses a negative one.
  const auto count = static_cast<std::int32_t>(records.size());
  store_be(p + kLastOffsetDeltaAt, static_cast<std::uint32_t>(count > 0 ? count - 1 : 0));
  store_be(p + kBaseTimestampAt, static_cast<std::uint64_t>(base_ts));
  store_be(p + kMaxTimestampAt, static_cast<std::uint64_t>(max_ts));
  store_be(p + kProducerIdAt, static_cast<std::uint64_t>(producer_id));
  store_be(p + kProducerEpochAt, static_cast<std::uint16_t>(producer_epoch));
  store_be(p + kBaseSequenceAt, static_cast<std::uint32_t>(base_sequence));
  store_be(p + kRecordCountAt, static_cast<std::uint32_t>(count));

  std::vector<std::byte> scratch;
  for (std::int32_t i = 0; i < count; ++i) {
    append_record(out, records[static_cast<std::size_t>(i)], base_ts, i, scratch);
  }
  p = out.data();  // the records may have moved the buffer
  store_be(p + kBatchLengthAt, static_cast<std::uint32_t>(out.size() - kBatchLengthPrefixBytes));
  const auto covered = std::span<const std::byte>(out).subspan(kAttributesAt);
  store_be(p + kCrcAt, crc32c(covered));
  return out;
}

void set_log_append_time(std::span<std::byte> batch, std::int64_t time_ms) {
  if (batch.size() < kBatchHeaderBytes) return;  // not a batch: nothing to mark
  std::byte* p = batch.data();
  const auto attributes = load_be<std::uint16_t>(p + kAttributesAt);
  store_be(p + kAttributesAt, static_cast<std::uint16_t>(attributes | 0x8));
  store_be(p + kMaxTimestampAt, static_cast<std::uint64_t>(time_ms));
  const std::size_t length = std::min<std::size_t>(
      batch.size(), kBatchLengthPrefixBytes + load_be<std::uint32_t>(p + kBatchLengthAt));
  store_be(p + kCrcAt, crc32c(batch.subspan(kAttributesAt, length - kAttributesAt)));
}

std::optional<std::vector<RecordView>> decode_records(std::span<const std::byte> batch) {
  // The header's lengths and counts, not its CRC (the caller checked that, or chose not to).
  const BatchCheck check = check_batch(batch, batch.size(), false);
  if (!check.header || check.header->compression() != 0) return std::nullopt;
  return decode_record_section(
      *check.header,
      batch.subspan(kBatchHeaderBytes, check.header->total_bytes() - kBatchHeaderBytes));
}

std::optional<std::vector<RecordView>> decode_record_section(const BatchHeader& h,
                                                             std::span<const std::byte> section) {
  const std::byte* pos = section.data();
  const std::byte* const end = section.data() + section.size();
  // Each record takes at least 7 bytes, which bounds the reservation for hostile counts.
  if (h.record_count < 0) return std::nullopt;
  const auto count = static_cast<std::size_t>(h.record_count);
  if (count > static_cast<std::size_t>(end - pos) / 7) return std::nullopt;
  std::vector<RecordView> records;
  records.reserve(count);
  std::int64_t prev_delta = -1;
  for (std::size_t i = 0; i < count; ++i) {
    VarReader outer(pos, end);
    const std::int32_t length = outer.varint();
    if (!outer.ok() || length < 0 || end - outer.pos() < length) return std::nullopt;
    const std::byte* const record_end = outer.pos() + length;
    VarReader r(outer.pos(), record_end);
    auto rec = decode_record(r, h, prev_delta);
    if (!rec || r.pos() != record_end) return std::nullopt;
    rec->raw = std::span<const std::byte>(pos, record_end);
    records.push_back(std::move(*rec));
    pos = record_end;
  }
  if (pos != end) return std::nullopt;
  return records;
}

std::vector<std::byte> rebuild_batch(const BatchHeader& original,
                                     std::span<const std::span<const std::byte>> records) {
  std::size_t total = kBatchHeaderBytes;
  for (const auto& r : records) total += r.size();
  std::vector<std::byte> out(kBatchHeaderBytes);
  out.reserve(total);
  std::byte* p = out.data();
  store_be(p + kBaseOffsetAt, static_cast<std::uint64_t>(original.base_offset));
  store_be(p + kBatchLengthAt, static_cast<std::uint32_t>(total - kBatchLengthPrefixBytes));
  store_be(p + kLeaderEpochAt, static_cast<std::uint32_t>(original.leader_epoch));
  p[kMagicAt] = static_cast<std::byte>(kMagicV2);
  // The records are written as they decode: without compression (bits 0-2).
  store_be(p + kAttributesAt, static_cast<std::uint16_t>(original.attributes & ~0x7));
  store_be(p + kLastOffsetDeltaAt, static_cast<std::uint32_t>(original.last_offset_delta));
  store_be(p + kBaseTimestampAt, static_cast<std::uint64_t>(original.base_timestamp));
  store_be(p + kMaxTimestampAt, static_cast<std::uint64_t>(original.max_timestamp));
  store_be(p + kProducerIdAt, static_cast<std::uint64_t>(original.producer_id));
  store_be(p + kProducerEpochAt, static_cast<std::uint16_t>(original.producer_epoch));
  store_be(p + kBaseSequenceAt, static_cast<std::uint32_t>(original.base_sequence));
  store_be(p + kRecordCountAt, static_cast<std::uint32_t>(records.size()));
  for (const auto& r : records) out.insert(out.end(), r.begin(), r.end());
  const auto covered = std::span<const std::byte>(out).subspan(kAttributesAt);
  store_be(out.data() + kCrcAt, crc32c(covered));
  return out;
}

}  // namespace skein::storage
