// Segment files: appending, scanning (recovery and index rebuilds), the two
// sparse indexes, and reads as file ranges.
#include "storage/segment.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "storage/file_io.hpp"

namespace skein::storage {

namespace {

constexpr std::size_t kIndexEntryBytes = 8;
constexpr std::size_t kTimeEntryBytes = 12;
// A batch's first 27 bytes hold its base offset, length and lastOffsetDelta.
constexpr std::size_t kBatchPrefixBytes = 27;

std::uint64_t get_be(const std::byte* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

void put_be(std::byte* p, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = static_cast<std::byte>(v & 0xff);
}

struct BatchPrefix {
  std::int64_t base_offset;
  std::size_t total_bytes;
  std::int64_t last_offset;
};

BatchPrefix parse_prefix(const std::byte* p) {
  const auto base = static_cast<std::int64_t>(get_be(p, 8));
  const auto length = static_cast<std::int32_t>(get_be(p + 8, 4));
  const auto delta = static_cast<std::int32_t>(get_be(p + 23, 4));
  return {base, kBatchLengthPrefixBytes + static_cast<std::size_t>(std::max(length, 0)),
          base + delta};
}

}  // namespace

std::string Segment::file_name(std::int64_t base_offset, std::string_view extension) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%020lld", static_cast<long long>(base_offset));
  return std::string(digits) + std::string(extension);
}

std::string Segment::path(std::string_view extension) const {
  return directory_ + "/" + file_name(base_offset_, extension);
}

Segment::Segment(std::string directory, std::int64_t base_offset, SegmentOptions options)
    : directory_(std::move(directory)),
      base_offset_(base_offset),
      options_(options),
      log_path_(directory_ + "/" + file_name(base_offset, ".log")),
      next_offset_(base_offset) {}

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
}

Segment::~Segment() {
  persist_index_entries();
  release_preallocated();
  for (int fd : {index_fd_, time_fd_})
    if (fd >= 0) ::close(fd);
}

Status Segment::open_files() {
  const std::string log_path = path(".log");
  const int log_fd = ::open(log_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0) return system_error(errno, "open " + log_path);
  log_ = std::make_shared<FileHandle>(log_fd);
  int* fds[] = {&index_fd_, &time_fd_};
  const char* extensions[] = {".index", ".timeindex"};
  for (int i = 0; i < 2; ++i) {
    const std::string file = path(extensions[i]);
    *fds[i] = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fds[i] < 0) return system_error(errno, "open " + file);
  }
  const off_t end = ::lseek(log_fd, 0, SEEK_END);
  if (end < 0) return system_error(errno, "seek " + log_path_);
  size_ = static_cast<std::uint64_t>(end);
  return Ok{};
}

Result<std::unique_ptr<Segment>> Segment::open(const std::string& directory,
                                               std::int64_t base_offset,
                                               const SegmentOptions& options, bool recover,
                                               RecoveryReport* report) {
  std::unique_ptr<Segment> segment(new Segment(directory, base_offset, options));
  RecoveryReport local;
  if (report == nullptr) report = &local;
  if (auto opened = segment->open_files(); !opened) return opened.error();
  if (recover) {
    // The active segment: a crash may have left blocks allocated past its end.
    segment->release_on_close_ = true;
    if (auto scanned = segment->scan(0, /*verify_crc=*/true, report); !scanned)
      return scanned.error();
    report->index_rebuilt = true;
  } else if (auto loaded = segment->load_indexes(); !loaded) {
    // The indexes do not fit the log: derive them again from the batch headers.
    segment->index_.clear();
    segment->time_index_.clear();
    segment->next_offset_ = base_offset;
    segment->max_timestamp_ = -1;
    if (auto scanned = segment->scan(0, false, nullptr); !scanned) return scanned.error();
    report->index_rebuilt = true;
  }
  if (auto written = segment->rewrite_indexes(); !written) return written.error();
  return segment;
}

