// A partition's segments: discovery on open, roll, reads across segments,
// retention.
#include "storage/partition.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "storage/compression.hpp"
#include "storage/file_io.hpp"

namespace skein::storage {

namespace fs = std::filesystem;

namespace {
// "00000000000000000042.log" -> 42; nullopt for any other name.
std::optional<std::int64_t> base_offset_of(const fs::path& file) {
  if (file.extension() != ".log") return std::nullopt;
  const std::string stem = file.stem().string();
  std::int64_t base = 0;
  auto [end, ec] = std::from_chars(stem.data(), stem.data() + stem.size(), base);
  if (stem.size() != 20 || ec != std::errc() || end != stem.data() + stem.size() || base < 0)
    return std::nullopt;
  return base;
}

// "<base>-<end>.swap" (or .cleaned) -> {base, end}; nullopt for any other name.
std::optional<std::pair<std::int64_t, std::int64_t>> group_of(const fs::path& file) {
  const std::string stem = file.stem().string();
  if (stem.size() != 41 || stem[20] != '-') return std::nullopt;
  std::int64_t base = 0, end = 0;
  auto a = std::from_chars(stem.data(), stem.data() + 20, base);
  auto b = std::from_chars(stem.data() + 21, stem.data() + 41, end);
  if (a.ec != std::errc() || a.ptr != stem.data() + 20 || b.ec != std::errc() ||
      b.ptr != stem.data() + 41 || base < 0 || end < base)
    return std::nullopt;
  return std::pair{base, end};
}

// Makes renames and unlinks in `directory` durable.
Status sync_directory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return system_error(errno, "open " + directory);
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (synced != 0) return system_error(error, "fsync " + directory);
  return Ok{};
}

Status unlink_segment_files(const std::string& directory, std::int64_t base) {
  for (const char* extension : {".log", ".index", ".timeindex"}) {
    const std::string file = directory + "/" + Segment::file_name(base, extension);
    if (::unlink(file.c_str()) != 0 && errno != ENOENT)
      return system_error(errno, "unlink " + file);
  }
  return Ok{};
}

// Leftovers of a compaction a crash interrupted: a .cleaned file was never
// swapped in (delete it); a .swap file was complete (finish its swap: delete
// the segments it replaces, then take its place as a .log).
Status finish_interrupted_compaction(const std::string& directory,
                                     std::vector<RecoveryReport>* reports) {
  std::error_code ec;
  std::vector<fs::path> cleaned, swaps;
  std::vector<std::int64_t> bases;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    const fs::path& file = entry.path();
    if (file.extension() == ".cleaned" && group_of(file)) cleaned.push_back(file);
    if (file.extension() == ".swap" && group_of(file)) swaps.push_back(file);
    if (auto base = base_offset_of(file)) bases.push_back(*base);
  }
  if (ec) return Error{Errc::io, "list " + directory + ": " + ec.message()};
  for (const fs::path& file : cleaned) {
    if (::unlink(file.c_str()) != 0 && errno != ENOENT)
      return system_error(errno, "unlink " + file.string());
  }
  for (const fs::path& file : swaps) {
    const auto [base, end] = *group_of(file);
    for (std::int64_t old : bases)
      if (old >= base && old < end)
        if (auto s = unlink_segment_files(directory, old); !s) return s;
    const std::string log = directory + "/" + Segment::file_name(base, ".log");
    if (::rename(file.c_str(), log.c_str()) != 0)
      return system_error(errno, "rename " + file.string());
    if (reports != nullptr)
      reports->push_back({0, "completed the compaction swap of " + file.string(), true});
  }
  if (cleaned.empty() && swaps.empty()) return Ok{};
  return sync_directory(directory);
}

