// MQTT over WebSocket (MQTT 3.1.1 §6, v5 §6): GET /mqtt with a WebSocket
// upgrade whose Sec-WebSocket-Protocol names "mqtt". The server selects
// "mqtt", then hands the WebSocket, as a ByteStream of binary messages, to
// the MQTT face (HttpContext::mqtt_websocket); MQTT packets may span or
// share WebSocket messages [MQTT-6.0.0-2].
#pragma once

#include <boost/asio/awaitable.hpp>

#include "http/http_context.hpp"
#include "http/http_types.hpp"

namespace skein::http {

// Answers 400 itself when the client did not offer the "mqtt" subprotocol.
boost::asio::awaitable<void> serve_mqtt_websocket(HttpContext& context, unsigned shard,
                                                  beast::tcp_stream stream, Request upgrade);

}  // namespace skein::http
