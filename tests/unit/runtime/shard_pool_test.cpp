// ShardPool and run_on: work runs on the shard it is sent to, results come back.
#include "runtime/shard_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <set>

#include "runtime/cross_shard.hpp"

namespace skein::runtime {
namespace {

namespace asio = boost::asio;

TEST(ShardPool, EachShardKnowsItsIndexAndOffPoolThreadsHaveNone) {
  ShardPool pool(3);
  pool.start();
  EXPECT_EQ(ShardPool::current(), ShardPool::kNoShard);
  for (unsigned i = 0; i < pool.size(); ++i) {
    auto seen = asio::co_spawn(pool.executor(i),
                               detail::invoke_as_coroutine([] { return ShardPool::current(); }),
                               asio::use_future);
    EXPECT_EQ(seen.get(), i);
  }
  pool.stop();
}

asio::awaitable<std::pair<unsigned, unsigned>> hop(ShardPool* pool, unsigned target) {
  unsigned there = co_await run_on(pool->executor(target), [] { return ShardPool::current(); });
  co_return std::pair{there, ShardPool::current()};
}

TEST(ShardPool, RunOnRunsOnTheTargetAndResumesOnTheCaller) {
  ShardPool pool(2);
  pool.start();
  auto result = asio::co_spawn(pool.executor(0), hop(&pool, 1), asio::use_future).get();
  EXPECT_EQ(result.first, 1u);   // ran on shard 1
  EXPECT_EQ(result.second, 0u);  // resumed on shard 0
  pool.stop();
}

TEST(ShardPool, NextShardCyclesThroughEveryShard) {
  ShardPool pool(4);
  std::set<unsigned> seen;
  for (int i = 0; i < 8; ++i) seen.insert(pool.next_shard());
  EXPECT_EQ(seen, (std::set<unsigned>{0, 1, 2, 3}));
}

TEST(ShardPool, ZeroMeansOneShardPerCore) {
  ShardPool pool(0);
  EXPECT_EQ(pool.size(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(ShardPool, StopIsIdempotentAndDropsPendingWork) {
  ShardPool pool(2);
  pool.start();
  pool.stop();
  pool.stop();
  SUCCEED();
}

}  // namespace
}  // namespace skein::runtime
