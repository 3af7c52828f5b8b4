// StreamService: the node's streams at run time (DESIGN.md §1 "Stream", §4,
// §5). It keeps the catalog (storage::StreamStore) and gives each partition
// to one shard, chosen by hashing the stream's name and the partition
// number, so that the partitions of a stream spread over the cores. A
// partition's log is touched only on its shard: callers on any shard append
// and read through awaitables that hop there and back.
//
//   append   validates and appends a batch (a retried batch of an
//            idempotent producer is recognised and not appended twice;
//            a sequence gap or a fenced epoch is refused); completes with its base offset,
//            either at once or, when the caller asks, once the batch is
//            durable under the stream's fsync policy (GroupCommit), which is
//            what a Kafka acks=all or a persistent publish waits for.
//   read     whole batches from an offset as FileRanges (sendfile), with
//            the log start and end at that moment.
//   wait     a long poll: completes when any of several partitions grows
//            past a given offset, or at a deadline (Kafka Fetch max.wait).
//
// Catalog changes (create, update, remove) are rare and take a mutex; the
// lookup of a partition for each produce or fetch takes it briefly too. A
// timer on each shard applies retention to its partitions and starts
// compaction jobs, which run on one background thread and are swapped in
// back on the owner's shard.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/shard_pool.hpp"
#include "storage/group_commit.hpp"
#include "storage/partition.hpp"
#include "storage/producer_state.hpp"
#include "storage/stream_store.hpp"

namespace skein::runtime {

// One partition of a stream, living on its shard.
class StreamPartition {
 public:
  StreamPartition(std::string stream, std::int32_t index, unsigned shard,
                  asio::any_io_executor executor, std::unique_ptr<storage::Partition> log,
                  const storage::StreamConfig& config);
  ~StreamPartition();

  const std::string& stream() const { return stream_; }
  std::int32_t index() const { return index_; }
  unsigned shard() const { return shard_; }
  const asio::any_io_executor& executor() const { return executor_; }

  // Readable from any shard: the last values the owner published.
  std::int64_t log_start() const { return log_start_.load(std::memory_order_acquire); }
  std::int64_t log_end() const { return log_end_.load(std::memory_order_acquire); }
  std::uint64_t size_bytes() const { return size_bytes_.load(std::memory_order_relaxed); }

  // Owner shard only.
  storage::Partition& log() { return *log_; }
  storage::GroupCommit& group_commit() { return *group_commit_; }
  void publish_offsets();
  // `wake` runs (on this shard) at the next append; dropped when `alive` expires.
  void add_waiter(std::weak_ptr<void> alive, std::function<void()> wake);
  void wake_waiters();
  storage::ProducerState producers;  // idempotent producers' sequences

 private:
  struct Waiter {
    std::weak_ptr<void> alive;
    std::function<void()> wake;
  };
  std::string stream_;
  std::int32_t index_;
  unsigned shard_;
  asio::any_io_executor executor_;
  std::unique_ptr<storage::Partition> log_;
  std::unique_ptr<storage::GroupCommit> group_commit_;
  std::vector<Waiter> waiters_;
  std::atomic<std::int64_t> log_start_{0}, log_end_{0};
  std::atomic<std::uint64_t> size_bytes_{0};
};

using PartitionRef = std::shared_ptr<StreamPartition>;

struct AppendResult {
  std::optional<storage::Error> error;  // set when the batch was refused or not made durable
  std::int64_t base_offset = -1;
  std::int64_t log_start = 0;
  bool duplicate = false;  // an idempotent producer's retry: not appended again
};

struct ReadResult {
  std::optional<storage::Error> error;  // e.g. out_of_range
  std::optional<storage::FileRange> range;
  std::int64_t log_start = 0;
  std::int64_t log_end = 0;
};

class StreamService {
 public:
  struct Options {
    std::string data_directory;
    std::chrono::milliseconds housekeeping_interval{5 * 60 * 1000};  // retention and compaction
  };

  StreamService(ShardPool& pool, Options options);
  ~StreamService();
  StreamService(const StreamService&) = delete;
  StreamService& operator=(const StreamService&) = delete;

  // Loads the catalog and opens every partition (recovering each). Call once,
  // before the pool's shards run anything that uses streams. Throws
  // std::runtime_error naming what failed.
  void open();
  // Starts the housekeeping timers (after the pool started).
  void start();
  // Syncs and closes every partition. Call after the pool stopped.
  void close();

  // Catalog. Callable from any thread.
  std::vector<storage::StreamConfig> list() const;
  std::optional<storage::StreamConfig> find(std::string_view name) const;
  storage::Status create(const storage::StreamConfig& config);
  storage::Status update(const storage::StreamConfig& config);
  storage::Status remove(std::string_view name);

  // The partition, or nullptr when the stream or the partition does not exist.
  PartitionRef partition(std::string_view stream, std::int32_t index) const;
  std::vector<PartitionRef> partitions(std::string_view stream) const;

  // Appends on the partition's shard; completes on the caller's. The batch
  // is taken by value: the append rewrites its base offset.
  asio::awaitable<AppendResult> append(PartitionRef partition, std::vector<std::byte> batch,
                                       bool wait_durable);
  // Several appends at once, each on its partition's shard; completes when
  // all have, with their results in the order given. Appends to the same
  // partition happen in the order given.
  struct AppendJob {
    PartitionRef partition;
    std::vector<std::byte> batch;
    bool wait_durable = false;
  };
  asio::awaitable<std::vector<AppendResult>> append_all(std::vector<AppendJob> jobs);
  asio::awaitable<ReadResult> read(PartitionRef partition, std::int64_t offset,
                                   std::size_t max_bytes);
  // The first offset with a timestamp >= `timestamp` (-1: none).
  asio::awaitable<std::int64_t> offset_for_time(PartitionRef partition, std::int64_t timestamp);
  // Completes when one of `watch`'s partitions ends past its offset, or at `deadline`.
  asio::awaitable<void> wait_for_data(std::vector<std::pair<PartitionRef, std::int64_t>> watch,
                                      std::chrono::steady_clock::time_point deadline);

  // Runs retention and compaction on every partition now, completing when
  // every job has been swapped in (tests, admin).
  asio::awaitable<void> housekeep_now();

 private:
  struct Stream {
    storage::StreamConfig config;
    std::vector<PartitionRef> partitions;
  };
  unsigned shard_for(std::string_view stream, std::int32_t index) const;
  storage::Result<PartitionRef> open_partition(const storage::StreamConfig& config,
                                               std::int32_t index);
  void housekeep(const PartitionRef& partition);
  std::shared_ptr<storage::CompactionJob> retain_and_start(const PartitionRef& partition);
  void finish_job(const PartitionRef& partition, storage::CompactionJob& job,
                  const std::optional<storage::Error>& failed);
  void schedule_housekeeping(unsigned shard);

  ShardPool& pool_;
  Options options_;
  mutable std::mutex mutex_;
  std::unique_ptr<storage::StreamStore> store_;              // guarded by mutex_
  std::map<std::string, Stream, std::less<>> streams_;       // guarded by mutex_
  std::vector<std::unique_ptr<asio::steady_timer>> timers_;  // one per shard
  asio::thread_pool compaction_{1};
};

}  // namespace skein::runtime
