// Partition: rolls, reads across segments, retention, and a property test of
// random appends, reads, restarts and retention against an in-memory model.
#include "storage/partition.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>

#include "storage/compression.hpp"
#include "temp_dir.hpp"

namespace skein::storage {
namespace {

namespace fs = std::filesystem;
using Clock = Partition::Clock;

class PartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.segment.index_interval_bytes = 128;
    options_.segment_bytes = 2048;
    options_.retention_ms = -1;
  }

  std::unique_ptr<Partition> open(std::vector<RecoveryReport>* reports = nullptr) {
    auto p = Partition::open(dir_, options_, reports);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return p.ok() ? std::move(p.value()) : nullptr;
  }

  static std::int64_t append(Partition& p, const std::vector<std::string>& values,
                             std::int64_t timestamp, Clock::time_point now = Clock::now()) {
    std::vector<RecordSpec> specs;
    for (const auto& v : values) specs.push_back({std::nullopt, v, {}, timestamp});
    auto batch = build_batch(specs);
    auto offset = p.append(batch, now);
    EXPECT_TRUE(offset.ok()) << (offset.ok() ? "" : offset.error().message);
    return offset.ok() ? offset.value() : -1;
  }

  // offset -> value of every record in the range.
  static std::map<std::int64_t, std::string> records_in(const FileRange& range) {
    std::vector<std::byte> bytes(range.length);
    EXPECT_EQ(::pread(range.fd(), bytes.data(), bytes.size(), static_cast<off_t>(range.position)),
              static_cast<ssize_t>(bytes.size()));
    std::map<std::int64_t, std::string> out;
    std::span<const std::byte> rest(bytes);
    while (!rest.empty()) {
      auto check = check_batch(rest, 1 << 20);
      EXPECT_TRUE(check.header) << check.message;
      if (!check.header) break;
      auto records = decode_records(rest.first(check.header->total_bytes()));
      EXPECT_TRUE(records.has_value());
      for (const auto& r : *records) out[r.offset] = std::string(r.value.value_or(""));
      rest = rest.subspan(check.header->total_bytes());
    }
    return out;
  }

  TempDir temp_{"partition"};
  const std::string dir_ = temp_.path();
  PartitionOptions options_;
};

TEST_F(PartitionTest, RollsBySizeAndReadsAcrossSegments) {
  auto p = open();
  for (int i = 0; i < 100; ++i) append(*p, {"value-" + std::to_string(i)}, 1000 + i);
  EXPECT_GT(p->segment_count(), 2u);
  EXPECT_EQ(p->log_start_offset(), 0);
  EXPECT_EQ(p->log_end_offset(), 100);
  std::int64_t offset = 0;
  while (offset < 100) {  // a consumer's loop
    auto range = p->read(offset, 300);
    ASSERT_TRUE(range.ok());
    ASSERT_TRUE(range.value().has_value());
    auto records = records_in(*range.value());
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.begin()->first, offset);
    for (const auto& [o, v] : records) EXPECT_EQ(v, "value-" + std::to_string(o));
    offset = records.rbegin()->first + 1;
  }
  EXPECT_FALSE(p->read(100, 100).value().has_value());  // the end: nothing yet
  EXPECT_EQ(p->read(101, 100).error().code, Errc::out_of_range);
  EXPECT_EQ(p->offset_for_time(1050), 50);
}

