// POST /v1/topics/{topic}: publish the request body as one event.
//   Skein-Key: K              the event's key
//   Skein-Header-<Name>: V    a user header Name=V (repeatable)
//   Content-Type: T           kept with the event
// 202 {"topic", "id", "subscribers"}; 400 naming the broken rule for a bad topic.
// (413 for a body over the limit is answered by the connection before the
// body is read.)
#pragma once

#include <string_view>

#include "http/http_context.hpp"
#include "http/http_types.hpp"

namespace skein::http {

inline constexpr std::string_view kTopicsPrefix = "/v1/topics/";

Response handle_publish(HttpContext& context, unsigned shard, const Request& request,
                        std::string_view topic);

}  // namespace skein::http
