// Stored Kafka records seen as events (DESIGN.md §1 "Ingress, once"): the
// topic comes from the record's `skein-topic` header when it has one, else
// from the stream's topic template; key, value, headers (a `content-type`
// header becomes the event's content type) and timestamp carry over. Used
// for records produced to a stream (published to the router) and for
// records read back from one (replay to HTTP subscribers).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.hpp"
#include "core/topic_template.hpp"

namespace skein::runtime {

// The record headers that carry an event's topic and content type.
inline constexpr std::string_view kTopicHeader = "skein-topic";
inline constexpr std::string_view kContentTypeHeader = "content-type";

struct RecordEvent {
  std::int64_t offset = 0;           // the record's offset in its partition
  std::optional<core::Event> event;  // nullopt: no topic could be made for it
};

// Decodes the whole v2 batches in `batches` (compressed or not) for
// `partition` of `stream`, leaving out records before `from_offset` and
// control batches. Each event names `stream` as its ingress stream. Returns
// false, with `error` set, when the bytes are not whole, readable batches.
bool events_of_batches(std::span<const std::byte> batches, const std::string& stream,
                       const core::TopicTemplate& topic_template, std::int32_t partition,
                       std::int64_t from_offset, std::size_t max_decompressed_bytes,
                       std::vector<RecordEvent>& out, std::string* error = nullptr);

}  // namespace skein::runtime
