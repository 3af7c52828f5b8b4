// What the client verbs of the skein command share: the node's address from
// --url, one synchronous HTTP exchange, and the server's error message.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/url.hpp>
#include <optional>
#include <string>

namespace skein::cli {

struct Target {
  std::string host;
  std::string port;
  boost::urls::url base;  // scheme, authority and base path of the node's API
};

// The node's address from --url (http://HOST:PORT[/base]); prints why not.
std::optional<Target> parse_url(const std::string& text);

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// `method` on `path` (below the base path) with a JSON body when given, or
// nullopt after printing "skein <verb>: <why>" when the node is unreachable.
std::optional<HttpResponse> exchange(const Target& target, HttpRequest request,
                                     const std::string& verb);
HttpRequest make_request(const Target& target, boost::beast::http::verb method,
                         const std::string& path);

// The server's JSON error message when there is one, else the raw body. A
// refused topic or filter also shows the stable rule id ("[rule empty_level]"),
// the part of the answer a script can match on.
std::string error_text(const std::string& body);

}  // namespace skein::cli
