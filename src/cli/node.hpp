// Node: one running Skein node, assembled from its parts in dependency order
// (DESIGN.md §5, §6): data directory, shards, router, cross-shard delivery,
// subscription writer, probes, streams, then the faces. start() starts the services in
// that order; stop() stops them in reverse, then the shards.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/node_config.hpp"
#include "core/authorizer.hpp"
#include "core/router.hpp"
#include "http/http_context.hpp"
#include "http/http_server.hpp"
#include "kafka/group_coordinator.hpp"
#include "kafka/kafka_context.hpp"
#include "kafka/kafka_server.hpp"
#include "kafka/offset_store.hpp"
#include "kafka/record_publisher.hpp"
#include "mesh/mesh_service.hpp"
#include "mqtt/mqtt_server.hpp"
#include "runtime/data_directory.hpp"
#include "runtime/loop_lag_probe.hpp"
#include "runtime/service.hpp"
#include "runtime/shard_mailbox.hpp"
#include "runtime/shard_pool.hpp"
#include "runtime/stream_attraction.hpp"
#include "runtime/stream_service.hpp"
#include "runtime/subscription_service.hpp"

namespace skein::cli {

class Node {
 public:
  explicit Node(NodeConfig config);
  ~Node();

  // Binds every listener and starts serving; throws std::runtime_error.
  void start();
  // Graceful: stop taking work, finish what is in flight (bounded by the
  // configured grace), end the shards. Idempotent.
  void stop();

  // {"http": "127.0.0.1:41234", ...}: one key per face that is on.
  std::string bound_addresses_json() const;
  // "0.0.0.0:8080" when the HTTP face is on.
  std::optional<std::string> http_address() const;
  std::optional<std::string> kafka_address() const;
  std::optional<std::string> mqtt_address() const;
  std::optional<std::string> mesh_address() const;

 private:
  NodeConfig config_;
  runtime::DataDirectory data_;
  // Constructed before, so destroyed after, everything that lives on a shard.
  runtime::ShardPool pool_;
  core::Router router_;
  runtime::ShardMailboxes mailboxes_;
  runtime::SubscriptionService subscriptions_;
  runtime::LoopLagProbe loop_lag_;
  runtime::StreamService streams_;
  runtime::StreamAttraction attraction_;
  kafka::OffsetStore offsets_;
  http::HttpContext http_context_;
  std::unique_ptr<http::HttpServer> http_;
  std::unique_ptr<kafka::GroupCoordinator> groups_;
  std::unique_ptr<kafka::RecordPublisher> publisher_;
  std::unique_ptr<kafka::KafkaContext> kafka_context_;
  std::unique_ptr<kafka::KafkaServer> kafka_;
  core::Authorizer authorizer_;
  std::unique_ptr<mqtt::MqttServer> mqtt_;
  std::unique_ptr<mesh::MeshService> mesh_;
  std::vector<runtime::Service*> started_;
  bool stopped_ = false;
};

}  // namespace skein::cli
