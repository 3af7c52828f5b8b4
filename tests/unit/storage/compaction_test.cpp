// Compaction of compact partitions: keyed data with overwrites and tombstones
// compacts to the newest value per key with offsets, timestamps and headers
// unchanged; reads during a compaction running on another thread see a
// consistent log; ranges handed out before the swap stay readable; a crash in
// the middle of the swap is completed on open; retention racing a job.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "storage/compression.hpp"
#include "storage/partition.hpp"
#include "temp_dir.hpp"

namespace skein::storage {
namespace {

namespace fs = std::filesystem;
using Clock = Partition::Clock;
using namespace std::chrono_literals;

// One record as a test remembers it: what must read back at its offset.
struct Stored {
  std::optional<std::string> key, value;
  std::int64_t timestamp = 0;
  std::string header;  // the value of header "h"
  bool operator==(const Stored&) const = default;
  friend void PrintTo(const Stored& s, std::ostream* os) {
    *os << "{" << s.key.value_or("<null>") << "=" << s.value.value_or("<null>") << " @"
        << s.timestamp << " h=" << s.header << "}";
  }
};

class CompactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.segment.index_interval_bytes = 256;
    options_.segment_bytes = 4096;
    options_.cleanup_delete = false;
    options_.cleanup_compact = true;
    options_.tombstone_retention_ms = 3600 * 1000;
  }

  std::unique_ptr<Partition> open(std::vector<RecoveryReport>* reports = nullptr) {
    auto p = Partition::open(temp_.path(), options_, reports);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return p.ok() ? std::move(p.value()) : nullptr;
  }

  // Appends one batch of (key, value) records and remembers them by offset.
  void append(
      Partition& p,
      const std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>>& records,
      std::int64_t timestamp, Codec codec = Codec::none) {
    std::vector<RecordSpec> specs;
    for (const auto& [key, value] : records) {
      const std::string header = "h" + std::to_string(written_.size() + specs.size());
      specs.push_back({key, value, {{"h", header}}, timestamp + static_cast<int>(specs.size())});
    }
    auto batch = build_batch(specs, 7, 1, 0);
    if (codec != Codec::none) batch = compress_batch(batch, codec);
    auto base = p.append(batch);
    ASSERT_TRUE(base.ok()) << base.error().message;
    for (std::size_t i = 0; i < specs.size(); ++i)
      written_[base.value() + static_cast<std::int64_t>(i)] = {
          specs[i].key, specs[i].value, specs[i].timestamp, specs[i].headers[0].second};
  }

  // The batch with its records section compressed, header fields as before.
  static std::vector<std::byte> compress_batch(const std::vector<std::byte>& plain, Codec codec) {
    auto header = check_batch(plain, plain.size()).header.value();
    auto packed = compress(codec, std::span(plain).subspan(kBatchHeaderBytes));
    EXPECT_TRUE(packed.ok());
    std::vector<std::byte> out(plain.begin(), plain.begin() + kBatchHeaderBytes);
    out.insert(out.end(), packed.value().begin(), packed.value().end());
    header.attributes = static_cast<std::int16_t>(header.attributes | static_cast<int>(codec));
    // Re-stamp attributes, length and CRC through rebuild's layout: easiest is
    // to patch the three fields by hand.
    auto put = [&](std::size_t at, std::uint64_t v, int bytes) {
      for (int i = bytes - 1; i >= 0; --i, v >>= 8) out[at + i] = static_cast<std::byte>(v & 0xff);
    };
    put(8, out.size() - 12, 4);
    put(21, static_cast<std::uint16_t>(header.attributes), 2);
    put(17, crc32c(std::span<const std::byte>(out).subspan(21)), 4);
    return out;
  }

  // offset -> record for the whole log, read as a consumer would (decompressing).
  static std::map<std::int64_t, Stored> read_all(const Partition& p) {
    std::map<std::int64_t, Stored> out;
    std::int64_t offset = p.log_start_offset();
    while (offset < p.log_end_offset()) {
      auto range = p.read(offset, 1 << 16);
      EXPECT_TRUE(range.ok()) << range.error().message;
      if (!range.ok() || !range.value()) break;
      const std::int64_t last = decode_range(*range.value(), out);
      EXPECT_GE(last, offset);
      if (last < offset) break;
      offset = last + 1;
    }
    return out;
  }

