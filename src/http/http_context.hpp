// What every HTTP handler may use: the node's shards, router and subscription
// service, the limits from configuration, and the HTTP face's own counters.
// One HttpContext per node, shared by all shards (it holds only references,
// settings fixed at start, and atomics).
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/destination.hpp"
#include "core/router.hpp"
#include "http/http_settings.hpp"
#include "runtime/byte_stream.hpp"
#include "runtime/loop_lag_probe.hpp"
#include "runtime/prometheus_text.hpp"
#include "runtime/shard_pool.hpp"
#include "runtime/subscription_service.hpp"

namespace skein::runtime {
class StreamService;
class StreamAttraction;
}  // namespace skein::runtime

namespace skein::http {

struct HttpCounters {
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> subscribers_open{0};
  // Responses by status class: index 1 = 1xx ... 5 = 5xx.
  std::array<std::atomic<std::uint64_t>, 6> responses{};

  void count_response(unsigned status) {
    responses[status / 100 < 6 ? status / 100 : 0].fetch_add(1, std::memory_order_relaxed);
  }
};

struct HttpContext {
  runtime::ShardPool& pool;
  core::Router& router;
  runtime::SubscriptionService& subscriptions;
  runtime::LoopLagProbe& loop_lag;
  HttpSettings settings;
  HttpCounters counters;
  std::atomic<bool> ready{false};     // /readyz: listening and not draining
  std::atomic<bool> draining{false};  // shutting down: finish, take nothing new
  // The node's streams and their attraction; null on a node without them.
  runtime::StreamService* streams = nullptr;
  runtime::StreamAttraction* attraction = nullptr;
  // Takes an MQTT-over-WebSocket stream (the MQTT face); empty when off.
  std::function<void(unsigned shard, runtime::ByteStreamPtr stream)> mqtt_websocket;
  // GET /v1/mesh: the mesh's state as JSON (set by the node).
  std::function<boost::asio::awaitable<std::string>()> mesh_status;
  // The other faces' figures for /metrics, set before the node starts.
  std::vector<runtime::MetricSource> metric_sources;
};

}  // namespace skein::http
