// Segment: one file of a partition's log, named by its base offset, with its
// sparse offset index and its time index (DESIGN.md §4):
//
//   00000000000000000042.log        record batches, Kafka v2, stored verbatim
//   00000000000000000042.index      (relative offset u32, file position u32),
//                                   one entry per index_interval_bytes of log
//   00000000000000000042.timeindex  (max timestamp i64, relative offset u32),
//                                   one entry each time the maximum grows
//
// Offsets are assigned on append by rewriting each batch's base offset. Reads
// return file ranges of whole batches, for sendfile. Opening with `recover`
// checks every batch's CRC, truncates the log after the last valid one and
// rebuilds both indexes; without it, the indexes are loaded and checked
// against the log (and rebuilt from batch headers when they do not fit).
//
// Not thread-safe: a segment belongs to its partition, which belongs to one
// shard. Several segments may be used from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "storage/record_batch.hpp"
#include "storage/storage_error.hpp"

namespace skein::storage {

struct SegmentOptions {
  std::size_t index_interval_bytes = 4096;
  std::size_t max_batch_bytes = 16 * 1024 * 1024;
  // Appends allocate the log's blocks ahead of its end (fallocate with
  // FALLOC_FL_KEEP_SIZE: the file's size stays the log's), by as much as the
  // log holds, at least 64 KiB and at most this; 0: never. Allocating in
  // bulk spares the filesystem a block reservation per page written (about
  // 30% of a page-cache append on ext4). The blocks past the end are released
  // when the segment rolls or closes.
  std::size_t preallocate_bytes = 8 * 1024 * 1024;
};

// An open file that closes when its last user lets go. A segment shares its
// log file with every FileRange read from it, so that a segment deleted by
// retention or replaced by compaction stays readable (unlinked but open)
// until the bytes already handed out have been sent.
class FileHandle {
 public:
  explicit FileHandle(int fd) : fd_(fd) {}
  ~FileHandle();
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Bytes of the log a network face can send as they are (sendfile).
struct FileRange {
  std::shared_ptr<const FileHandle> file;
  std::uint64_t position = 0;
  std::size_t length = 0;
  int fd() const { return file ? file->fd() : -1; }
};

// What opening a segment had to repair; empty when nothing.
struct RecoveryReport {
  std::uint64_t truncated_bytes = 0;  // cut from the end of the log
  std::string reason;                 // why the cut was made (the failed check)
  bool index_rebuilt = false;
};

class Segment {
 public:
  static std::string file_name(std::int64_t base_offset, std::string_view extension);

  // Opens the segment, creating its files when absent.
  static Result<std::unique_ptr<Segment>> open(const std::string& directory,
                                               std::int64_t base_offset,
                                               const SegmentOptions& options, bool recover,
                                               RecoveryReport* report = nullptr);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  std::int64_t base_offset() const { return base_offset_; }
  std::int64_t next_offset() const { return next_offset_; }  // the offset the next batch gets
  std::uint64_t size_bytes() const { return size_; }
  std::int64_t max_timestamp() const { return max_timestamp_; }  // -1 when empty
  bool empty() const { return size_ == 0; }
  int log_fd() const { return log_ ? log_->fd() : -1; }
  // The log file, shared: compaction reads it on its own thread.
  std::shared_ptr<const FileHandle> log_file() const { return log_; }

  // Whether a batch with this header, stored here, keeps its offsets within
  // the 32-bit relative offsets of the indexes.
  bool fits(const BatchHeader& header) const {
    return header.last_offset() - base_offset_ <= static_cast<std::int64_t>(UINT32_MAX);
  }

  // Appends a batch that check_batch accepted (its header given), assigning
  // it next_offset() as base offset. Returns that base offset. On failure
  // nothing of the batch stays in the log.
  Result<std::int64_t> append(std::span<std::byte> batch, const BatchHeader& header);

  // fdatasync of the log: every batch appended so far is durable.
  Status sync();

  // Gives back the blocks allocated past the end of the log (a segment that
  // will not be appended to again; closing does it too).
  void release_preallocated();

  // Whole batches from the one holding `offset`, at most `max_bytes` but
  // always at least that one batch; nullopt when `offset` is not in this
  // segment.
  Result<std::optional<FileRange>> read(std::int64_t offset, std::size_t max_bytes) const;

  // The base offset of the first batch whose max timestamp is >= `timestamp`.
  std::optional<std::int64_t> offset_for_time(std::int64_t timestamp) const;

  // Bytes the in-memory indexes take (for the index memory benchmark).
  std::size_t index_memory_bytes() const;

  // Deletes the segment's files (retention, compaction). The log stays open
  // for FileRanges already handed out; the segment must not be used after.
  Status remove();

 private:
  struct IndexEntry {
    std::uint32_t relative_offset;
    std::uint32_t position;
  };
  struct TimeEntry {
    std::int64_t timestamp;
    std::uint32_t relative_offset;
  };

  Segment(std::string directory, std::int64_t base_offset, SegmentOptions options);
  Status open_files();
  Status scan(std::uint64_t from, bool verify_crc, RecoveryReport* report);
  Status load_indexes();
  Status rewrite_indexes();
  void note_batch(std::uint64_t position, const BatchHeader& header);
  void persist_index_entries();
  void preallocate(std::uint64_t end);
  std::string path(std::string_view extension) const;

  std::string directory_;
  std::int64_t base_offset_;
  SegmentOptions options_;
  std::string log_path_;  // built once: write_at and read_at name it in errors
  std::shared_ptr<FileHandle> log_;
  int index_fd_ = -1, time_fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t allocated_ = 0;    // the log's blocks are allocated up to here (or to size_)
  bool release_on_close_ = false;  // blocks past size_ may be allocated
  std::int64_t next_offset_;
  std::int64_t max_timestamp_ = -1;
  std::uint64_t bytes_since_index_ = 0;
  std::vector<IndexEntry> index_;
  std::vector<TimeEntry> time_index_;
  std::size_t persisted_index_ = 0;  // entries already in the .index file
  std::size_t persisted_time_ = 0;   // entries already in the .timeindex file
};

}  // namespace skein::storage