  // Decodes the batches of a range into `out`; returns the last offset covered.
  static std::int64_t decode_range(const FileRange& range, std::map<std::int64_t, Stored>& out) {
    std::vector<std::byte> bytes(range.length);
    EXPECT_EQ(::pread(range.fd(), bytes.data(), bytes.size(), static_cast<off_t>(range.position)),
              static_cast<ssize_t>(bytes.size()));
    std::int64_t last = -1;
    std::span<const std::byte> rest(bytes);
    while (!rest.empty()) {
      auto check = check_batch(rest, 1 << 20);
      EXPECT_TRUE(check.header) << check.message;
      if (!check.header) break;
      const BatchHeader& h = *check.header;
      auto batch = rest.first(h.total_bytes());
      std::vector<std::byte> plain;
      std::span<const std::byte> section = batch.subspan(kBatchHeaderBytes);
      if (h.compression() != 0) {
        auto d = decompress(*codec_from_id(h.compression()), section, 1 << 24);
        EXPECT_TRUE(d.ok());
        plain = std::move(d.value());
        section = plain;
      }
      auto records = decode_record_section(h, section);
      EXPECT_TRUE(records.has_value());
      for (const auto& r : records.value_or(std::vector<RecordView>{})) {
        Stored s;
        if (r.key) s.key = std::string(*r.key);
        if (r.value) s.value = std::string(*r.value);
        s.timestamp = r.timestamp;
        for (const auto& [k, v] : r.headers)
          if (k == "h") s.header = std::string(v);
        out[r.offset] = s;
      }
      EXPECT_EQ(h.producer_id, 7);  // producer fields survive rebuilding
      last = h.last_offset();
      rest = rest.subspan(h.total_bytes());
    }
    return last;
  }

  // What the log must hold after compaction at `now`: every record of the
  // active segment (from `active_base`), and before it only each key's newest
  // record (a tombstone only while younger than the retention) and keyless ones.
  std::map<std::int64_t, Stored> expected(std::int64_t active_base, std::int64_t now_ms) const {
    std::map<std::string, std::int64_t> newest;
    for (const auto& [offset, s] : written_)
      if (s.key) newest[*s.key] = offset;
    std::map<std::int64_t, Stored> out;
    for (const auto& [offset, s] : written_) {
      const bool active = offset >= active_base;
      const bool superseded = s.key && newest[*s.key] != offset;
      const bool expired_tombstone =
          s.key && !s.value && s.timestamp < now_ms - options_.tombstone_retention_ms;
      if (active || (!superseded && !expired_tombstone)) out[offset] = s;
    }
    return out;
  }

  static std::int64_t ms(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }

  std::int64_t active_base(const Partition& p) const { return p.active_base_offset(); }

  TempDir temp_{"compaction"};
  PartitionOptions options_;
  std::map<std::int64_t, Stored> written_;
};

