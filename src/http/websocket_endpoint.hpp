// GET /v1/subscribe with a WebSocket upgrade: one JSON text frame per event
// (format in event_encoding.hpp). Frames from the client are read and
// ignored; pings and idle timeouts follow Beast's suggested server settings.
// On node shutdown the server sends what is queued, then a close frame with
// status 1001 (going away).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "http/http_context.hpp"
#include "http/http_types.hpp"
#include "http/stream_subscriber.hpp"
#include "http/subscribe_request.hpp"

namespace skein::http {

boost::asio::awaitable<void> serve_websocket(HttpContext& context, unsigned shard,
                                             beast::tcp_stream stream, Request upgrade,
                                             SubscribeRequest subscribe,
                                             std::shared_ptr<StreamSubscriber>& active);

}  // namespace skein::http
