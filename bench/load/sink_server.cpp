// The sink of the http_ws_load tool (--serve-sink): the least an HTTP-in,
// WebSocket-out broker could do, written to be cheap, to show the limit of
// the client harness and of HTTP/WebSocket framing on this machine. Every
// POST /v1/topics/<topic> is answered 202 and becomes one JSON text frame,
// shaped like skein's, sent to every connected WebSocket (GET /v1/subscribe,
// any filter). It parses every pipelined request already received before it
// answers them in one write, and sends a subscriber all its queued frames in
// one write (the frames are encoded once, by hand, after Beast's handshake).
// No routing, no limits, no slow-subscriber policy: a measuring stick.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

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

using Frame = std::shared_ptr<const std::string>;  // a whole WebSocket frame

// One WebSocket subscriber, after the handshake: frames queue up on its
// strand and one writer coroutine sends whatever has queued in one write.
class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  explicit Subscriber(websocket::stream<beast::tcp_stream> ws) : ws_(std::move(ws)) {}
  tcp::socket& socket() { return ws_.next_layer().socket(); }

  void deliver(Frame frame) {
    asio::post(socket().get_executor(), [self = shared_from_this(), frame = std::move(frame)] {
      if (self->closed_) return;
      self->queue_.append(*frame);
      if (self->writing_) return;
      self->writing_ = true;
      asio::co_spawn(self->socket().get_executor(), write_all(self), asio::detached);
    });
  }
  void close() { closed_ = true; }

 private:
  static asio::awaitable<void> write_all(std::shared_ptr<Subscriber> self) {
    while (!self->queue_.empty() && !self->closed_) {
      self->sending_.swap(self->queue_);
      auto [ec, n] = co_await asio::async_write(self->socket(), asio::buffer(self->sending_),
                                                as_tuple(use_awaitable));
      self->sending_.clear();
      if (ec) self->closed_ = true;
    }
    self->queue_.clear();
    self->writing_ = false;
  }

  websocket::stream<beast::tcp_stream> ws_;  // used for the handshake only
  std::string queue_, sending_;
  bool writing_ = false;
  bool closed_ = false;
};

struct Hub {
  std::mutex mutex;
  std::vector<std::shared_ptr<Subscriber>> subscribers;
  std::atomic<std::uint64_t> next_id{0};

  std::vector<std::shared_ptr<Subscriber>> snapshot() {
    std::lock_guard lock(mutex);
    return subscribers;
  }
  void add(std::shared_ptr<Subscriber> s) {
    std::lock_guard lock(mutex);
    subscribers.push_back(std::move(s));
  }
  void remove(const std::shared_ptr<Subscriber>& s) {
    std::lock_guard lock(mutex);
    std::erase(subscribers, s);
  }
};

// An unmasked, final text frame (server to client) holding the event's JSON.
Frame make_frame(std::string_view topic, std::uint64_t id, std::string_view payload) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  std::string json = "{\"id\":\"" + std::to_string(id) + "\",\"origin\":\"sink\",\"payload\":\"";
  json += payload;  // this tool's payloads need no escaping
  json += "\",\"timestamp\":" + std::to_string(ms) + ",\"topic\":\"";
  json += topic;
  json += "\"}";
  std::string frame;
  frame.reserve(json.size() + 10);
  frame += static_cast<char>(0x81);
  const auto n = json.size();
  if (n < 126) {
    frame += static_cast<char>(n);
  } else if (n < 65536) {
    frame += static_cast<char>(126);
    frame += static_cast<char>(n >> 8);
    frame += static_cast<char>(n & 0xff);
  } else {
    frame += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>((n >> shift) & 0xff);
  }
  frame += json;
  return std::make_shared<const std::string>(std::move(frame));
}

