// OffsetStore: consumer groups' committed offsets (DESIGN.md §4: "consumer-
// group offsets ... live in internal compacted streams"). Every commit is a
// record in the stream `__consumer_offsets` (one partition, cleanup.policy
// compact), keyed by (group, topic, partition), so compaction keeps the last
// commit of each; deleting a group writes tombstones. The node reads the
// stream once at start to rebuild the table in memory, which answers
// OffsetFetch; a commit is answered once its record is appended and durable
// under the stream's fsync policy.
//
// Record layout (ours; only this class reads it):
//   key    u8 version (0) | u16 group length | group | u16 topic length |
//          topic | i32 partition
//   value  u8 version (0) | i64 offset | i32 leader epoch | i64 commit time
//          ms | u16 metadata length | metadata;  null: deleted
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/keyed_log.hpp"

namespace skein::kafka {

struct CommittedOffset {
  std::int64_t offset = -1;
  std::int32_t leader_epoch = -1;
  std::string metadata;
  std::int64_t commit_time_ms = 0;
};

class OffsetStore {
 public:
  static constexpr const char* kStream = "__consumer_offsets";

  explicit OffsetStore(runtime::StreamService& streams) : log_(streams, kStream) {}

  // Creates the stream when missing and loads every committed offset. Call
  // after StreamService::open and before the shards run. Throws
  // std::runtime_error naming what failed.
  void load();

  using Key = std::tuple<std::string, std::string, std::int32_t>;  // group, topic, partition

  // Appends the commits and waits until they are durable; an error leaves
  // the table as it was.
  boost::asio::awaitable<std::optional<storage::Error>> commit(
      std::string group,
      std::vector<std::tuple<std::string, std::int32_t, CommittedOffset>> offsets);
  // Tombstones for every offset of the group.
  boost::asio::awaitable<std::optional<storage::Error>> forget(std::string group);

  std::optional<CommittedOffset> fetch(const std::string& group, const std::string& topic,
                                       std::int32_t partition) const;
  // (topic, partition) -> offset, for every partition the group committed.
  std::map<std::pair<std::string, std::int32_t>, CommittedOffset> fetch_all(
      const std::string& group) const;
  bool has_offsets(const std::string& group) const;
  std::vector<std::string> groups() const;

 private:
  static std::vector<std::byte> encode_key(const Key& key);
  static std::optional<Key> decode_key(std::string_view bytes);
  static std::vector<std::byte> encode_value(const CommittedOffset& value);
  static std::optional<CommittedOffset> decode_value(std::string_view bytes);
  boost::asio::awaitable<std::optional<storage::Error>> append(
      std::vector<storage::RecordSpec> records);

  runtime::KeyedLog log_;
  mutable std::mutex mutex_;
  std::map<Key, CommittedOffset> offsets_;  // guarded by mutex_
};

}  // namespace skein::kafka
