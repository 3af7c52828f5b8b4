// Stream settings: validation, Kafka config names, JSON (stream_config.hpp).
#include "storage/stream_config.hpp"

#include <charconv>
#include <functional>
#include <nlohmann/json.hpp>

namespace skein::storage {

namespace {

constexpr std::int32_t kMaxPartitions = 10000;

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Error bad(std::string_view name, std::string_view value, std::string_view rule) {
  return Error{Errc::invalid_config, "invalid value '" + std::string(value) + "' for " +
                                         std::string(name) + ": " + std::string(rule)};
}

}  // namespace

bool valid_stream_name(std::string_view name, std::string* why) {
  auto fail = [&](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return false;
  };
  if (name.empty()) return fail("a stream name cannot be empty");
  if (name.size() > 249) return fail("a stream name has at most 249 characters");
  if (name == "." || name == "..") return fail("a stream name cannot be '.' or '..'");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok)
      return fail("a stream name may hold only ASCII letters, digits, '.', '_' and '-', not '" +
                  std::string(1, c) + "'");
  }
  return true;
}

PartitionOptions StreamConfig::partition_options() const {
  PartitionOptions o;
  o.segment.max_batch_bytes = max_message_bytes;
  // Allocating ahead makes every fdatasync convert blocks to written ones
  // (5-15% slower per sync measured here): a win for interval and never, a
  // loss for always.
  if (fsync == FsyncPolicy::always) o.segment.preallocate_bytes = 0;
  o.segment_bytes = segment_bytes;
  o.segment_ms = std::chrono::milliseconds(segment_ms);
  o.retention_ms = retention_ms;
  o.retention_bytes = retention_bytes;
  o.cleanup_delete = cleanup_delete;
  o.cleanup_compact = cleanup_compact;
  o.tombstone_retention_ms = tombstone_retention_ms;
  return o;
}

std::string StreamConfig::cleanup_policy() const {
  if (cleanup_compact && cleanup_delete) return "compact,delete";
  return cleanup_compact ? "compact" : "delete";
}

std::map<std::string, std::string> StreamConfig::kafka_configs() const {
  return {
      {"cleanup.policy", cleanup_policy()},
      {"delete.retention.ms", std::to_string(tombstone_retention_ms)},
      {"fsync.interval.ms", std::to_string(fsync_interval_ms)},
      {"fsync.policy", std::string(to_string(fsync))},
      {"max.message.bytes", std::to_string(max_message_bytes)},
      {"retention.bytes", std::to_string(retention_bytes)},
      {"retention.ms", std::to_string(retention_ms)},
      {"segment.bytes", std::to_string(segment_bytes)},
      {"segment.ms", std::to_string(segment_ms)},
  };
}

Status StreamConfig::set_kafka_config(std::string_view name, std::string_view value) {
  auto number = [&](std::int64_t min, std::int64_t max) -> Result<std::int64_t> {
    auto v = parse_int(value);
    if (!v || *v < min || *v > max)
      return bad(name, value,
                 "a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    return *v;
  };
  constexpr std::int64_t kMax = INT64_MAX;
  if (name == "cleanup.policy") {
    if (value == "delete") {
      cleanup_delete = true, cleanup_compact = false;
    } else if (value == "compact") {
      cleanup_delete = false, cleanup_compact = true;
    } else if (value == "compact,delete" || value == "delete,compact") {
      cleanup_delete = true, cleanup_compact = true;
    } else {
      return bad(name, value, "one of delete, compact, compact,delete");
    }
    return Ok{};
  }
  if (name == "fsync.policy") {
    if (!parse_fsync_policy(value, fsync))
      return bad(name, value, "one of always, interval, never");
    return Ok{};
  }
  struct Field {
    std::string_view name;
    std::int64_t min, max;
    std::function<void(std::int64_t)> set;
  };
  const Field fields[] = {
      {"delete.retention.ms", 0, kMax, [&](std::int64_t v) { tombstone_retention_ms = v; }},
      {"fsync.interval.ms", 1, kMax, [&](std::int64_t v) { fsync_interval_ms = v; }},
      {"max.message.bytes", 64, 256LL * 1024 * 1024,
       [&](std::int64_t v) { max_message_bytes = static_cast<std::size_t>(v); }},
      {"retention.bytes", -1, kMax, [&](std::int64_t v) { retention_bytes = v; }},
      {"retention.ms", -1, kMax, [&](std::int64_t v) { retention_ms = v; }},
      // Index entries hold 32-bit positions: a segment stays under 4 GiB.
      {"segment.bytes", 14, UINT32_MAX,
       [&](std::int64_t v) { segment_bytes = static_cast<std::uint64_t>(v); }},
      {"segment.ms", 1, kMax, [&](std::int64_t v) { segment_ms = v; }},
  };
  for (const Field& f : fields) {
    if (f.name != name) continue;
    auto v = number(f.min, f.max);
    if (!v) return v.error();
    f.set(v.value());
    return Ok{};
  }
  return Error{Errc::invalid_config, "unknown stream setting " + std::string(name)};
}

Status StreamConfig::reset_kafka_config(std::string_view name) {
  const StreamConfig defaults;
  const auto all = defaults.kafka_configs();
  auto it = all.find(std::string(name));
  if (it == all.end())
    return Error{Errc::invalid_config, "unknown stream setting " + std::string(name)};
  return set_kafka_config(name, it->second);
}

Status StreamConfig::validate() const {
  std::string why;
  if (!valid_stream_name(name, &why)) return Error{Errc::invalid_config, why};
  if (partitions < 1 || partitions > kMaxPartitions)
    return Error{Errc::invalid_config, "partitions must be from 1 to " +
                                           std::to_string(kMaxPartitions) + ", not " +
                                           std::to_string(partitions)};
  // Each setting must survive a round trip through its Kafka name's checks.
  StreamConfig probe;
  for (const auto& [key, value] : kafka_configs())
    if (auto s = probe.set_kafka_config(key, value); !s) return s;
  return Ok{};
}

std::string StreamConfig::to_json() const {
  nlohmann::json j;
  j["name"] = name;
  j["partitions"] = partitions;
  nlohmann::json configs = nlohmann::json::object();
  for (const auto& [key, value] : kafka_configs()) configs[key] = value;
  j["configs"] = configs;
  j["extra"] = extra;
  return j.dump(2) + "\n";
}

Result<StreamConfig> StreamConfig::from_json(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Error{Errc::invalid_config, "a stream's config is not a JSON object"};
  StreamConfig c;
  try {
    c.name = j.at("name").get<std::string>();
    c.partitions = j.at("partitions").get<std::int32_t>();
    const nlohmann::json configs = j.value("configs", nlohmann::json::object());
    for (const auto& [key, value] : configs.items()) {
      if (auto s = c.set_kafka_config(key, value.get<std::string>()); !s) return s.error();
    }
    c.extra = j.value("extra", std::map<std::string, std::string>{});
  } catch (const nlohmann::json::exception& e) {
    return Error{Errc::invalid_config, std::string("a stream's config: ") + e.what()};
  }
  if (auto s = c.validate(); !s) return s.error();
  return c;
}

}  // namespace skein::storage
