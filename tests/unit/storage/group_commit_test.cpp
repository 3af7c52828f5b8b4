// GroupCommit: when each policy acknowledges, that `always` shares syncs among
// waiting appenders (group commit) and acknowledges in offset order, across
// segment rolls, and that closing completes every waiter.
#include "storage/group_commit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "temp_dir.hpp"

namespace skein::storage {
namespace {

namespace fs = std::filesystem;

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.retention_ms = -1;
    auto opened = Partition::open(dir_, options_);
    ASSERT_TRUE(opened.ok());
    partition_ = std::move(opened.value());
  }
  void TearDown() override { partition_.reset(); }

  std::int64_t append_one() {
    auto batch = build_batch({{std::nullopt, std::string(200, 'x'), {}, 1}});
    auto offset = partition_->append(batch);
    EXPECT_TRUE(offset.ok());
    return offset.value();
  }

  // Counts completions; waits for a number of them.
  struct Completions {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::int64_t> offsets;
    bool all_ok = true;
    GroupCommit::Done callback(std::int64_t offset) {
      return [this, offset](const Status& status) {
        std::lock_guard lock(mutex);
        all_ok = all_ok && status.ok();
        offsets.push_back(offset);
        cv.notify_all();
      };
    }
    void wait_for(std::size_t n) {
      std::unique_lock lock(mutex);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return offsets.size() >= n; }))
          << "only " << offsets.size() << " of " << n << " acknowledged";
    }
  };

  TempDir temp_{"commit"};
  const std::string dir_ = temp_.path();
  PartitionOptions options_;
  std::unique_ptr<Partition> partition_;
};

TEST_F(GroupCommitTest, NeverAcknowledgesAtOnceAndNeverSyncsByItself) {
  GroupCommit commit(FsyncPolicy::never);
  bool done = false;
  commit.appended(*partition_, append_one(), [&](const Status& s) { done = s.ok(); });
  EXPECT_TRUE(done);  // on this thread, before appended() returned
  EXPECT_EQ(commit.syncs(), 0u);
  EXPECT_EQ(commit.durable_end(), 0);
  ASSERT_TRUE(commit.flush().ok());
  EXPECT_EQ(commit.durable_end(), 1);
}

TEST_F(GroupCommitTest, IntervalAcknowledgesAtOnceAndSyncsInTheBackground) {
  GroupCommit commit(FsyncPolicy::interval, std::chrono::milliseconds(20));
  bool done = false;
  for (int i = 0; i < 5; ++i)
    commit.appended(*partition_, append_one(), [&](const Status& s) { done = s.ok(); });
  EXPECT_TRUE(done);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (commit.durable_end() < 5 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the condition
  EXPECT_EQ(commit.durable_end(), 5);
  EXPECT_GE(commit.syncs(), 1u);
}

TEST_F(GroupCommitTest, AlwaysAcknowledgesAfterASyncSharedByWaitingAppenders) {
  GroupCommit commit(FsyncPolicy::always);
  Completions completions;
  constexpr int kAppends = 2000;
  for (int i = 0; i < kAppends; ++i) {
    const std::int64_t offset = append_one();
    commit.appended(*partition_, offset, completions.callback(offset));
  }
  completions.wait_for(kAppends);
  EXPECT_TRUE(completions.all_ok);
  EXPECT_TRUE(std::is_sorted(completions.offsets.begin(), completions.offsets.end()));
  EXPECT_EQ(commit.durable_end(), kAppends);
  EXPECT_LT(commit.syncs(), static_cast<std::uint64_t>(kAppends) / 2)  // the group commit
      << commit.syncs() << " syncs for " << kAppends << " appends";
}

TEST_F(GroupCommitTest, AlwaysFollowsTheActiveSegmentAcrossRolls) {
  partition_.reset();
  options_.segment_bytes = 4096;  // a roll every ~15 batches
  partition_ = std::move(Partition::open(dir_, options_).value());
  GroupCommit commit(FsyncPolicy::always);
  Completions completions;
  for (int i = 0; i < 300; ++i) {
    const std::int64_t offset = append_one();
    commit.appended(*partition_, offset, completions.callback(offset));
  }
  completions.wait_for(300);
  EXPECT_TRUE(completions.all_ok);
  EXPECT_GT(partition_->segment_count(), 10u);
  EXPECT_EQ(commit.durable_end(), 300);
}

TEST_F(GroupCommitTest, ClosingCompletesEveryWaiter) {
  Completions completions;
  {
    GroupCommit commit(FsyncPolicy::always);
    for (int i = 0; i < 50; ++i) {
      const std::int64_t offset = append_one();
      commit.appended(*partition_, offset, completions.callback(offset));
    }
  }
  EXPECT_EQ(completions.offsets.size(), 50u);
}

TEST(FsyncPolicy, ParsesItsThreeNames) {
  FsyncPolicy p{};
  EXPECT_TRUE(parse_fsync_policy("always", p) && p == FsyncPolicy::always);
  EXPECT_TRUE(parse_fsync_policy("interval", p) && p == FsyncPolicy::interval);
  EXPECT_TRUE(parse_fsync_policy("never", p) && p == FsyncPolicy::never);
  EXPECT_FALSE(parse_fsync_policy("sometimes", p));
  EXPECT_EQ(to_string(FsyncPolicy::interval), "interval");
}

}  // namespace
}  // namespace skein::storage
