// The settings table and the three-layer loader (TOML, environment, flags).
#include "cli/node_config.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>

#include "mesh/frame.hpp"

namespace skein::cli {

namespace {

using Error = std::optional<std::string>;

template <class Int>
Error parse_int(std::string_view text, Int& out, Int min, Int max) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
    return "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
           ", got \"" + std::string(text) + "\"";
  out = value;
  return std::nullopt;
}

Error parse_nonempty(std::string_view text, std::string& out) {
  if (text.empty()) return "must not be empty";
  out = std::string(text);
  return std::nullopt;
}

Error parse_bool(std::string_view text, bool& out) {
  if (text == "true" || text == "on" || text == "1") return out = true, std::nullopt;
  if (text == "false" || text == "off" || text == "0") return out = false, std::nullopt;
  return "expected true or false";
}

Error parse_ms(std::string_view text, std::chrono::milliseconds& out, long min, long max) {
  long ms = 0;
  auto error = parse_int(text, ms, min, max);
  if (!error) out = std::chrono::milliseconds(ms);
  return error;
}

// Mesh and node names: what the mesh's link protocol accepts.
Error parse_name(std::string_view text, std::string& out) {
  if (!mesh::valid_name(text)) return "expected 1 to 64 of A-Z a-z 0-9 . _ -";
  out = std::string(text);
  return std::nullopt;
}

// HOST:PORT targets separated by commas or new lines (a repeated flag).
Error parse_links(std::string_view text, std::vector<std::string>& out) {
  out.clear();
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find_first_of(",\n", start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      const auto colon = item.rfind(':');
      if (colon == std::string_view::npos || colon + 1 == item.size())
        return "expected HOST:PORT, got \"" + std::string(item) + "\"";
      out.emplace_back(item);
    }
    start = end + 1;
  }
  return std::nullopt;
}

Error parse_log_level(std::string_view text, std::string& out) {
  static constexpr std::string_view levels[] = {"trace", "debug",    "info", "warn",
                                                "error", "critical", "off"};
  for (auto level : levels) {
    if (text == level) {
      out = std::string(text);
      return std::nullopt;
    }
  }
  return "expected one of trace, debug, info, warn, error, critical, off";
}

