// Accepting, spreading connections over shards, and draining on stop.
#include "http/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <thread>

#include "http/http_connection.hpp"

namespace skein::http {

namespace asio = boost::asio;
using asio::ip::tcp;

HttpServer::HttpServer(HttpContext& context, tcp::endpoint listen)
    : context_(context), listen_(listen), connections_(context.pool.size()) {}

HttpServer::~HttpServer() = default;

void HttpServer::start() {
  acceptor_ = std::make_unique<tcp::acceptor>(context_.pool.context(0));
  beast::error_code ec;
  acceptor_->open(listen_.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(listen_, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("http: cannot listen on " + listen_.address().to_string() + ":" +
                             std::to_string(listen_.port()) + ": " + ec.message());
  }
  bound_ = acceptor_->local_endpoint();
  asio::co_spawn(context_.pool.executor(0), accept_loop(), asio::detached);
  context_.ready.store(true);
}

asio::awaitable<void> HttpServer::accept_loop() {
  asio::steady_timer backoff(context_.pool.executor(0));
  while (acceptor_->is_open()) {
    const unsigned shard = context_.pool.next_shard();
    auto [ec, socket] = co_await acceptor_->async_accept(context_.pool.context(shard),
                                                         asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) break;
    if (ec) {
      // Out of file descriptors, most likely: wait rather than spin.
      spdlog::warn("http: accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(context_.pool.executor(shard), run_connection(this, shard, std::move(socket)),
                   asio::detached);
  }
}

asio::awaitable<void> HttpServer::run_connection(HttpServer* server, unsigned shard,
                                                 tcp::socket socket) {
  HttpContext& context = server->context_;
  context.counters.connections_open.fetch_add(1, std::memory_order_relaxed);
  context.counters.connections_total.fetch_add(1, std::memory_order_relaxed);
  HttpConnection connection(context, shard, std::move(socket));
  server->connections_[shard].insert(&connection);
  if (context.draining.load()) connection.request_stop();
  try {
    co_await connection.run();
  } catch (const std::exception& e) {
    spdlog::error("http: connection on shard {} failed: {}", shard, e.what());
  }
  server->connections_[shard].erase(&connection);
  context.counters.connections_open.fetch_sub(1, std::memory_order_relaxed);
}

void HttpServer::stop_connections(bool streams) {
  for (unsigned shard = 0; shard < context_.pool.size(); ++shard) {
    asio::post(context_.pool.executor(shard), [this, shard, streams] {
      for (HttpConnection* connection : connections_[shard])
        if (connection->streaming() == streams) connection->request_stop();
    });
  }
}

// The shards do the work; this thread only watches the counts fall.
void HttpServer::wait_until(const std::function<bool()>& done,
                            std::chrono::steady_clock::time_point deadline) {
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void HttpServer::stop(std::chrono::steady_clock::time_point deadline) {
  context_.ready.store(false);
  context_.draining.store(true);
  if (!acceptor_) return;
  asio::post(context_.pool.executor(0), [this] {
    beast::error_code ignored;
    acceptor_->close(ignored);
  });
  // Requests first, streams second: an event published by a request still in
  // flight reaches the subscribers that were there when it was accepted.
  stop_connections(/*streams=*/false);
  auto& counters = context_.counters;
  wait_until([&] { return counters.connections_open.load() <= counters.subscribers_open.load(); },
             deadline);
  stop_connections(/*streams=*/true);
  wait_until([&] { return counters.connections_open.load() == 0; }, deadline);
  if (auto left = counters.connections_open.load()) {
    spdlog::warn("http: {} connection(s) still open at the shutdown deadline", left);
  }
}

}  // namespace skein::http
