// Segment: offsets assigned on append, reads as whole-batch file ranges,
// reopening with and without recovery, torn and corrupt tails, stale indexes.
#include "storage/segment.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.hpp"

namespace skein::storage {
namespace {

namespace fs = std::filesystem;

class SegmentTest : public ::testing::Test {
 protected:
  std::unique_ptr<Segment> open(bool recover, RecoveryReport* report = nullptr,
                                SegmentOptions options = small_index()) {
    auto segment = Segment::open(dir_, 100, options, recover, report);
    EXPECT_TRUE(segment.ok()) << (segment.ok() ? "" : segment.error().message);
    return segment.ok() ? std::move(segment.value()) : nullptr;
  }

  static SegmentOptions small_index() {
    SegmentOptions o;
    o.index_interval_bytes = 256;  // several index entries with small batches
    return o;
  }

  // Appends a batch of `records` records with values "v<n>" at `timestamp`.
  std::int64_t append(Segment& segment, int records, std::int64_t timestamp, int first = 0) {
    std::vector<RecordSpec> specs;
    for (int i = 0; i < records; ++i)
      specs.push_back({std::nullopt, "v" + std::to_string(first + i), {}, timestamp});
    auto batch = build_batch(specs);
    auto check = check_batch(batch, 1 << 20);
    EXPECT_TRUE(check.header.has_value()) << check.message;
    auto offset = segment.append(batch, *check.header);
    EXPECT_TRUE(offset.ok());
    return offset.ok() ? offset.value() : -1;
  }

  // The batches in a range, read back from the file.
  static std::vector<BatchHeader> batches_in(const FileRange& range) {
    std::vector<std::byte> bytes(range.length);
    EXPECT_EQ(::pread(range.fd(), bytes.data(), bytes.size(), static_cast<off_t>(range.position)),
              static_cast<ssize_t>(bytes.size()));
    std::vector<BatchHeader> out;
    std::span<const std::byte> rest(bytes);
    while (!rest.empty()) {
      auto check = check_batch(rest, 1 << 20);
      EXPECT_TRUE(check.header.has_value()) << check.message;
      if (!check.header) break;
      out.push_back(*check.header);
      rest = rest.subspan(check.header->total_bytes());
    }
    return out;
  }

  std::string log_path() const { return dir_ + "/" + Segment::file_name(100, ".log"); }

