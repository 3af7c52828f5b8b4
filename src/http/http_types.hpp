// The Beast types the HTTP face uses, and the one way it builds a response.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>

namespace skein::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

inline constexpr std::string_view kServerName = "skein";
inline constexpr std::string_view kJson = "application/json";

// A complete response to `request`: status, body, content type, keep-alive
// as the request asked, Content-Length set.
Response make_response(const Request& request, bhttp::status status, std::string body,
                       std::string_view content_type = kJson);

// Appends the response as HTTP/1.x bytes (status line, fields, body) to `out`.
void append_response(const Response& response, std::string& out);

}  // namespace skein::http
