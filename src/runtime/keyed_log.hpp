// KeyedLog: a table kept in an internal compacted stream (DESIGN.md §4:
// consumer-group offsets, MQTT sessions and retained messages "live in
// internal compacted streams"). Each change is a record keyed by what it
// changes; a null value deletes the key; compaction keeps the last record of
// each key. At start the node reads the stream once, in order, to rebuild its
// table in memory; afterwards it only appends.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/stream_service.hpp"

namespace skein::runtime {

class KeyedLog {
 public:
  KeyedLog(StreamService& streams, std::string stream)
      : streams_(streams), stream_(std::move(stream)) {}

  const std::string& stream() const { return stream_; }

  // Creates the stream (one partition, cleanup.policy compact) when missing,
  // then calls `visit` for every record in log order: key, and value or
  // nullopt for a tombstone. Call after StreamService::open and before the
  // shards run. Throws std::runtime_error naming the stream and what failed.
  using Visit = std::function<void(std::string_view key, std::optional<std::string_view> value)>;
  void load(const Visit& visit);

  // Appends the records as one batch; completes once they are durable under
  // the stream's fsync policy. Callable from any shard.
  boost::asio::awaitable<std::optional<storage::Error>> append(
      std::vector<storage::RecordSpec> records);

  // A record for `key`: with `value`, or a tombstone; timestamped now.
  static storage::RecordSpec record(std::string key, std::optional<std::string> value);

 private:
  StreamService& streams_;
  std::string stream_;
};

}  // namespace skein::runtime
