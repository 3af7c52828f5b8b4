// Opening and closing the subscriber behind an SSE or WebSocket stream: the
// parts both kinds of stream share. open_subscriber returns once the
// subscription is in effect on every shard; close_subscriber undoes it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>

#include "http/http_context.hpp"
#include "http/stream_subscriber.hpp"
#include "http/subscribe_request.hpp"

namespace skein::http {

boost::asio::awaitable<std::shared_ptr<StreamSubscriber>> open_subscriber(
    HttpContext& context, unsigned shard, boost::asio::any_io_executor executor,
    SubscribeRequest request);

boost::asio::awaitable<void> close_subscriber(HttpContext& context,
                                              std::shared_ptr<StreamSubscriber> subscriber,
                                              std::vector<std::string> filters);

}  // namespace skein::http
