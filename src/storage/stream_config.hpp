// A stream's settings (DESIGN.md §1 "Stream", §4): its Kafka-legal name, its
// partition count, and what its partitions are opened with (segment size and
// age, retention, cleanup policy, fsync policy, the largest batch accepted).
// Kept as JSON beside the stream's partitions; also readable and settable by
// Kafka config names (retention.ms, cleanup.policy, ...) so DescribeConfigs
// and IncrementalAlterConfigs map onto it. Higher layers' settings of a
// stream (its attract filters, topic template) travel in `extra` untouched.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/group_commit.hpp"
#include "storage/partition.hpp"
#include "storage/storage_error.hpp"

namespace skein::storage {

struct StreamConfig {
  std::string name;
  std::int32_t partitions = 1;
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;  // -1: forever
  std::int64_t retention_bytes = -1;                   // per partition; -1: no bound
  bool cleanup_delete = true;
  bool cleanup_compact = false;
  std::int64_t tombstone_retention_ms = 24LL * 3600 * 1000;
  FsyncPolicy fsync = FsyncPolicy::interval;
  std::int64_t fsync_interval_ms = 1000;
  std::uint64_t segment_bytes = 1024ull * 1024 * 1024;
  std::int64_t segment_ms = 7LL * 24 * 3600 * 1000;
  std::size_t max_message_bytes = 1024 * 1024 + 12;  // Kafka's max.message.bytes default
  std::map<std::string, std::string> extra;          // other layers' settings, as given

  // What each of the stream's partitions is opened with.
  PartitionOptions partition_options() const;

  // "delete", "compact" or "compact,delete".
  std::string cleanup_policy() const;

  // Settings by their Kafka names: name -> value, every one this config has.
  std::map<std::string, std::string> kafka_configs() const;
  // Sets one by its Kafka name; an error names the setting and the bad value.
  Status set_kafka_config(std::string_view name, std::string_view value);
  // Back to its default (IncrementalAlterConfigs DELETE).
  Status reset_kafka_config(std::string_view name);

  std::string to_json() const;
  static Result<StreamConfig> from_json(std::string_view text);

  // Every setting within its range; the name legal.
  Status validate() const;
};

// Kafka's rule for topic names: 1 to 249 of [a-zA-Z0-9._-], not "." or "..".
bool valid_stream_name(std::string_view name, std::string* why = nullptr);

}  // namespace skein::storage
