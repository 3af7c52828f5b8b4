// OutboxLog: the outboxes on disk (outbox.hpp's OutboxStore), in the internal
// compacted stream `__mesh_outbox` (runtime::KeyedLog): one record per
// persistent event waiting for a peer, keyed by the peer and the event's
// position, and a tombstone for it once the peer acknowledged it. So a node
// killed with kill -9 still holds, at its next start, every persistent event
// it had taken responsibility for and no peer had acknowledged.
//
// Appends made in one turn of the mesh's shard go to the log as one batch;
// each caller is told when its event is durable (under the stream's fsync
// policy), which is when the event's publisher may be acknowledged.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mesh/outbox.hpp"
#include "runtime/keyed_log.hpp"
#include "runtime/shard_pool.hpp"

namespace skein::mesh {

class OutboxLog : public OutboxStore {
 public:
  static constexpr const char* kStream = "__mesh_outbox";

  // Writes run on `shard` (the mesh's).
  OutboxLog(runtime::ShardPool& pool, runtime::StreamService& streams, unsigned shard);

  // Reads every waiting event back: peer -> position -> event. Call after
  // the streams are open and before the shards run.
  std::map<std::string, std::map<std::uint64_t, core::EventPtr>> load();

  void append(const std::string& peer, std::uint64_t position, const core::EventPtr& event,
              std::function<void(bool ok)> done) override;
  void trim(const std::string& peer, std::uint64_t next) override;

  std::uint64_t failed_writes() const { return failed_; }

 private:
  static std::string key(const std::string& peer, std::uint64_t position);
  void schedule();
  boost::asio::awaitable<void> drain();

  runtime::ShardPool& pool_;
  runtime::KeyedLog log_;
  unsigned shard_;
  // Mesh shard only:
  std::vector<storage::RecordSpec> records_;
  std::vector<std::function<void(bool)>> waiting_;
  std::map<std::string, std::uint64_t> trimmed_;  // per peer: tombstones written below this
  std::map<std::string, std::uint64_t> first_;    // per peer: the first position on disk
  bool writing_ = false;
  std::uint64_t failed_ = 0;
};

}  // namespace skein::mesh