// Reads batches from `from` to the end of the log, adding index entries.
// With a report, a batch that fails its checks (torn or corrupt) and all that
// follows it are cut off; without one, it is an error.
Status Segment::scan(std::uint64_t from, bool verify_crc, RecoveryReport* report) {
  std::vector<std::byte> buffer;
  std::uint64_t position = from;
  while (position < size_) {
    std::string problem;
    buffer.resize(kBatchHeaderBytes);
    auto got = read_at(log_->fd(), buffer, position, log_path_);
    if (!got) return got.error();
    std::optional<BatchHeader> header;
    if (got.value() < kBatchHeaderBytes) {
      problem = "a batch header cut short";
    } else {
      const auto total = parse_prefix(buffer.data()).total_bytes;
      if (total > options_.max_batch_bytes || position + total > size_) {
        problem = "a batch of " + std::to_string(total) + " bytes that the file does not hold";
      } else {
        buffer.resize(total);
        got = read_at(log_->fd(), buffer, position, log_path_);
        if (!got) return got.error();
        BatchCheck check = check_batch(buffer, options_.max_batch_bytes, verify_crc);
        if (!check.header)
          problem = check.message;
        else if (check.header->base_offset < next_offset_)
          problem = "base offset " + std::to_string(check.header->base_offset) +
                    " below the expected " + std::to_string(next_offset_);
        else if (!fits(*check.header))
          problem = "last offset " + std::to_string(check.header->last_offset()) +
                    " beyond this segment's range";
        header = check.header;
      }
    }
    if (!problem.empty()) {
      const std::string where = log_path_ + " at position " + std::to_string(position) +
                                " (offset " + std::to_string(next_offset_) + ")";
      if (report == nullptr)
        return Error{Errc::corrupt, "corrupt segment " + where + ": " + problem};
      if (::ftruncate(log_->fd(), static_cast<off_t>(position)) != 0)
        return system_error(errno, "truncate " + log_path_);
      report->truncated_bytes += size_ - position;
      report->reason = where + ": " + problem;
      size_ = position;
      break;
    }
    note_batch(position, *header);
    position += header->total_bytes();
  }
  return Ok{};
}

void Segment::note_batch(std::uint64_t position, const BatchHeader& header) {
  const auto relative = static_cast<std::uint32_t>(header.base_offset - base_offset_);
  if (index_.empty() || bytes_since_index_ >= options_.index_interval_bytes) {
    index_.push_back({relative, static_cast<std::uint32_t>(position)});
    bytes_since_index_ = 0;
  }
  bytes_since_index_ += header.total_bytes();
  if (header.max_timestamp > max_timestamp_) {
    time_index_.push_back({header.max_timestamp, relative});
    max_timestamp_ = header.max_timestamp;
  }
  next_offset_ = header.last_offset() + 1;
}

// Loads both index files and checks that they fit the log; then scans the
// log from the last indexed batch to its end (where appends after the last
// index write, or a crash, may have left batches the files do not list).
Status Segment::load_indexes() {
  auto load = [](int fd, const std::string& file, std::vector<std::byte>& out) -> Status {
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) return system_error(errno, "seek " + file);
    out.resize(static_cast<std::size_t>(end));
    auto got = read_at(fd, out, 0, file);
    if (!got) return got.error();
    return Ok{};
  };
  std::vector<std::byte> offsets, times;
  if (auto s = load(index_fd_, path(".index"), offsets); !s) return s;
  if (auto s = load(time_fd_, path(".timeindex"), times); !s) return s;
  const Error stale{Errc::corrupt, "stale index for " + log_path_};
  if (offsets.size() % kIndexEntryBytes != 0 || times.size() % kTimeEntryBytes != 0) return stale;
  for (std::size_t i = 0; i < offsets.size(); i += kIndexEntryBytes) {
    IndexEntry e{static_cast<std::uint32_t>(get_be(&offsets[i], 4)),
                 static_cast<std::uint32_t>(get_be(&offsets[i + 4], 4))};
    const bool ordered = index_.empty() ? e.position == 0
                                        : e.relative_offset > index_.back().relative_offset &&
                                              e.position > index_.back().position;
    if (!ordered || e.position >= size_) return stale;
    index_.push_back(e);
  }
  for (std::size_t i = 0; i < times.size(); i += kTimeEntryBytes) {
    TimeEntry e{static_cast<std::int64_t>(get_be(&times[i], 8)),
                static_cast<std::uint32_t>(get_be(&times[i + 8], 4))};
    if (!time_index_.empty() && e.timestamp <= time_index_.back().timestamp) return stale;
    time_index_.push_back(e);
  }
  if (index_.empty()) return size_ == 0 ? Status(Ok{}) : Status(stale);
  // Resume from the last indexed batch: drop what scanning will add again.
  const IndexEntry last = index_.back();
  index_.pop_back();
  std::erase_if(time_index_,
                [&](const TimeEntry& t) { return t.relative_offset >= last.relative_offset; });
  max_timestamp_ = time_index_.empty() ? -1 : time_index_.back().timestamp;
  next_offset_ = base_offset_ + last.relative_offset;
  bytes_since_index_ = options_.index_interval_bytes;  // index the first batch scanned
  return scan(last.position, /*verify_crc=*/false, nullptr);
}

