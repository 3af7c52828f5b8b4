// The streams of a node on disk (DESIGN.md §4): one directory per stream
// under <data>/streams, holding its settings (config.json) and one directory
// per partition (0, 1, ...), each a Partition. The store keeps the catalog
// (which streams exist, with what settings) and the directory layout; it
// does not open partitions, which belong to the shards that own them.
//
// Changes are crash-safe: a config is written to a temporary file, synced and
// renamed over the old one; a deleted stream's directory is first renamed
// aside (<name>~deleted) and only then removed, so a crash leaves either the
// stream or nothing, and open() finishes any removal a crash interrupted.
// Not thread-safe: one owner (the runtime's stream service) calls it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/stream_config.hpp"

namespace skein::storage {

class StreamStore {
 public:
  // Loads the catalog of `data_directory`/streams, creating it when absent.
  static Result<std::unique_ptr<StreamStore>> open(const std::string& data_directory);

  std::vector<StreamConfig> list() const;
  const StreamConfig* find(std::string_view name) const;

  // Adds a stream (validated; Errc::exists when the name is taken) and its
  // partition directories.
  Status create(const StreamConfig& config);
  // Saves changed settings; partitions may grow (new directories), never shrink.
  Status update(const StreamConfig& config);
  // Deletes a stream and all its data (Errc::not_found when absent).
  Status remove(std::string_view name);

  std::string partition_directory(std::string_view name, std::int32_t partition) const;

 private:
  explicit StreamStore(std::string root) : root_(std::move(root)) {}
  Status write_config(const StreamConfig& config);
  Status make_partition_directories(const StreamConfig& config, std::int32_t from);

  std::string root_;  // <data>/streams
  std::map<std::string, StreamConfig, std::less<>> streams_;
};

}  // namespace skein::storage
