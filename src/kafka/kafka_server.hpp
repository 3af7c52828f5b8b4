// KafkaServer: the Kafka face (DESIGN.md §6) as a node service. Its listener
// hands each connection to a shard, where a KafkaConnection serves it until
// it closes. stop() stops accepting and asks every connection to finish the
// request it is serving and close, waiting until a deadline.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <unordered_set>
#include <vector>

#include "kafka/kafka_context.hpp"
#include "runtime/service.hpp"
#include "runtime/tcp_listener.hpp"

namespace skein::kafka {

class KafkaConnection;

class KafkaServer final : public runtime::Service {
 public:
  KafkaServer(KafkaContext& context, boost::asio::ip::tcp::endpoint listen);
  ~KafkaServer() override;

  std::string_view name() const override { return "kafka"; }
  void start() override;
  void stop(std::chrono::steady_clock::time_point deadline) override;
  boost::asio::ip::tcp::endpoint bound() const { return bound_; }

 private:
  static boost::asio::awaitable<void> run_connection(KafkaServer* server, unsigned shard,
                                                     boost::asio::ip::tcp::socket socket);

  KafkaContext& context_;
  boost::asio::ip::tcp::endpoint listen_, bound_;
  std::unique_ptr<runtime::TcpListener> listener_;
  // Per shard, touched only on that shard.
  std::vector<std::unordered_set<KafkaConnection*>> connections_;
};

}  // namespace skein::kafka
