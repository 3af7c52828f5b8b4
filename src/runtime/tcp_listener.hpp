// TcpListener: the accepting half of every TCP face (HTTP, Kafka, later MQTT
// and the mesh). One acceptor on shard 0 hands each new connection to the
// next shard in round-robin order, where the face's `on_accept` takes it; the
// connection then lives on that shard until it closes. An accept error (out
// of file descriptors, most likely) is logged and retried after a pause
// rather than spun on.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "runtime/shard_pool.hpp"

namespace skein::runtime {

class TcpListener {
 public:
  using OnAccept = std::function<void(unsigned shard, asio::ip::tcp::socket socket)>;

  TcpListener(ShardPool& pool, std::string face, asio::ip::tcp::endpoint listen,
              OnAccept on_accept);

  // Binds and starts accepting; throws std::runtime_error naming the face and
  // the address when it cannot ("kafka: cannot listen on 0.0.0.0:9092: ...").
  void open();
  // Stops accepting (from any thread).
  void close();
  // The address actually bound: the real port when 0 was asked.
  asio::ip::tcp::endpoint bound() const { return bound_; }

 private:
  asio::awaitable<void> accept_loop();

  ShardPool& pool_;
  std::string face_;
  asio::ip::tcp::endpoint listen_, bound_;
  OnAccept on_accept_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;  // shard 0
};

}  // namespace skein::runtime