Status Segment::rewrite_indexes() {
  std::vector<std::byte> offsets(index_.size() * kIndexEntryBytes);
  for (std::size_t i = 0; i < index_.size(); ++i) {
    put_be(&offsets[i * kIndexEntryBytes], index_[i].relative_offset, 4);
    put_be(&offsets[i * kIndexEntryBytes + 4], index_[i].position, 4);
  }
  std::vector<std::byte> times(time_index_.size() * kTimeEntryBytes);
  for (std::size_t i = 0; i < time_index_.size(); ++i) {
    put_be(&times[i * kTimeEntryBytes], static_cast<std::uint64_t>(time_index_[i].timestamp), 8);
    put_be(&times[i * kTimeEntryBytes + 8], time_index_[i].relative_offset, 4);
  }
  if (::ftruncate(index_fd_, 0) != 0 || ::ftruncate(time_fd_, 0) != 0)
    return system_error(errno, "truncate the indexes of " + log_path_);
  if (auto s = write_at(index_fd_, offsets, 0, path(".index")); !s) return s;
  persisted_index_ = index_.size();
  persisted_time_ = time_index_.size();
  return write_at(time_fd_, times, 0, path(".timeindex"));
}

// The indexes are derived data, written when the log is synced or closed
// rather than on every append: entries missing after a crash, or a torn last
// entry, are found and repaired on the next open (load_indexes scans the log
// past the last entry, or rebuilds), so a failure here fails nothing.
void Segment::persist_index_entries() {
  if (index_fd_ < 0 || time_fd_ < 0) return;
  const std::size_t first_offset_entry = persisted_index_, first_time_entry = persisted_time_;
  persisted_index_ = index_.size();
  persisted_time_ = time_index_.size();
  for (std::size_t i = first_offset_entry; i < index_.size(); ++i) {
    std::byte entry[kIndexEntryBytes];
    put_be(entry, index_[i].relative_offset, 4);
    put_be(entry + 4, index_[i].position, 4);
    (void)write_at(index_fd_, entry, i * kIndexEntryBytes, path(".index"));
  }
  for (std::size_t i = first_time_entry; i < time_index_.size(); ++i) {
    std::byte entry[kTimeEntryBytes];
    put_be(entry, static_cast<std::uint64_t>(time_index_[i].timestamp), 8);
    put_be(entry + 8, time_index_[i].relative_offset, 4);
    (void)write_at(time_fd_, entry, i * kTimeEntryBytes, path(".timeindex"));
  }
}

Result<std::int64_t> Segment::append(std::span<std::byte> batch, const BatchHeader& header) {
  if (header.total_bytes() != batch.size())
    return Error{Errc::invalid_batch, "batch of " + std::to_string(batch.size()) +
                                          " bytes announces " +
                                          std::to_string(header.total_bytes())};
  set_base_offset(batch, next_offset_);
  preallocate(size_ + batch.size());
  if (auto written = write_at(log_->fd(), batch, size_, log_path_); !written) {
    // Leave no partial batch behind (best effort: recovery would cut it too).
    // This also releases the blocks allocated ahead.
    [[maybe_unused]] int ignored = ::ftruncate(log_->fd(), static_cast<off_t>(size_));
    allocated_ = size_;
    return written.error();
  }
  BatchHeader stored = header;
  stored.base_offset = next_offset_;
  note_batch(size_, stored);
  size_ += batch.size();
  return stored.base_offset;
}

