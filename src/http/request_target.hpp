// Splits an HTTP request target ("/v1/topics/a%2Fb?x=1&x=2") into its decoded
// path and query parameters, with Boost.URL doing the RFC 3986 work.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace skein::http {

struct RequestTarget {
  std::string path;                                        // percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order, repeats kept

  // Every value of a repeatable parameter, in order.
  std::vector<std::string> all(std::string_view name) const;
  // The last value of a parameter, if present.
  std::optional<std::string> last(std::string_view name) const;
};

// nullopt when the target is not a valid origin-form target.
std::optional<RequestTarget> parse_request_target(std::string_view target);

}  // namespace skein::http
