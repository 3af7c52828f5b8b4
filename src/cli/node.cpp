// Assembling, starting and stopping a node.
#include "cli/node.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cli/listen_address.hpp"

namespace skein::cli {

namespace {
http::HttpSettings http_settings(const NodeConfig& config) {
  http::HttpSettings s;
  s.max_event_bytes = config.max_event_bytes;
  s.idle_timeout = config.http_idle_timeout;
  s.subscriber_queue = config.subscriber_queue;
  s.slow_policy = config.slow_policy;
  return s;
}
}  // namespace

Node::Node(NodeConfig config)
    : config_(std::move(config)),
      data_(config_.data_dir),
      pool_(config_.shards),
      router_(config_.node_name, pool_.size(), config_.match_cache_entries),
      mailboxes_(pool_, router_),
      subscriptions_(pool_, router_),
      loop_lag_(pool_),
      http_context_{pool_, router_, subscriptions_, loop_lag_, http_settings(config_)} {
  router_.set_delivery_port(&mailboxes_);
  if (config_.http_listen != "off") {
    auto endpoint = parse_listen_address(config_.http_listen);
    if (auto* error = std::get_if<std::string>(&endpoint)) throw std::runtime_error(*error);
    http_ = std::make_unique<http::HttpServer>(http_context_,
                                               std::get<boost::asio::ip::tcp::endpoint>(endpoint));
  }
}

Node::~Node() {
  stop();
}

void Node::start() {
  pool_.start();
  std::vector<runtime::Service*> services = {&loop_lag_};
  if (http_) services.push_back(http_.get());
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
  pool_.stop();
  spdlog::info("node {} stopped", config_.node_name);
}

std::optional<std::string> Node::http_address() const {
  if (!http_) return std::nullopt;
  return format_endpoint(http_->bound());
}

std::string Node::bound_addresses_json() const {
  nlohmann::json faces = nlohmann::json::object();
  if (auto http = http_address()) faces["http"] = *http;
  return faces.dump();
}

}  // namespace skein::cli
