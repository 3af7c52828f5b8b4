// Shards (DESIGN.md §5): one thread and one io_context per core. A connection,
// a session or a destination is owned by one shard and touched only there;
// work crosses shards by posting to the owner (see cross_shard.hpp).
//
// Lifecycle: construct, start() to launch the threads, stop() to end their
// event loops, join them and shut every shard's services down (pending
// handlers and coroutine frames are destroyed then, while every io_context
// still exists, whichever shard they belong to). Construct the pool before,
// and so destroy it after, every object that holds an I/O object of a shard.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

namespace skein::runtime {

namespace asio = boost::asio;

class ShardPool {
 public:
  static constexpr unsigned kNoShard = std::numeric_limits<unsigned>::max();

  // `count` 0 means one shard per core.
  explicit ShardPool(unsigned count);
  ~ShardPool();
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;

  void start();
  // Ends every event loop, joins the threads, drops pending work. Idempotent.
  void stop();

  unsigned size() const { return static_cast<unsigned>(shards_.size()); }
  asio::io_context& context(unsigned shard) { return shards_[shard]->context; }
  asio::any_io_executor executor(unsigned shard) { return shards_[shard]->context.get_executor(); }

  // The next shard in round-robin order: where a new connection goes.
  unsigned next_shard();

  // The shard whose thread is calling, or kNoShard off the pool's threads.
  static unsigned current();

 private:
  // An io_context whose services can be shut down before any is destroyed.
  struct ShardContext : asio::io_context {
    ShardContext() : asio::io_context(1) {}  // concurrency hint 1: one thread runs it
    using asio::execution_context::shutdown;
  };
  struct Shard {
    ShardContext context;
    asio::executor_work_guard<asio::io_context::executor_type> work{context.get_executor()};
    std::thread thread;
  };
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<unsigned> round_robin_{0};
  bool started_ = false;
};

}  // namespace skein::runtime
