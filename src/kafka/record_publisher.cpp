// From produced record batches to events: decode, name the topic, publish.
#include "kafka/record_publisher.hpp"

#include "core/topic_names.hpp"
#include "core/topic_template.hpp"
#include "runtime/stream_routing.hpp"
#include "storage/compression.hpp"
#include "storage/record_batch.hpp"

namespace skein::kafka {

namespace {
constexpr std::string_view kTopicHeader = "skein-topic";
constexpr std::string_view kContentTypeHeader = "content-type";
}  // namespace

bool RecordPublisher::anyone_else_listens(const std::string& stream) const {
  return router_.table().size() > attraction_.filter_count(stream);
}

std::vector<core::Event> RecordPublisher::events_of(const storage::StreamConfig& stream,
                                                    std::int32_t partition,
                                                    std::span<const std::byte> batch) {
  std::vector<core::Event> events;
  if (!anyone_else_listens(stream.name)) {
    skipped_.fetch_add(1, std::memory_order_relaxed);
    return events;
  }
  const storage::BatchCheck check = storage::check_batch(batch, batch.size(), false);
  if (!check.header || check.header->control()) return events;
  const storage::BatchHeader& header = *check.header;
  auto section =
      batch.subspan(storage::kBatchHeaderBytes, header.total_bytes() - storage::kBatchHeaderBytes);
  std::vector<std::byte> inflated;
  if (header.compression() != 0) {
    const auto codec = storage::codec_from_id(header.compression());
    if (!codec) return events;
    auto result = storage::decompress(*codec, section, 64 * stream.max_message_bytes);
    if (!result) return events;  // the append refuses it too
    inflated = std::move(result.value());
    section = inflated;
  }
  const auto records = storage::decode_record_section(header, section);
  if (!records) return events;
  auto routing = runtime::StreamRouting::of(stream);
  const core::TopicTemplate topic_template =
      routing ? routing.value().effective_template(stream.name)
              : runtime::StreamRouting{}.effective_template(stream.name);
  events.reserve(records->size());
  for (const storage::RecordView& record : *records) {
    core::Event event;
    auto lookup = [&record](std::string_view name) {
      return core::first_header(record.headers, name);
    };
    if (auto named = lookup(kTopicHeader)) {
      if (core::check_topic(*named)) {
        unroutable_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      event.topic = std::string(*named);
    } else if (auto rendered = topic_template.render(record.key, partition, lookup)) {
      event.topic = std::move(*rendered);
    } else {
      unroutable_.fetch_add(1, std::memory_order_relaxed);
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
    event.ingress_stream = stream.name;
    events.push_back(std::move(event));
  }
  return events;
}

void RecordPublisher::publish(unsigned shard, std::vector<core::Event> events) {
  for (auto& event : events) {
    core::EventPtr stamped = router_.stamp(std::move(event));
    router_.publish(shard, stamped);
  }
  published_.fetch_add(events.size(), std::memory_order_relaxed);
}

}  // namespace skein::kafka
