// MqttServer: the MQTT face (DESIGN.md §6) as a node service. It owns the
// face's shared state (session registries, the session and retained
// stores, shared subscription groups), restores stored sessions at start,
// accepts TCP connections (mqtt.listen) and takes MQTT-over-WebSocket
// streams from the HTTP face (adopt). stop() tells every client (v5:
// DISCONNECT 0x8B), waits for the connections to close, and flushes the
// session store.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>

#include "mqtt/mqtt_context.hpp"
#include "mqtt/retained_store.hpp"
#include "mqtt/session_store.hpp"
#include "mqtt/shared_groups.hpp"
#include "runtime/byte_stream.hpp"
#include "runtime/service.hpp"
#include "runtime/stream_service.hpp"
#include "runtime/tcp_listener.hpp"

namespace skein::mqtt {

class MqttServer final : public runtime::Service {
 public:
  // `listen` empty: no TCP listener (WebSocket only).
  MqttServer(runtime::ShardPool& pool, core::Router& router,
             runtime::SubscriptionService& subscriptions, runtime::StreamService& streams,
             const core::Authorizer& authorizer, MqttSettings settings, std::size_t max_event_bytes,
             std::optional<boost::asio::ip::tcp::endpoint> listen);
  ~MqttServer() override;

  // Reads the stored sessions and retained messages: after
  // StreamService::open, before the shards run.
  void load();

  std::string_view name() const override { return "mqtt"; }
  void start() override;
  void stop(std::chrono::steady_clock::time_point deadline) override;

  std::optional<boost::asio::ip::tcp::endpoint> bound() const { return bound_; }

  // A stream that speaks MQTT (a WebSocket of the HTTP face), on `shard`.
  void adopt(unsigned shard, runtime::ByteStreamPtr stream);

  const MqttCounters& counters() const { return context_.counters; }
  // The face's figures in Prometheus text (skein_mqtt_*); any thread.
  void render_metrics(std::string& out) const;
  std::size_t retained_count() const { return retained_.size(); }
  std::size_t shared_group_count() const { return shared_.size(); }

 private:
  void restore_sessions();

  runtime::ShardPool& pool_;
  SessionStore store_;
  RetainedStore retained_;
  MqttContext context_;
  SharedGroups shared_;
  std::optional<boost::asio::ip::tcp::endpoint> listen_, bound_;
  std::unique_ptr<runtime::TcpListener> listener_;
  std::map<std::string, StoredSession> stored_;  // from load() until start()
};

}  // namespace skein::mqtt
