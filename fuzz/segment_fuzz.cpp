// Fuzz target: arbitrary bytes opened as a segment's log (and, from the same
// input, as its offset index) must neither crash nor hang. Invariants (trap
// on violation): recovery leaves a log that reopens cleanly with the same end
// offset; every offset of the recovered segment is readable, and the first
// batch of each read holds that offset; appends work after recovery.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "storage/segment.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  check(fd >= 0);
  check(::write(fd, data, size) == static_cast<ssize_t>(size));
  ::close(fd);
}

const std::string& scratch_dir() {
  static const std::string dir = [] {
    char name[] = "/dev/shm/skein-fuzz-segment-XXXXXX";
    const char* made = ::mkdtemp(name);
    check(made != nullptr);
    return std::string(made);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace skein::storage;
  const std::string& dir = scratch_dir();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  write_file(dir + "/" + Segment::file_name(0, ".log"), data, size);
  // The same bytes as a (probably stale) offset index: loading must cope.
  write_file(dir + "/" + Segment::file_name(0, ".index"), data, size / 2);

  SegmentOptions options;
  options.index_interval_bytes = 64;
  options.max_batch_bytes = 1 << 16;
  (void)Segment::open(dir, 0, options, /*recover=*/false);  // may refuse: corrupt

  RecoveryReport report;
  auto recovered = Segment::open(dir, 0, options, /*recover=*/true, &report);
  check(recovered.ok());
  Segment& segment = *recovered.value();
  check(segment.size_bytes() + report.truncated_bytes == size);
  // A batch may claim 2^31 offsets: sample the first ones and the last.
  const std::int64_t first = segment.base_offset(), last = segment.next_offset() - 1;
  for (std::int64_t offset = first; offset <= last && offset < first + 64; ++offset) {
    auto range = segment.read(offset, 1 << 12);
    check(range.ok() && range.value().has_value() && range.value()->length > 0);
  }
  if (last >= first) check(segment.read(last, 1).ok() && segment.read(last, 1).value());
  const std::int64_t end = segment.next_offset();
  recovered.value().reset();
  auto reopened = Segment::open(dir, 0, options, /*recover=*/false);
  check(reopened.ok() && reopened.value()->next_offset() == end);

  auto batch = build_batch({{std::nullopt, std::string("after"), {}, 1}});
  auto header = check_batch(batch, options.max_batch_bytes);
  check(header.header.has_value());
  auto appended = reopened.value()->append(batch, *header.header);
  check(appended.ok() && appended.value() == end);
  return 0;
}