std::int64_t to_ms(Partition::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

Partition::Partition(std::string directory, PartitionOptions options)
    : directory_(std::move(directory)), options_(options), active_since_(Clock::now()) {}

Result<std::unique_ptr<Partition>> Partition::open(std::string directory, PartitionOptions options,
                                                   std::vector<RecoveryReport>* reports) {
  if (options.segment_bytes == 0 || options.segment_bytes > UINT32_MAX) {
    // Index entries hold 32-bit file positions (as Kafka's do).
    return Error{Errc::invalid_batch, "segment_bytes must be from 1 to " +
                                          std::to_string(UINT32_MAX) + ", not " +
                                          std::to_string(options.segment_bytes)};
  }
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) return Error{Errc::io, "create " + directory + ": " + ec.message()};
  if (auto s = finish_interrupted_compaction(directory, reports); !s) return s.error();
  std::vector<std::int64_t> bases;
  for (const auto& entry : fs::directory_iterator(directory, ec))
    if (auto base = base_offset_of(entry.path())) bases.push_back(*base);
  if (ec) return Error{Errc::io, "list " + directory + ": " + ec.message()};
  std::sort(bases.begin(), bases.end());
  if (bases.empty()) bases.push_back(0);

  std::unique_ptr<Partition> partition(new Partition(directory, options));
  for (std::size_t i = 0; i < bases.size(); ++i) {
    // Only the active (last) segment can have been cut short by a crash.
    const bool tail = i + 1 == bases.size();
    RecoveryReport report;
    auto segment = Segment::open(directory, bases[i], options.segment, tail, &report);
    if (!segment) return segment.error();
    if (reports != nullptr && (report.truncated_bytes > 0 || (!tail && report.index_rebuilt)))
      reports->push_back(report);
    partition->segments_.emplace(bases[i], std::move(segment.value()));
  }
  return partition;
}

Status Partition::roll(Clock::time_point now) {
  // A rolled segment is never written again: make it durable once, here.
  if (auto synced = active().sync(); !synced) return synced;
  active().release_preallocated();
  auto segment = Segment::open(directory_, active().next_offset(), options_.segment, false);
  if (!segment) return segment.error();
  segments_.emplace(segment.value()->base_offset(), std::move(segment.value()));
  active_since_ = now;
  return Ok{};
}

Result<std::int64_t> Partition::append(std::span<std::byte> batch, Clock::time_point now) {
  BatchCheck check = check_batch(batch, options_.segment.max_batch_bytes, /*verify_crc=*/true);
  if (!check.header) return Error{Errc::invalid_batch, check.message};
  if (check.header->total_bytes() != batch.size())
    return Error{Errc::invalid_batch, "one batch expected, got " + std::to_string(batch.size()) +
                                          " bytes for a batch of " +
                                          std::to_string(check.header->total_bytes())};
  BatchHeader placed = *check.header;  // where it would land in the active segment
  placed.base_offset = active().next_offset();
  const bool full =
      active().size_bytes() + batch.size() > options_.segment_bytes || !active().fits(placed);
  const bool old = now - active_since_ >= options_.segment_ms;
  if (!active().empty() && (full || old)) {
    if (auto rolled = roll(now); !rolled) return rolled.error();
  }
  return active().append(batch, *check.header);
}

void Partition::set_options(const PartitionOptions& options) {
  const std::uint64_t segment_bytes = options_.segment_bytes;
  options_ = options;
  if (options.segment_bytes == 0 || options.segment_bytes > UINT32_MAX)
    options_.segment_bytes = segment_bytes;
}

Status Partition::sync() {
  return active().sync();
}

const Segment* Partition::segment_for(std::int64_t offset) const {
  auto it = segments_.upper_bound(offset);
  if (it == segments_.begin()) return nullptr;
  return std::prev(it)->second.get();
}

Result<std::optional<FileRange>> Partition::read(std::int64_t offset, std::size_t max_bytes) const {
  if (offset == log_end_offset()) return std::optional<FileRange>{};
  if (offset < log_start_offset() || offset > log_end_offset()) {
    return Error{Errc::out_of_range, "offset " + std::to_string(offset) + " is outside " +
                                         std::to_string(log_start_offset()) + ".." +
                                         std::to_string(log_end_offset())};
  }
  // Compaction can leave gaps: the first segment holding an offset >= the
  // one asked serves it.
  for (auto it = std::prev(segments_.upper_bound(offset)); it != segments_.end(); ++it) {
    const Segment& segment = *it->second;
    if (segment.empty() || segment.next_offset() <= offset) continue;
    return segment.read(std::max(offset, segment.base_offset()), max_bytes);
  }
  return std::optional<FileRange>{};
}

