// The background half of compaction (compaction.hpp): the key map and the
// cleaned files. The swap is Partition::finish_compaction's.
#include "storage/compaction.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "storage/batch_reader.hpp"
#include "storage/compression.hpp"
#include "storage/file_io.hpp"

namespace skein::storage {

namespace {

// A compressed batch may expand far beyond its stored size; this bounds what
// one decompression may allocate (a batch past it fails the job, not the node).
constexpr std::size_t kMaxDecompressedBatchBytes = 256 * 1024 * 1024;
constexpr std::size_t kWriteChunk = 1024 * 1024;

// A batch's records, decompressed when need be; the views point into the
// batch or into `decompressed`, which must outlive them.
Result<std::vector<RecordView>> records_of(const BatchRead& batch,
                                           std::vector<std::byte>& decompressed,
                                           const std::string& where) {
  const BatchHeader& h = batch.header;
  auto section = batch.bytes.subspan(kBatchHeaderBytes);
  if (h.compression() != 0) {
    const auto codec = codec_from_id(h.compression());
    if (!codec)
      return Error{Errc::corrupt,
                   where + ": unknown compression " + std::to_string(h.compression())};
    auto plain = decompress(*codec, section, kMaxDecompressedBatchBytes);
    if (!plain) return Error{Errc::corrupt, where + ": " + plain.error().message};
    decompressed = std::move(plain.value());
    section = decompressed;
  }
  auto records = decode_record_section(h, section);
  if (!records) return Error{Errc::corrupt, where + ": malformed records"};
  return std::move(*records);
}

std::string where_of(const std::string& file, const BatchRead& batch) {
  return file + " at position " + std::to_string(batch.position) + " (offset " +
         std::to_string(batch.header.base_offset) + ")";
}

// Calls `each(record)` for every record of the first `size` bytes of `log`.
template <class Each>
Status for_each_record(const CompactionSource& source, std::size_t max_batch_bytes,
                       const std::string& file, Each&& each) {
  BatchReader reader(source.log->fd(), source.size, max_batch_bytes, file);
  std::vector<std::byte> decompressed;
  for (;;) {
    auto batch = reader.next();
    if (!batch) return batch.error();
    if (!batch.value()) return Ok{};
    if (batch.value()->header.control()) continue;
    auto records = records_of(*batch.value(), decompressed, where_of(file, *batch.value()));
    if (!records) return records.error();
    for (const RecordView& record : records.value()) each(record);
  }
}

}  // namespace

std::string compaction_file_name(std::int64_t base, std::int64_t end, std::string_view extension) {
  char digits[48];
  std::snprintf(digits, sizeof digits, "%020lld-%020lld", static_cast<long long>(base),
                static_cast<long long>(end));
  return std::string(digits) + std::string(extension);
}

Status CompactionJob::run() {
  if (ran_) return Error{Errc::io, "a compaction job runs once"};
  ran_ = true;
  // Newest offset of every key, oldest segment first so that later values win.
  KeyMap newest;
  auto note = [&](const RecordView& record) {
    if (record.key) newest.insert_or_assign(std::string(*record.key), record.offset);
  };
  for (const Group& group : groups_) {
    for (const CompactionSource& source : group.sources) {
      const std::string file = directory_ + "/" + Segment::file_name(source.base_offset, ".log");
      if (auto s = for_each_record(source, max_batch_bytes_, file, note); !s) return s;
    }
  }
  const std::string active_file =
      directory_ + "/" + Segment::file_name(active_.base_offset, ".log");
  if (auto s = for_each_record(active_, max_batch_bytes_, active_file, note); !s) return s;

  for (Group& group : groups_) {
    if (auto s = write_group(group, newest); !s) {
      if (!group.cleaned_path.empty()) ::unlink(group.cleaned_path.c_str());
      group.cleaned_path.clear();
      return s;
    }
  }
  return Ok{};
}

// Writes the group's kept records to its .cleaned file, synced; leaves
// cleaned_path empty when the group would lose nothing. Until the first batch
// that changes, nothing is buffered: that unchanged prefix is then copied from
// the sources in the kernel, so a group already clean costs reads only.
Status CompactionJob::write_group(Group& group, const KeyMap& newest) {
  const std::string path =
      directory_ + "/" +
      compaction_file_name(group.sources.front().base_offset, group.end, ".cleaned");
  std::vector<std::byte> out;  // bytes for the file once it exists
  std::uint64_t written = 0;
  int fd = -1;
  std::uint64_t removed = 0, tombstones_removed = 0, tombstones_kept = 0;
  std::int64_t next_expiry = INT64_MAX;
  auto flush = [&]() -> Status {
    if (auto s = write_at(fd, out, written, path); !s) return s;
    written += out.size();
    out.clear();
    return Ok{};
  };
  // Creates the file and copies everything before (source `index`, `position`).
  auto start_file = [&](std::size_t index, std::uint64_t position) -> Status {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return system_error(errno, "create " + path);
    group.cleaned_path = path;
    for (std::size_t i = 0; i <= index; ++i) {
      const CompactionSource& source = group.sources[i];
      const std::uint64_t length = i < index ? source.size : position;
      if (auto s = copy_range(source.log->fd(), 0, fd, written, length, "copy into " + path); !s)
        return s;
      written += length;
    }
    return Ok{};
  };
  auto finish = [&](Status status) -> Status {
    if (fd >= 0 && status && ::fdatasync(fd) != 0)
      status = system_error(errno, "fdatasync " + path);
    if (fd >= 0) ::close(fd);
    return status;
  };

  std::vector<std::byte> decompressed;
  std::vector<std::span<const std::byte>> kept;
  for (std::size_t index = 0; index < group.sources.size(); ++index) {
    const CompactionSource& source = group.sources[index];
    const std::string file = directory_ + "/" + Segment::file_name(source.base_offset, ".log");
    BatchReader reader(source.log->fd(), source.size, max_batch_bytes_, file);
    for (;;) {
      auto batch = reader.next();
      if (!batch) return finish(batch.error());
      if (!batch.value()) break;
      const BatchRead& read = *batch.value();
      std::size_t record_count = 0;
      kept.clear();
      if (!read.header.control()) {
        auto records = records_of(read, decompressed, where_of(file, read));
        if (!records) return finish(records.error());
        record_count = records.value().size();
        for (const RecordView& record : records.value()) {
          if (record.key && newest.at(std::string(*record.key)) != record.offset) {
            ++removed;
            continue;
          }
          if (record.key && !record.value) {
            // Under LogAppendTime the batch's max timestamp is the append time.
            const std::int64_t stamp =
                read.header.log_append_time() ? read.header.max_timestamp : record.timestamp;
            if (stamp < tombstone_cutoff_ms_) {
              ++removed;
              ++tombstones_removed;
              continue;
            }
            ++tombstones_kept;
            next_expiry = std::min(next_expiry, stamp + tombstone_retention_ms_);
          }
          kept.push_back(record.raw);
        }
      }
      const bool whole = read.header.control() || kept.size() == record_count;
      if (whole && fd < 0) continue;  // still in the unchanged prefix
      if (fd < 0)
        if (auto s = start_file(index, read.position); !s) return finish(s);
      if (whole) {
        out.insert(out.end(), read.bytes.begin(), read.bytes.end());
      } else if (!kept.empty()) {
        const std::vector<std::byte> rebuilt = rebuild_batch(read.header, kept);
        out.insert(out.end(), rebuilt.begin(), rebuilt.end());
      }
      if (out.size() >= kWriteChunk)
        if (auto s = flush(); !s) return finish(s);
    }
  }
  report_.tombstones_kept += tombstones_kept;
  next_tombstone_expiry_ms_ = std::min(next_tombstone_expiry_ms_, next_expiry);
  if (fd < 0) return Ok{};  // nothing to remove in this group
  if (auto s = flush(); !s) return finish(s);
  group.bytes_after = written;
  report_.records_removed += removed;
  report_.tombstones_removed += tombstones_removed;
  return finish(Ok{});
}

}  // namespace skein::storage
