// The sync thread and the hand-off between the owner and it.
#include "storage/group_commit.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "storage/storage_error.hpp"

namespace skein::storage {

bool parse_fsync_policy(std::string_view text, FsyncPolicy& out) {
  if (text == "always")
    out = FsyncPolicy::always;
  else if (text == "interval")
    out = FsyncPolicy::interval;
  else if (text == "never")
    out = FsyncPolicy::never;
  else
    return false;
  return true;
}

std::string_view to_string(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::always:
      return "always";
    case FsyncPolicy::interval:
      return "interval";
    case FsyncPolicy::never:
      return "never";
  }
  return "?";
}

GroupCommit::GroupCommit(FsyncPolicy policy, std::chrono::milliseconds interval)
    : policy_(policy), interval_(interval) {
  if (policy_ != FsyncPolicy::never) thread_ = std::thread([this] { run(); });
}

GroupCommit::~GroupCommit() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  for (auto& waiter : waiting_) waiter.done(Error{Errc::io, "the partition closed before a sync"});
  if (fd_ >= 0) ::close(fd_);
  for (int fd : retired_fds_) ::close(fd);
}

void GroupCommit::adopt_file(const Partition& partition) {
  if (fd_segment_ == partition.active_base_offset()) return;
  // The active segment changed (open or roll): keep our own descriptor, so
  // that the sync thread's file stays valid whatever happens to the segment.
  const int fd = ::fcntl(partition.active_log_fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return;  // keep the old one; flush() reports failures
  if (fd_ >= 0) retired_fds_.push_back(fd_);
  fd_ = fd;
  fd_segment_ = partition.active_base_offset();
}

void GroupCommit::appended(const Partition& partition, std::int64_t last_offset, Done done) {
  {
    std::lock_guard lock(mutex_);
    adopt_file(partition);
    appended_end_ = std::max(appended_end_, last_offset + 1);
    if (policy_ == FsyncPolicy::always) {
      waiting_.push_back({last_offset, std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  done(Status(Ok{}));
}

// Each round: note how far appends have got, sync once, release every waiter
// that sync covers. Appends during the sync wait for the next round, which
// they share: that is the group commit.
//
// Starting the next sync as soon as one appender waits splits a steady set of
// N appenders in two: the ones released by a sync append again while the
// next sync, which covers only the others, runs, so each sync covers about
// N/2 appends. So a round first lingers until as many appenders wait as were
// in flight at the end of the last round, and one sync covers them all. That
// pays when appends are quick beside a sync's fixed cost (small batches); it
// gives up after a quarter of the last sync's duration, or when a straggler
// takes more than twice its share of that, and then does not linger again for
// 16 rounds (large batches, whose appends are slow, or fewer appenders than
// before). A single appender never lingers.
void GroupCommit::run() {
  using Steady = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  std::size_t in_flight = 0;     // appenders waiting or just released, at the end of the last round
  Steady::duration last_sync{};  // how long the last fdatasync took
  int rounds_without_linger = 0;  // after lingering did not pay
  for (;;) {
    if (policy_ == FsyncPolicy::always) {
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
      if (rounds_without_linger > 0) {
        --rounds_without_linger;
      } else if (!stopping_ && waiting_.size() < in_flight) {
        const auto start = Steady::now();
        const auto budget = last_sync / 4;
        const auto per_arrival = 2 * budget / static_cast<int>(in_flight - waiting_.size());
        while (!stopping_ && waiting_.size() < in_flight) {
          const std::size_t before = waiting_.size();
          const auto deadline = std::min(start + budget, Steady::now() + per_arrival);
          if (!wake_.wait_until(lock, deadline,
                                [&] { return stopping_ || waiting_.size() > before; }))
            break;
        }
        if (waiting_.size() < in_flight) rounds_without_linger = 16;
      }
    } else {
      wake_.wait_for(lock, interval_, [&] { return stopping_; });
    }
    const bool nothing_new = appended_end_ <= durable_end_ && waiting_.empty();
    if (nothing_new) {
      if (stopping_) return;
      continue;
    }
    if (fd_ < 0) {  // no file to sync (its descriptor could not be duplicated)
      if (!failure_) failure_ = Error{Errc::io, "no descriptor of the active segment to sync"};
      std::deque<Waiter> failed;
      failed.swap(waiting_);
      lock.unlock();
      for (auto& waiter : failed) waiter.done(*failure_);
      lock.lock();
      if (stopping_) return;
      continue;
    }
    const std::int64_t target = appended_end_;
    const int fd = fd_;
    std::vector<int> retired;
    retired.swap(retired_fds_);
    lock.unlock();
    Status synced = Status(Ok{});
    const auto sync_start = Steady::now();
    if (::fdatasync(fd) != 0) synced = system_error(errno, "fdatasync of the active segment");
    last_sync = Steady::now() - sync_start;
    for (int old : retired) ::close(old);
    lock.lock();
    ++syncs_;
    // After a failed fdatasync the kernel may have dropped the dirty pages and
    // cleared the error, so a later sync could "succeed" with data lost: the
    // failure sticks, and every later waiter gets it.
    if (!synced && !failure_) failure_ = synced.error();
    if (failure_)
      synced = *failure_;
    else
      durable_end_ = std::max(durable_end_, target);
    std::vector<Waiter> released;
    while (!waiting_.empty() && waiting_.front().last_offset < target) {
      released.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
    in_flight = released.size() + waiting_.size();
    lock.unlock();
    for (auto& waiter : released) waiter.done(synced);
    lock.lock();
  }
}

Status GroupCommit::flush() {
  int fd = -1;
  std::int64_t target = 0;
  {
    std::lock_guard lock(mutex_);
    fd = fd_;
    target = appended_end_;
  }
  if (fd < 0) return Ok{};
  const bool ok = ::fdatasync(fd) == 0;
  const int error = errno;
  std::lock_guard lock(mutex_);
  if (!ok && !failure_) failure_ = system_error(error, "fdatasync of the active segment");
  if (failure_) return *failure_;
  ++syncs_;
  durable_end_ = std::max(durable_end_, target);
  return Ok{};
}

std::int64_t GroupCommit::durable_end() const {
  std::lock_guard lock(mutex_);
  return durable_end_;
}

std::uint64_t GroupCommit::syncs() const {
  std::lock_guard lock(mutex_);
  return syncs_;
}

}  // namespace skein::storage