std::optional<std::int64_t> Partition::offset_for_time(std::int64_t timestamp) const {
  for (const auto& [base, segment] : segments_) {
    if (segment->max_timestamp() < timestamp) continue;
    const auto batch_offset = segment->offset_for_time(timestamp);
    if (!batch_offset) return batch_offset;
    return first_record_at_or_after(*batch_offset, timestamp);
  }
  return std::nullopt;
}

std::int64_t Partition::first_record_at_or_after(std::int64_t batch_offset,
                                                 std::int64_t timestamp) const {
  // The time index names the first batch whose maximum reaches the time; the
  // record is found inside it (Kafka answers with the record, not the batch).
  // Whatever cannot be read falls back to the batch's offset.
  auto range = read(batch_offset, 1);
  if (!range || !range.value()) return batch_offset;
  const FileRange& r = *range.value();
  std::vector<std::byte> bytes(r.length);
  auto got = read_at(r.fd(), bytes, r.position, "offset_for_time");
  if (!got || got.value() != r.length) return batch_offset;
  const BatchCheck check = check_batch(bytes, bytes.size(), false);
  if (!check.header) return batch_offset;
  const BatchHeader& header = *check.header;
  if (header.log_append_time()) return std::max(batch_offset, header.base_offset);
  auto section = std::span<const std::byte>(bytes).subspan(
      kBatchHeaderBytes, header.total_bytes() - kBatchHeaderBytes);
  std::vector<std::byte> inflated;
  if (header.compression() != 0) {
    const auto codec = codec_from_id(header.compression());
    if (!codec) return batch_offset;
    auto result = decompress(*codec, section, 64 * header.total_bytes() + (1 << 20));
    if (!result) return batch_offset;
    inflated = std::move(result.value());
    section = inflated;
  }
  const auto records = decode_record_section(header, section);
  if (!records) return batch_offset;
  for (const RecordView& record : *records) {
    if (record.offset >= batch_offset && record.timestamp >= timestamp) return record.offset;
  }
  return batch_offset;
}

std::uint64_t Partition::size_bytes() const {
  std::uint64_t total = 0;
  for (const auto& [base, segment] : segments_) total += segment->size_bytes();
  return total;
}

std::size_t Partition::index_memory_bytes() const {
  std::size_t total = 0;
  for (const auto& [base, segment] : segments_) total += segment->index_memory_bytes();
  return total;
}

Result<RetentionReport> Partition::apply_retention(Clock::time_point now) {
  RetentionReport report;
  if (!options_.cleanup_delete) return report;
  const std::int64_t cutoff = options_.retention_ms < 0 ? -1 : to_ms(now) - options_.retention_ms;
  auto expired = [&](const Segment& s) { return cutoff >= 0 && s.max_timestamp() < cutoff; };
  auto too_big = [&] {
    return options_.retention_bytes >= 0 &&
           size_bytes() > static_cast<std::uint64_t>(options_.retention_bytes);
  };
  if (segments_.size() == 1 && !active().empty() && expired(active())) {
    if (auto rolled = roll(now); !rolled) return rolled.error();
  }
  while (segments_.size() > 1) {
    Segment& oldest = *segments_.begin()->second;
    if (!expired(oldest) && !too_big()) break;
    report.bytes_deleted += oldest.size_bytes();
    if (auto removed = oldest.remove(); !removed) return removed.error();
    segments_.erase(segments_.begin());
    ++report.segments_deleted;
  }
  return report;
}

