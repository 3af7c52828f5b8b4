// Request target parsing on top of Boost.URL (compiled into this library from
// its header-only sources: Debian ships no built libboost_url for 1.81).
#include "http/request_target.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/src.hpp>
#include <cctype>

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

namespace {
// Characters RFC 3986 allows unencoded in a path or query (with '%' for
// escapes already there).
bool allowed_in_target(unsigned char c) {
  if (std::isalnum(c)) return true;
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/?%";
  return kAllowed.find(static_cast<char>(c)) != std::string_view::npos;
}

// Clients such as curl send what the user typed: `filter=orders/*/us/>`
// arrives with a raw '>'. Encode such bytes rather than refuse the request;
// a malformed escape ("%zz") is still an error.
std::string encode_stray_bytes(std::string_view target) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(target.size());
  for (unsigned char c : target) {
    if (allowed_in_target(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}
}  // namespace

std::optional<RequestTarget> parse_request_target(std::string_view raw_target) {
  const std::string target = encode_stray_bytes(raw_target);
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