// Allocates the log's blocks up to `end` and ahead of it, when not yet done.
// Best effort: without it (a filesystem that cannot, a full disk) the write
// allocates its own blocks, or fails and says why.
void Segment::preallocate(std::uint64_t end) {
  if (options_.preallocate_bytes == 0 || end <= allocated_) return;
  constexpr std::uint64_t kMinAhead = 64 * 1024;
  const std::uint64_t ahead =
      std::min<std::uint64_t>(std::max(size_, kMinAhead), options_.preallocate_bytes);
  const std::uint64_t from = std::max(allocated_, size_);
  const std::uint64_t to = end + ahead;
  release_on_close_ = true;
  if (::fallocate(log_->fd(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                  static_cast<off_t>(to - from)) == 0) {
    allocated_ = to;
  } else if (errno == EOPNOTSUPP || errno == ENOSYS) {
    options_.preallocate_bytes = 0;  // not on this filesystem: stop asking
  }
}

void Segment::release_preallocated() {
  if (!release_on_close_ || !log_) return;
  // Truncating to the size it has frees the blocks past it (ext4, xfs, tmpfs).
  [[maybe_unused]] int ignored = ::ftruncate(log_->fd(), static_cast<off_t>(size_));
  allocated_ = size_;
  release_on_close_ = false;
}

Status Segment::sync() {
  if (::fdatasync(log_->fd()) != 0) return system_error(errno, "fdatasync " + log_path_);
  persist_index_entries();
  return Ok{};
}

Result<std::optional<FileRange>> Segment::read(std::int64_t offset, std::size_t max_bytes) const {
  if (offset < base_offset_ || offset >= next_offset_) return std::optional<FileRange>{};
  const auto relative = static_cast<std::uint32_t>(offset - base_offset_);
  auto entry =
      std::upper_bound(index_.begin(), index_.end(), relative,
                       [](std::uint32_t r, const IndexEntry& e) { return r < e.relative_offset; });
  std::uint64_t position = entry == index_.begin() ? 0 : std::prev(entry)->position;
  std::byte prefix[kBatchPrefixBytes];
  auto read_prefix = [&](std::uint64_t at) -> Result<BatchPrefix> {
    auto got = read_at(log_->fd(), prefix, at, log_path_);
    if (!got) return got.error();
    if (got.value() < kBatchPrefixBytes)
      return Error{Errc::corrupt, log_path_ + ": short batch at position " + std::to_string(at)};
    return parse_prefix(prefix);
  };
  for (;;) {  // find the batch holding `offset`
    auto batch = read_prefix(position);
    if (!batch) return batch.error();
    if (batch.value().last_offset >= offset) break;
    position += batch.value().total_bytes;
    if (position >= size_)
      return Error{Errc::corrupt, log_path_ + ": offset " + std::to_string(offset) + " not found"};
  }
  FileRange range{log_, position, 0};
  while (position < size_) {  // whole batches up to the budget, at least one
    auto batch = read_prefix(position);
    if (!batch) return batch.error();
    const std::size_t total = batch.value().total_bytes;
    if (range.length > 0 && range.length + total > max_bytes) break;
    range.length += total;
    position += total;
  }
  return std::optional<FileRange>(range);
}

std::optional<std::int64_t> Segment::offset_for_time(std::int64_t timestamp) const {
  // Entries are written whenever the maximum grows, so the first entry at or
  // above `timestamp` names the first batch reaching it.
  auto entry = std::lower_bound(time_index_.begin(), time_index_.end(), timestamp,
                                [](const TimeEntry& e, std::int64_t t) { return e.timestamp < t; });
  if (entry == time_index_.end()) return std::nullopt;
  return base_offset_ + entry->relative_offset;
}

std::size_t Segment::index_memory_bytes() const {
  return index_.capacity() * sizeof(IndexEntry) + time_index_.capacity() * sizeof(TimeEntry);
}

Status Segment::remove() {
  log_.reset();
  for (int* fd : {&index_fd_, &time_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  for (const char* extension : {".log", ".index", ".timeindex"}) {
    const std::string file = path(extension);
    if (::unlink(file.c_str()) != 0 && errno != ENOENT)
      return system_error(errno, "unlink " + file);
  }
  return Ok{};
}

}  // namespace skein::storage