// The time index finds the batch; the answer is the record inside it (as
// Kafka's ListOffsets answers), for plain and compressed batches, and the
// first record of a LogAppendTime batch (its records carry no own times).
TEST_F(PartitionTest, OffsetForTimeIsRecordExactInsideABatch) {
  options_.segment_bytes = 1 << 20;
  auto p = open();
  append(*p, {"early"}, 500);
  std::vector<RecordSpec> specs;
  for (int i = 0; i < 4; ++i)
    specs.push_back({std::nullopt, "r" + std::to_string(i), {}, 1000 + 1000 * i});
  auto four = build_batch(specs);
  ASSERT_TRUE(p->append(four, Clock::now()).ok());  // offsets 1-4
  EXPECT_EQ(p->offset_for_time(400), 0);
  EXPECT_EQ(p->offset_for_time(1000), 1);
  EXPECT_EQ(p->offset_for_time(2500), 3);
  EXPECT_EQ(p->offset_for_time(4000), 4);
  EXPECT_FALSE(p->offset_for_time(4001).has_value());

  // A gzip batch: offsets 5-8 at 5000, 6000, 7000, 8000.
  specs.clear();
  for (int i = 0; i < 4; ++i)
    specs.push_back({std::nullopt, "z" + std::to_string(i), {}, 5000 + 1000 * i});
  auto plain = build_batch(specs);
  auto compressed =
      compress(Codec::gzip, std::span<const std::byte>(plain).subspan(kBatchHeaderBytes));
  ASSERT_TRUE(compressed.ok());
  std::vector<std::byte> batch(plain.begin(), plain.begin() + kBatchHeaderBytes);
  batch.insert(batch.end(), compressed.value().begin(), compressed.value().end());
  auto put32 = [&batch](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) batch[at + i] = static_cast<std::byte>(v >> (24 - 8 * i));
  };
  batch[22] = static_cast<std::byte>(static_cast<int>(batch[22]) | 1);  // attributes: gzip
  put32(8, static_cast<std::uint32_t>(batch.size() - 12));
  put32(17, crc32c(std::span<const std::byte>(batch).subspan(21)));
  ASSERT_TRUE(p->append(batch, Clock::now()).ok());
  EXPECT_EQ(p->offset_for_time(6500), 7);

  // LogAppendTime: the batch's first record.
  specs.clear();
  for (int i = 0; i < 3; ++i) specs.push_back({std::nullopt, "l", {}, 1});
  auto stamped = build_batch(specs);
  set_log_append_time(stamped, 9000);
  ASSERT_TRUE(p->append(stamped, Clock::now()).ok());  // offsets 9-11
  EXPECT_EQ(p->offset_for_time(8500), 9);
}

TEST_F(PartitionTest, RollsByAge) {
  auto p = open();
  auto t0 = Clock::now();
  append(*p, {"a"}, 1, t0);
  append(*p, {"b"}, 2, t0 + std::chrono::minutes(1));
  EXPECT_EQ(p->segment_count(), 1u);
  options_.segment_ms = std::chrono::hours(1);
  p.reset();
  p = open();
  append(*p, {"c"}, 3, Clock::now() + std::chrono::hours(2));
  EXPECT_EQ(p->segment_count(), 2u);
}

TEST_F(PartitionTest, RefusesInvalidBatchesWithTheReason) {
  auto p = open();
  auto batch = build_batch({{std::nullopt, "x", {}, 1}});
  batch[batch.size() - 1] ^= std::byte{1};
  auto result = p->append(batch);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, Errc::invalid_batch);
  EXPECT_NE(result.error().message.find("CRC"), std::string::npos) << result.error().message;
  EXPECT_EQ(p->log_end_offset(), 0);
}

TEST_F(PartitionTest, RetentionByBytesAndByTimeDeletesWholeSegmentsFromTheFront) {
  auto p = open();
  const auto now = Clock::now();
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  for (int i = 0; i < 60; ++i) append(*p, {std::string(100, 'x')}, now_ms - 3'600'000 + i);
  for (int i = 0; i < 60; ++i) append(*p, {std::string(100, 'y')}, now_ms);
  options_.retention_ms = 60'000;  // one minute: the first 60 records are older
  p.reset();
  p = open();
  auto by_time = p->apply_retention(now);
  ASSERT_TRUE(by_time.ok());
  EXPECT_GT(by_time.value().segments_deleted, 0u);
  EXPECT_GT(p->log_start_offset(), 0);
  EXPECT_LE(p->log_start_offset(), 60);
  EXPECT_EQ(p->read(0, 100).error().code, Errc::out_of_range);

  options_.retention_ms = -1;
  options_.retention_bytes = 4096;
  p.reset();
  p = open();
  auto by_size = p->apply_retention(now);
  ASSERT_TRUE(by_size.ok());
  EXPECT_LE(p->size_bytes(), 4096u + options_.segment_bytes);
  EXPECT_EQ(p->log_end_offset(), 120);
  EXPECT_EQ(records_in(*p->read(119, 1).value()).at(119), std::string(100, 'y'));
}

