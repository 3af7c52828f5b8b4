// GET /v1/subscribe without an upgrade: a Server-Sent Events stream of every
// event matching the filters (format in event_encoding.hpp). The response
// headers are sent once the subscription is in effect on every shard, so a
// client that has read them knows that any later publish reaches it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "http/http_context.hpp"
#include "http/http_types.hpp"
#include "http/stream_subscriber.hpp"
#include "http/subscribe_request.hpp"

namespace skein::http {

// Serves the stream until the client goes, the subscriber overflows under the
// disconnect policy, or the node shuts down. `active` holds the subscriber
// while it runs, so that the connection can stop it.
boost::asio::awaitable<void> serve_sse(HttpContext& context, unsigned shard,
                                       beast::tcp_stream& stream, SubscribeRequest subscribe,
                                       std::shared_ptr<StreamSubscriber>& active);

}  // namespace skein::http
