// Request target parsing on top of Boost.URL (compiled into this library from
// its header-only sources: Debian ships no built libboost_url for 1.81).
#include "http/request_target.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/src.hpp>

namespace skein::http {

std::vector<std::string> RequestTarget::all(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : query)
    if (key == name) values.push_back(value);
  return values;
}

std::optional<std::string> RequestTarget::last(std::string_view name) const {
  std::optional<std::string> found;
  for (const auto& [key, value] : query)
    if (key == name) found = value;
  return found;
}

std::optional<RequestTarget> parse_request_target(std::string_view target) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return std::nullopt;
  RequestTarget result;
  // The path is decoded as a whole so that "%2F" becomes a topic separator.
  result.path = std::string(parsed->encoded_path().decode());
  for (auto param : parsed->params()) {
    result.query.emplace_back(std::string(param.key),
                              param.has_value ? std::string(param.value) : std::string());
  }
  return result;
}

}  // namespace skein::http
