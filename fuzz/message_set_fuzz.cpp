// libFuzzer target for the old message formats (kafka/protocol/message_set.hpp).
// The input goes to message_set_to_batch as it is and again with every CRC-32
// made right (inside gzip, snappy and lz4 wrappers too, recompressed), so the
// fuzzer gets past the checksums; and to batches_to_message_set as stored v2
// batches, down to magic 0 and 1. A failure must say why; a batch built must
// pass check_batch with its CRC and decode to offsets 0..n-1, and go down and
// up again unchanged; a message set written must read back as one. Traps when
// an invariant breaks.
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "kafka/protocol/message_set.hpp"
#include "storage/compression.hpp"
#include "storage/record_batch.hpp"

namespace {

using Bytes = std::vector<std::byte>;
using skein::kafka::MessageSetLimits;
using skein::storage::RecordView;

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr MessageSetLimits kLimits{.max_batch_bytes = 1 << 20, .max_decompressed_bytes = 4 << 20};
// For sets this target wrote itself: down-converted records grow.
constexpr MessageSetLimits kWide{.max_batch_bytes = 256 << 20, .max_decompressed_bytes = 4 << 20};
// Sets written from batches that decompress this far are not read back (the
// time and memory would go to the harness, not to the code under test).
constexpr std::size_t kMaxReadBack = 16 << 20;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

std::uint64_t get(std::span<const std::byte> b, std::size_t at, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(b[at + i]);
  return v;
}

void put(Bytes& out, std::uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) out.push_back(std::byte((v >> (8 * i)) & 0xFF));
}

std::uint32_t crc32_of(std::span<const std::byte> b) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size())));
}

// A wrapper's value recompressed with its inner CRCs made right, or nullopt.
std::optional<Bytes> fix_inner(int codec_id, std::span<const std::byte> value);

// `in` with the CRC of every message it can walk made right; bytes it cannot
// walk are kept as they are.
Bytes with_crcs_fixed(std::span<const std::byte> in, int depth) {
  Bytes out;
  std::size_t at = 0;
  while (in.size() - at >= 12) {
    const auto size = static_cast<std::int32_t>(get(in, at + 8, 4));
    if (size < 6 || static_cast<std::size_t>(size) > in.size() - at - 12) break;
    Bytes content(in.begin() + static_cast<std::ptrdiff_t>(at + 16),
                  in.begin() + static_cast<std::ptrdiff_t>(at + 12 + size));
    // A wrapper: magic, attributes, [timestamp], key, value (the last field).
    const int codec_id = std::to_integer<int>(content[1]) & 7;
    const std::size_t key_at = std::to_integer<int>(content[0]) == 1 ? 10 : 2;
    if (depth == 0 && codec_id >= 1 && codec_id <= 3 && content.size() >= key_at + 8) {
      const auto key = static_cast<std::int32_t>(get(content, key_at, 4));
      const std::size_t value_at = key_at + 4 + static_cast<std::size_t>(key < 0 ? 0 : key);
      if (key >= -1 && value_at + 4 <= content.size()) {
        const std::span<const std::byte> value = std::span(content).subspan(value_at + 4);
        if (auto fixed = fix_inner(codec_id, value)) {
          content.resize(value_at);
          put(content, fixed->size(), 4);
          content.insert(content.end(), fixed->begin(), fixed->end());
        }
      }
    }
    out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(at),
               in.begin() + static_cast<std::ptrdiff_t>(at + 8));
    put(out, content.size() + 4, 4);
    put(out, crc32_of(content), 4);
    out.insert(out.end(), content.begin(), content.end());
    at += 12 + static_cast<std::size_t>(size);
  }
  out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(at), in.end());
  return out;
}

std::optional<Bytes> fix_inner(int codec_id, std::span<const std::byte> value) {
  const auto codec = *skein::storage::codec_from_id(codec_id);
  const auto inner = skein::storage::decompress(codec, value, kLimits.max_decompressed_bytes);
  if (!inner) return std::nullopt;
  auto packed = skein::storage::compress(codec, with_crcs_fixed(inner.value(), 1));
  if (!packed) return std::nullopt;
  return std::move(packed.value());
}

// The error of `result`, which must say something, or nullptr.
const std::string* error_of(const std::variant<Bytes, std::string>& result) {
  const auto* error = std::get_if<std::string>(&result);
  if (error) require(!error->empty());
  return error;
}

