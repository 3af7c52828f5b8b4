// Crash test: a child process appends with a sync after every batch (the
// `always` policy) and reports each acknowledged offset through a pipe; the
// parent kill -9s it at a random moment, 50 rounds, then reopens: every
// acknowledged record is present byte for byte, every batch left passes its
// CRC (nothing after a torn write is visible), and the log takes new appends.
// (kill -9 cannot stop a pwrite half-way, and the page cache keeps what was
// written, so tears come from power loss; segment_test and partition_test cut
// and corrupt tails directly to cover those.)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "storage/partition.hpp"
#include "temp_dir.hpp"

namespace skein::storage {
namespace {

namespace fs = std::filesystem;

// The value of the record at `offset`: its size and bytes follow from it.
std::string value_for(std::int64_t offset) {
  std::string value(static_cast<std::size_t>(1 + offset % 700),
                    static_cast<char>('a' + offset % 26));
  return value + "#" + std::to_string(offset);
}

PartitionOptions crash_options() {
  PartitionOptions options;
  options.segment_bytes = 64 * 1024;  // several segments over the rounds
  options.retention_ms = -1;
  return options;
}

[[noreturn]] void run_child(const std::string& dir, int ack_fd) {
  auto opened = Partition::open(dir, crash_options());
  if (!opened) _exit(3);
  Partition& partition = *opened.value();
  for (;;) {
    const std::int64_t offset = partition.log_end_offset();
    auto batch = build_batch({{std::nullopt, value_for(offset), {}, offset}});
    auto appended = partition.append(batch);
    if (!appended || appended.value() != offset) _exit(4);
    if (!partition.sync()) _exit(5);  // durable: only now is it acknowledged
    if (::write(ack_fd, &offset, sizeof offset) != sizeof offset) _exit(6);
  }
}

// Every record from the log start to the end: present, intact, in order.
void verify(const Partition& partition, std::int64_t last_acked) {
  ASSERT_GT(partition.log_end_offset(), last_acked);
  for (std::int64_t offset = 0; offset < partition.log_end_offset();) {
    auto range = partition.read(offset, 1 << 16);
    ASSERT_TRUE(range.ok() && range.value().has_value()) << offset;
    std::vector<std::byte> bytes(range.value()->length);
    ASSERT_EQ(::pread(range.value()->fd(), bytes.data(), bytes.size(),
                      static_cast<off_t>(range.value()->position)),
              static_cast<ssize_t>(bytes.size()));
    std::span<const std::byte> rest(bytes);
    while (!rest.empty()) {
      auto check = check_batch(rest, 1 << 20, /*verify_crc=*/true);
      ASSERT_TRUE(check.header) << "offset " << offset << ": " << check.message;
      auto records = decode_records(rest.first(check.header->total_bytes()));
      ASSERT_TRUE(records && records->size() == 1);
      ASSERT_EQ((*records)[0].offset, offset);
      ASSERT_EQ(std::string((*records)[0].value.value_or("")), value_for(offset));
      rest = rest.subspan(check.header->total_bytes());
      ++offset;
    }
  }
}

TEST(StorageCrash, AcknowledgedRecordsSurviveKillNine) {
  TempDir temp("crash");
  const std::string& dir = temp.path();
  std::mt19937 rng(7);
  std::int64_t last_acked = -1;
  std::size_t truncations = 0;
  for (int round = 0; round < 50; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      run_child(dir, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    // Let it acknowledge a random number of batches, then kill it mid-work.
    const int acks = static_cast<int>(rng() % 40);
    for (int i = 0; i < acks; ++i) {
      std::int64_t offset = 0;
      ASSERT_EQ(::read(pipe_fds[0], &offset, sizeof offset), static_cast<ssize_t>(sizeof offset));
      // Greater, not always next: a record synced just before a kill is in
      // the log without having been acknowledged.
      ASSERT_GT(offset, last_acked);
      last_acked = offset;
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child failed on its own: exit " << WEXITSTATUS(status);
    std::int64_t offset = 0;  // acknowledgements written before the kill still count
    while (::read(pipe_fds[0], &offset, sizeof offset) == static_cast<ssize_t>(sizeof offset))
      last_acked = offset;
    ::close(pipe_fds[0]);

    std::vector<RecoveryReport> reports;
    auto opened = Partition::open(dir, crash_options(), &reports);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    truncations += reports.size();
    if (last_acked >= 0) verify(*opened.value(), last_acked);
  }
  // The log takes appends after all that.
  auto opened = Partition::open(dir, crash_options());
  ASSERT_TRUE(opened.ok());
  const std::int64_t end = opened.value()->log_end_offset();
  auto batch = build_batch({{std::nullopt, value_for(end), {}, end}});
  ASSERT_EQ(opened.value()->append(batch).value(), end);
  EXPECT_GT(last_acked, 50);
  RecordProperty("torn_tails_repaired", static_cast<int>(truncations));
}

}  // namespace
}  // namespace skein::storage
