// GroupCommit: makes a partition's appends durable under its fsync policy
// (DESIGN.md §4), telling each appender when its batch is durable, and
// sharing each fdatasync among every appender waiting at that moment.
//
//   always    the acknowledgement waits for an fdatasync that covers the
//             batch; appenders that arrive while a sync runs share the next
//             one (group commit), so N concurrent appenders cost far fewer
//             than N syncs
//   interval  acknowledged at once; a sync runs every `interval` when there
//             is anything new
//   never     acknowledged at once; the OS writes back when it likes
//
// Threads: the partition's owner (one shard) appends and then calls
// appended(); a background thread per GroupCommit runs the syncs and calls
// the `done` callbacks there (post them to your shard). The sync thread never
// touches the Partition: appended() hands it the active segment's file
// (duplicated, so retention or a roll cannot close it under the sync), and
// rolled segments were synced when they rolled.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/partition.hpp"

namespace skein::storage {

enum class FsyncPolicy { always, interval, never };

bool parse_fsync_policy(std::string_view text, FsyncPolicy& out);
std::string_view to_string(FsyncPolicy policy);

class GroupCommit {
 public:
  using Done = std::function<void(const Status&)>;

  GroupCommit(FsyncPolicy policy,
              std::chrono::milliseconds interval = std::chrono::milliseconds(1000));
  // Syncs what is pending, completes every waiter, stops the thread.
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Owner thread, right after `partition.append` returned a batch whose last
  // offset is `last_offset`: `done` runs once that batch is durable under the
  // policy (at once, on this thread, for interval and never).
  void appended(const Partition& partition, std::int64_t last_offset, Done done);

  // Owner thread: waits until everything appended so far is durable,
  // whatever the policy (shutdown, tests).
  Status flush();

  // Offsets below this are known durable.
  std::int64_t durable_end() const;
  // fdatasync calls made so far (the group commit shows as far fewer syncs
  // than appends).
  std::uint64_t syncs() const;

 private:
  struct Waiter {
    std::int64_t last_offset;
    Done done;
  };
  void run();
  void adopt_file(const Partition& partition);  // owner thread; mutex held

  const FsyncPolicy policy_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Waiter> waiting_;     // guarded by mutex_
  std::int64_t appended_end_ = 0;  // guarded: one past the last offset appended
  std::int64_t durable_end_ = 0;   // guarded
  int fd_ = -1;                    // guarded: our duplicate of the active segment's log
  std::int64_t fd_segment_ = -1;   // guarded: that segment's base offset
  std::vector<int> retired_fds_;   // guarded: duplicates to close after the current sync
  std::uint64_t syncs_ = 0;        // guarded
  bool stopping_ = false;          // guarded
  std::optional<Error> failure_;   // guarded: the first failed sync, for good
  std::thread thread_;
};

}  // namespace skein::storage
