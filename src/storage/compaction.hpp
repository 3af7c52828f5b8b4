// Compaction of `compact` partitions (DESIGN.md §4): the closed segments are
// rewritten keeping only the newest record of each key; a tombstone (a null
// value) is kept while it is younger than the tombstone retention, so that
// consumers catching up see the delete, and removed after. Records without a
// key, and transaction markers, are always kept.
//
// A job runs in three steps so that appends and reads never wait for it:
//   1. Partition::start_compaction, on the partition's owner thread, takes a
//      snapshot: the closed segments (shared file handles, sizes) grouped so
//      that each group fits in one segment, and the active segment's size.
//   2. CompactionJob::run, on any thread: builds a map key -> newest offset
//      over the snapshot (the active segment's records count as newer values
//      but are never removed), then writes each group that loses records to
//      `<base>-<end>.cleaned` and syncs it. Closed segments are never written,
//      so it reads them without locks while the owner appends to the active one.
//   3. Partition::finish_compaction, on the owner thread, swaps the cleaned
//      files in (rename to `.swap`, delete the old segments, rename to `.log`)
//      and discards a group whose segments retention deleted meanwhile.
// Readers holding FileRanges of a replaced segment keep reading its old bytes
// (the file stays open until they let go); later reads see the cleaned one.
// A crash leaves at most a `.cleaned` file (deleted on open) or a `.swap`
// file, whose swap Partition::open completes.
//
// Kept records are copied byte for byte, offset and timestamp deltas
// included; a batch that loses some records is rebuilt around the rest with
// its base offset, lastOffsetDelta, timestamps and producer fields unchanged
// (uncompressed, new CRC). A batch that keeps all its records is copied whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/segment.hpp"
#include "storage/storage_error.hpp"

namespace skein::storage {

struct CompactionReport {
  std::size_t segments_replaced = 0;  // old segments swapped out
  std::size_t segments_written = 0;   // cleaned segments swapped in
  std::uint64_t bytes_before = 0;     // of the replaced segments
  std::uint64_t bytes_after = 0;      // of the cleaned ones
  std::uint64_t records_removed = 0;  // older values of a key, and expired tombstones
  std::uint64_t tombstones_removed = 0;
  std::uint64_t tombstones_kept = 0;  // still within the tombstone retention
  std::size_t groups_discarded = 0;   // retention removed a segment meanwhile: next time
};

// A closed segment as the snapshot sees it.
struct CompactionSource {
  std::int64_t base_offset = 0;
  std::uint64_t size = 0;
  std::shared_ptr<const FileHandle> log;
};

class CompactionJob {
 public:
  // Reads the snapshot and writes the cleaned files. Any thread; at most once.
  Status run();
  const CompactionReport& report() const { return report_; }

 private:
  friend class Partition;
  struct Group {
    std::vector<CompactionSource> sources;  // consecutive closed segments
    std::int64_t end = 0;                   // base offset of the segment after the group
    std::string cleaned_path;               // set when run() wrote a cleaned file
    std::uint64_t bytes_after = 0;
  };

  using KeyMap = std::unordered_map<std::string, std::int64_t>;  // key -> newest offset
  Status write_group(Group& group, const KeyMap& newest);

  std::string directory_;
  std::size_t max_batch_bytes_ = 0;
  std::vector<Group> groups_;
  CompactionSource active_;               // read for newer values only, up to its snapshot size
  std::int64_t tombstone_cutoff_ms_ = 0;  // tombstones stamped before it are removed
  std::int64_t tombstone_retention_ms_ = 0;
  std::int64_t next_tombstone_expiry_ms_ = INT64_MAX;  // of the tombstones kept
  CompactionReport report_;
  bool ran_ = false;
};

// "<base 20 digits>-<end 20 digits><extension>": the files of a group in flight.
std::string compaction_file_name(std::int64_t base, std::int64_t end, std::string_view extension);

}  // namespace skein::storage
