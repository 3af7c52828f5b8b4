// The settings of `skein serve`, and where each comes from. Every setting has
// one row in settings(): its TOML key, environment variable, flag, default and
// help. Precedence, lowest first: the defaults, the TOML file (--config or
// SKEIN_CONFIG), SKEIN_* environment variables, flags. docs/configuration.md
// lists the same rows; a unit test keeps the two in step.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/destination.hpp"
#include "mesh/mesh_settings.hpp"
#include "mqtt/mqtt_settings.hpp"

namespace skein::cli {

struct NodeConfig {
  std::string node_name;  // default: the host name
  std::string data_dir = "./data";
  unsigned shards = 0;  // 0: one per core
  std::string log_level = "info";
  std::string ready_file;
  std::chrono::milliseconds shutdown_grace{5000};
  std::string http_listen = "0.0.0.0:8080";  // "off" turns the face off
  std::size_t max_event_bytes = 1024 * 1024;
  std::chrono::seconds http_idle_timeout{60};
  std::chrono::milliseconds http_persistent_timeout{30000};
  std::size_t subscriber_queue = 10000;
  core::SlowPolicy slow_policy = core::SlowPolicy::disconnect;
  std::size_t match_cache_entries = 4096;
  std::string kafka_listen = "0.0.0.0:9092";  // "off" turns the face off
  std::string kafka_advertised;               // empty: the bound address
  bool kafka_auto_create = true;
  std::int32_t kafka_default_partitions = 1;
  std::size_t kafka_max_request_bytes = 100 * 1024 * 1024;
  std::chrono::milliseconds group_initial_rebalance_delay{3000};
  std::string stream_fsync = "interval";  // for streams created without one
  std::chrono::milliseconds housekeeping_interval{300000};
  std::string mqtt_listen = "0.0.0.0:1883";  // "off" turns the TCP listener off
  bool mqtt_websocket = true;                // MQTT over WebSocket at the HTTP face's /mqtt
  mqtt::MqttSettings mqtt;
  std::string mesh_listen = "0.0.0.0:7946";  // "off": dial only
  mesh::MeshSettings mesh;                   // mesh.listen is mesh_listen, parsed by the node
};

struct Setting {
  std::string_view key;   // TOML key, dotted: "http.listen"
  std::string_view env;   // "SKEIN_HTTP"
  std::string_view flag;  // "--http"
  std::string_view default_text;
  std::string_view help;
  // Parses `value` into the config; returns an error message on bad input.
  std::function<std::optional<std::string>(NodeConfig&, std::string_view value)> apply;
};

const std::vector<Setting>& settings();

// Looks an environment variable up; injectable so that tests need not touch
// the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_env();

// Builds the configuration from the optional TOML file, the environment and
// the flag values given (keyed by flag, "--http"). Returns the error text,
// naming the source and the setting, when any value is bad or a TOML key is
// unknown.
std::variant<NodeConfig, std::string> load_node_config(
    const std::optional<std::string>& config_file, const EnvLookup& env,
    const std::map<std::string, std::string>& flags);

}  // namespace skein::cli
