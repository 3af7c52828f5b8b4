// libFuzzer target for Kafka v2 record batches (storage/record_batch.hpp): runs
// check_batch on the input with and without CRC verification under a small and a large
// limit, decodes the records of any batch that passes, rebuilds them with build_batch
// and traps when one of the format's invariants breaks.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/record_batch.hpp"

namespace {

using skein::storage::BatchHeader;
using skein::storage::RecordSpec;
using skein::storage::RecordView;

constexpr std::size_t kSmallMax = 256;
constexpr std::size_t kLargeMax = 1 << 20;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool same_header(const BatchHeader& a, const BatchHeader& b) {
  return a.base_offset == b.base_offset && a.batch_length == b.batch_length && a.crc == b.crc &&
         a.attributes == b.attributes && a.record_count == b.record_count &&
         a.last_offset_delta == b.last_offset_delta && a.base_timestamp == b.base_timestamp;
}

// Building the decoded records again gives a valid batch that decodes to the same
// keys, values, headers and timestamps, at offsets 0..n-1.
void check_rebuild(const std::vector<RecordView>& records) {
  std::vector<RecordSpec> specs;
  for (const auto& r : records) {
    RecordSpec s;
    if (r.key) s.key = std::string(*r.key);
    if (r.value) s.value = std::string(*r.value);
    for (const auto& [k, v] : r.headers) s.headers.emplace_back(std::string(k), std::string(v));
    s.timestamp = r.timestamp;
    specs.push_back(std::move(s));
  }
  const auto batch = skein::storage::build_batch(specs);
  const auto check = skein::storage::check_batch(batch, batch.size());
  require(check.header.has_value() && check.header->total_bytes() == batch.size());
  require(check.header->record_count == static_cast<std::int32_t>(records.size()));
  const auto again = skein::storage::decode_records(batch);
  require(again.has_value() && again->size() == records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& a = records[i];
    const auto& b = (*again)[i];
    require(b.offset == static_cast<std::int64_t>(i) && a.timestamp == b.timestamp);
    require(a.key == b.key && a.value == b.value && a.headers == b.headers);
  }
}

// A valid header describes a batch inside the input and under the limit; its records,
// when it is uncompressed and they decode, match its counts and offsets.
void check_valid(std::span<const std::byte> input, const BatchHeader& h, std::size_t max) {
  require(h.total_bytes() <= input.size() && h.total_bytes() <= max);
  require(h.magic == skein::storage::kMagicV2 && h.record_count >= 0 && h.last_offset_delta >= 0);
  const auto batch = input.first(h.total_bytes());
  const auto records = skein::storage::decode_records(batch);
  if (!records) return;
  require(h.compression() == 0);
  require(records->size() == static_cast<std::size_t>(h.record_count));
  const auto* begin = reinterpret_cast<const char*>(batch.data());
  const auto* end = begin + batch.size();
  for (std::size_t i = 0; i < records->size(); ++i) {
    const auto& r = (*records)[i];
    require(r.offset >= h.base_offset && r.offset <= h.last_offset());
    if (i > 0) require(r.offset > (*records)[i - 1].offset);
    if (r.key) require(r.key->data() >= begin && r.key->data() + r.key->size() <= end);
    if (r.value) require(r.value->data() >= begin && r.value->data() + r.value->size() <= end);
  }
  // Decoding the whole input (which may run on past the batch) gives the same records.
  const auto whole = skein::storage::decode_records(input);
  require(whole.has_value() && whole->size() == records->size());
  check_rebuild(*records);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  for (std::size_t max : {kSmallMax, kLargeMax}) {
    const auto verified = skein::storage::check_batch(input, max, true);
    const auto unverified = skein::storage::check_batch(input, max, false);
    require(verified.header.has_value() || !verified.message.empty());
    require(unverified.header.has_value() || !unverified.message.empty());
    // Verifying the CRC can only refuse more.
    if (verified.header) {
      require(unverified.header.has_value() && same_header(*verified.header, *unverified.header));
    }
    if (unverified.header) check_valid(input, *unverified.header, max);
  }
  // Whatever the header says, decoding never reads out of bounds.
  (void)skein::storage::decode_records(input);
  return 0;
}