asio::awaitable<void> serve_subscriber(Hub& hub, beast::tcp_stream stream,
                                       http::request<http::string_body> upgrade) {
  websocket::stream<beast::tcp_stream> ws(std::move(stream));
  auto [ec] = co_await ws.async_accept(upgrade, as_tuple(use_awaitable));
  if (ec) co_return;
  auto subscriber = std::make_shared<Subscriber>(std::move(ws));
  hub.add(subscriber);
  // Whatever the client sends (nothing, or a close) is read and dropped.
  char scratch[4096];
  for (;;) {
    auto [rec, n] = co_await subscriber->socket().async_read_some(asio::buffer(scratch),
                                                                  as_tuple(use_awaitable));
    if (rec) break;
  }
  hub.remove(subscriber);
  subscriber->close();
}

// Appends the answer to `request` to `out`.
void answer(Hub& hub, const http::request<http::string_body>& request, std::string& out) {
  constexpr std::string_view kTopics = "/v1/topics/";
  const std::string_view target = request.target();
  if (request.method() != http::verb::post || !target.starts_with(kTopics)) {
    out += "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    return;
  }
  const auto topic = target.substr(kTopics.size());
  const auto id = hub.next_id.fetch_add(1) + 1;
  const auto frame = make_frame(topic, id, request.body());
  const auto subscribers = hub.snapshot();
  for (const auto& s : subscribers) s->deliver(frame);
  const std::string body = "{\"id\":\"" + std::to_string(id) +
                           "\",\"subscribers\":" + std::to_string(subscribers.size()) +
                           ",\"topic\":\"" + std::string(topic) + "\"}";
  out += "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  out += body;
}

asio::awaitable<void> serve_connection(Hub& hub, tcp::socket socket) {
  socket.set_option(tcp::no_delay(true));
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  std::string out;
  for (;;) {
    // Every complete request in the buffer, then one write of the answers.
    for (;;) {
      if (!parser) {
        parser.emplace();
        parser->eager(true);
        parser->body_limit(1 << 20);
      }
      beast::error_code ec;
      const auto used = parser->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) co_return;
      if (!parser->is_done()) {
        if (used == 0) break;
        continue;
      }
      auto request = parser->release();
      parser.reset();
      if (websocket::is_upgrade(request)) {
        co_await serve_subscriber(hub, std::move(stream), std::move(request));
        co_return;
      }
      answer(hub, request, out);
    }
    if (!out.empty()) {
      auto [ec, n] =
          co_await asio::async_write(stream.socket(), asio::buffer(out), as_tuple(use_awaitable));
      if (ec) co_return;
      out.clear();
    }
    auto [ec, n] = co_await stream.socket().async_read_some(buffer.prepare(64 * 1024),
                                                            as_tuple(use_awaitable));
    if (ec) co_return;
    buffer.commit(n);
  }
}

asio::awaitable<void> accept_loop(Hub& hub, tcp::acceptor& acceptor, asio::io_context& ioc) {
  for (;;) {
    tcp::socket socket(asio::make_strand(ioc));
    auto [ec] = co_await acceptor.async_accept(socket, as_tuple(use_awaitable));
    if (ec) co_return;
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve_connection(hub, std::move(socket)), asio::detached);
  }
}

}  // namespace

int serve_sink(const Options& options) {
  asio::io_context ioc(options.threads);
  tcp::acceptor acceptor(ioc,
                         tcp::endpoint(asio::ip::make_address("127.0.0.1"), *options.serve_sink));
  const auto port = acceptor.local_endpoint().port();
  if (!options.ready_file.empty()) {
    const std::string temp = options.ready_file + ".tmp";
    std::ofstream(temp) << "{\"http\":\"127.0.0.1:" << port << "\"}\n";
    std::rename(temp.c_str(), options.ready_file.c_str());
  }
  std::cerr << "sink listening on 127.0.0.1:" << port << "\n";
  Hub hub;
  asio::co_spawn(ioc, accept_loop(hub, acceptor, ioc), asio::detached);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { ioc.stop(); });
  std::vector<std::thread> threads;
  for (int i = 1; i < options.threads; ++i) threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace skein::bench