  TempDir temp_{"segment"};
  const std::string dir_ = temp_.path();
};

TEST_F(SegmentTest, AssignsOffsetsFromTheBaseOnAppend) {
  auto segment = open(false);
  EXPECT_EQ(segment->next_offset(), 100);
  EXPECT_EQ(append(*segment, 3, 1000), 100);
  EXPECT_EQ(append(*segment, 1, 1001), 103);
  EXPECT_EQ(append(*segment, 5, 1002), 104);
  EXPECT_EQ(segment->next_offset(), 109);
  EXPECT_EQ(Segment::file_name(100, ".log"), "00000000000000000100.log");
}

TEST_F(SegmentTest, ReadsWholeBatchesFromTheOneHoldingTheOffset) {
  auto segment = open(false);
  for (int i = 0; i < 50; ++i) append(*segment, 2, 1000 + i, 2 * i);  // offsets 100..199
  for (std::int64_t offset : {100, 101, 150, 151, 198, 199}) {
    auto range = segment->read(offset, 1);  // a budget below one batch: still one batch
    ASSERT_TRUE(range.ok());
    ASSERT_TRUE(range.value().has_value());
    auto batches = batches_in(*range.value());
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_LE(batches[0].base_offset, offset);
    EXPECT_GE(batches[0].last_offset(), offset);
  }
  auto all = segment->read(100, 1 << 20);
  auto batches = batches_in(*all.value());
  ASSERT_EQ(batches.size(), 50u);
  for (std::size_t i = 0; i < batches.size(); ++i) EXPECT_EQ(batches[i].base_offset, 100 + 2 * i);
  auto some = segment->read(120, 3 * batches[10].total_bytes());  // batches 10..12 are alike
  EXPECT_EQ(batches_in(*some.value()).size(), 3u);
  EXPECT_FALSE(segment->read(99, 100).value().has_value());
  EXPECT_FALSE(segment->read(200, 100).value().has_value());
}

TEST_F(SegmentTest, FindsOffsetsByTimestamp) {
  auto segment = open(false);
  append(*segment, 1, 1000);  // 100
  append(*segment, 1, 900);   // 101: older than the maximum, not indexed
  append(*segment, 1, 2000);  // 102
  append(*segment, 1, 3000);  // 103
  EXPECT_EQ(segment->offset_for_time(0), 100);
  EXPECT_EQ(segment->offset_for_time(1000), 100);
  EXPECT_EQ(segment->offset_for_time(1001), 102);
  EXPECT_EQ(segment->offset_for_time(3000), 103);
  EXPECT_FALSE(segment->offset_for_time(3001).has_value());
}

TEST_F(SegmentTest, ReopensWhereItLeftOff) {
  {
    auto segment = open(false);
    for (int i = 0; i < 40; ++i) append(*segment, 3, 1000 + i);
  }
  RecoveryReport report;
  auto segment = open(false, &report);
  EXPECT_EQ(segment->next_offset(), 220);
  EXPECT_FALSE(report.index_rebuilt);
  EXPECT_EQ(batches_in(*segment->read(100, 1 << 20).value()).size(), 40u);
  EXPECT_EQ(append(*segment, 1, 5000), 220);
  EXPECT_EQ(segment->offset_for_time(5000), 220);
}

TEST_F(SegmentTest, RebuildsAMissingOrGarbledIndex) {
  {
    auto segment = open(false);
    for (int i = 0; i < 40; ++i) append(*segment, 1, 1000 + i);
  }
  fs::remove(dir_ + "/" + Segment::file_name(100, ".index"));
  { std::ofstream(dir_ + "/" + Segment::file_name(100, ".timeindex")) << "garbage"; }
  RecoveryReport report;
  auto segment = open(false, &report);
  EXPECT_TRUE(report.index_rebuilt);
  EXPECT_EQ(segment->next_offset(), 140);
  EXPECT_EQ(segment->offset_for_time(1020), 120);
  EXPECT_EQ(batches_in(*segment->read(130, 1).value())[0].base_offset, 130);
}

TEST_F(SegmentTest, RecoveryCutsATornTail) {
  std::uint64_t good_size = 0;
  {
    auto segment = open(false);
    for (int i = 0; i < 10; ++i) append(*segment, 2, 1000 + i);
    good_size = segment->size_bytes();
    append(*segment, 2, 2000);
  }
  fs::resize_file(log_path(), good_size + 30);  // half of the last batch
  RecoveryReport report;
  auto segment = open(true, &report);
  EXPECT_EQ(report.truncated_bytes, 30u);
  EXPECT_NE(report.reason.find("position " + std::to_string(good_size)), std::string::npos)
      << report.reason;
  EXPECT_EQ(segment->size_bytes(), good_size);
  EXPECT_EQ(segment->next_offset(), 120);
  EXPECT_EQ(append(*segment, 1, 3000), 120);  // and it takes appends again
  EXPECT_EQ(fs::file_size(log_path()), segment->size_bytes());
}

TEST_F(SegmentTest, RecoveryCutsACorruptTailBatch) {
  std::uint64_t good_size = 0;
  {
    auto segment = open(false);
    for (int i = 0; i < 10; ++i) append(*segment, 2, 1000 + i);
    good_size = segment->size_bytes();
    append(*segment, 2, 2000);
  }
  {  // flip a byte inside the last batch's records (covered by its CRC)
    int fd = ::open(log_path().c_str(), O_RDWR);
    char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(good_size + 70)), 1);
    byte = static_cast<char>(byte ^ 0x40);
    ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(good_size + 70)), 1);
    ::close(fd);
  }
  RecoveryReport report;
  auto segment = open(true, &report);
  EXPECT_GT(report.truncated_bytes, 0u);
  EXPECT_NE(report.reason.find("CRC"), std::string::npos) << report.reason;
  EXPECT_EQ(segment->next_offset(), 120);
}

