// Serving connections the listener accepts, and draining them on stop.
#include "http/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
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
  listener_ = std::make_unique<runtime::TcpListener>(
      context_.pool, "http", listen_, [this](unsigned shard, tcp::socket socket) {
        asio::co_spawn(context_.pool.executor(shard),
                       run_connection(this, shard, std::move(socket)), asio::detached);
      });
  listener_->open();
  bound_ = listener_->bound();
  context_.ready.store(true);
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
  if (!listener_) return;
  listener_->close();
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
