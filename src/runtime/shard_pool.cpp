// Shard threads: each runs its own io_context until stop().
#include "runtime/shard_pool.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace skein::runtime {

namespace {
thread_local unsigned current_shard = ShardPool::kNoShard;
}

ShardPool::ShardPool(unsigned count) {
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < count; ++i) shards_.push_back(std::make_unique<Shard>());
}

ShardPool::~ShardPool() {
  stop();
}

void ShardPool::start() {
  if (started_) return;
  started_ = true;
  for (unsigned i = 0; i < shards_.size(); ++i) {
    Shard* shard = shards_[i].get();
    shard->thread = std::thread([shard, i] {
      current_shard = i;
      // A handler that throws is a bug; log it and keep the shard serving.
      for (;;) {
        try {
          shard->context.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("shard {}: unhandled exception: {}", i, e.what());
        }
      }
    });
  }
}

void ShardPool::stop() {
  for (auto& shard : shards_) {
    shard->work.reset();
    shard->context.stop();
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
  }
  for (auto& shard : shards_) shard->context.shutdown();
}

unsigned ShardPool::next_shard() {
  return round_robin_.fetch_add(1, std::memory_order_relaxed) % size();
}

unsigned ShardPool::current() {
  return current_shard;
}

}  // namespace skein::runtime
