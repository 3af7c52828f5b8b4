// One HTTP/1.1 exchange with synchronous Beast: a command line tool has one
// thing to do at a time.
#include "cli/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace skein::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

std::optional<Target> parse_url(const std::string& text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
    std::fprintf(stderr, "skein: --url must look like http://HOST:PORT, got \"%s\"\n",
                 text.c_str());
    return std::nullopt;
  }
  Target target{std::string(parsed->host()),
                parsed->has_port() ? std::string(parsed->port()) : "80", boost::urls::url(*parsed)};
  if (!target.base.path().empty() && target.base.path().back() == '/') {
    std::string path = target.base.path();
    path.pop_back();
    target.base.set_path(path);
  }
  return target;
}

HttpRequest make_request(const Target& target, bhttp::verb method, const std::string& path) {
  boost::urls::url url = target.base;
  url.set_path(url.path() + path);
  HttpRequest request(method, url.encoded_resource(), 11);
  request.set(bhttp::field::host, target.host);
  return request;
}

std::optional<HttpResponse> exchange(const Target& target, HttpRequest request,
                                     const std::string& verb) {
  request.prepare_payload();
  try {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::resolver(io).resolve(target.host, target.port));
    bhttp::write(stream, request);
    beast::flat_buffer buffer;
    HttpResponse response;
    bhttp::read(stream, buffer, response);
    return response;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "skein %s: %s:%s: %s\n", verb.c_str(), target.host.c_str(),
                 target.port.c_str(), e.what());
    return std::nullopt;
  }
}

std::string error_text(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("message") || !j["message"].is_string()) return body;
  std::string text = j["message"].get<std::string>();
  if (j.contains("rule") && j["rule"].is_string())
    text += " [rule " + j["rule"].get<std::string>() + "]";
  return text;
}

}  // namespace skein::cli