std::unique_ptr<CompactionJob> Partition::start_compaction(Clock::time_point now) {
  if (!options_.cleanup_compact || compaction_out_ || segments_.size() < 2) return nullptr;
  const bool new_segments = active().base_offset() > cleaned_before_;
  const bool tombstones_due = to_ms(now) >= next_tombstone_expiry_ms_;
  if (!new_segments && !tombstones_due) return nullptr;

  std::unique_ptr<CompactionJob> job(new CompactionJob);
  job->directory_ = directory_;
  job->max_batch_bytes_ = options_.segment.max_batch_bytes;
  job->tombstone_retention_ms_ = options_.tombstone_retention_ms;
  job->tombstone_cutoff_ms_ = to_ms(now) - options_.tombstone_retention_ms;
  // Consecutive closed segments, grouped while they fit one segment (its size
  // bound and its 32-bit relative offsets).
  for (auto it = segments_.begin(); std::next(it) != segments_.end(); ++it) {
    const Segment& segment = *it->second;
    const std::int64_t after = std::next(it)->first;
    CompactionSource source{segment.base_offset(), segment.size_bytes(), segment.log_file()};
    if (!job->groups_.empty()) {
      CompactionJob::Group& group = job->groups_.back();
      std::uint64_t bytes = source.size;
      for (const auto& s : group.sources) bytes += s.size;
      const std::int64_t base = group.sources.front().base_offset;
      if (bytes <= options_.segment_bytes &&
          after - 1 - base <= static_cast<std::int64_t>(UINT32_MAX)) {
        group.sources.push_back(source);
        group.end = after;
        continue;
      }
    }
    job->groups_.push_back({{source}, after, {}, 0});
  }
  job->active_ = {active().base_offset(), active().size_bytes(), active().log_file()};
  compaction_out_ = true;
  cleaned_before_ = active().base_offset();
  return job;
}

Result<CompactionReport> Partition::finish_compaction(CompactionJob& job) {
  compaction_out_ = false;
  CompactionReport report = job.report_;
  next_tombstone_expiry_ms_ = job.next_tombstone_expiry_ms_;
  Status status = Ok{};
  for (CompactionJob::Group& group : job.groups_) {
    if (group.cleaned_path.empty()) continue;
    const std::string cleaned = std::exchange(group.cleaned_path, {});
    // Retention may have deleted some of the group's segments meanwhile.
    const bool intact = std::all_of(group.sources.begin(), group.sources.end(), [&](const auto& s) {
      auto it = segments_.find(s.base_offset);
      return it != segments_.end() && it->second->log_file() == s.log;
    });
    if (!status || !intact) {
      ::unlink(cleaned.c_str());
      if (!intact) ++report.groups_discarded;
      continue;
    }
    status = swap_in(group, cleaned, report);
  }
  if (!status) {
    cleaned_before_ = -1;  // try again next time
    return status.error();
  }
  return report;
}

Status Partition::swap_in(const CompactionJob::Group& group, const std::string& cleaned,
                          CompactionReport& report) {
  const std::int64_t base = group.sources.front().base_offset;
  const std::string swap = directory_ + "/" + compaction_file_name(base, group.end, ".swap");
  // From this rename on, a crash completes the swap on open.
  if (::rename(cleaned.c_str(), swap.c_str()) != 0) {
    const Error error = system_error(errno, "rename " + cleaned);
    ::unlink(cleaned.c_str());
    return error;
  }
  if (auto s = sync_directory(directory_); !s) return s;
  for (const CompactionSource& source : group.sources) {
    auto it = segments_.find(source.base_offset);
    report.bytes_before += it->second->size_bytes();
    if (auto s = it->second->remove(); !s) return s;
    segments_.erase(it);
    ++report.segments_replaced;
  }
  const std::string log = directory_ + "/" + Segment::file_name(base, ".log");
  if (::rename(swap.c_str(), log.c_str()) != 0) return system_error(errno, "rename " + swap);
  if (auto s = sync_directory(directory_); !s) return s;
  auto segment = Segment::open(directory_, base, options_.segment, false);
  if (!segment) return segment.error();
  report.bytes_after += segment.value()->size_bytes();
  ++report.segments_written;
  segments_.emplace(base, std::move(segment.value()));
  return Ok{};
}

Result<CompactionReport> Partition::compact(Clock::time_point now) {
  auto job = start_compaction(now);
  if (!job) return CompactionReport{};
  Status ran = job->run();
  auto finished = finish_compaction(*job);
  if (!ran) return ran.error();
  return finished;
}

}  // namespace skein::storage
