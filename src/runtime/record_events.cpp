// Batches to events: decompress, decode, name each record's topic.
#include "runtime/record_events.hpp"

#include "core/topic_names.hpp"
#include "storage/compression.hpp"
#include "storage/record_batch.hpp"

namespace skein::runtime {

namespace {

bool fail(std::string* error, std::string why) {
  if (error != nullptr) *error = std::move(why);
  return false;
}
}  // namespace

bool events_of_batches(std::span<const std::byte> batches, const std::string& stream,
                       const core::TopicTemplate& topic_template, std::int32_t partition,
                       std::int64_t from_offset, std::size_t max_decompressed_bytes,
                       std::vector<RecordEvent>& out, std::string* error) {
  while (!batches.empty()) {
    const storage::BatchCheck check = storage::check_batch(batches, batches.size(), false);
    if (!check.header) return fail(error, check.message);
    const storage::BatchHeader& header = *check.header;
    auto section = batches.subspan(storage::kBatchHeaderBytes,
                                   header.total_bytes() - storage::kBatchHeaderBytes);
    batches = batches.subspan(header.total_bytes());
    if (header.control() || header.last_offset() < from_offset) continue;
    std::vector<std::byte> inflated;
    if (header.compression() != 0) {
      const auto codec = storage::codec_from_id(header.compression());
      if (!codec) return fail(error, "unknown codec " + std::to_string(header.compression()));
      auto result = storage::decompress(*codec, section, max_decompressed_bytes);
      if (!result) return fail(error, result.error().message);
      inflated = std::move(result.value());
      section = inflated;
    }
    const auto records = storage::decode_record_section(header, section);
    if (!records) return fail(error, "a batch's records cannot be decoded");
    for (const storage::RecordView& record : *records) {
      if (record.offset < from_offset) continue;
      RecordEvent& item = out.emplace_back();
      item.offset = record.offset;
      auto lookup = [&record](std::string_view name) {
        return core::first_header(record.headers, name);
      };
      core::Event event;
      if (auto named = lookup(kTopicHeader)) {
        if (core::check_topic(*named)) continue;  // not a topic a client may publish to
        event.topic = std::string(*named);
      } else if (auto rendered = topic_template.render(record.key, partition, lookup)) {
        event.topic = std::move(*rendered);
      } else {
        continue;
      }
      if (record.key) event.key = std::string(*record.key);
      if (record.value) event.payload = std::string(*record.value);
      bool content_type_seen = false;
      for (const auto& [name, value] : record.headers) {
        if (name == kTopicHeader) continue;
        if (name == kContentTypeHeader && !content_type_seen) {
          event.content_type = std::string(value);
          content_type_seen = true;
          continue;
        }
        event.headers.push_back({std::string(name), std::string(value)});
      }
      event.timestamp_ms = header.log_append_time() ? header.max_timestamp : record.timestamp;
      event.ingress_stream = stream;
      item.event = std::move(event);
    }
  }
  return true;
}

}  // namespace skein::runtime
