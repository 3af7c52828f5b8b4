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
// after it succeeds, on the producer's shard. When no subscription but the
// stream's own attraction exists, nothing is decoded at all: a Kafka-only
// workload pays nothing for the mesh. A record whose topic cannot be made
// (no skein-topic header and a template that renders nothing for it, or a
// skein-topic that is not a valid topic) is stored but not published, and
// counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "core/router.hpp"
#include "runtime/stream_attraction.hpp"
#include "storage/stream_config.hpp"

namespace skein::kafka {

class RecordPublisher {
 public:
  RecordPublisher(core::Router& router, runtime::StreamAttraction& attraction)
      : router_(router), attraction_(attraction) {}

  // The events of `batch`, a produced batch for `partition` of the stream,
  // ready to publish once it is stored; empty when nobody could want them.
  std::vector<core::Event> events_of(const storage::StreamConfig& stream, std::int32_t partition,
                                     std::span<const std::byte> batch);
  // Publishes them on `shard` (after the append succeeded).
  void publish(unsigned shard, std::vector<core::Event> events);

  std::uint64_t published() const { return published_.load(std::memory_order_relaxed); }
  std::uint64_t unroutable() const { return unroutable_.load(std::memory_order_relaxed); }
  std::uint64_t skipped_batches() const { return skipped_.load(std::memory_order_relaxed); }

 private:
  // Whether any subscription other than the stream's own attraction exists.
  bool anyone_else_listens(const std::string& stream) const;

  core::Router& router_;
  runtime::StreamAttraction& attraction_;
  std::atomic<std::uint64_t> published_{0}, unroutable_{0}, skipped_{0};
};

}  // namespace skein::kafka
