// The HTTP side of the http_ws_load tool, used against skein and the sink:
// HTTP/1.1 publishers that pipeline POST /v1/topics/bench/<p> with a window,
// and WebSocket subscribers on GET /v1/subscribe?filter=bench/> that count
// the JSON frames and check that ids grow per publisher topic.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket.hpp>

#include "harness.hpp"

namespace skein::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

// The value of the JSON string member `name` in `json`, assuming no escapes
// (true of the frames this tool causes: its topics and ids are plain).
std::string_view json_string(std::string_view json, std::string_view name) {
  std::string key;
  key.reserve(name.size() + 4);
  key += '"';
  key += name;
  key += "\":\"";
  const auto at = json.find(key);
  if (at == std::string_view::npos) return {};
  const auto begin = at + key.size();
  const auto end = json.find('"', begin);
  if (end == std::string_view::npos) return {};
  return json.substr(begin, end - begin);
}

std::string post_request(const Run& run, std::string_view topic) {
  const auto& e = run.options.http;
  std::string r = "POST /v1/topics/";
  r += topic;
  r += " HTTP/1.1\r\nHost: " + e.host + ":" + e.port;
  r += "\r\nContent-Type: text/plain\r\nContent-Length: ";
  r += std::to_string(run.payload.size());
  r += "\r\n\r\n";
  r += run.payload;
  return r;
}

// Reads one response; returns its status, or 0 on a read error (in `error`).
asio::awaitable<unsigned> read_status(tcp::socket& socket, beast::flat_buffer& buffer,
                                      std::string& error) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  auto [ec, n] = co_await http::async_read(socket, buffer, parser, as_tuple(use_awaitable));
  if (ec) {
    error = "read response: " + ec.message();
    co_return 0;
  }
  co_return parser.get().result_int();
}

}  // namespace

asio::awaitable<void> ws_json_subscriber(Run& run, std::size_t index) {
  auto& tally = run.subscribers[index];
  const auto& e = run.options.http;
  websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
  if (auto error = co_await connect(beast::get_lowest_layer(ws).socket(), e); !error.empty()) {
    run.fail_subscriber(index, error);
    co_return;
  }
  ws.read_message_max(1 << 20);
  auto [hec] = co_await ws.async_handshake(
      e.host + ":" + e.port, "/v1/subscribe?filter=bench%2F%3E", as_tuple(use_awaitable));
  if (hec) {
    run.fail_subscriber(index, "websocket handshake: " + hec.message());
    co_return;
  }
  tally.connected.store(true);
  const auto expected = run.options.events;
  const auto publishers = static_cast<std::size_t>(run.options.publishers);
  beast::flat_buffer buffer;
  while (!run.stopping.load(std::memory_order_relaxed)) {
    auto [ec, n] = co_await ws.async_read(buffer, as_tuple(use_awaitable));
    if (ec) {
      run.fail_subscriber(
          index,
          "websocket read after " + std::to_string(tally.received.load()) +
              " events: " + ec.message() +
              (ec == websocket::error::closed
                   ? " (close code " + std::to_string(ws.reason().code) + " \"" +
                         std::string(ws.reason().reason.data(), ws.reason().reason.size()) + "\")"
                   : std::string()));
      co_return;
    }
    const std::string_view frame(static_cast<const char*>(buffer.data().data()),
                                 buffer.data().size());
    const int p = publisher_of(json_string(frame, "topic"));
    if (p == -1) {
      tally.probed.store(true);
    } else if (auto id = parse_u64(json_string(frame, "id")); p >= 0 && id) {
      if (tally.count(p, *id, expected, publishers)) co_return;
    } else {
      ++tally.unknown;
    }
    buffer.consume(buffer.size());
  }
}

asio::awaitable<void> http_publisher(Run& run, std::size_t index) {
  auto& tally = run.publishers[index];
  tcp::socket socket(co_await asio::this_coro::executor);
  if (auto error = co_await connect(socket, run.options.http); !error.empty()) {
    run.fail_publisher(index, error);
    co_return;
  }
  // Every request of a publisher is the same bytes: a window of them is
  // prepared once and sent as one slice, so the client costs little.
  const std::string request = post_request(run, "bench/" + std::to_string(index));
  const std::size_t window = run.options.window;
  std::string batch;
  batch.reserve(request.size() * window);
  for (std::size_t i = 0; i < window; ++i) batch += request;

  const std::uint64_t total = events_for(run.options, static_cast<int>(index));
  std::uint64_t sent = 0, acked = 0;
  beast::flat_buffer buffer;
  std::string error;
  while (acked < total && !run.stopping.load(std::memory_order_relaxed)) {
    const std::uint64_t in_flight = sent - acked;
    if (sent < total && in_flight <= window / 2) {
      const auto k = std::min<std::uint64_t>(window - in_flight, total - sent);
      auto [ec, n] = co_await asio::async_write(
          socket, asio::buffer(batch.data(), k * request.size()), as_tuple(use_awaitable));
      if (ec) {
        run.fail_publisher(index, "write after " + std::to_string(acked) + ": " + ec.message());
        co_return;
      }
      sent += k;
    }
    const unsigned status = co_await read_status(socket, buffer, error);
    if (status == 0) {
      run.fail_publisher(index, error + " after " + std::to_string(acked) + " responses");
      co_return;
    }
    if (status != 202) {
      ++tally.bad_status;
      run.fail_publisher(index, "got status " + std::to_string(status) + " instead of 202");
    }
    tally.acked.store(++acked, std::memory_order_relaxed);
  }
  tally.finished = Clock::now();
  tally.done.store(true);
}

asio::awaitable<void> http_prober(Run& run) {
  tcp::socket socket(co_await asio::this_coro::executor);
  if (auto error = co_await connect(socket, run.options.http); !error.empty()) co_return;
  const std::string request = post_request(run, "bench/probe");
  asio::steady_timer timer(socket.get_executor());
  beast::flat_buffer buffer;
  std::string error;
  while (!run.probe_done.load() && !run.stopping.load()) {
    auto [ec, n] =
        co_await asio::async_write(socket, asio::buffer(request), as_tuple(use_awaitable));
    if (ec || co_await read_status(socket, buffer, error) == 0) co_return;
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(as_tuple(use_awaitable));
  }
}

}  // namespace skein::bench
