// Subscribe and unsubscribe through the node's SubscriptionService.
#include "http/subscriber_lifetime.hpp"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "http/stream_replay.hpp"

namespace skein::http {

boost::asio::awaitable<std::shared_ptr<StreamSubscriber>> open_subscriber(
    HttpContext& context, unsigned shard, boost::asio::any_io_executor executor,
    SubscribeRequest request) {
  auto subscriber = std::make_shared<StreamSubscriber>(shard, std::move(executor), request.queue,
                                                       request.slow_policy);
  context.counters.subscribers_open.fetch_add(1, std::memory_order_relaxed);
  if (request.replay) {
    // Fed from the stream, not the router (stream_replay.hpp), from
    // positions taken now, before the client hears it is subscribed.
    std::vector<std::int64_t> next = co_await replay_start(context, *request.replay);
    boost::asio::co_spawn(
        subscriber->executor(),
        replay_stream(context, subscriber, std::move(*request.replay), std::move(next)),
        boost::asio::detached);
    co_return subscriber;
  }
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
  if (!filters.empty()) co_await context.subscriptions.unsubscribe(subscriber, std::move(filters));
  context.counters.subscribers_open.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace skein::http