// A batch message_set_to_batch built: valid, CRC included, uncompressed, offsets
// 0..n-1, no headers. Returns its records.
std::vector<RecordView> check_built(const Bytes& batch, std::size_t max) {
  require(batch.size() <= max);
  const auto check = skein::storage::check_batch(batch, batch.size(), true);
  require(check.header.has_value() && check.header->total_bytes() == batch.size());
  const auto& h = *check.header;
  require(h.base_offset == 0 && h.compression() == 0 && !h.control() && !h.transactional());
  auto records = skein::storage::decode_records(batch);
  require(records.has_value() && records->size() == static_cast<std::size_t>(h.record_count));
  for (std::size_t i = 0; i < records->size(); ++i) {
    const RecordView& r = (*records)[i];
    require(r.offset == static_cast<std::int64_t>(i) && r.headers.empty());
    require(r.timestamp >= 0);  // a producer's -1 becomes now
    if (h.log_append_time()) require(r.timestamp == kNow);
  }
  if (h.log_append_time()) require(h.max_timestamp == kNow);
  return std::move(*records);
}

// Down to `magic` and up again: the same keys and values, in order, and from
// magic 1 on the same timestamps.
void check_round_trip(const Bytes& batch, const std::vector<RecordView>& records,
                      std::int8_t magic) {
  const auto set = skein::kafka::batches_to_message_set(batch, magic, 0, kWide);
  require(error_of(set) == nullptr);
  const Bytes& bytes = std::get<Bytes>(set);
  if (records.empty()) {
    require(bytes.empty());
    return;
  }
  require(skein::kafka::is_message_set(bytes));
  const auto again = skein::kafka::message_set_to_batch(bytes, kNow, kWide);
  require(error_of(again) == nullptr);
  const Bytes& batch2 = std::get<Bytes>(again);
  const auto records2 = check_built(batch2, kWide.max_batch_bytes);
  require(records2.size() == records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    require(records2[i].key == records[i].key && records2[i].value == records[i].value);
    if (magic == 1) require(records2[i].timestamp == records[i].timestamp);
  }
}

void check_to_batch(std::span<const std::byte> input) {
  const auto result = skein::kafka::message_set_to_batch(input, kNow, kLimits);
  if (error_of(result)) return;
  require(skein::kafka::is_message_set(input));
  const Bytes& batch = std::get<Bytes>(result);
  const auto records = check_built(batch, kLimits.max_batch_bytes);
  check_round_trip(batch, records, 0);
  check_round_trip(batch, records, 1);
}

// Each message of a set batches_to_message_set wrote: whole, of `magic`, with
// its CRC right and nothing after its value (message_set_to_batch checks the
// rest); the count of them.
std::size_t walk_set(std::span<const std::byte> set, std::int8_t magic) {
  std::size_t at = 0;
  std::size_t count = 0;
  while (at < set.size()) {
    require(set.size() - at >= 12 + 14);
    const auto size = static_cast<std::size_t>(get(set, at + 8, 4));
    require(size >= 14 && size <= set.size() - at - 12);
    const auto body = set.subspan(at + 12, size);
    require(get(body, 0, 4) == crc32_of(body.subspan(4)));
    require(static_cast<std::int8_t>(get(body, 4, 1)) == magic);
    const auto attributes = get(body, 5, 1);
    require(attributes == 0 || (magic == 1 && attributes == 8));
    at += 12 + size;
    ++count;
  }
  return count;
}

void check_to_message_set(std::span<const std::byte> input, std::int8_t magic, std::int64_t from) {
  const auto result = skein::kafka::batches_to_message_set(input, magic, from, kLimits);
  if (error_of(result)) return;
  const Bytes& set = std::get<Bytes>(result);
  const std::size_t count = walk_set(set, magic);
  if (count == 0 || set.size() > kMaxReadBack) return;
  require(skein::kafka::is_message_set(set));
  const auto again = skein::kafka::message_set_to_batch(set, kNow, kWide);
  require(error_of(again) == nullptr);
  const auto records = check_built(std::get<Bytes>(again), kWide.max_batch_bytes);
  require(records.size() == count);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  check_to_batch(input);
  const Bytes fixed = with_crcs_fixed(input, 0);
  if (!std::equal(fixed.begin(), fixed.end(), input.begin(), input.end())) check_to_batch(fixed);
  // From the start, and from just past the first batch's base offset.
  const std::int64_t from =
      size >= 8 ? static_cast<std::int64_t>(get(input, 0, 8) + 1) : std::int64_t{0};
  for (std::int8_t magic : {0, 1}) {
    check_to_message_set(input, magic, 0);
    check_to_message_set(input, magic, from);
  }
  return 0;
}
