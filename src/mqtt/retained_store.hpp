// RetainedStore: the last retained message of each topic (MQTT 3.3.1.3),
// shared by every shard, kept durably in the internal compacted stream
// `__mqtt_retained` keyed by topic (an empty payload deletes it). A new
// subscription is sent the retained messages its filter matches.
//
// Lookups by filter scan the topics that share the filter's literal prefix
// (all of them for a filter that starts with a wildcard); the store is
// expected to hold device state, not a firehose.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "runtime/keyed_log.hpp"

namespace skein::mqtt {

class RetainedStore {
 public:
  static constexpr const char* kStream = "__mqtt_retained";

  explicit RetainedStore(runtime::StreamService& streams) : log_(streams, kStream) {}

  // Creates the stream when missing and reads it. Before the shards run.
  void load();

  // Keeps `event` as the topic's retained message (or forgets the topic's
  // when the payload is empty); completes once durable. False when the
  // append failed (nothing changed then).
  boost::asio::awaitable<bool> set(core::EventPtr event);

  // The live retained messages matching any of the (Skein) filters.
  std::vector<core::EventPtr> matching(const std::vector<std::string>& filters,
                                       std::int64_t now) const;

  std::size_t size() const;

 private:
  runtime::KeyedLog log_;
  mutable std::mutex mutex_;
  std::map<std::string, core::EventPtr, std::less<>> messages_;  // guarded by mutex_
};

}  // namespace skein::mqtt