std::vector<Setting> make_settings() {
  constexpr std::size_t kMaxBytes = 256u * 1024 * 1024;
  return {
      {"node.name", "SKEIN_NODE", "--node", "the host name",
       "This node's name, unique in its mesh; stamped on every event it ingests.",
       [](NodeConfig& c, std::string_view v) { return parse_name(v, c.node_name); }},
      {"node.data", "SKEIN_DATA", "--data", "./data", "The data directory.",
       [](NodeConfig& c, std::string_view v) { return parse_nonempty(v, c.data_dir); }},
      {"node.shards", "SKEIN_SHARDS", "--shards", "0",
       "Event-loop threads (shards); 0 means one per core.",
       [](NodeConfig& c, std::string_view v) { return parse_int(v, c.shards, 0u, 1024u); }},
      {"node.ready_file", "SKEIN_READY_FILE", "--ready-file", "(none)",
       "Once every listener is bound, write their addresses here as JSON.",
       [](NodeConfig& c, std::string_view v) { return parse_nonempty(v, c.ready_file); }},
      {"node.shutdown_grace_ms", "SKEIN_SHUTDOWN_GRACE_MS", "--shutdown-grace-ms", "5000",
       "On SIGINT/SIGTERM, how long to let work in flight finish.",
       [](NodeConfig& c, std::string_view v) {
         long ms = 0;
         auto error = parse_int(v, ms, 0L, 600000L);
         if (!error) c.shutdown_grace = std::chrono::milliseconds(ms);
         return error;
       }},
      {"log.level", "SKEIN_LOG_LEVEL", "--log-level", "info",
       "trace, debug, info, warn, error, critical or off.",
       [](NodeConfig& c, std::string_view v) { return parse_log_level(v, c.log_level); }},
      {"http.listen", "SKEIN_HTTP", "--http", "0.0.0.0:8080",
       "HTTP listener, HOST:PORT (port 0 picks a free one); \"off\" turns HTTP off.",
       [](NodeConfig& c, std::string_view v) { return parse_nonempty(v, c.http_listen); }},
      {"http.max_event_bytes", "SKEIN_MAX_EVENT_BYTES", "--max-event-bytes", "1048576",
       "Largest event body accepted; larger publishes get 413.",
       [kMaxBytes](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.max_event_bytes, std::size_t{1}, kMaxBytes);
       }},
      {"http.idle_timeout_s", "SKEIN_HTTP_IDLE_TIMEOUT_S", "--http-idle-timeout-s", "60",
       "Close a keep-alive connection that sends no request for this long.",
       [](NodeConfig& c, std::string_view v) {
         long s = 0;
         auto error = parse_int(v, s, 1L, 86400L);
         if (!error) c.http_idle_timeout = std::chrono::seconds(s);
         return error;
       }},
      {"http.persistent_timeout_ms", "SKEIN_HTTP_PERSISTENT_TIMEOUT_MS",
       "--http-persistent-timeout-ms", "30000",
       "How long a persistent publish waits for its streams to store it before a 503.",
       [](NodeConfig& c, std::string_view v) {
         long ms = 0;
         auto error = parse_int(v, ms, 1L, 600000L);
         if (!error) c.http_persistent_timeout = std::chrono::milliseconds(ms);
         return error;
       }},
      {"router.subscriber_queue", "SKEIN_SUBSCRIBER_QUEUE", "--subscriber-queue", "10000",
       "Events queued per direct subscriber before its slow policy applies.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.subscriber_queue, std::size_t{1}, std::size_t{10'000'000});
       }},
      {"router.slow_subscriber", "SKEIN_SLOW_SUBSCRIBER", "--slow-subscriber", "disconnect",
       "When a direct subscriber's queue is full: disconnect it, or drop-oldest.",
       [](NodeConfig& c, std::string_view v) -> Error {
         if (core::parse_slow_policy(v, c.slow_policy)) return std::nullopt;
         return "expected disconnect or drop-oldest";
       }},
      {"router.match_cache_entries", "SKEIN_MATCH_CACHE_ENTRIES", "--match-cache-entries", "4096",
       "Topics whose matches each shard caches.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.match_cache_entries, std::size_t{1}, std::size_t{10'000'000});
       }},
      {"kafka.listen", "SKEIN_KAFKA", "--kafka", "0.0.0.0:9092",
       "Kafka listener, HOST:PORT (port 0 picks a free one); \"off\" turns Kafka off.",
       [](NodeConfig& c, std::string_view v) { return parse_nonempty(v, c.kafka_listen); }},
      {"kafka.advertised", "SKEIN_KAFKA_ADVERTISED", "--kafka-advertised", "(the bound address)",
       "HOST:PORT that Metadata tells Kafka clients to connect to.",
       [](NodeConfig& c, std::string_view v) { return parse_nonempty(v, c.kafka_advertised); }},
      {"kafka.auto_create", "SKEIN_KAFKA_AUTO_CREATE", "--kafka-auto-create", "true",
       "Create a stream when a Kafka client asks Metadata for, or produces to, one that is "
       "missing.",
       [](NodeConfig& c, std::string_view v) { return parse_bool(v, c.kafka_auto_create); }},
      {"kafka.default_partitions", "SKEIN_KAFKA_DEFAULT_PARTITIONS", "--kafka-default-partitions",
       "1", "Partitions of an auto-created stream, and of CreateTopics asking for -1.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.kafka_default_partitions, std::int32_t{1}, std::int32_t{10000});
       }},
      {"kafka.max_request_bytes", "SKEIN_KAFKA_MAX_REQUEST_BYTES", "--kafka-max-request-bytes",
       "104857600", "Largest Kafka request frame; a larger one closes the connection.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.kafka_max_request_bytes, std::size_t{1024},
                          std::size_t{1024} * 1024 * 1024);
       }},
      {"kafka.group_initial_rebalance_delay_ms", "SKEIN_KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS",
       "--kafka-group-initial-rebalance-delay-ms", "3000",
       "How long a consumer group formed from empty waits for more members before its first "
       "rebalance.",
       [](NodeConfig& c, std::string_view v) {
         long ms = 0;
         auto error = parse_int(v, ms, 0L, 300000L);
         if (!error) c.group_initial_rebalance_delay = std::chrono::milliseconds(ms);
         return error;
       }},
      {"mqtt.listen", "SKEIN_MQTT", "--mqtt", "0.0.0.0:1883",
       "MQTT listener, HOST:PORT (port 0 picks a free one); \"off\" turns it off.",
       [](NodeConfig& c, std::string_view v) { return parse_nonempty(v, c.mqtt_listen); }},
      {"mqtt.websocket", "SKEIN_MQTT_WEBSOCKET", "--mqtt-websocket", "true",
       "Serve MQTT over WebSocket at the HTTP face's /mqtt (subprotocol mqtt).",
       [](NodeConfig& c, std::string_view v) { return parse_bool(v, c.mqtt_websocket); }},
      {"mqtt.max_packet_bytes", "SKEIN_MQTT_MAX_PACKET_BYTES", "--mqtt-max-packet-bytes", "1114112",
       "Largest MQTT packet a client may send (told to v5 clients as Maximum Packet Size).",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mqtt.max_packet_size, std::size_t{64}, std::size_t{268'435'460});
       }},
      {"mqtt.receive_maximum", "SKEIN_MQTT_RECEIVE_MAXIMUM", "--mqtt-receive-maximum", "1024",
       "QoS 1 and 2 publishes a client may have unacknowledged (v5 Receive Maximum).",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mqtt.receive_maximum, std::uint16_t{1}, std::uint16_t{65535});
       }},
      {"mqtt.max_inflight", "SKEIN_MQTT_MAX_INFLIGHT", "--mqtt-max-inflight", "100",
       "QoS 1 and 2 messages sent to a client before waiting for its acknowledgements (lowered "
       "by a v5 client's Receive Maximum).",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mqtt.max_inflight, std::uint16_t{1}, std::uint16_t{65535});
       }},
      {"mqtt.max_queued_messages", "SKEIN_MQTT_MAX_QUEUED_MESSAGES", "--mqtt-max-queued-messages",
       "1000",
       "Messages a session holds beyond the in-flight window (offline, or a slow client); more "
       "are dropped and counted.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mqtt.max_queued_messages, std::size_t{1}, std::size_t{10'000'000});
       }},
      {"mqtt.max_session_expiry_s", "SKEIN_MQTT_MAX_SESSION_EXPIRY_S",
       "--mqtt-max-session-expiry-s", "4294967295",
       "Longest session expiry granted, seconds (4294967295: never); 3.1.1 persistent sessions "
       "get it.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mqtt.max_session_expiry, std::uint32_t{0},
                          std::uint32_t{0xFFFFFFFF});
       }},
      {"mqtt.max_keep_alive_s", "SKEIN_MQTT_MAX_KEEP_ALIVE_S", "--mqtt-max-keep-alive-s", "0",
       "When non-zero, the longest keep alive allowed (v5 clients are told the server keep "
       "alive); 0 takes the client's.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mqtt.max_keep_alive, std::uint16_t{0}, std::uint16_t{65535});
       }},
      {"mqtt.connect_timeout_ms", "SKEIN_MQTT_CONNECT_TIMEOUT_MS", "--mqtt-connect-timeout-ms",
       "10000", "Time from accepting a connection to its complete CONNECT.",
       [](NodeConfig& c, std::string_view v) {
         long ms = 0;
         auto error = parse_int(v, ms, 10L, 600000L);
         if (!error) c.mqtt.connect_timeout = std::chrono::milliseconds(ms);
         return error;
       }},
      {"mqtt.topic_alias_maximum", "SKEIN_MQTT_TOPIC_ALIAS_MAXIMUM", "--mqtt-topic-alias-maximum",
       "64", "Topic aliases a v5 client may set on its connection.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mqtt.topic_alias_maximum, std::uint16_t{0}, std::uint16_t{65535});
       }},
      {"mqtt.allow_anonymous", "SKEIN_MQTT_ALLOW_ANONYMOUS", "--mqtt-allow-anonymous", "true",
       "Accept MQTT clients that give no user name.",
       [](NodeConfig& c, std::string_view v) { return parse_bool(v, c.mqtt.allow_anonymous); }},
      {"mesh.name", "SKEIN_MESH_NAME", "--mesh-name", "skein",
       "The mesh this node belongs to; a peer of another mesh is refused.",
       [](NodeConfig& c, std::string_view v) { return parse_name(v, c.mesh.mesh_name); }},
      {"mesh.listen", "SKEIN_MESH", "--mesh", "0.0.0.0:7946",
       "Where other nodes dial in (HOST:PORT, or off to only dial out).",
       [](NodeConfig& c, std::string_view v) { return parse_nonempty(v, c.mesh_listen); }},
      {"mesh.links", "SKEIN_LINKS", "--link", "none",
       "Nodes to link with, HOST:PORT (repeat the flag, or separate with commas).",
       [](NodeConfig& c, std::string_view v) { return parse_links(v, c.mesh.links); }},
      {"mesh.secret", "SKEIN_MESH_SECRET", "--mesh-secret", "empty",
       "A secret every node of the mesh shares, proved (never sent) in each link's handshake.",
       [](NodeConfig& c, std::string_view v) {
         return c.mesh.secret = std::string(v), std::nullopt;
       }},
      {"mesh.heartbeat_ms", "SKEIN_MESH_HEARTBEAT_MS", "--mesh-heartbeat-ms", "1000",
       "How often a link sends a heartbeat (and measures its round trip).",
       [](NodeConfig& c, std::string_view v) { return parse_ms(v, c.mesh.heartbeat, 10, 60000); }},
      {"mesh.dead_after_ms", "SKEIN_MESH_DEAD_AFTER_MS", "--mesh-dead-after-ms", "5000",
       "A link silent for this long is closed (and dialled again).",
       [](NodeConfig& c, std::string_view v) {
         return parse_ms(v, c.mesh.dead_after, 50, 600000);
       }},
      {"mesh.reconnect_max_ms", "SKEIN_MESH_RECONNECT_MAX_MS", "--mesh-reconnect-max-ms", "5000",
       "The longest wait between two dials of a link (backoff doubles from 100 ms).",
       [](NodeConfig& c, std::string_view v) {
         return parse_ms(v, c.mesh.reconnect_max, 100, 600000);
       }},
      {"mesh.compress_above_bytes", "SKEIN_MESH_COMPRESS_ABOVE_BYTES",
       "--mesh-compress-above-bytes", "4096",
       "Event batches larger than this are compressed with zstd on the link.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mesh.engine.compress_above, std::size_t{0}, std::size_t{1} << 30);
       }},
      {"mesh.outbox_max_bytes", "SKEIN_MESH_OUTBOX_MAX_BYTES", "--mesh-outbox-max-bytes",
       "268435456",
       "Persistent events a link keeps for its peer, in bytes; beyond, the oldest are dropped.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mesh.engine.outbox.max_bytes, std::uint64_t{1024},
                          std::uint64_t{1} << 50);
       }},
      {"mesh.outbox_max_age_s", "SKEIN_MESH_OUTBOX_MAX_AGE_S", "--mesh-outbox-max-age-s", "86400",
       "How long a link keeps persistent events for a peer that does not come back.",
       [](NodeConfig& c, std::string_view v) {
         long s = 0;
         auto error = parse_int(v, s, 1L, 365L * 86400L);
         if (!error) c.mesh.engine.outbox.max_age = std::chrono::seconds(s);
         return error;
       }},
      {"mesh.node_expiry_s", "SKEIN_MESH_NODE_EXPIRY_S", "--mesh-node-expiry-s", "60",
       "A node unreachable for this long is forgotten (its filters with it).",
       [](NodeConfig& c, std::string_view v) {
         long s = 0;
         auto error = parse_int(v, s, 1L, 30L * 86400L);
         if (!error) c.mesh.engine.node_expiry = std::chrono::seconds(s);
         return error;
       }},
      {"mesh.max_advertised_filters", "SKEIN_MESH_MAX_ADVERTISED_FILTERS",
       "--mesh-max-advertised-filters", "10000",
       "This node's filters listed in its registry record; beyond, they are summarized.",
       [](NodeConfig& c, std::string_view v) {
         return parse_int(v, c.mesh.max_advertised_filters, std::size_t{1}, std::size_t{1'000'000});
       }},
      {"streams.fsync", "SKEIN_STREAMS_FSYNC", "--streams-fsync", "interval",
       "fsync policy of streams created without one: always, interval or never.",
       [](NodeConfig& c, std::string_view v) -> Error {
         if (v == "always" || v == "interval" || v == "never")
           return c.stream_fsync = v, std::nullopt;
         return "expected always, interval or never";
       }},
      {"streams.housekeeping_interval_ms", "SKEIN_STREAMS_HOUSEKEEPING_INTERVAL_MS",
       "--streams-housekeeping-interval-ms", "300000",
       "How often each shard applies retention and starts compaction of its partitions.",
       [](NodeConfig& c, std::string_view v) {
         long ms = 0;
         auto error = parse_int(v, ms, 100L, 86400000L);
         if (!error) c.housekeeping_interval = std::chrono::milliseconds(ms);
         return error;
       }},
  };
}

