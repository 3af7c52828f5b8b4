// POST /v1/topics/{topic}: publish the request body as one event.
//   Skein-Key: K              the event's key
//   Skein-Header-<Name>: V    a user header Name=V (repeatable)
//   Content-Type: T           kept with the event
//   ?persistent=true, or Skein-Persistent: true
//                             a persistent event (DESIGN.md §2): answered
//                             only once every stream that attracts it has
//                             it durably, by each stream's fsync policy
// 202 {"topic", "id", "subscribers"}; persistent: 201 {..., "stored": N} once
// stored in the N attracting streams, 503 {"error": "not_stored"} with the
// reason when no stream attracts the topic, a stream could not store it, or
// http.persistent_timeout passed first. 400 naming the broken rule for a bad
// topic.
// (413 for a body over the limit is answered by the connection before the
// body is read.)
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "http/http_context.hpp"
#include "http/http_types.hpp"
#include "http/request_target.hpp"

namespace skein::http {

inline constexpr std::string_view kTopicsPrefix = "/v1/topics/";

// Whether the request asks for a persistent publish (the query parameter or the header).
bool wants_persistent(const Request& request, const RequestTarget& target);

Response handle_publish(HttpContext& context, unsigned shard, const Request& request,
                        std::string_view topic);
boost::asio::awaitable<Response> handle_persistent_publish(HttpContext& context, unsigned shard,
                                                           const Request& request,
                                                           std::string_view topic);

}  // namespace skein::http
