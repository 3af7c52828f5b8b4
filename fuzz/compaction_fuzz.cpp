// Fuzz target for compaction. The first byte chooses what the rest is:
//  - even: the raw bytes of a closed segment (with an empty active one after
//    it). Opening may refuse them; if it opens, compaction must either
//    succeed or report an error, never crash or hang, and the log must
//    reopen with the same end offset.
//  - odd: a script of keyed appends (two bytes a record: key, value length or
//    tombstone; a zero byte ends a batch) into a partition with tiny
//    segments, then compaction; every record that remains must be what was
//    appended at its offset, and every key's newest record must remain.
// Invariants trap on violation.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "storage/partition.hpp"

namespace {

using namespace skein::storage;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const std::string& scratch_dir() {
  static const std::string dir = [] {
    char name[] = "/dev/shm/skein-fuzz-compaction-XXXXXX";
    const char* made = ::mkdtemp(name);
    check(made != nullptr);
    return std::string(made);
  }();
  return dir;
}

PartitionOptions options() {
  PartitionOptions o;
  o.segment.index_interval_bytes = 64;
  o.segment.max_batch_bytes = 1 << 16;
  o.segment_bytes = 512;
  o.cleanup_delete = false;
  o.cleanup_compact = true;
  o.tombstone_retention_ms = 1000;
  return o;
}

// offset -> (key, value) of every record the partition serves.
std::map<std::int64_t, std::pair<std::string, std::optional<std::string>>> read_all(
    const Partition& p) {
  std::map<std::int64_t, std::pair<std::string, std::optional<std::string>>> out;
  std::int64_t offset = p.log_start_offset();
  while (offset < p.log_end_offset()) {
    auto range = p.read(offset, 1 << 12);
    check(range.ok());
    if (!range.value()) break;
    std::vector<std::byte> bytes(range.value()->length);
    check(::pread(range.value()->fd(), bytes.data(), bytes.size(),
                  static_cast<off_t>(range.value()->position)) ==
          static_cast<ssize_t>(bytes.size()));
    std::span<const std::byte> rest(bytes);
    std::int64_t last = -1;
    while (!rest.empty()) {
      auto batch = check_batch(rest, 1 << 16);
      check(batch.header.has_value());
      auto records = decode_records(rest.first(batch.header->total_bytes()));
      check(records.has_value());
      for (const auto& r : *records) {
        std::optional<std::string> value;
        if (r.value) value = std::string(*r.value);
        out[r.offset] = {std::string(r.key.value_or("")), value};
      }
      last = batch.header->last_offset();
      rest = rest.subspan(batch.header->total_bytes());
    }
    check(last >= offset);
    offset = last + 1;
  }
  return out;
}

void raw_segment(const std::string& dir, const std::uint8_t* data, std::size_t size) {
  const std::string log = dir + "/" + Segment::file_name(0, ".log");
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  check(fd >= 0);
  check(::write(fd, data, size) == static_cast<ssize_t>(size));
  ::close(fd);
  // The active segment after it: far enough for any offsets the bytes claim.
  const std::string active = dir + "/" + Segment::file_name(std::int64_t{1} << 40, ".log");
  ::close(::open(active.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  auto p = Partition::open(dir, options());
  if (!p) return;  // corrupt closed segment: refused, fine
  const std::int64_t end = p.value()->log_end_offset();
  (void)p.value()->compact();
  p.value().reset();
  auto again = Partition::open(dir, options());
  check(again.ok() && again.value()->log_end_offset() == end);
}

void scripted(const std::string& dir, const std::uint8_t* data, std::size_t size) {
  auto opened = Partition::open(dir, options());
  check(opened.ok());
  Partition& p = *opened.value();
  const auto now = Partition::Clock::now();
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::map<std::int64_t, std::pair<std::string, std::optional<std::string>>> written;
  std::vector<RecordSpec> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    auto bytes = build_batch(batch);
    auto base = p.append(bytes, now);
    check(base.ok());
    for (std::size_t i = 0; i < batch.size(); ++i)
      written[base.value() + static_cast<std::int64_t>(i)] = {*batch[i].key, batch[i].value};
    batch.clear();
  };
  for (std::size_t i = 0; i + 1 < size; i += 2) {
    if (data[i] == 0) {
      flush();
      continue;
    }
    std::optional<std::string> value;  // 0xF0 and above: a tombstone
    if (data[i + 1] < 0xF0) value = std::string(data[i + 1] % 64, 'v');
    // Tombstones alternate between long expired and fresh.
    const std::int64_t stamp = (data[i + 1] & 1) ? now_ms - 10'000 : now_ms;
    batch.push_back({std::string(1, static_cast<char>('a' + data[i] % 8)), value, {}, stamp});
  }
  flush();
  const std::int64_t active = p.active_base_offset();
  auto report = p.compact(now);
  check(report.ok());
  const auto kept = read_all(p);
  for (const auto& [offset, record] : kept)
    check(written.count(offset) && written[offset] == record);
  std::map<std::string, std::int64_t> newest;
  for (const auto& [offset, record] : written) newest[record.first] = offset;
  for (const auto& [key, offset] : newest) {
    const bool expired_tombstone = !written[offset].second && offset < active;
    // A fresh tombstone stays; an old one may go; any other newest value stays.
    if (!expired_tombstone) check(kept.count(offset) == 1);
  }
  for (const auto& [offset, record] : written)
    if (offset >= active) check(kept.count(offset) == 1);  // the active segment is untouched
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& dir = scratch_dir();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  if (size == 0) return 0;
  if (data[0] % 2 == 0)
    raw_segment(dir, data + 1, size - 1);
  else
    scripted(dir, data + 1, size - 1);
  return 0;
}