// The host name, made a legal node name (other characters become '-').
std::string default_node_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "skein";
  std::string name(host);
  if (name.size() > 64) name.resize(64);
  for (char& ch : name)
    if (!mesh::valid_name(std::string_view(&ch, 1))) ch = '-';
  return name;
}

// TOML values of any scalar type become the same text a flag would carry.
std::optional<std::string> toml_scalar(const toml::node& node) {
  if (auto s = node.value<std::string>()) return *s;
  if (auto i = node.value<std::int64_t>(); i && node.is_integer()) return std::to_string(*i);
  if (auto b = node.value<bool>(); b && node.is_boolean()) return *b ? "true" : "false";
  // An array of strings (mesh.links) becomes the comma-separated form.
  if (const toml::array* items = node.as_array()) {
    std::string joined;
    for (const auto& item : *items) {
      auto text = item.value<std::string>();
      if (!text) return std::nullopt;
      if (!joined.empty()) joined += ",";
      joined += *text;
    }
    return joined;
  }
  return std::nullopt;
}

Error apply_toml(NodeConfig& config, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return "config file " + path + ": " + std::string(e.description()) + " at line " +
           std::to_string(e.source().begin.line);
  }
  for (const auto& [section, node] : table) {
    const toml::table* inner = node.as_table();
    if (inner == nullptr)
      return "config file " + path + ": \"" + std::string(section.str()) + "\" must be a table";
    for (const auto& [name, value] : *inner) {
      const std::string key = std::string(section.str()) + "." + std::string(name.str());
      const Setting* setting = nullptr;
      for (const auto& s : settings())
        if (s.key == key) setting = &s;
      if (setting == nullptr) return "config file " + path + ": unknown setting " + key;
      auto text = toml_scalar(value);
      if (!text) return "config file " + path + ": " + key + ": expected a string or number";
      if (auto error = setting->apply(config, *text))
        return "config file " + path + ": " + key + ": " + *error;
    }
  }
  return std::nullopt;
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = make_settings();
  return table;
}

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::variant<NodeConfig, std::string> load_node_config(
    const std::optional<std::string>& config_file, const EnvLookup& env,
    const std::map<std::string, std::string>& flags) {
  NodeConfig config;
  config.node_name = default_node_name();
  if (config_file) {
    if (auto error = apply_toml(config, *config_file)) return *error;
  }
  for (const auto& setting : settings()) {
    if (auto value = env(setting.env)) {
      if (auto error = setting.apply(config, *value))
        return "environment " + std::string(setting.env) + ": " + *error;
    }
  }
  for (const auto& setting : settings()) {
    if (auto it = flags.find(std::string(setting.flag)); it != flags.end()) {
      if (auto error = setting.apply(config, it->second))
        return "flag " + std::string(setting.flag) + ": " + *error;
    }
  }
  return config;
}

}  // namespace skein::cli
