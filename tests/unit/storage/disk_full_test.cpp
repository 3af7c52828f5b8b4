// A full disk: a partition on a 1 MiB tmpfs, filled by another file, refuses
// the append that does not fit with Errc::no_space naming the .log file,
// leaves no partial batch and loses nothing appended before; once space is
// freed it appends again, and reopening (recovery) finds every batch.
// Mounting needs root (as in CI); without it the test fails, saying so.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "storage/partition.hpp"
#include "temp_dir.hpp"

namespace skein::storage {
namespace {

namespace fs = std::filesystem;

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=1m") != 0) {
      const int error = errno;
      FAIL() << "mount -t tmpfs -o size=1m tmpfs " << dir_ << ": " << std::strerror(error)
             << (error == EPERM ? " (this test must run as root: it mounts a small tmpfs to fill)"
                                : "");
    }
    mounted_ = true;
    partition_dir_ = dir_ + "/partition";
    log_file_ = partition_dir_ + "/" + Segment::file_name(0, ".log");
    options_.retention_ms = -1;
  }
  void TearDown() override {
    // TempDir removes the directory after this, once it is unmounted.
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }

  std::unique_ptr<Partition> open(std::vector<RecoveryReport>* reports = nullptr) {
    auto p = Partition::open(partition_dir_, options_, reports);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return p.ok() ? std::move(p.value()) : nullptr;
  }

  // A batch of one record whose value is `value`.
  static std::vector<std::byte> batch_of(const std::string& value) {
    return build_batch({{std::nullopt, value, {}, 1000}});
  }

  static std::string value_for(int i) {
    return "record-" + std::to_string(i) + "-" + std::string(1500, static_cast<char>('a' + i % 26));
  }

  // offset -> value of every record of the partition, read as a consumer would.
  static std::map<std::int64_t, std::string> read_everything(const Partition& p) {
    std::map<std::int64_t, std::string> out;
    std::int64_t offset = p.log_start_offset();
    for (;;) {
      auto range = p.read(offset, 64 * 1024);
      EXPECT_TRUE(range.ok()) << (range.ok() ? "" : range.error().message);
      if (!range.ok() || !range.value()) break;
      const FileRange& r = *range.value();
      std::vector<std::byte> bytes(r.length);
      EXPECT_EQ(::pread(r.fd(), bytes.data(), bytes.size(), static_cast<off_t>(r.position)),
                static_cast<ssize_t>(bytes.size()));
      std::span<const std::byte> rest(bytes);
      while (!rest.empty()) {
        auto check = check_batch(rest, 1 << 20);
        EXPECT_TRUE(check.header) << check.message;
        if (!check.header) return out;
        auto records = decode_records(rest.first(check.header->total_bytes()));
        EXPECT_TRUE(records.has_value());
        if (!records) return out;
        for (const auto& record : *records)
          out[record.offset] = std::string(record.value.value_or(""));
        offset = check.header->last_offset() + 1;
        rest = rest.subspan(check.header->total_bytes());
      }
    }
    return out;
  }

  static off_t file_size(const std::string& file) {
    struct stat st {};
    EXPECT_EQ(::stat(file.c_str(), &st), 0) << file << ": " << std::strerror(errno);
    return st.st_size;
  }

  // Writes a file of zeros until the filesystem is full (ENOSPC).
  void fill_disk() {
    filler_ = dir_ + "/filler";
    const int fd = ::open(filler_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::vector<char> chunk(4096, 0);
    for (;;) {
      const ssize_t n = ::write(fd, chunk.data(), chunk.size());
      if (n > 0) continue;
      const int error = errno;
      ::close(fd);
      ASSERT_EQ(error, ENOSPC) << "filling " << filler_ << ": " << std::strerror(error);
      return;
    }
  }

  TempDir temp_{"diskfull"};
  const std::string dir_ = temp_.path();
  std::string partition_dir_, log_file_, filler_;
  bool mounted_ = false;
  PartitionOptions options_;
};

TEST_F(DiskFullTest, AppendFailsCleanlyWithNoSpaceAndWorksOnceSpaceIsFreed) {
  auto p = open();
  ASSERT_NE(p, nullptr);
  std::map<std::int64_t, std::string> expected;
  int next = 0;
  for (; next < 20; ++next) {  // some data before the disk fills
    auto batch = batch_of(value_for(next));
    auto offset = p->append(batch);
    ASSERT_TRUE(offset.ok()) << offset.error().message;
    expected[offset.value()] = value_for(next);
  }
  ASSERT_TRUE(p->sync().ok());
  ASSERT_NO_FATAL_FAILURE(fill_disk());

  // Append until the disk refuses (a few may still fit in partly used pages).
  std::optional<Error> failure;
  std::int64_t end_before = 0;
  off_t size_before = 0;
  for (int attempts = 0; attempts < 1000 && !failure; ++attempts, ++next) {
    end_before = p->log_end_offset();
    size_before = file_size(log_file_);
    auto batch = batch_of(value_for(next));
    auto offset = p->append(batch);
    if (offset.ok())
      expected[offset.value()] = value_for(next);
    else
      failure = offset.error();
  }
  ASSERT_TRUE(failure.has_value()) << "the full disk accepted 1000 more batches";
  EXPECT_EQ(failure->code, Errc::no_space) << failure->message;
  EXPECT_NE(failure->message.find(log_file_), std::string::npos)
      << "the message should name " << log_file_ << ": " << failure->message;
  EXPECT_EQ(p->log_end_offset(), end_before);
  EXPECT_EQ(file_size(log_file_), size_before) << "a partial batch stayed in the log";
  EXPECT_EQ(static_cast<std::uint64_t>(size_before), p->size_bytes());
  EXPECT_EQ(read_everything(*p), expected);

  // Space again: appends work, and the new record reads back.
  ASSERT_EQ(::unlink(filler_.c_str()), 0) << std::strerror(errno);
  const std::string after = "after the disk was freed";
  auto batch = batch_of(after);
  auto offset = p->append(batch);
  ASSERT_TRUE(offset.ok()) << offset.error().message;
  EXPECT_EQ(offset.value(), end_before);
  expected[offset.value()] = after;
  EXPECT_EQ(read_everything(*p), expected);
  ASSERT_TRUE(p->sync().ok());

  // Reopen: recovery finds every batch and nothing to cut.
  p.reset();
  std::vector<RecoveryReport> reports;
  p = open(&reports);
  ASSERT_NE(p, nullptr);
  for (const auto& report : reports)
    EXPECT_EQ(report.truncated_bytes, 0u) << "recovery cut: " << report.reason;
  EXPECT_EQ(p->log_end_offset(), end_before + 1);
  EXPECT_EQ(read_everything(*p), expected);
  auto more = batch_of("after reopening");
  auto reopened = p->append(more);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ(reopened.value(), end_before + 1);
}

}  // namespace
}  // namespace skein::storage
