// Binding, accepting, and spreading connections over shards (tcp_listener.hpp).
#include "runtime/tcp_listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

namespace skein::runtime {

using asio::ip::tcp;

TcpListener::TcpListener(ShardPool& pool, std::string face, tcp::endpoint listen,
                         OnAccept on_accept)
    : pool_(pool), face_(std::move(face)), listen_(listen), on_accept_(std::move(on_accept)) {}

void TcpListener::open() {
  acceptor_ = std::make_unique<tcp::acceptor>(pool_.context(0));
  boost::system::error_code ec;
  acceptor_->open(listen_.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(listen_, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error(face_ + ": cannot listen on " + listen_.address().to_string() + ":" +
                             std::to_string(listen_.port()) + ": " + ec.message());
  }
  bound_ = acceptor_->local_endpoint();
  asio::co_spawn(pool_.executor(0), accept_loop(), asio::detached);
}

void TcpListener::close() {
  if (!acceptor_) return;
  asio::post(pool_.executor(0), [this] {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
  });
}

asio::awaitable<void> TcpListener::accept_loop() {
  asio::steady_timer backoff(pool_.executor(0));
  while (acceptor_->is_open()) {
    const unsigned shard = pool_.next_shard();
    auto [ec, socket] =
        co_await acceptor_->async_accept(pool_.context(shard), asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) break;
    if (ec) {
      spdlog::warn("{}: accept failed: {}", face_, ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    on_accept_(shard, std::move(socket));
  }
}

}  // namespace skein::runtime
