// pub over a plain HTTP request (http_client.hpp), sub over the WebSocket
// subscribe endpoint (its JSON frames carry everything about an event).
// Synchronous Beast: a command line tool has one thing to do at a time.
#include "cli/client_commands.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/http_client.hpp"
#include "http/event_encoding.hpp"

namespace skein::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using asio::ip::tcp;

namespace {

std::string read_stdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

void print_event(const nlohmann::json& event, bool as_json) {
  if (as_json) {
    std::cout << event.dump() << '\n';
  } else {
    std::string payload;
    if (event.contains("payload")) {
      payload = event["payload"].get<std::string>();
    } else if (!http::base64_decode(event.value("payload_base64", ""), payload)) {
      payload = "<undecodable payload>";
    }
    std::cout << event.value("topic", "") << ' ' << payload << '\n';
  }
  std::cout.flush();
}

}  // namespace

int run_pub(const PubOptions& options) {
  auto target = parse_url(options.url);
  if (!target) return 2;
  std::string body =
      (!options.message || *options.message == "-") ? read_stdin() : *options.message;

  auto request = make_request(*target, bhttp::verb::post, "/v1/topics/" + options.topic);
  if (options.key) request.set("Skein-Key", *options.key);
  if (options.content_type) request.set(bhttp::field::content_type, *options.content_type);
  for (const auto& header : options.headers) {
    const auto eq = header.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "skein pub: --header must be NAME=VALUE, got \"%s\"\n", header.c_str());
      return 2;
    }
    request.set("Skein-Header-" + header.substr(0, eq), header.substr(eq + 1));
  }
  request.body() = std::move(body);
  auto response = exchange(*target, std::move(request), "pub");
  if (!response) return 1;
  if (response->result_int() / 100 != 2) {
    std::fprintf(stderr, "skein pub: %u %s\n", response->result_int(),
                 error_text(response->body()).c_str());
    return 1;
  }
  return 0;
}

int run_sub(const SubOptions& options) {
  auto target = parse_url(options.url);
  if (!target) return 2;
  boost::urls::url url = target->base;
  url.set_path(url.path() + "/v1/subscribe");
  for (const auto& filter : options.filters) url.params().append({"filter", filter});

  try {
    asio::io_context io;
    websocket::stream<beast::tcp_stream> ws(io);
    beast::get_lowest_layer(ws).connect(tcp::resolver(io).resolve(target->host, target->port));
    websocket::response_type response;
    beast::error_code ec;
    ws.handshake(response, target->host + ":" + target->port, url.encoded_resource(), ec);
    if (ec) {
      std::fprintf(stderr, "skein sub: %u %s\n", response.result_int(),
                   error_text(response.body().empty() ? ec.message() : response.body()).c_str());
      return 1;
    }
    std::size_t received = 0;
    beast::flat_buffer buffer;
    while (options.count == 0 || received < options.count) {
      ws.read(buffer);
      auto event = nlohmann::json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
      buffer.clear();
      if (!event.is_object()) continue;
      print_event(event, options.json);
      ++received;
    }
    ws.close(websocket::close_code::normal, ec);
  } catch (const beast::system_error& e) {
    if (e.code() == websocket::error::closed) return 0;  // the node closed the stream
    std::fprintf(stderr, "skein sub: %s: %s\n", options.url.c_str(), e.what());
    return 1;
  }
  return 0;
}

}  // namespace skein::cli
