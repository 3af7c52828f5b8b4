// Assembling, starting and stopping a node.
#include "cli/node.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cli/listen_address.hpp"
#include "runtime/prometheus_text.hpp"

namespace skein::cli {

namespace {
http::HttpSettings http_settings(const NodeConfig& config) {
  http::HttpSettings s;
  s.max_event_bytes = config.max_event_bytes;
  s.idle_timeout = config.http_idle_timeout;
  s.persistent_timeout = config.http_persistent_timeout;
  storage::parse_fsync_policy(config.stream_fsync, s.default_fsync);
  s.subscriber_queue = config.subscriber_queue;
  s.slow_policy = config.slow_policy;
  return s;
}
kafka::KafkaSettings kafka_settings(const NodeConfig& config) {
  kafka::KafkaSettings s;
  if (!config.kafka_advertised.empty()) {
    const auto colon = config.kafka_advertised.rfind(':');
    if (colon == std::string::npos)
      throw std::runtime_error("kafka.advertised: expected HOST:PORT, not " +
                               config.kafka_advertised);
    s.advertised_host = config.kafka_advertised.substr(0, colon);
    s.advertised_port = std::stoi(config.kafka_advertised.substr(colon + 1));
  }
  s.auto_create = config.kafka_auto_create;
  s.default_partitions = config.kafka_default_partitions;
  s.max_request_bytes = config.kafka_max_request_bytes;
  storage::parse_fsync_policy(config.stream_fsync, s.default_fsync);
  return s;
}
}  // namespace

Node::Node(NodeConfig config)
    : config_(std::move(config)),
      data_(config_.data_dir),
      pool_(config_.shards),
      router_(config_.node_name, pool_.size(), config_.match_cache_entries,
              data_.next_incarnation()),
      mailboxes_(pool_, router_),
      subscriptions_(pool_, router_),
      loop_lag_(pool_),
      streams_(pool_, {data_.path(), config_.housekeeping_interval}),
      attraction_(pool_, streams_, subscriptions_),
      offsets_(streams_),
      http_context_{pool_, router_, subscriptions_, loop_lag_, http_settings(config_)} {
  router_.set_delivery_port(&mailboxes_);
  {
    // The mesh first: its census of this node's filters must see every
    // subscription, including those made while the node loads.
    std::optional<boost::asio::ip::tcp::endpoint> listen;
    if (config_.mesh_listen != "off") {
      auto endpoint = parse_listen_address(config_.mesh_listen);
      if (auto* error = std::get_if<std::string>(&endpoint))
        throw std::runtime_error("mesh.listen: " + *error);
      listen = std::get<boost::asio::ip::tcp::endpoint>(endpoint);
    }
    mesh_ = std::make_unique<mesh::MeshService>(pool_, router_, subscriptions_, streams_,
                                                config_.mesh, listen);
    subscriptions_.set_observer(
        [interest = &mesh_->local_interest()](const auto& changes, const auto& effective) {
          interest->observe(changes, effective);
        });
    http_context_.metric_sources.push_back(
        [service = mesh_.get()](std::string& out) { service->render_metrics(out); });
    http_context_.mesh_status = [service = mesh_.get()] { return service->status_json(); };
  }
  http_context_.streams = &streams_;
  http_context_.attraction = &attraction_;
  if (config_.http_listen != "off") {
    auto endpoint = parse_listen_address(config_.http_listen);
    if (auto* error = std::get_if<std::string>(&endpoint)) throw std::runtime_error(*error);
    http_ = std::make_unique<http::HttpServer>(http_context_,
                                               std::get<boost::asio::ip::tcp::endpoint>(endpoint));
  }
  if (config_.kafka_listen != "off") {
    auto endpoint = parse_listen_address(config_.kafka_listen);
    if (auto* error = std::get_if<std::string>(&endpoint)) throw std::runtime_error(*error);
    kafka::GroupSettings group_settings;
    group_settings.initial_rebalance_delay = config_.group_initial_rebalance_delay;
    groups_ = std::make_unique<kafka::GroupCoordinator>(pool_, offsets_, group_settings);
    kafka_context_.reset(new kafka::KafkaContext{pool_, streams_, groups_.get(), &offsets_, nullptr,
                                                 nullptr, kafka_settings(config_),
                                                 data_.cluster_id()});
    publisher_ = std::make_unique<kafka::RecordPublisher>(router_, attraction_);
    http_context_.metric_sources.push_back([publisher = publisher_.get()](std::string& out) {
      using runtime::metric;
      metric(out, "skein_kafka_records_published_total", "counter",
             "Produced Kafka records published into the router as events.", publisher->published());
      metric(out, "skein_kafka_records_unroutable_total", "counter",
             "Produced records stored but not published (their topic is not a valid topic).",
             publisher->unroutable());
      metric(out, "skein_kafka_batches_skipped_total", "counter",
             "Produced batches not decoded because no subscription could want them.",
             publisher->skipped_batches());
    });
    kafka_context_->publisher = publisher_.get();
    kafka_context_->attraction = &attraction_;
    kafka_ = std::make_unique<kafka::KafkaServer>(
        *kafka_context_, std::get<boost::asio::ip::tcp::endpoint>(endpoint));
  }
  authorizer_ = core::Authorizer(config_.mqtt.allow_anonymous);
  const bool mqtt_tcp = config_.mqtt_listen != "off";
  const bool mqtt_ws = config_.mqtt_websocket && http_;
  if (mqtt_tcp || mqtt_ws) {
    std::optional<boost::asio::ip::tcp::endpoint> listen;
    if (mqtt_tcp) {
      auto endpoint = parse_listen_address(config_.mqtt_listen);
      if (auto* error = std::get_if<std::string>(&endpoint)) throw std::runtime_error(*error);
      listen = std::get<boost::asio::ip::tcp::endpoint>(endpoint);
    }
    mqtt_ =
        std::make_unique<mqtt::MqttServer>(pool_, router_, subscriptions_, streams_, authorizer_,
                                           config_.mqtt, config_.max_event_bytes, listen);
    http_context_.metric_sources.push_back(
        [server = mqtt_.get()](std::string& out) { server->render_metrics(out); });
    if (mqtt_ws) {
      http_context_.mqtt_websocket = [server = mqtt_.get()](unsigned shard,
                                                            runtime::ByteStreamPtr stream) {
        server->adopt(shard, std::move(stream));
      };
    }
  }
}

Node::~Node() {
  stop();
}

void Node::start() {
  streams_.open();  // before the shards run: partitions recover here
  if (kafka_) offsets_.load();
  if (mqtt_) mqtt_->load();
  mesh_->load();
  pool_.start();
  streams_.start();
  attraction_.start();  // before any face: attracted events find their streams
  if (groups_) groups_->start();
  std::vector<runtime::Service*> services = {&loop_lag_, mesh_.get()};
  if (http_) services.push_back(http_.get());
  if (kafka_) services.push_back(kafka_.get());
  if (mqtt_) services.push_back(mqtt_.get());
  for (runtime::Service* service : services) {
    service->start();
    started_.push_back(service);
  }
  spdlog::info("node {} started: {} shard(s), data in {}", config_.node_name, pool_.size(),
               data_.path());
}

void Node::stop() {
  if (stopped_) return;
  stopped_ = true;
  const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_grace;
  for (auto it = started_.rbegin(); it != started_.rend(); ++it) (*it)->stop(deadline);
  if (groups_) groups_->stop();
  attraction_.stop();
  pool_.stop();
  streams_.close();  // every partition synced and closed
  spdlog::info("node {} stopped", config_.node_name);
}

std::optional<std::string> Node::http_address() const {
  if (!http_) return std::nullopt;
  return format_endpoint(http_->bound());
}

std::optional<std::string> Node::kafka_address() const {
  if (!kafka_) return std::nullopt;
  return format_endpoint(kafka_->bound());
}

std::optional<std::string> Node::mqtt_address() const {
  if (!mqtt_ || !mqtt_->bound()) return std::nullopt;
  return format_endpoint(*mqtt_->bound());
}

std::optional<std::string> Node::mesh_address() const {
  return mesh_->address();
}

std::string Node::bound_addresses_json() const {
  nlohmann::json faces = nlohmann::json::object();
  if (auto http = http_address()) faces["http"] = *http;
  if (auto kafka = kafka_address()) faces["kafka"] = *kafka;
  if (auto mqtt = mqtt_address()) faces["mqtt"] = *mqtt;
  if (auto mesh = mesh_address()) faces["mesh"] = *mesh;
  return faces.dump();
}

}  // namespace skein::cli
