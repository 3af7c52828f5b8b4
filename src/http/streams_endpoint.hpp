// The streams admin API (DESIGN.md §6), JSON in and out:
//
//   POST   /v1/streams          create: {"name": "us-orders", "partitions": 3,
//                               "attract": ["orders/*/us/>"], "topic_template":
//                               "orders/{key}", "retention_ms": 604800000,
//                               "retention_bytes": -1, "cleanup_policy": "delete",
//                               "fsync": "interval", ...}; only "name" is required
//   GET    /v1/streams          {"streams": [description, ...]}
//   GET    /v1/streams/{name}   the description, with each partition's start
//                               offset, end offset and bytes
//   PATCH  /v1/streams/{name}   change any setting but the name; partitions
//                               may only grow
//   DELETE /v1/streams/{name}   the stream and its data
//
// A description has every setting (defaults included) under the names
// above, plus "partition_state". Create and patch answer once the stream's
// attract filters are in force on every shard: an event published after the
// answer is attracted. 400 names the bad field, 404 an unknown stream, 409
// an existing one, 403 internal streams (names starting with "__"), which
// only the node itself changes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "http/http_context.hpp"
#include "http/http_types.hpp"

namespace skein::http {

inline constexpr std::string_view kStreamsPath = "/v1/streams";

// `path` is /v1/streams or /v1/streams/{name} (decoded).
boost::asio::awaitable<Response> handle_streams(HttpContext& context, const Request& request,
                                                std::string_view path);

}  // namespace skein::http
