// storage_bench: what the storage engine (src/storage) costs beside the raw
// disk, measured in one run, on the disk that holds the build (a temporary
// directory under build/, removed at the end).
//
//   raw          a plain pwrite loop appending 16 KiB and 1 MiB writes to one
//                file, with and without fdatasync after each write: the limit
//   engine       Partition::append of 100 B and 1 KiB records in batches of
//                exactly 16 KiB and 1 MiB, the raw writes' sizes (each batch
//                built once with build_batch, the last value lengthened to
//                fill it, and appended again and again), under the fsync
//                policies:
//                  never       appends only
//                  interval    GroupCommit(interval, 1000 ms), acks at once
//                  always      append, GroupCommit::appended, wait for done
//                  always x8   8 producers on one shard: up to 8 appends in
//                              flight, waiting for the oldest at 8
//                  interval x8 the same loop under interval, for the 2x goal
//                ratio: never against raw without sync, always (1 or 8)
//                against raw with sync (interval: against raw without sync)
//   group commit fdatasync calls per append for always x8, and the time of
//                always x8 over interval x8 (the goal: within 2x)
//   read         the never partitions read back through Partition::read in
//                1 MiB budgets with pread, cold (after fdatasync and
//                POSIX_FADV_DONTNEED on the segment files) and warm
//   index memory Partition::index_memory_bytes() / size_bytes() for a GiB of
//                log of 100 B records in 16 KiB batches
//
// Each run of a case writes at most --mib MiB (default 256) and lasts at most
// --seconds s (default 3); each figure is the median of --runs runs (default
// 3), each in a new file or partition. About a minute on an idle 2-core VM.
//
//   ninja -C build/release storage_bench
//   build/release/bench/storage_bench [--mib N] [--seconds S] [--runs R]
//
// Progress goes to stderr, the markdown tables to stdout.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "storage/group_commit.hpp"
#include "storage/partition.hpp"
#include "storage/record_batch.hpp"

