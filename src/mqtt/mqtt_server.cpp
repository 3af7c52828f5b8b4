// Starting, serving and stopping the MQTT face (mqtt_server.hpp).
#include "mqtt/mqtt_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <thread>

#include "mqtt/mqtt_connection.hpp"
#include "mqtt/session.hpp"
#include "runtime/prometheus_text.hpp"
#include "runtime/slab_pool.hpp"
#include "runtime/tcp_byte_stream.hpp"

namespace skein::mqtt {

namespace asio = boost::asio;
using asio::ip::tcp;

MqttServer::MqttServer(runtime::ShardPool& pool, core::Router& router,
                       runtime::SubscriptionService& subscriptions, runtime::StreamService& streams,
                       const core::Authorizer& authorizer, MqttSettings settings,
                       std::size_t max_event_bytes, std::optional<tcp::endpoint> listen)
    : pool_(pool),
      store_(pool, streams),
      retained_(streams),
      context_{pool, router, subscriptions, authorizer, store_, retained_, shared_, settings},
      shared_(context_),
      listen_(listen) {
  context_.max_event_bytes = max_event_bytes;
  // A packet the node announces it takes must fit an event: the node's
  // largest event bounds the packet (and so every payload in it).
  context_.settings.max_packet_size = std::min(context_.settings.max_packet_size, max_event_bytes);
  context_.sessions.resize(pool.size());
  // Keep alive is checked to a quarter second; a lap of 1024 slots is 256 s.
  for (unsigned shard = 0; shard < pool.size(); ++shard)
    context_.connections.push_back(std::make_unique<runtime::DeadlineWheel>(
        pool.context(shard), std::chrono::milliseconds(250), 1024,
        &MqttConnection::on_keep_alive_deadline));
}

MqttServer::~MqttServer() = default;

void MqttServer::load() {
  stored_ = store_.load();
  retained_.load();
}

void MqttServer::restore_sessions() {
  if (stored_.empty()) return;
  // Each session is rebuilt on its home shard; the listener opens after.
  std::vector<std::future<void>> done;
  for (auto& [client_id, stored] : stored_) {
    auto promise = std::make_shared<std::promise<void>>();
    done.push_back(promise->get_future());
    const unsigned shard = context_.shard_of(client_id);
    asio::co_spawn(
        pool_.executor(shard),
        [](MqttContext& context, unsigned shard, StoredSession stored) -> asio::awaitable<void> {
          auto session = std::allocate_shared<Session>(runtime::SlabAllocator<Session>(), context,
                                                       shard, stored.client_id);
          context.sessions[shard].emplace(session->client_id(), session);
          co_await session->restore(std::move(stored));
        }(context_, shard, std::move(stored)),
        [promise](std::exception_ptr e) {
          if (e)
            promise->set_exception(e);
          else
            promise->set_value();
        });
  }
  for (auto& f : done) f.get();
  spdlog::info("mqtt: {} stored session(s) restored, {} retained message(s)", stored_.size(),
               retained_.size());
  stored_.clear();
}

void MqttServer::start() {
  restore_sessions();
  if (!listen_) return;
  listener_ = std::make_unique<runtime::TcpListener>(
      pool_, "mqtt", *listen_, [this](unsigned shard, tcp::socket socket) {
        // The stream joins its shard's poller later, from that shard's thread.
        try {
          adopt(shard, std::make_unique<runtime::TcpByteStream>(std::move(socket)));
        } catch (const std::exception& e) {
          spdlog::warn("mqtt: connection refused: {}", e.what());
        }
      });
  listener_->open();
  bound_ = listener_->bound();
}

void MqttServer::adopt(unsigned shard, runtime::ByteStreamPtr stream) {
  if (context_.draining.load()) {
    stream->close();
    return;
  }
  asio::co_spawn(pool_.executor(shard), serve_mqtt(context_, shard, std::move(stream)),
                 [](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& error) {
                     spdlog::error("mqtt: connection failed: {}", error.what());
                   }
                 });
}

void MqttServer::render_metrics(std::string& out) const {
  using runtime::metric;
  const MqttCounters& c = context_.counters;
  auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  metric(out, "skein_mqtt_connections", "gauge", "Open MQTT connections (TCP and WebSocket).",
         get(c.connections_open));
  metric(out, "skein_mqtt_connections_total", "counter", "MQTT connections accepted.",
         get(c.connections_total));
  metric(out, "skein_mqtt_sessions", "gauge", "MQTT sessions, connected or not.", get(c.sessions));
  metric(out, "skein_mqtt_publish_received_total", "counter",
         "PUBLISH packets received from MQTT clients.", get(c.received));
  metric(out, "skein_mqtt_publish_sent_total", "counter", "PUBLISH packets sent to MQTT clients.",
         get(c.sent));
  runtime::metric_family(out, "skein_mqtt_dropped_total", "counter",
                         "Messages an MQTT session dropped, by reason.");
  runtime::metric_sample(out, "skein_mqtt_dropped_total", "reason=\"queue_full\"",
                         get(c.dropped_queue_full));
  runtime::metric_sample(out, "skein_mqtt_dropped_total", "reason=\"expired\"",
                         get(c.dropped_expired));
  runtime::metric_sample(out, "skein_mqtt_dropped_total", "reason=\"too_large\"",
                         get(c.dropped_too_large));
  runtime::metric_sample(out, "skein_mqtt_dropped_total", "reason=\"offline_qos0\"",
                         get(c.dropped_offline_qos0));
  metric(out, "skein_mqtt_protocol_errors_total", "counter",
         "MQTT connections closed for malformed packets or protocol violations.",
         get(c.protocol_errors));
  metric(out, "skein_mqtt_retained_messages", "gauge", "Retained messages kept.", retained_.size());
  metric(out, "skein_mqtt_shared_groups", "gauge", "Shared subscription groups.", shared_.size());
  metric(out, "skein_mqtt_store_failures_total", "counter",
         "Session store appends that failed (their publishers were refused).",
         store_.failed_writes());
}

void MqttServer::stop(std::chrono::steady_clock::time_point deadline) {
  context_.draining.store(true);
  if (listener_) listener_->close();
  for (unsigned shard = 0; shard < pool_.size(); ++shard) {
    asio::post(pool_.executor(shard), [this, shard] {
      context_.connections[shard]->for_each([](runtime::DeadlineWheel::Entry& entry) {
        static_cast<MqttConnection&>(entry).request_stop();
      });
    });
  }
  // The shards do the work; this thread only watches the count fall.
  while (context_.counters.connections_open.load() > 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (auto left = context_.counters.connections_open.load())
    spdlog::warn("mqtt: {} connection(s) still open at the shutdown deadline", left);
  // What the sessions wrote on the way out is durable before the shards stop.
  std::vector<std::future<void>> flushed;
  for (unsigned shard = 0; shard < pool_.size(); ++shard) {
    auto promise = std::make_shared<std::promise<void>>();
    flushed.push_back(promise->get_future());
    asio::co_spawn(pool_.executor(shard), store_.flush(shard),
                   [promise](std::exception_ptr) { promise->set_value(); });
  }
  for (auto& f : flushed) {
    if (f.wait_until(deadline + std::chrono::seconds(5)) != std::future_status::ready)
      spdlog::warn("mqtt: the session store did not flush before the deadline");
  }
}

}  // namespace skein::mqtt
