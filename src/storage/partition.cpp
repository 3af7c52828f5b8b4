// A partition's segments: discovery on open, roll, reads across segments,
// retention.
#include "storage/partition.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>

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
    if (segment.next_offset() <= offset) continue;
    return segment.read(std::max(offset, segment.base_offset()), max_bytes);
  }
  return std::optional<FileRange>{};
}

std::optional<std::int64_t> Partition::offset_for_time(std::int64_t timestamp) const {
  for (const auto& [base, segment] : segments_) {
    if (segment->max_timestamp() >= timestamp) return segment->offset_for_time(timestamp);
  }
  return std::nullopt;
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

}  // namespace skein::storage