namespace {

namespace fs = std::filesystem;
using namespace skein::storage;
using Steady = std::chrono::steady_clock;

constexpr std::size_t kKiB = 1024, kMiB = 1024 * 1024;

struct Config {
  std::uint64_t bytes_per_case = 256 * kMiB;
  double seconds_per_case = 3.0;
  int runs = 3;  // each case's figure is the median run
  // --only: run only the cases whose label contains one of these (labels:
  // "raw 16 KiB no sync", "raw 1 MiB fdatasync each", "100 B 1 MiB never",
  // "1 KiB 16 KiB always, 8 appenders", ...); empty: all.
  std::vector<std::string> only;
  bool read_back = true;  // --no-read: skip the read and index figures
  bool selected(const std::string& label) const {
    if (only.empty()) return true;
    for (const auto& o : only)
      if (label.find(o) != std::string::npos) return true;
    return false;
  }
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "storage_bench: %s\n", what.c_str());
  std::exit(1);
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

double mb_per_s(std::uint64_t bytes, double seconds) {
  return bytes / 1e6 / seconds;
}

// Commits the filesystem's journal (and with it the discards of deleted
// files), outside any clock, so that one case does not pay for the last.
void settle(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::syncfs(fd);
  ::close(fd);
}

template <class T, class Key>
T median(std::vector<T> runs, Key key) {
  std::sort(runs.begin(), runs.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
  return runs[runs.size() / 2];
}

// `n` bytes at the start of a page of `storage`. The raw loop and the engine
// both write from page-aligned memory: the kernel copies a source that is not
// 32-byte aligned slower (1 MiB writes from an offset of 16, where malloc
// puts large blocks: 5.2 against 6.0 GB/s on the bench machine, 7.0 against
// 9.5 into a file allocated ahead), and each case's buffer would otherwise
// land wherever the allocator put it.
std::span<std::byte> page_aligned(std::vector<std::byte>& storage, std::size_t n) {
  constexpr std::size_t kPage = 4096;
  storage.resize(n + kPage);
  const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
  return {storage.data() + (kPage - address % kPage) % kPage, n};
}

// ---- raw disk -------------------------------------------------------------

// MB/s of a pwrite loop appending `write_bytes` at a time to a new file.
double raw_append(const std::string& dir, std::size_t write_bytes, bool sync, const Config& cfg) {
  const std::string file = dir + "/raw.bin";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("open " + file + ": " + std::strerror(errno));
  std::vector<std::byte> storage;
  const std::span<std::byte> buffer = page_aligned(storage, write_bytes);
  std::fill(buffer.begin(), buffer.end(), std::byte{'r'});
  std::uint64_t written = 0;
  const auto start = Steady::now();
  double elapsed = 0;
  while (written + write_bytes <= cfg.bytes_per_case) {
    if (::pwrite(fd, buffer.data(), write_bytes, static_cast<off_t>(written)) !=
        static_cast<ssize_t>(write_bytes))
      die("pwrite " + file + ": " + std::strerror(errno));
    if (sync && ::fdatasync(fd) != 0) die("fdatasync " + file + ": " + std::strerror(errno));
    written += write_bytes;
    elapsed = seconds_since(start);
    if (elapsed >= cfg.seconds_per_case) break;
  }
  // Write back outside the clock, so the next case starts with a clean cache.
  if (::fdatasync(fd) != 0) die("fdatasync " + file + ": " + std::strerror(errno));
  ::close(fd);
  fs::remove(file);
  settle(dir);
  return mb_per_s(written, elapsed);
}

// ---- engine ---------------------------------------------------------------

struct Batch {
  std::vector<std::byte> storage;
  std::span<std::byte> bytes;  // page-aligned, in storage
  std::int64_t records = 0;
};

// A batch of exactly `target` bytes, the size of the raw loop's writes: as
// many `record_bytes` values as fit, the last value lengthened to fill the
// rest (the kernel copies whole pages faster than a size that is not a
// multiple of a page: 16277-byte writes run a third slower than 16384-byte
// ones on ext4, so a batch of another size would not be compared like with
// like).
Batch make_batch(std::size_t record_bytes, std::size_t target) {
  const std::int64_t ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  std::vector<RecordSpec> specs;
  auto build = [&](std::size_t n) {
    specs.assign(n, RecordSpec{std::nullopt, std::string(record_bytes, 'v'), {}, ts});
    return build_batch(specs);
  };
  std::size_t n = target / (record_bytes + 8);
  auto bytes = build(n);
  while (bytes.size() > target) {
    const std::size_t per = bytes.size() / n + 1;
    n -= std::max<std::size_t>(1, (bytes.size() - target + per - 1) / per);
    bytes = build(n);
  }
  // Lengthen the last value by what is missing (again if a varint grew).
  for (int tries = 0; bytes.size() != target && tries < 8; ++tries) {
    std::string& value = *specs.back().value;
    const auto missing =
        static_cast<std::ptrdiff_t>(target) - static_cast<std::ptrdiff_t>(bytes.size());
    value.resize(static_cast<std::size_t>(static_cast<std::ptrdiff_t>(value.size()) + missing));
    bytes = build_batch(specs);
  }
  if (bytes.size() != target)
    die("no batch of exactly " + std::to_string(target) + " bytes of " +
        std::to_string(record_bytes) + "-byte records");
  Batch batch;
  batch.bytes = page_aligned(batch.storage, bytes.size());
  std::copy(bytes.begin(), bytes.end(), batch.bytes.begin());
  batch.records = static_cast<std::int64_t>(n);
  return batch;
}

enum class Mode { never, interval, always };

struct Case {
  const char* name;
  Mode mode;
  int appenders;  // appends in flight at most
};

struct Measured {
  std::uint64_t bytes = 0, records = 0, appends = 0, syncs = 0;
  double seconds = 0;
  double seconds_durable = 0;  // until everything appended is on disk (a final flush)
};

// Appends done (acknowledged) so far, counted on the sync thread.
struct Acks {
  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t done = 0;
  bool failed = false;
  std::string error;
};

std::unique_ptr<Partition> open_partition(const std::string& dir) {
  PartitionOptions options;
  options.retention_ms = -1;
  auto opened = Partition::open(dir, options);
  if (!opened) die(opened.error().message);
  return std::move(opened.value());
}

Measured run_case(Partition& partition, Batch& batch, const Case& c, const Config& cfg) {
  std::unique_ptr<GroupCommit> commit;
  if (c.mode == Mode::interval)
    commit = std::make_unique<GroupCommit>(FsyncPolicy::interval, std::chrono::milliseconds(1000));
  if (c.mode == Mode::always) commit = std::make_unique<GroupCommit>(FsyncPolicy::always);
  Acks acks;
  Measured m;
  const auto start = Steady::now();
  while (m.bytes + batch.bytes.size() <= cfg.bytes_per_case) {
    auto base = partition.append(batch.bytes);
    if (!base) die("append: " + base.error().message);
    ++m.appends;
    m.bytes += batch.bytes.size();
    m.records += static_cast<std::uint64_t>(batch.records);
    if (commit) {
      commit->appended(partition, base.value() + batch.records - 1, [&acks](const Status& s) {
        std::lock_guard lock(acks.mutex);
        ++acks.done;
        if (!s && !acks.failed) {
          acks.failed = true;
          acks.error = s.error().message;
        }
        acks.cv.notify_all();
      });
      // Wait for the oldest once `appenders` are in flight.
      std::unique_lock lock(acks.mutex);
      acks.cv.wait(lock, [&] { return m.appends - acks.done < std::uint64_t(c.appenders); });
      if (acks.failed) die("sync: " + acks.error);
    }
    if (seconds_since(start) >= cfg.seconds_per_case) break;
  }
  if (commit) {  // the last appends in flight
    std::unique_lock lock(acks.mutex);
    acks.cv.wait(lock, [&] { return acks.done == m.appends; });
  }
  m.seconds = seconds_since(start);
  // `always` acknowledged only durable appends; the others are made durable
  // now, so that the two can also be compared on what they finally deliver.
  if (c.mode != Mode::always) {
    if (auto flushed = commit ? commit->flush() : partition.sync(); !flushed)
      die("flush: " + flushed.error().message);
  }
  m.seconds_durable = seconds_since(start);
  if (commit) m.syncs = commit->syncs();
  commit.reset();
  return m;
}

// ---- read -----------------------------------------------------------------

void drop_cache(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// MB/s reading the whole partition through Partition::read, 1 MiB at a time.
double read_all(const Partition& partition) {
  std::vector<std::byte> buffer;
  std::uint64_t bytes = 0;
  std::int64_t offset = partition.log_start_offset();
  const auto start = Steady::now();
  for (;;) {
    auto range = partition.read(offset, kMiB);
    if (!range) die("read: " + range.error().message);
    if (!range.value()) break;
    const FileRange& r = *range.value();
    buffer.resize(r.length);
    if (::pread(r.fd(), buffer.data(), r.length, static_cast<off_t>(r.position)) !=
        static_cast<ssize_t>(r.length))
      die("pread: short read");
    bytes += r.length;
    std::span<const std::byte> rest(buffer);
    while (!rest.empty()) {  // the next offset: one past the last batch's
      auto check = check_batch(rest, 64 * kMiB, /*verify_crc=*/false);
      if (!check.header) die("read back: " + check.message);
      offset = check.header->last_offset() + 1;
      rest = rest.subspan(check.header->total_bytes());
    }
  }
  return mb_per_s(bytes, seconds_since(start));
}

// ---- table ----------------------------------------------------------------

std::string size_name(std::size_t bytes) {
  return bytes >= kMiB   ? std::to_string(bytes / kMiB) + " MiB"
         : bytes >= kKiB ? std::to_string(bytes / kKiB) + " KiB"
                         : std::to_string(bytes) + " B";
}

struct Row {
  std::string record, batch, policy;
  double mbps, records_per_s, raw;
};

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mib" && i + 1 < argc)
      cfg.bytes_per_case = std::strtoull(argv[++i], nullptr, 10) * kMiB;
    else if (arg == "--seconds" && i + 1 < argc)
      cfg.seconds_per_case = std::strtod(argv[++i], nullptr);
    else if (arg == "--runs" && i + 1 < argc)
      cfg.runs = std::atoi(argv[++i]);
    else if (arg == "--only" && i + 1 < argc)
      cfg.only.emplace_back(argv[++i]);
    else if (arg == "--no-read")
      cfg.read_back = false;
    else
      die("usage: storage_bench [--mib N] [--seconds S] [--runs R] [--only LABEL]... [--no-read]");
  }
  if (cfg.bytes_per_case == 0 || cfg.seconds_per_case <= 0 || cfg.runs <= 0)
    die("--mib, --seconds and --runs must be > 0");

  // A directory on the same filesystem as the build: build/ beside this binary's.
  fs::path build = fs::weakly_canonical(fs::path(argv[0])).parent_path().parent_path();
  if (!fs::is_directory(build)) build = fs::current_path();
  std::string tmpl = (build / "storage-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp " + tmpl + ": " + std::strerror(errno));
  const std::string root = tmpl;
  std::fprintf(stderr, "storage_bench: in %s, at most %llu MiB and %.1f s per case\n", root.c_str(),
               static_cast<unsigned long long>(cfg.bytes_per_case / kMiB), cfg.seconds_per_case);

  const std::size_t batch_sizes[] = {16 * kKiB, kMiB};
  const std::size_t record_sizes[] = {100, kKiB};

  // Raw limits, by write size: [0] without sync, [1] with.
  double raw[2][2] = {};
  bool raw_run[2][2] = {};
  for (int b = 0; b < 2; ++b)
    for (int s = 0; s < 2; ++s) {
      if (!cfg.selected("raw " + size_name(batch_sizes[b]) + (s ? " fdatasync each" : " no sync")))
        continue;
      raw_run[b][s] = true;
      std::fprintf(stderr, "raw %s writes%s...\n", size_name(batch_sizes[b]).c_str(),
                   s ? " + fdatasync" : "");
      std::vector<double> runs;
      for (int r = 0; r < cfg.runs; ++r)
        runs.push_back(raw_append(root, batch_sizes[b], s == 1, cfg));
      raw[b][s] = median(runs, [](double x) { return x; });
    }

  const Case cases[] = {{"never", Mode::never, 1},
                        {"interval", Mode::interval, 1},
                        {"always", Mode::always, 1},
                        {"interval, 8 appenders", Mode::interval, 8},
                        {"always, 8 appenders", Mode::always, 8}};
  std::vector<Row> rows;
  std::vector<std::string> commit_lines, read_lines;
  std::string index_line;
  int dir_number = 0;
  for (std::size_t record : record_sizes) {
    for (int b = 0; b < 2; ++b) {
      Batch batch = make_batch(record, batch_sizes[b]);
      double interval8_seconds_per_byte = 0, interval8_durable_per_byte = 0;
      for (const Case& c : cases) {
        if (!cfg.selected(size_name(record) + " " + size_name(batch_sizes[b]) + " " + c.name))
          continue;
        std::fprintf(stderr, "%s records, %s batches (%lld records), %s...\n",
                     size_name(record).c_str(), size_name(batch_sizes[b]).c_str(),
                     static_cast<long long>(batch.records), c.name);
        std::vector<Measured> runs;
        for (int r = 1; r < cfg.runs; ++r) {  // the other runs, each in a new partition
          const std::string dir = root + "/p" + std::to_string(dir_number++);
          auto partition = open_partition(dir);
          runs.push_back(run_case(*partition, batch, c, cfg));
          if (auto synced = partition->sync(); !synced) die(synced.error().message);
          partition.reset();
          fs::remove_all(dir);
          settle(root);
        }
        // The last run keeps its partition for the read and index figures.
        const std::string dir = root + "/p" + std::to_string(dir_number++);
        auto partition = open_partition(dir);
        runs.push_back(run_case(*partition, batch, c, cfg));
        const Measured m = median(runs, [](const Measured& x) { return x.seconds / x.bytes; });
        const double mbps = mb_per_s(m.bytes, m.seconds);
        const double limit = raw[b][c.mode == Mode::always ? 1 : 0];
        rows.push_back({size_name(record), size_name(batch_sizes[b]), c.name, mbps,
                        m.records / m.seconds, limit});
        if (c.mode == Mode::interval && c.appenders == 8) {
          interval8_seconds_per_byte = m.seconds / static_cast<double>(m.bytes);
          interval8_durable_per_byte = m.seconds_durable / static_cast<double>(m.bytes);
        }
        if (c.mode == Mode::always && c.appenders == 8) {
          char line[256];
          const double ratio =
              m.seconds / static_cast<double>(m.bytes) / interval8_seconds_per_byte;
          const double durable_ratio =
              m.seconds / static_cast<double>(m.bytes) / interval8_durable_per_byte;
          std::snprintf(line, sizeof line, "| %s | %s | %llu | %llu | %.2f | %.2f | %.2f |",
                        size_name(record).c_str(), size_name(batch_sizes[b]).c_str(),
                        static_cast<unsigned long long>(m.appends),
                        static_cast<unsigned long long>(m.syncs),
                        static_cast<double>(m.syncs) / static_cast<double>(m.appends), ratio,
                        durable_ratio);
          commit_lines.push_back(line);
        }
        if (c.mode == Mode::never && cfg.read_back) {
          if (record == 100 && b == 0) {
            char line[256];
            const double per_gib = static_cast<double>(partition->index_memory_bytes()) /
                                   static_cast<double>(partition->size_bytes()) *
                                   static_cast<double>(1024 * kMiB);
            std::snprintf(line, sizeof line,
                          "index memory: %zu bytes for %llu bytes of log = %.1f KiB per GiB "
                          "of log (100 B records, 16 KiB batches)",
                          partition->index_memory_bytes(),
                          static_cast<unsigned long long>(partition->size_bytes()), per_gib / kKiB);
            index_line = line;
          }
          std::fprintf(stderr, "  reading it back...\n");
          drop_cache(dir);
          const double cold = read_all(*partition);
          const double warm = read_all(*partition);
          char line[256];
          std::snprintf(line, sizeof line, "| %s | %s | %.1f | %.0f | %.0f |",
                        size_name(record).c_str(), size_name(batch_sizes[b]).c_str(),
                        static_cast<double>(partition->size_bytes()) / 1e6, cold, warm);
          read_lines.push_back(line);
        }
        // Write back outside any clock, then delete.
        if (auto synced = partition->sync(); !synced) die(synced.error().message);
        partition.reset();
        fs::remove_all(dir);
        settle(root);
      }
    }
  }
  fs::remove_all(root);

  std::printf("## storage_bench: at most %llu MiB / %.1f s per case, median of %d runs\n\n",
              static_cast<unsigned long long>(cfg.bytes_per_case / kMiB), cfg.seconds_per_case,
              cfg.runs);
  std::printf("| case | record | batch | policy | MB/s | records/s | raw MB/s | ratio |\n");
  std::printf("|---|---|---|---|---:|---:|---:|---:|\n");
  for (int b = 0; b < 2; ++b)
    for (int s = 0; s < 2; ++s)
      if (raw_run[b][s])
        std::printf("| raw pwrite | - | %s | %s | %.1f | - | %.1f | 1.00 |\n",
                    size_name(batch_sizes[b]).c_str(), s ? "fdatasync each" : "no sync", raw[b][s],
                    raw[b][s]);
  for (const Row& r : rows)
    std::printf("| engine | %s | %s | %s | %.1f | %.0f | %.1f | %.2f |\n", r.record.c_str(),
                r.batch.c_str(), r.policy.c_str(), r.mbps, r.records_per_s, r.raw, r.mbps / r.raw);
  std::printf(
      "\nraw MB/s: no-sync pwrite for never and interval, pwrite + fdatasync for always.\n");
  std::printf("\n### group commit (always, 8 appenders)\n\n");
  std::printf(
      "| record | batch | appends | fdatasyncs | syncs/append | time always(8) / "
      "interval(8) acked | / interval(8) durable |\n|---|---|---:|---:|---:|---:|---:|\n");
  for (const auto& line : commit_lines) std::printf("%s\n", line.c_str());
  std::printf("\n### sequential read (Partition::read, 1 MiB budgets, pread)\n\n");
  std::printf("| record | batch | log MB | cold MB/s | warm MB/s |\n|---|---|---:|---:|---:|\n");
  for (const auto& line : read_lines) std::printf("%s\n", line.c_str());
  std::printf("\n%s\n", index_line.c_str());
  return 0;
}