TEST_F(CompactionTest, OverwritesCompactToTheNewestValuePerKey) {
  auto p = open();
  std::mt19937 rng(42);
  const std::int64_t t0 = ms(Clock::now());
  for (int round = 0; round < 300; ++round) {
    std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>> batch;
    for (int i = 0; i < 3; ++i) {
      const bool keyless = rng() % 10 == 0;
      batch.emplace_back(
          keyless ? std::nullopt : std::optional<std::string>("key-" + std::to_string(rng() % 40)),
          "value-" + std::to_string(round) + "-" + std::to_string(i));
    }
    append(*p, batch, t0 + round * 10);
  }
  ASSERT_GT(p->segment_count(), 5u);
  const std::uint64_t before = p->size_bytes();
  ASSERT_EQ(read_all(*p), written_);

  auto report = p->compact();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_GT(report.value().records_removed, 500u);
  EXPECT_EQ(report.value().segments_replaced, report.value().segments_written);
  EXPECT_LT(p->size_bytes(), before / 2);
  EXPECT_EQ(read_all(*p), expected(active_base(*p), ms(Clock::now())));

  // More overwrites: the small cleaned segments now merge into fewer.
  for (int round = 300; round < 400; ++round)
    append(*p, {{"key-" + std::to_string(round % 40), "again-" + std::to_string(round)}},
           t0 + round * 10);
  report = p->compact();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_GT(report.value().segments_replaced, report.value().segments_written);
  EXPECT_EQ(read_all(*p), expected(active_base(*p), ms(Clock::now())));

  // The same view after a restart, and appends carry on at the same offset.
  const std::int64_t end = p->log_end_offset();
  p.reset();
  p = open();
  EXPECT_EQ(p->log_end_offset(), end);
  EXPECT_EQ(read_all(*p), expected(active_base(*p), ms(Clock::now())));
  append(*p, {{"key-1", "after restart"}}, t0 + 5000);
  EXPECT_EQ(written_.rbegin()->first, end);
}

TEST_F(CompactionTest, NothingNewMeansNoJobAndCleanGroupsAreNotRewritten) {
  auto p = open();
  for (int i = 0; i < 200; ++i)
    append(*p, {{"k" + std::to_string(i % 10), "v" + std::to_string(i)}}, 1000 + i);
  // Fresh keys past the end of a segment: the overwrites all lie in closed segments.
  for (int i = 0; i < 60; ++i) append(*p, {{"fresh" + std::to_string(i), "x"}}, 2000 + i);
  auto first = p->compact();
  ASSERT_TRUE(first.ok());
  EXPECT_GT(first.value().segments_written, 0u);
  // No segment closed since: nothing to start.
  EXPECT_EQ(p->start_compaction(), nullptr);
  // More fresh keys close new segments; every group is clean, none is rewritten.
  for (int i = 60; i < 160; ++i) append(*p, {{"fresh" + std::to_string(i), "x"}}, 2000 + i);
  std::set<std::string> before;
  for (const auto& entry : fs::directory_iterator(temp_.path()))
    before.insert(entry.path().filename());
  const std::size_t segments = p->segment_count();
  auto second = p->compact();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.value().segments_written, 0u);
  EXPECT_EQ(second.value().records_removed, 0u);
  EXPECT_EQ(p->segment_count(), segments);
  for (const auto& entry : fs::directory_iterator(temp_.path())) {
    if (entry.path().extension() != ".log") continue;
    ASSERT_TRUE(before.count(entry.path().filename())) << entry.path();
  }
  EXPECT_EQ(read_all(*p), expected(active_base(*p), ms(Clock::now())));
}

TEST_F(CompactionTest, TombstonesStayForTheirRetentionThenGo) {
  auto p = open();
  const auto now = Clock::now();
  const std::int64_t t = ms(now) - 60 * 1000;  // written a minute ago
  for (int i = 0; i < 20; ++i) append(*p, {{"k" + std::to_string(i), "v" + std::to_string(i)}}, t);
  for (int i = 0; i < 20; i += 2) append(*p, {{"k" + std::to_string(i), std::nullopt}}, t + 100);
  for (int i = 0; i < 100; ++i) append(*p, {{"filler" + std::to_string(i), "f"}}, t + 200);

  auto kept = p->compact(now);
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept.value().tombstones_kept, 10u);
  EXPECT_EQ(kept.value().tombstones_removed, 0u);
  auto log = read_all(*p);
  EXPECT_EQ(log, expected(active_base(*p), ms(now)));
  for (int i = 0; i < 20; i += 2) {  // the delete is what a consumer catching up sees
    const auto found = std::find_if(log.begin(), log.end(), [&](const auto& e) {
      return e.second.key == "k" + std::to_string(i);
    });
    ASSERT_NE(found, log.end());
    EXPECT_FALSE(found->second.value.has_value());
  }

  // Two hours on, the tombstones are past their retention: a job starts
  // although no segment closed, and removes them with their keys.
  const auto later = now + 2h;
  auto gone = p->compact(later);
  ASSERT_TRUE(gone.ok()) << gone.error().message;
  EXPECT_EQ(gone.value().tombstones_removed, 10u);
  log = read_all(*p);
  EXPECT_EQ(log, expected(active_base(*p), ms(later)));
  for (const auto& [offset, s] : log) {
    if (offset >= active_base(*p)) continue;
    EXPECT_TRUE(s.value.has_value()) << "tombstone left at " << offset;
  }
}