TEST_F(SegmentTest, WithoutRecoveryACorruptBatchIsAnErrorNamingIt) {
  {
    auto segment = open(false);
    for (int i = 0; i < 3; ++i) append(*segment, 1, 1000);
  }
  fs::remove(dir_ + "/" + Segment::file_name(100, ".index"));  // force a scan
  {
    std::ofstream(log_path(), std::ios::app)
        << "not a batch at all, but long enough to look like one........";
  }
  auto segment = Segment::open(dir_, 100, small_index(), false);
  ASSERT_FALSE(segment.ok());
  EXPECT_EQ(segment.error().code, Errc::corrupt);
  EXPECT_NE(segment.error().message.find(log_path()), std::string::npos) << segment.error().message;
}

TEST_F(SegmentTest, RefusesABatchWhoseSizeDisagreesWithItsHeader) {
  auto segment = open(false);
  auto batch = build_batch({{std::nullopt, "x", {}, 1}});
  auto header = *check_batch(batch, 1 << 20).header;
  std::span<std::byte> shorter(batch.data(), batch.size() - 1);
  auto result = segment->append(shorter, header);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, Errc::invalid_batch);
  EXPECT_EQ(segment->size_bytes(), 0u);
}

// Bytes of the file's allocated blocks.
std::uint64_t allocated_bytes(const std::string& file) {
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0) << file;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

TEST_F(SegmentTest, AllocatesAheadWithoutGrowingTheFileAndReleasesOnClose) {
  std::uint64_t size = 0;
  {
    auto segment = open(false);
    for (int i = 0; i < 20; ++i) append(*segment, 3, 1000 + i);
    size = segment->size_bytes();
    EXPECT_EQ(fs::file_size(log_path()), size);  // readers and recovery see the log's size
    // At least 64 KiB allocated ahead where the filesystem can (ext4, xfs, tmpfs).
    const int fd = ::open(log_path().c_str(), O_RDONLY);
    const bool can = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1) == 0;
    ::close(fd);
    if (can) {
      EXPECT_GE(allocated_bytes(log_path()), size + 64 * 1024);
    }
  }
  EXPECT_EQ(fs::file_size(log_path()), size);
  EXPECT_LT(allocated_bytes(log_path()), size + 64 * 1024) << "blocks past the end stayed";
  auto segment = open(false);
  EXPECT_EQ(segment->next_offset(), 160);
}

TEST_F(SegmentTest, RecoveryIgnoresBlocksAllocatedPastTheEndAndCutsAZeroTail) {
  std::uint64_t size = 0;
  {
    auto segment = open(false);
    for (int i = 0; i < 10; ++i) append(*segment, 2, 1000 + i);
    size = segment->size_bytes();
  }
  {  // as a crash can leave them: blocks allocated past the end, then a tail of zeros
    const int fd = ::open(log_path().c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    (void)::fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(size), 1 << 20);
    ::close(fd);
  }
  {
    RecoveryReport report;
    auto segment = open(true, &report);
    EXPECT_EQ(report.truncated_bytes, 0u) << report.reason;
    EXPECT_EQ(segment->size_bytes(), size);
    EXPECT_EQ(segment->next_offset(), 120);
  }
  EXPECT_LT(allocated_bytes(log_path()), size + 64 * 1024) << "blocks past the end stayed";
  fs::resize_file(log_path(), size + 8192);  // a size ahead of the data: zeros
  RecoveryReport report;
  auto segment = open(true, &report);
  EXPECT_EQ(report.truncated_bytes, 8192u);
  EXPECT_EQ(segment->size_bytes(), size);
  EXPECT_EQ(append(*segment, 1, 3000), 120);
  EXPECT_EQ(batches_in(*segment->read(100, 1 << 20).value()).size(), 11u);
}

TEST_F(SegmentTest, RemoveDeletesItsFiles) {
  auto segment = open(false);
  append(*segment, 1, 1);
  ASSERT_TRUE(segment->sync().ok());
  ASSERT_TRUE(segment->remove().ok());
  EXPECT_TRUE(fs::is_empty(dir_));
}

}  // namespace
}  // namespace skein::storage
