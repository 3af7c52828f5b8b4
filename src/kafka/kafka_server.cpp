// Serving accepted Kafka connections and draining them (kafka_server.hpp).
#include "kafka/kafka_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/host_name.hpp>
#include <boost/asio/post.hpp>
#include <thread>

#include "kafka/kafka_connection.hpp"

namespace skein::kafka {

namespace asio = boost::asio;
using asio::ip::tcp;

KafkaServer::KafkaServer(KafkaContext& context, tcp::endpoint listen)
    : context_(context), listen_(listen), connections_(context.pool.size()) {}

KafkaServer::~KafkaServer() = default;

void KafkaServer::start() {
  listener_ = std::make_unique<runtime::TcpListener>(
      context_.pool, "kafka", listen_, [this](unsigned shard, tcp::socket socket) {
        asio::co_spawn(context_.pool.executor(shard),
                       run_connection(this, shard, std::move(socket)), asio::detached);
      });
  listener_->open();
  bound_ = listener_->bound();
  KafkaSettings& s = context_.settings;
  if (s.advertised_host.empty()) {
    // A wildcard bind cannot be advertised: clients need a name to dial.
    s.advertised_host =
        bound_.address().is_unspecified() ? asio::ip::host_name() : bound_.address().to_string();
    s.advertised_port = bound_.port();
  }
}

asio::awaitable<void> KafkaServer::run_connection(KafkaServer* server, unsigned shard,
                                                  tcp::socket socket) {
  KafkaContext& context = server->context_;
  context.connections_open.fetch_add(1);
  {
    KafkaConnection connection(context, shard, std::move(socket));
    server->connections_[shard].insert(&connection);
    if (context.draining.load()) connection.request_stop();
    try {
      co_await connection.run();
    } catch (const std::exception& e) {
      spdlog::error("kafka: connection on shard {} failed: {}", shard, e.what());
    }
    server->connections_[shard].erase(&connection);
  }
  context.connections_open.fetch_sub(1);
}

void KafkaServer::stop(std::chrono::steady_clock::time_point deadline) {
  context_.draining.store(true);
  if (!listener_) return;
  listener_->close();
  for (unsigned shard = 0; shard < context_.pool.size(); ++shard) {
    asio::post(context_.pool.executor(shard), [this, shard] {
      for (KafkaConnection* connection : connections_[shard]) connection->request_stop();
    });
  }
  // The shards do the work; this thread only watches the count fall.
  while (context_.connections_open.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (auto left = context_.connections_open.load())
    spdlog::warn("kafka: {} connection(s) still open at the shutdown deadline", left);
}

}  // namespace skein::kafka
