// Batched, lock-free-for-readers updates of the subscription table.
#include "runtime/subscription_service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "runtime/cross_shard.hpp"

namespace skein::runtime {

namespace asio = boost::asio;

SubscriptionService::SubscriptionService(ShardPool& pool, core::Router& router)
    : pool_(pool), router_(router) {}

void SubscriptionService::enqueue(std::vector<Change> changes, asio::any_io_executor executor,
                                  Completion completion) {
  asio::post(pool_.executor(0), [this, changes = std::move(changes), executor = std::move(executor),
                                 completion = std::move(completion)]() mutable {
    pending_.push_back(Request{std::move(changes), std::move(executor), std::move(completion)});
    if (writing_) return;
    writing_ = true;
    asio::co_spawn(pool_.executor(0), write_batches(), asio::detached);
  });
}

asio::awaitable<void> SubscriptionService::write_batches() {
  auto& table = router_.table();
  while (!pending_.empty()) {
    std::deque<Request> batch;
    batch.swap(pending_);
    std::vector<Change> all;
    for (auto& request : batch)
      for (auto& change : request.changes) all.push_back(change);

    std::vector<bool> effective = table.stage(all);
    table.publish();
    // Quiescence: after each shard has run this handler, none of them is
    // still inside a match against the old copy.
    for (unsigned shard = 0; shard < pool_.size(); ++shard) {
      co_await run_on(pool_.executor(shard), [this, shard] { router_.clear_cache(shard); });
    }
    table.catch_up(all);
    count_.store(table.size(), std::memory_order_relaxed);
    if (observer_) observer_(all, effective);

    std::size_t next = 0;
    for (auto& request : batch) {
      std::vector<bool> mine(
          effective.begin() + static_cast<std::ptrdiff_t>(next),
          effective.begin() + static_cast<std::ptrdiff_t>(next + request.changes.size()));
      next += request.changes.size();
      // Completes on the requester's own executor.
      asio::post(request.executor,
                 [completion = std::move(request.completion), mine = std::move(mine)]() mutable {
                   std::move(completion)(std::move(mine));
                 });
    }
  }
  writing_ = false;
}

asio::awaitable<void> SubscriptionService::subscribe(core::DestinationPtr destination,
                                                     std::vector<std::string> filters) {
  std::vector<Change> changes;
  for (auto& filter : filters) changes.push_back(Change{true, std::move(filter), destination});
  co_await apply(std::move(changes));
}

asio::awaitable<void> SubscriptionService::unsubscribe(core::DestinationPtr destination,
                                                       std::vector<std::string> filters) {
  std::vector<Change> changes;
  for (auto& filter : filters) changes.push_back(Change{false, std::move(filter), destination});
  co_await apply(std::move(changes));
}

}  // namespace skein::runtime