TEST_F(PartitionTest, RecoversTheActiveSegmentOnOpen) {
  std::uint64_t before = 0;
  {
    auto p = open();
    for (int i = 0; i < 30; ++i) append(*p, {"r" + std::to_string(i)}, i);
    before = p->size_bytes();
  }
  // Tear the last batch of the newest segment.
  fs::path newest;
  for (const auto& e : fs::directory_iterator(dir_))
    if (e.path().extension() == ".log" && e.path() > newest) newest = e.path();
  fs::resize_file(newest, fs::file_size(newest) - 5);
  std::vector<RecoveryReport> reports;
  auto p = open(&reports);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_GT(reports[0].truncated_bytes, 0u);
  EXPECT_EQ(p->log_end_offset(), 29);
  EXPECT_LT(p->size_bytes(), before);
  EXPECT_EQ(append(*p, {"again"}, 99), 29);
}

// Random appends, reads, restarts and retention; every read equals the model.
TEST_F(PartitionTest, PropertyReadsAlwaysEqualTheModel) {
  const unsigned seed = 4242;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  options_.retention_bytes = 6000;
  std::map<std::int64_t, std::string> model;  // offset -> value, from the log start
  auto p = open();
  std::int64_t timestamp = 0;
  for (int step = 0; step < 3000; ++step) {
    const int op = static_cast<int>(rng() % 100);
    if (op < 60) {
      std::vector<std::string> values;
      for (unsigned n = 1 + rng() % 4; n > 0; --n)
        values.push_back(std::string(1 + rng() % 80, static_cast<char>('a' + rng() % 26)));
      const std::int64_t base = append(*p, values, ++timestamp);
      ASSERT_EQ(base, model.empty() ? p->log_start_offset() : model.rbegin()->first + 1);
      for (std::size_t i = 0; i < values.size(); ++i)
        model[base + static_cast<std::int64_t>(i)] = values[i];
    } else if (op < 90 && !model.empty()) {
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % model.size()));
      auto range = p->read(it->first, 1 + rng() % 1000);
      ASSERT_TRUE(range.ok()) << range.error().message;
      ASSERT_TRUE(range.value().has_value());
      auto records = records_in(*range.value());
      ASSERT_TRUE(records.contains(it->first));
      for (const auto& [offset, value] : records) ASSERT_EQ(model.at(offset), value) << offset;
    } else if (op < 95) {
      p.reset();
      p = open();
      ASSERT_EQ(p->log_end_offset(),
                model.empty() ? p->log_start_offset() : model.rbegin()->first + 1);
    } else {
      ASSERT_TRUE(p->apply_retention().ok());
      // Retention moves the start to a batch boundary and drops nothing after it.
      std::erase_if(model, [&](const auto& entry) { return entry.first < p->log_start_offset(); });
      ASSERT_TRUE(model.empty() || model.begin()->first == p->log_start_offset());
      ASSERT_TRUE(p->size_bytes() <= 6000u || p->segment_count() == 1);
    }
  }
  EXPECT_GT(p->log_start_offset(), 0);  // retention did run
}

}  // namespace
}  // namespace skein::storage

namespace skein::storage {
namespace {

TEST(PartitionOptions, SegmentsTheIndexCannotAddressAreRefused) {
  PartitionOptions options;
  options.segment_bytes = 1ull << 32;  // positions past 4 GiB do not fit a 32-bit index entry
  auto opened = Partition::open("/tmp/skein-never-created", options);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().message.find("segment_bytes"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists("/tmp/skein-never-created"));
}

}  // namespace
}  // namespace skein::storage
