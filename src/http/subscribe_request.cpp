// Validation of subscribe parameters; every refusal names what is wrong.
#include "http/subscribe_request.hpp"

#include <charconv>

#include "http/json_error.hpp"

namespace skein::http {

SubscribeParse parse_subscribe_request(const RequestTarget& target, const HttpSettings& settings) {
  SubscribeParse result;
  SubscribeRequest request;
  request.slow_policy = settings.slow_policy;
  request.queue = settings.subscriber_queue;
  request.filters = target.all("filter");
  if (request.filters.empty()) {
    result.error_body = json_error("missing_filter", "give at least one filter=F parameter");
    return result;
  }
  for (const auto& filter : request.filters) {
    if (auto error = core::check_filter(filter)) {
      result.error_body = json_name_error("invalid_filter", *error);
      return result;
    }
  }
  if (auto slow = target.last("slow")) {
    if (!core::parse_slow_policy(*slow, request.slow_policy)) {
      result.error_body =
          json_error("invalid_parameter", "slow must be \"disconnect\" or \"drop-oldest\"");
      return result;
    }
  }
  if (auto queue = target.last("queue")) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(queue->data(), queue->data() + queue->size(), n);
    if (ec != std::errc() || end != queue->data() + queue->size() || n == 0 ||
        n > settings.subscriber_queue) {
      result.error_body =
          json_error("invalid_parameter", "queue must be a whole number from 1 to " +
                                              std::to_string(settings.subscriber_queue));
      return result;
    }
    request.queue = n;
  }
  result.request = std::move(request);
  return result;
}

}  // namespace skein::http
