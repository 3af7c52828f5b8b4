// The parameters of GET /v1/subscribe, shared by SSE and WebSocket:
//   filter=F        (repeatable, at least one; Skein filter syntax)
//   slow=disconnect|drop-oldest   what to do when this subscriber falls behind
//   queue=N         events this subscriber may have queued (<= the node's bound)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/destination.hpp"
#include "http/http_settings.hpp"
#include "http/request_target.hpp"

namespace skein::http {

struct SubscribeRequest {
  std::vector<std::string> filters;
  core::SlowPolicy slow_policy = core::SlowPolicy::disconnect;
  std::size_t queue = 0;
};

struct SubscribeParse {
  std::optional<SubscribeRequest> request;
  // On failure: the JSON error body for a 400.
  std::string error_body;
};

SubscribeParse parse_subscribe_request(const RequestTarget& target, const HttpSettings& settings);

}  // namespace skein::http
