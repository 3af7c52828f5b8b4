// HttpServer: the HTTP face (DESIGN.md §6) as a node service. Its listener
// (runtime/tcp_listener.hpp) hands each new connection to the next shard in
// turn; the connection then lives there until it closes. stop() closes the acceptor, asks the
// request connections to finish, then the streams (so that an event accepted
// during the drain still reaches them), and waits for both until a deadline.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "http/http_context.hpp"
#include "runtime/service.hpp"
#include "runtime/tcp_listener.hpp"

namespace skein::http {

class HttpConnection;

class HttpServer final : public runtime::Service {
 public:
  HttpServer(HttpContext& context, boost::asio::ip::tcp::endpoint listen);
  ~HttpServer() override;

  std::string_view name() const override { return "http"; }
  void start() override;
  void stop(std::chrono::steady_clock::time_point deadline) override;

  // The address actually bound (its port is the real one when 0 was asked).
  boost::asio::ip::tcp::endpoint bound() const { return bound_; }

 private:
  // Asks either the streaming connections or the others to finish.
  void stop_connections(bool streams);
  static void wait_until(const std::function<bool()>& done,
                         std::chrono::steady_clock::time_point deadline);
  static boost::asio::awaitable<void> run_connection(HttpServer* server, unsigned shard,
                                                     boost::asio::ip::tcp::socket socket);

  HttpContext& context_;
  boost::asio::ip::tcp::endpoint listen_;
  boost::asio::ip::tcp::endpoint bound_;
  std::unique_ptr<runtime::TcpListener> listener_;
  // Per shard, touched only on that shard: the connections living there.
  std::vector<std::unordered_set<HttpConnection*>> connections_;
};

}  // namespace skein::http
