// Partition: a directory of segments named by base offset, forming one
// append-only log (DESIGN.md §4). Appends go to the last (active) segment,
// which rolls to a new one by size or age; reads and time lookups find the
// segment that holds the offset; retention deletes whole segments from the
// front, by age of their newest record and by the partition's total bytes.
//
// Opening recovers the active segment (CRC-checked, torn tail cut), loads
// the others through their indexes, and completes or discards a compaction
// swap that a crash interrupted. Synchronous and single-owner like
// Segment: the runtime gives each partition to one shard and runs the
// blocking calls (sync, open) where blocking is allowed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/compaction.hpp"
#include "storage/segment.hpp"

namespace skein::storage {

struct PartitionOptions {
  SegmentOptions segment;
  std::uint64_t segment_bytes = 1024ull * 1024 * 1024;  // roll when the active segment reaches it
  std::chrono::milliseconds segment_ms{7LL * 24 * 3600 * 1000};  // or when it is this old
  std::int64_t retention_ms = 7LL * 24 * 3600 * 1000;            // -1: keep forever
  std::int64_t retention_bytes = -1;                             // -1: no size bound
  // Kafka's cleanup.policy: "delete" applies the two retention bounds above,
  // "compact" keeps the newest record per key, "compact,delete" both.
  bool cleanup_delete = true;
  bool cleanup_compact = false;
  std::int64_t tombstone_retention_ms = 24LL * 3600 * 1000;  // Kafka's delete.retention.ms
};

struct RetentionReport {
  std::size_t segments_deleted = 0;
  std::uint64_t bytes_deleted = 0;
};

class Partition {
 public:
  using Clock = std::chrono::system_clock;

  // Opens (creating) the partition in `directory`. `reports` receives what
  // recovery repaired, one entry per segment that needed it.
  static Result<std::unique_ptr<Partition>> open(std::string directory, PartitionOptions options,
                                                 std::vector<RecoveryReport>* reports = nullptr);

  // Validates the batch (sizes, magic, CRC), rolls the active segment when
  // due, and appends; returns the base offset assigned.
  Result<std::int64_t> append(std::span<std::byte> batch, Clock::time_point now = Clock::now());

  // New settings (retention, roll, cleanup) from the next call on; a
  // segment_bytes outside 1..4 GiB keeps the old one.
  void set_options(const PartitionOptions& options);

  // Makes every appended batch durable (fdatasync of the active segment;
  // rolled segments were synced when they rolled).
  Status sync();

  // Whole batches from the one holding `offset`, within `max_bytes` (at least
  // one batch); nullopt at the end of the log. out_of_range below the log
  // start or past the end.
  Result<std::optional<FileRange>> read(std::int64_t offset, std::size_t max_bytes) const;

  // The offset of the first record with a timestamp >= `timestamp` (of a
  // LogAppendTime batch, its first record); nullopt when none has.
  std::optional<std::int64_t> offset_for_time(std::int64_t timestamp) const;

  std::int64_t log_start_offset() const { return segments_.begin()->first; }
  std::int64_t log_end_offset() const { return active().next_offset(); }  // the high watermark here
  std::uint64_t size_bytes() const;
  std::size_t segment_count() const { return segments_.size(); }
  std::size_t index_memory_bytes() const;

  // The active segment's log file and base offset: what GroupCommit syncs.
  int active_log_fd() const { return active().log_fd(); }
  std::int64_t active_base_offset() const { return active().base_offset(); }

  // Deletes whole segments, oldest first, that retention no longer keeps. The
  // active segment is never deleted (it is rolled first if entirely expired
  // and not empty). Nothing when cleanup_delete is off.
  Result<RetentionReport> apply_retention(Clock::time_point now = Clock::now());

  // Compaction of the closed segments (compaction.hpp), for cleanup_compact
  // partitions. start_compaction snapshots them, or returns nullptr when
  // there is nothing new to clean (no segment closed since the last run, no
  // kept tombstone due to expire) or a job is still out; the job's run() may
  // then go on any thread while this partition appends and serves reads;
  // finish_compaction, here again, swaps the cleaned segments in. Every
  // started job must be finished, whether its run() succeeded or not.
  std::unique_ptr<CompactionJob> start_compaction(Clock::time_point now = Clock::now());
  Result<CompactionReport> finish_compaction(CompactionJob& job);
  // All three steps on this thread; an empty report when there is nothing to do.
  Result<CompactionReport> compact(Clock::time_point now = Clock::now());

 private:
  std::int64_t first_record_at_or_after(std::int64_t batch_offset, std::int64_t timestamp) const;
  Partition(std::string directory, PartitionOptions options);
  Status roll(Clock::time_point now);
  Segment& active() const { return *segments_.rbegin()->second; }
  const Segment* segment_for(std::int64_t offset) const;
  Status swap_in(const CompactionJob::Group& group, const std::string& cleaned,
                 CompactionReport& report);

  std::string directory_;
  PartitionOptions options_;
  std::map<std::int64_t, std::unique_ptr<Segment>> segments_;  // by base offset; never empty
  Clock::time_point active_since_;
  bool compaction_out_ = false;       // a started job not yet finished
  std::int64_t cleaned_before_ = -1;  // the active base offset when the last job started
  std::int64_t next_tombstone_expiry_ms_ = INT64_MAX;  // of tombstones the last job kept
};

}  // namespace skein::storage
