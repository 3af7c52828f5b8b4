// From produced record batches to events: decode, name the topic, publish.
#include "kafka/record_publisher.hpp"

#include "core/topic_template.hpp"
#include "runtime/record_events.hpp"
#include "runtime/stream_routing.hpp"

namespace skein::kafka {

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
  auto routing = runtime::StreamRouting::of(stream);
  const core::TopicTemplate topic_template =
      routing ? routing.value().effective_template(stream.name)
              : runtime::StreamRouting{}.effective_template(stream.name);
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
