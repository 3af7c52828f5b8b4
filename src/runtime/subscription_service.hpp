// SubscriptionService: the single writer of the router's subscription table.
//
// Lives on shard 0. Requests from any shard queue up there and are applied in
// batches: stage the batch on the standby copy, publish it, visit every shard
// once (each clears its match cache; once every shard has run that handler, no
// shard can still be reading the old copy), then catch the old copy up. The
// caller resumes, on its own shard, when its change is in effect everywhere:
// an event published after subscribe() returns reaches the new subscriber.
#pragma once

#include <atomic>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "core/router.hpp"
#include "runtime/shard_pool.hpp"

namespace skein::runtime {

class SubscriptionService {
 public:
  using Change = core::SubscriptionTable<core::DestinationPtr>::Change;

  SubscriptionService(ShardPool& pool, core::Router& router);

  // Applies the changes; completes with, per change, whether it changed
  // anything. Callable from any shard; completes on the caller's executor.
  template <class Token>
  auto async_apply(std::vector<Change> changes, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::vector<bool>)>(
        [this](auto handler, std::vector<Change> changes) {
          auto executor = boost::asio::get_associated_executor(handler, pool_.executor(0));
          enqueue(std::move(changes), std::move(executor), Completion(std::move(handler)));
        },
        token, std::move(changes));
  }

  boost::asio::awaitable<std::vector<bool>> apply(std::vector<Change> changes) {
    return async_apply(std::move(changes), boost::asio::use_awaitable);
  }

  // Subscribes `destination` to each filter (already validated).
  boost::asio::awaitable<void> subscribe(core::DestinationPtr destination,
                                         std::vector<std::string> filters);
  // Removes what subscribe() added.
  boost::asio::awaitable<void> unsubscribe(core::DestinationPtr destination,
                                           std::vector<std::string> filters);

  // Called on shard 0 after each batch is in effect, with the changes and,
  // per change, whether it changed anything (the mesh counts the node's own
  // filters this way). Set before the node starts.
  using Observer = std::function<void(const std::vector<Change>&, const std::vector<bool>&)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // (filter, destination) pairs in effect; readable from anywhere.
  std::size_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  using Completion = boost::asio::any_completion_handler<void(std::vector<bool>)>;
  struct Request {
    std::vector<Change> changes;
    boost::asio::any_io_executor executor;  // where the requester waits
    Completion completion;
  };

  void enqueue(std::vector<Change> changes, boost::asio::any_io_executor executor,
               Completion completion);
  boost::asio::awaitable<void> write_batches();  // runs on shard 0

  ShardPool& pool_;
  core::Router& router_;
  std::deque<Request> pending_;  // shard 0 only
  bool writing_ = false;         // shard 0 only
  std::atomic<std::size_t> count_{0};
  Observer observer_;
};

}  // namespace skein::runtime