TEST_F(CompactionTest, CompressedBatchesAreCompactedToo) {
  auto p = open();
  const Codec codecs[] = {Codec::gzip, Codec::snappy, Codec::lz4, Codec::zstd};
  for (int round = 0; round < 60; ++round) {
    std::vector<std::pair<std::optional<std::string>, std::optional<std::string>>> batch;
    for (int i = 0; i < 5; ++i)
      batch.emplace_back("key-" + std::to_string((round * 5 + i) % 23),
                         "value-" + std::to_string(round));
    append(*p, batch, 1000 + round, codecs[round % 4]);
  }
  ASSERT_GT(p->segment_count(), 2u);
  ASSERT_EQ(read_all(*p), written_);
  auto report = p->compact();
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_GT(report.value().records_removed, 0u);
  EXPECT_EQ(read_all(*p), expected(active_base(*p), ms(Clock::now())));
}

TEST_F(CompactionTest, ReadsDuringABackgroundJobSeeAConsistentLog) {
  options_.segment_bytes = 64 * 1024;
  auto p = open();
  for (int round = 0; round < 2000; ++round)
    append(*p, {{"key-" + std::to_string(round % 50), std::string(100, 'a' + round % 26)}},
           1000 + round);
  ASSERT_GT(p->segment_count(), 3u);

  // A consumer's range taken before the job: it must read the old bytes even
  // after the segment it points into has been replaced.
  auto early = p->read(0, 1 << 20);
  ASSERT_TRUE(early.ok() && early.value());
  const FileRange held = *early.value();

  auto job = p->start_compaction();
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(p->start_compaction(), nullptr) << "one job at a time";
  Status ran = Ok{};
  std::thread worker([&] { ran = job->run(); });
  // While it runs: appends, and full reads that must each match what was
  // written at every offset they return (old or compacted, never anything else).
  int reads = 0;
  for (int round = 2000; round < 2600; ++round) {
    append(*p, {{"key-" + std::to_string(round % 70), "late-" + std::to_string(round)}},
           1000 + round);
    if (round % 50 == 0) {
      for (const auto& [offset, s] : read_all(*p)) {
        ASSERT_TRUE(written_.count(offset));
        ASSERT_EQ(s, written_.at(offset)) << "at offset " << offset;
      }
      ++reads;
    }
  }
  worker.join();
  ASSERT_TRUE(ran.ok()) << ran.error().message;
  auto report = p->finish_compaction(*job);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_GT(report.value().segments_replaced, 0u);
  EXPECT_GT(reads, 0);

  // The held range still reads its original batches in full.
  std::map<std::int64_t, Stored> old;
  decode_range(held, old);
  ASSERT_FALSE(old.empty());
  for (const auto& [offset, s] : old) EXPECT_EQ(s, written_.at(offset));
  EXPECT_EQ(old.begin()->first, 0);

  // After the swap: what was compacted is gone, what came later is all there.
  auto now = read_all(*p);
  for (const auto& [offset, s] : now) ASSERT_EQ(s, written_.at(offset));
  for (const auto& [offset, s] : written_) {
    if (offset >= 2000) {
      EXPECT_TRUE(now.count(offset)) << "lost late offset " << offset;
    }
  }
  EXPECT_LT(now.size(), written_.size());
}

