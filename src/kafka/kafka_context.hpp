// What every part of the Kafka face shares (DESIGN.md §6): the shards, the
// node's streams, and the settings that shape answers (the address clients
// are told to connect to, auto-creation of streams). One per node; the
// connections reach it from every shard, so what changes is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "runtime/shard_pool.hpp"
#include "runtime/stream_service.hpp"
#include "storage/group_commit.hpp"

namespace skein::runtime {
class StreamAttraction;
}  // namespace skein::runtime

namespace skein::kafka {

struct KafkaSettings {
  std::string advertised_host;  // empty: the bound address (set by the server)
  std::int32_t advertised_port = 0;
  bool auto_create = true;
  std::int32_t default_partitions = 1;
  std::size_t max_request_bytes = 100 * 1024 * 1024;
  storage::FsyncPolicy default_fsync = storage::FsyncPolicy::interval;
};

class GroupCoordinator;
class OffsetStore;
class RecordPublisher;

struct KafkaContext {
  runtime::ShardPool& pool;
  runtime::StreamService& streams;
  GroupCoordinator* groups = nullptr;
  OffsetStore* offsets = nullptr;
  RecordPublisher* publisher = nullptr;             // produced records to the router
  runtime::StreamAttraction* attraction = nullptr;  // told of streams deleted or created
  KafkaSettings settings;
  std::string cluster_id;    // stable per data directory
  std::int32_t node_id = 0;  // a single-node cluster: this node leads every partition
  std::atomic<std::int64_t> next_producer_id{1};
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> connections_open{0};
};

}  // namespace skein::kafka
