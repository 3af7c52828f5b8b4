// What every part of the MQTT face shares: the node's services, the settings,
// the per-shard session registries and the face's counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/authorizer.hpp"
#include "core/router.hpp"
#include "mqtt/mqtt_settings.hpp"
#include "runtime/deadline_wheel.hpp"
#include "runtime/shard_pool.hpp"
#include "runtime/slab_pool.hpp"
#include "runtime/subscription_service.hpp"

namespace skein::mqtt {

class Session;
class MqttConnection;
class SessionStore;
class RetainedStore;
class SharedGroups;

// Relaxed atomics: written on any shard, read by /metrics.
struct MqttCounters {
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> sessions{0};
  std::atomic<std::uint64_t> received{0};  // PUBLISH packets from clients
  std::atomic<std::uint64_t> sent{0};      // PUBLISH packets to clients
  std::atomic<std::uint64_t> dropped_queue_full{0};
  std::atomic<std::uint64_t> dropped_expired{0};
  std::atomic<std::uint64_t> dropped_too_large{0};  // over the client's maximum packet size
  std::atomic<std::uint64_t> dropped_offline_qos0{0};
  std::atomic<std::uint64_t> protocol_errors{0};  // connections closed for bad input
};

struct MqttContext {
  runtime::ShardPool& pool;
  core::Router& router;
  runtime::SubscriptionService& subscriptions;
  const core::Authorizer& authorizer;
  SessionStore& store;
  RetainedStore& retained;
  SharedGroups& shared;
  MqttSettings settings;
  std::size_t max_event_bytes = 1024 * 1024;

  // Per shard: the sessions whose home it is, by client id. Touched only there.
  // Keys view the session's own client id (no copy per session).
  // Nodes come from a slab (one per device: no malloc header each).
  using SessionRegistry = std::unordered_map<
      std::string_view, std::shared_ptr<Session>, std::hash<std::string_view>,
      std::equal_to<std::string_view>,
      runtime::SlabAllocator<std::pair<const std::string_view, std::shared_ptr<Session>>>>;
  std::vector<SessionRegistry> sessions;
  // Per shard: its connections, by keep-alive deadline (and listed for
  // shutdown). Touched only there.
  std::vector<std::unique_ptr<runtime::DeadlineWheel>> connections;
  MqttCounters counters;
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> next_session_id{1};

  // The home shard of a client id's session: every connection with that id
  // is served there, so takeover and resumption never cross shards.
  unsigned shard_of(std::string_view client_id) const {
    return static_cast<unsigned>(std::hash<std::string_view>{}(client_id) % pool.size());
  }
};

inline void count(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace skein::mqtt
