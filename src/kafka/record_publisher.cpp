// From produced record batches to events: decode, name the topic, publish.
#include "kafka/record_publisher.hpp"

#include <algorithm>

#include "core/topic_template.hpp"
#include "runtime/record_events.hpp"
#include "runtime/stream_routing.hpp"
#include "storage/record_batch.hpp"

namespace skein::kafka {

namespace {

using runtime::kTopicHeader;

// Whether the batch may hold a skein-topic header: its bytes contain the
// name (uncompressed), or it is compressed and cannot be told without work.
bool may_name_topics(std::span<const std::byte> batch) {
  const storage::BatchCheck check = storage::check_batch(batch, batch.size(), false);
  if (!check.header) return false;  // the append refuses it
  if (check.header->compression() != 0) return true;
  const std::string_view bytes(reinterpret_cast<const char*>(batch.data()), batch.size());
  return bytes.find(kTopicHeader) != std::string_view::npos;
}

}  // namespace

bool RecordPublisher::template_has_listeners(unsigned shard, const storage::StreamConfig& stream,
                                             const core::TopicTemplate& topic_template) {
  const std::uint64_t generation = router_.table().generation();
  Cached& cached = caches_[shard][stream.name];
  if (cached.generation == generation && cached.template_text == topic_template.text()) {
    return cached.listeners;
  }
  std::vector<core::DestinationPtr> met;
  router_.table().readable().match_filter(topic_template.coverage_filter(), met);
  const auto own = attraction_.destination(stream.name);
  cached.listeners = std::any_of(met.begin(), met.end(),
                                 [&own](const core::DestinationPtr& d) { return d != own; });
  cached.generation = generation;
  cached.template_text = topic_template.text();
  return cached.listeners;
}

std::vector<core::Event> RecordPublisher::events_of(unsigned shard,
                                                    const storage::StreamConfig& stream,
                                                    std::int32_t partition,
                                                    std::span<const std::byte> batch) {
  std::vector<core::Event> events;
  // Nobody at all but the stream itself: not even a look at the bytes.
  if (router_.table().size() <= attraction_.filter_count(stream.name)) {
    skipped_.fetch_add(1, std::memory_order_relaxed);
    return events;
  }
  auto routing = runtime::StreamRouting::of(stream);
  const core::TopicTemplate topic_template =
      routing ? routing.value().effective_template(stream.name)
              : runtime::StreamRouting{}.effective_template(stream.name);
  if (!template_has_listeners(shard, stream, topic_template) && !may_name_topics(batch)) {
    skipped_.fetch_add(1, std::memory_order_relaxed);
    return events;
  }
  std::vector<runtime::RecordEvent> decoded;
  // A batch that does not decode is refused by the append as well.
  if (!runtime::events_of_batches(batch, stream.name, topic_template, partition, 0,
                                  64 * stream.max_message_bytes, decoded)) {
    return events;
  }
  events.reserve(decoded.size());
  for (auto& item : decoded) {
    if (item.event) {
      events.push_back(std::move(*item.event));
    } else {
      unroutable_.fetch_add(1, std::memory_order_relaxed);
    }
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
