// Subscribe and unsubscribe through the node's SubscriptionService.
#include "http/subscriber_lifetime.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

namespace skein::http {

boost::asio::awaitable<std::shared_ptr<StreamSubscriber>> open_subscriber(
    HttpContext& context, unsigned shard, boost::asio::any_io_executor executor,
    SubscribeRequest request) {
  auto subscriber = std::make_shared<StreamSubscriber>(shard, std::move(executor), request.queue,
                                                       request.slow_policy);
  context.counters.subscribers_open.fetch_add(1, std::memory_order_relaxed);
  co_await context.subscriptions.subscribe(subscriber, request.filters);
  spdlog::debug("shard {}: subscriber opened on {} filter(s)", shard, request.filters.size());
  co_return subscriber;
}

boost::asio::awaitable<void> close_subscriber(HttpContext& context,
                                              std::shared_ptr<StreamSubscriber> subscriber,
                                              std::vector<std::string> filters) {
  subscriber->on_close(nullptr);
  if (subscriber->overflowed()) {
    spdlog::warn("slow subscriber disconnected: its queue of {} events was full (filters: {})",
                 subscriber->capacity(), fmt::join(filters, " "));
  }
  subscriber->close();
  co_await context.subscriptions.unsubscribe(subscriber, std::move(filters));
  context.counters.subscribers_open.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace skein::http
