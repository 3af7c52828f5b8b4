// RecordPublisher: Kafka records produced to a stream enter the mesh as
// events (DESIGN.md §1 "Ingress, once"). Each record is published to the
// router under the topic in its `skein-topic` header when it has one, else
// the one its stream's topic template renders (`{key}`, `{partition}`,
// `{header:NAME}`; the stream's name by default), so that HTTP (and later
// MQTT and mesh) subscribers receive it. The event carries the record's key,
// value, headers (a `content-type` header becomes the event's content type)
// and timestamp, and names the stream it entered by, which therefore does
// not take it again.
//
// The records are decoded (and decompressed) before the append and published
// after it succeeds, on the producer's shard. Nothing is decoded when nobody
// could want the records: when no subscription but the stream's own
// attraction meets the template's coverage filter (every topic the template
// can render) and the batch holds no `skein-topic` header (looked for in
// the raw bytes of an uncompressed batch; a compressed one is decompressed
// to know). A Kafka-only workload pays nothing for the mesh. The answer for
// a stream is cached per shard until the subscription table changes. A
// record whose topic cannot be made
// (no skein-topic header and a template that renders nothing for it, or a
// skein-topic that is not a valid topic) is stored but not published, and
// counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/router.hpp"
#include "core/topic_template.hpp"
#include "runtime/stream_attraction.hpp"
#include "storage/stream_config.hpp"

namespace skein::kafka {

class RecordPublisher {
 public:
  RecordPublisher(core::Router& router, runtime::StreamAttraction& attraction)
      : router_(router), attraction_(attraction), caches_(router.shard_count()) {}

  // The events of `batch`, a produced batch for `partition` of the stream,
  // ready to publish once it is stored; empty when nobody could want them.
  std::vector<core::Event> events_of(unsigned shard, const storage::StreamConfig& stream,
                                     std::int32_t partition, std::span<const std::byte> batch);
  // Publishes them on `shard` (after the append succeeded).
  void publish(unsigned shard, std::vector<core::Event> events);

  std::uint64_t published() const { return published_.load(std::memory_order_relaxed); }
  std::uint64_t unroutable() const { return unroutable_.load(std::memory_order_relaxed); }
  std::uint64_t skipped_batches() const { return skipped_.load(std::memory_order_relaxed); }

 private:
  // Whether a subscription other than the stream's own attraction meets the
  // template's coverage (cached per shard and table generation).
  bool template_has_listeners(unsigned shard, const storage::StreamConfig& stream,
                              const core::TopicTemplate& topic_template);

  struct Cached {
    std::uint64_t generation = 0;
    std::string template_text;
    bool listeners = true;
  };
  core::Router& router_;
  runtime::StreamAttraction& attraction_;
  std::vector<std::unordered_map<std::string, Cached>> caches_;  // per shard, by stream
  std::atomic<std::uint64_t> published_{0}, unroutable_{0}, skipped_{0};
};

}  // namespace skein::kafka