TEST_F(CompactionTest, RetentionDuringAJobDiscardsItsGroup) {
  options_.cleanup_delete = true;  // compact,delete
  options_.retention_bytes = -1;
  auto p = open();
  for (int i = 0; i < 300; ++i)
    append(*p, {{"k" + std::to_string(i % 5), "v" + std::to_string(i)}}, 1000 + i);
  auto job = p->start_compaction();
  ASSERT_NE(job, nullptr);
  ASSERT_TRUE(job->run().ok());
  // Time-based retention removes every closed segment before the swap.
  auto retention = p->apply_retention(Clock::now());  // the records are from 1970
  ASSERT_TRUE(retention.ok());
  ASSERT_GT(retention.value().segments_deleted, 0u);
  auto report = p->finish_compaction(*job);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_GT(report.value().groups_discarded, 0u);
  for (const auto& [offset, s] : read_all(*p)) EXPECT_EQ(s, written_.at(offset));
  for (const auto& entry : fs::directory_iterator(temp_.path()))
    EXPECT_NE(entry.path().extension(), ".cleaned") << entry.path();
}

TEST_F(CompactionTest, ACrashMidSwapIsCompletedOnOpen) {
  auto p = open();
  for (int i = 0; i < 300; ++i)
    append(*p, {{"k" + std::to_string(i % 7), "v" + std::to_string(i)}}, 1000 + i);
  const std::int64_t active = active_base(*p);
  auto job = p->start_compaction();
  ASSERT_NE(job, nullptr);
  ASSERT_TRUE(job->run().ok());
  // Stop where a crash could: the cleaned files renamed to .swap (the commit
  // point), the old segments not yet deleted; plus a stray .cleaned file.
  std::vector<fs::path> swaps;
  for (const auto& entry : fs::directory_iterator(temp_.path())) {
    if (entry.path().extension() != ".cleaned") continue;
    fs::path swap = entry.path();
    swap.replace_extension(".swap");
    fs::rename(entry.path(), swap);
    swaps.push_back(swap);
  }
  ASSERT_FALSE(swaps.empty());
  { std::ofstream(temp_.path() + "/00000000000000000000-00000000000000000001.cleaned") << "junk"; }
  job.reset();
  p.reset();

  std::vector<RecoveryReport> reports;
  p = open(&reports);
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(reports.empty());
  for (const auto& entry : fs::directory_iterator(temp_.path())) {
    EXPECT_NE(entry.path().extension(), ".swap");
    EXPECT_NE(entry.path().extension(), ".cleaned");
  }
  EXPECT_EQ(read_all(*p), expected(active, ms(Clock::now())));
}

TEST(RebuildBatchTest, KeepsOffsetsTimestampsAndProducerFields) {
  std::vector<RecordSpec> specs;
  for (int i = 0; i < 6; ++i)
    specs.push_back({"k" + std::to_string(i), "v" + std::to_string(i), {{"h", "x"}}, 5000 + i * 3});
  auto batch = build_batch(specs, 99, 4, 17);
  set_base_offset(batch, 1000);
  const BatchHeader h = check_batch(batch, batch.size()).header.value();
  auto records = decode_records(batch).value();
  std::vector<std::span<const std::byte>> kept{records[1].raw, records[4].raw};
  auto rebuilt = rebuild_batch(h, kept);
  auto check = check_batch(rebuilt, rebuilt.size());
  ASSERT_TRUE(check.header) << check.message;
  EXPECT_EQ(check.header->base_offset, 1000);
  EXPECT_EQ(check.header->last_offset(), h.last_offset());
  EXPECT_EQ(check.header->record_count, 2);
  EXPECT_EQ(check.header->producer_id, 99);
  EXPECT_EQ(check.header->producer_epoch, 4);
  EXPECT_EQ(check.header->base_sequence, 17);
  EXPECT_EQ(check.header->max_timestamp, h.max_timestamp);
  auto again = decode_records(rebuilt).value();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].offset, 1001);
  EXPECT_EQ(again[0].timestamp, 5003);
  EXPECT_EQ(again[1].offset, 1004);
  EXPECT_EQ(again[1].timestamp, 5012);
  EXPECT_EQ(*again[1].key, "k4");
  EXPECT_EQ(*again[1].value, "v4");
}

}  // namespace
}  // namespace skein::storage
