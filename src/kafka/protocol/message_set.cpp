// Message sets (magic 0 and 1) to and from v2 record batches; see
// message_set.hpp for the layout.
#include "kafka/protocol/message_set.hpp"

#include <zlib.h>

#include <optional>

#include "kafka/protocol/reader.hpp"
#include "kafka/protocol/writer.hpp"
#include "storage/compression.hpp"
#include "storage/record_batch.hpp"

namespace skein::kafka {

namespace {

// Offset and size, then crc, magic, attributes and two -1 lengths.
constexpr std::size_t kEntryHeaderBytes = 12;
constexpr std::size_t kMinMessageBytes = 4 + 1 + 1 + 4 + 4;
constexpr std::size_t kMagicAt = kEntryHeaderBytes + 4;  // from the start of an entry
constexpr int kCodecMask = 0x7;
constexpr int kLogAppendTimeBit = 0x8;
// The least one record takes in a v2 batch: its length, attributes, timestamp
// and offset deltas, key and value lengths and header count, a byte each.
constexpr std::size_t kMinRecordBytes = 7;

std::uint32_t crc32_ieee(std::span<const std::byte> bytes) {
  // zlib's crc32 is the CRC-32 (IEEE 802.3) the old formats use; it takes
  // uInt lengths, so long inputs go in stretches.
  uLong crc = crc32(0L, Z_NULL, 0);
  while (!bytes.empty()) {
    const std::size_t n = std::min<std::size_t>(bytes.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(n));
    bytes = bytes.subspan(n);
  }
  return static_cast<std::uint32_t>(crc);
}

std::string to_string(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Reads a classic nullable `bytes` field: nullopt in `out` for -1.
bool read_field(Reader& reader, std::optional<std::string>& out) {
  const std::int32_t length = reader.read_int32();
  if (!reader.ok() || length < -1) return false;
  if (length == -1) {
    out.reset();
    return true;
  }
  const auto bytes = reader.read_span(static_cast<std::size_t>(length));
  if (!reader.ok()) return false;
  out = to_string(bytes);
  return true;
}

// Collects the records of a message set into `out`; `depth` 1 inside a
// compressed wrapper (whose contents may not be compressed again).
class Unpacker {
 public:
  Unpacker(std::int64_t now_ms, const MessageSetLimits& limits)
      : now_ms_(now_ms), limits_(limits) {}

  std::optional<std::string> unpack(std::span<const std::byte> set, int depth) {
    Reader reader(set);
    std::size_t index = 0;
    while (reader.remaining() > 0) {
      const std::string where = (depth > 0 ? "inner message " : "message ") + std::to_string(index);
      if (reader.remaining() < kEntryHeaderBytes) {
        return where + ": " + std::to_string(reader.remaining()) +
               " bytes left where an offset and a size need 12";
      }
      (void)reader.read_int64();  // producers' offsets mean nothing; the log assigns them
      const std::int32_t size = reader.read_int32();
      if (size < static_cast<std::int32_t>(kMinMessageBytes)) {
        return where + ": size " + std::to_string(size) + " is below " +
               std::to_string(kMinMessageBytes);
      }
      if (static_cast<std::size_t>(size) > reader.remaining()) {
        return where + ": size " + std::to_string(size) + " runs past the " +
               std::to_string(reader.remaining()) + " bytes left";
      }
      const auto message = reader.read_span(static_cast<std::size_t>(size));
      if (auto error = unpack_message(message, depth)) return where + ": " + *error;
      ++index;
    }
    if (index == 0) {
      return std::string(depth == 0 ? "an empty message set" : "no inner messages");
    }
    return std::nullopt;
  }

  std::vector<storage::RecordSpec>& records() { return records_; }
  bool all_magic0() const { return magic1_ == 0; }

 private:
  std::optional<std::string> unpack_message(std::span<const std::byte> message, int depth) {
    Reader reader(message);
    const std::uint32_t crc = reader.read_uint32();
    const std::uint32_t actual = crc32_ieee(reader.rest());
    if (crc != actual) {
      return "CRC " + std::to_string(crc) + " does not match the content's " +
             std::to_string(actual);
    }
    const std::int8_t magic = reader.read_int8();
    if (magic != 0 && magic != 1) return "magic " + std::to_string(magic) + " is not 0 or 1";
    const std::int8_t attributes = reader.read_int8();
    std::int64_t timestamp = now_ms_;
    if (magic == 1) {
      if (reader.remaining() < 8 + 8) return std::string("too short for a magic 1 message");
      const std::int64_t stamped = reader.read_int64();
      if (stamped >= 0) timestamp = stamped;  // -1: the producer left it to us
      ++magic1_;
    }
    storage::RecordSpec record;
    if (!read_field(reader, record.key) || !read_field(reader, record.value)) {
      return std::string("key or value runs past the message");
    }
    if (!reader.at_end()) {
      return std::to_string(reader.remaining()) + " bytes after the value";
    }
    const int codec_id = attributes & kCodecMask;
    if (codec_id == 0) {
      record.timestamp = timestamp;
      payload_bytes_ += kMinRecordBytes + (record.key ? record.key->size() : 0) +
                        (record.value ? record.value->size() : 0);
      if (storage::kBatchHeaderBytes + payload_bytes_ > limits_.max_batch_bytes) {
        return "the messages hold over " + std::to_string(limits_.max_batch_bytes) + " bytes";
      }
      records_.push_back(std::move(record));
      return std::nullopt;
    }
    // A compressed wrapper: its value is an inner message set.
    const auto codec = storage::codec_from_id(codec_id);
    if (!codec || *codec == storage::Codec::zstd) {
      return "compression codec " + std::to_string(codec_id) + " is not one of the old formats'";
    }
    if (depth > 0) return std::string("a compressed message inside a compressed one");
    if (!record.value) return std::string("a compressed message with a null value");
    const auto* data = reinterpret_cast<const std::byte*>(record.value->data());
    // One budget for the whole set, not one per wrapper.
    auto inner = storage::decompress(*codec, {data, record.value->size()},
                                     limits_.max_decompressed_bytes - decompressed_bytes_);
    if (!inner) return inner.error().message;
    decompressed_bytes_ += inner.value().size();
    return unpack(inner.value(), depth + 1);
  }

  std::int64_t now_ms_;
  const MessageSetLimits& limits_;
  std::vector<storage::RecordSpec> records_;
  std::size_t payload_bytes_ = 0;  // a lower bound of the batch's records section
  std::size_t decompressed_bytes_ = 0;
  std::size_t magic1_ = 0;
};

void write_field(Writer& out, const std::optional<std::string_view>& field) {
  if (!field) {
    out.write_int32(-1);
    return;
  }
  out.write_int32(static_cast<std::int32_t>(field->size()));
  out.write_raw({reinterpret_cast<const std::byte*>(field->data()), field->size()});
}

}  // namespace

bool is_message_set(std::span<const std::byte> bytes) {
  return bytes.size() > kMagicAt && static_cast<int>(bytes[kMagicAt]) < storage::kMagicV2;
}

std::variant<std::vector<std::byte>, std::string> message_set_to_batch(
    std::span<const std::byte> message_set, std::int64_t now_ms, const MessageSetLimits& limits) {
  Unpacker unpacker(now_ms, limits);
  if (auto error = unpacker.unpack(message_set, 0)) return std::move(*error);
  std::vector<std::byte> batch = storage::build_batch(unpacker.records());
  // Magic 0 has no timestamps: the records carry the time they arrived, marked so.
  if (unpacker.all_magic0()) storage::set_log_append_time(batch, now_ms);
  if (batch.size() > limits.max_batch_bytes) {
    return "the converted batch of " + std::to_string(batch.size()) + " bytes is over " +
           std::to_string(limits.max_batch_bytes);
  }
  return batch;
}

std::variant<std::vector<std::byte>, std::string> batches_to_message_set(
    std::span<const std::byte> batches, std::int8_t magic, std::int64_t from_offset,
    const MessageSetLimits& limits) {
  if (magic != 0 && magic != 1) return "magic " + std::to_string(magic) + " is not 0 or 1";
  Writer out;
  while (!batches.empty()) {
    const storage::BatchCheck check = storage::check_batch(batches, batches.size(), false);
    if (!check.header) return "a stored batch cannot be read: " + check.message;
    const storage::BatchHeader& header = *check.header;
    const auto whole = batches.first(header.total_bytes());
    batches = batches.subspan(header.total_bytes());
    if (header.control() || header.last_offset() < from_offset) continue;

    auto section = whole.subspan(storage::kBatchHeaderBytes);
    std::vector<std::byte> inflated;
    if (header.compression() != 0) {
      const auto codec = storage::codec_from_id(header.compression());
      if (!codec) return "a stored batch has unknown codec " + std::to_string(header.compression());
      auto result = storage::decompress(*codec, section, limits.max_decompressed_bytes);
      if (!result) return result.error().message;
      inflated = std::move(result.value());
      section = inflated;
    }
    const auto records = storage::decode_record_section(header, section);
    if (!records) return std::string("a stored batch's records cannot be decoded");
    for (const storage::RecordView& record : *records) {
      if (record.offset < from_offset) continue;
      out.write_int64(record.offset);
      const std::size_t size_at = out.reserve_int32();
      const std::size_t crc_at = out.reserve_int32();
      out.write_int8(magic);
      if (magic == 0) {
        out.write_int8(0);
      } else {
        out.write_int8(header.log_append_time() ? kLogAppendTimeBit : 0);
        out.write_int64(header.log_append_time() ? header.max_timestamp : record.timestamp);
      }
      write_field(out, record.key);
      write_field(out, record.value);
      const auto memory = out.memory();
      const std::size_t end = memory.size();
      out.patch_int32(size_at, static_cast<std::int32_t>(end - crc_at));
      out.patch_int32(crc_at, static_cast<std::int32_t>(crc32_ieee(memory.subspan(crc_at + 4))));
    }
  }
  return std::vector<std::byte>(out.memory().begin(), out.memory().end());
}

}  // namespace skein::kafka
