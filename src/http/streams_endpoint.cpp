// The streams admin API: JSON bodies to StreamConfig (settings by their
// Kafka names underneath, so both faces validate alike) and back.
#include "http/streams_endpoint.hpp"

#include <map>
#include <nlohmann/json.hpp>

#include "http/json_error.hpp"
#include "runtime/stream_attraction.hpp"
#include "runtime/stream_routing.hpp"
#include "runtime/stream_service.hpp"

namespace skein::http {

namespace {

using json = nlohmann::json;

constexpr std::int64_t kMaxPartitions = 10000;

// Body fields that are stream settings, by the Kafka config name they set.
const std::map<std::string, std::string, std::less<>> kSettings = {
    {"cleanup_policy", "cleanup.policy"},
    {"delete_retention_ms", "delete.retention.ms"},
    {"fsync", "fsync.policy"},
    {"fsync_interval_ms", "fsync.interval.ms"},
    {"max_message_bytes", "max.message.bytes"},
    {"retention_bytes", "retention.bytes"},
    {"retention_ms", "retention.ms"},
    {"segment_bytes", "segment.bytes"},
    {"segment_ms", "segment.ms"},
};

Response answer(const Request& request, bhttp::status status, const json& body) {
  return make_response(request, status, body.dump());
}

Response refuse(const Request& request, bhttp::status status, std::string_view code,
                std::string_view message) {
  return make_response(request, status, json_error(code, message));
}

bool internal(std::string_view name) {
  return name.starts_with("__");
}

json describe(const storage::StreamConfig& config, const runtime::StreamService& streams) {
  json j;
  j["name"] = config.name;
  j["partitions"] = config.partitions;
  auto routing = runtime::StreamRouting::of(config);
  j["attract"] = routing ? routing.value().attract : std::vector<std::string>{};
  j["topic_template"] = routing && !routing.value().topic_template.empty()
                            ? routing.value().topic_template
                            : config.name;
  const auto kafka = config.kafka_configs();
  for (const auto& [field, name] : kSettings) {
    const std::string& value = kafka.at(name);
    // Numbers as numbers, words as strings.
    const bool number =
        !value.empty() && (std::isdigit(static_cast<unsigned char>(value[0])) || value[0] == '-');
    if (number) {
      j[field] = std::stoll(value);
    } else {
      j[field] = value;
    }
  }
  json state = json::array();
  for (const auto& p : streams.partitions(config.name)) {
    state.push_back({{"partition", p->index()},
                     {"start_offset", p->log_start()},
                     {"end_offset", p->log_end()},
                     {"bytes", p->size_bytes()}});
  }
  j["partition_state"] = std::move(state);
  return j;
}

// Applies the body's fields to `config`; the error names the field.
std::optional<std::string> apply_body(const json& body, storage::StreamConfig& config,
                                      bool creating) {
  auto routing = runtime::StreamRouting::of(config);
  if (!routing) return routing.error().message;
  runtime::StreamRouting wanted = routing.value();
  for (const auto& [key, value] : body.items()) {
    if (key == "name") {
      if (!creating) return std::string("the name of a stream cannot be changed");
    } else if (key == "partitions") {
      if (!value.is_number_integer() || value.get<std::int64_t>() < 1 ||
          value.get<std::int64_t>() > kMaxPartitions) {
        return "partitions: a whole number from 1 to " + std::to_string(kMaxPartitions);
      }
      const auto n = value.get<std::int32_t>();
      if (!creating && n < config.partitions) {
        return "partitions can only grow (the stream has " + std::to_string(config.partitions) +
               ")";
      }
      config.partitions = n;
    } else if (key == "attract") {
      if (!value.is_array()) return std::string("attract: an array of filters");
      wanted.attract.clear();
      for (const auto& filter : value) {
        if (!filter.is_string()) return std::string("attract: an array of filters");
        wanted.attract.push_back(filter.get<std::string>());
      }
    } else if (key == "topic_template") {
      if (!value.is_string()) return std::string("topic_template: a string");
      wanted.topic_template = value.get<std::string>();
      // The stream's own name is the default: keep the config free of it.
      if (wanted.topic_template == config.name) wanted.topic_template.clear();
    } else if (auto setting = kSettings.find(key); setting != kSettings.end()) {
      std::string text;
      if (value.is_string()) {
        text = value.get<std::string>();
      } else if (value.is_number_integer()) {
        text = std::to_string(value.get<std::int64_t>());
      } else {
        return key + ": a number or a string";
      }
      if (auto set = config.set_kafka_config(setting->second, text); !set) {
        return key + ": " + set.error().message;
      }
    } else {
      return "unknown field " + key;
    }
  }
  if (auto error = wanted.validate()) return error;
  wanted.store_into(config);
  if (auto valid = config.validate(); !valid) return valid.error().message;
  return std::nullopt;
}

std::optional<json> parse_object(const Request& request) {
  auto body = json::parse(request.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) return std::nullopt;
  return body;
}

bhttp::status status_for(const storage::Error& error) {
  switch (error.code) {
    case storage::Errc::exists:
      return bhttp::status::conflict;
    case storage::Errc::not_found:
      return bhttp::status::not_found;
    case storage::Errc::invalid_config:
      return bhttp::status::bad_request;
    default:
      return bhttp::status::internal_server_error;
  }
}

Response method_not_allowed(const Request& request, std::string_view allow) {
  auto response = refuse(request, bhttp::status::method_not_allowed, "method_not_allowed",
                         "allowed: " + std::string(allow));
  response.set(bhttp::field::allow, allow);
  return response;
}

boost::asio::awaitable<Response> create(HttpContext& context, const Request& request) {
  auto body = parse_object(request);
  if (!body)
    co_return refuse(request, bhttp::status::bad_request, "invalid_json",
                     "the body is not a JSON object");
  auto name = body->find("name");
  if (name == body->end() || !name->is_string()) {
    co_return refuse(request, bhttp::status::bad_request, "invalid_stream",
                     "name: a string is required");
  }
  storage::StreamConfig config;
  config.name = name->get<std::string>();
  config.fsync = context.settings.default_fsync;
  std::string why;
  if (!storage::valid_stream_name(config.name, &why)) {
    co_return refuse(request, bhttp::status::bad_request, "invalid_stream", "name: " + why);
  }
  if (internal(config.name)) {
    co_return refuse(request, bhttp::status::bad_request, "invalid_stream",
                     "name: names starting with __ are the node's own");
  }
  if (auto error = apply_body(*body, config, true)) {
    co_return refuse(request, bhttp::status::bad_request, "invalid_stream", *error);
  }
  if (auto created = context.streams->create(config); !created) {
    const auto status = status_for(created.error());
    co_return refuse(request, status, status == bhttp::status::conflict ? "exists" : "not_created",
                     created.error().message);
  }
  co_await context.attraction->sync(config.name);
  co_return answer(request, bhttp::status::created, describe(config, *context.streams));
}

boost::asio::awaitable<Response> change(HttpContext& context, const Request& request,
                                        storage::StreamConfig config) {
  auto body = parse_object(request);
  if (!body)
    co_return refuse(request, bhttp::status::bad_request, "invalid_json",
                     "the body is not a JSON object");
  if (auto error = apply_body(*body, config, false)) {
    co_return refuse(request, bhttp::status::bad_request, "invalid_stream", *error);
  }
  if (auto updated = context.streams->update(config); !updated) {
    co_return refuse(request, status_for(updated.error()), "not_changed", updated.error().message);
  }
  co_await context.attraction->sync(config.name);
  auto now = context.streams->find(config.name);
  co_return answer(request, bhttp::status::ok, describe(now ? *now : config, *context.streams));
}

boost::asio::awaitable<Response> remove(HttpContext& context, const Request& request,
                                        const std::string& name) {
  if (auto removed = context.streams->remove(name); !removed) {
    co_return refuse(request, status_for(removed.error()), "not_deleted", removed.error().message);
  }
  co_await context.attraction->sync(name);
  co_return make_response(request, bhttp::status::no_content, "");
}

}  // namespace

boost::asio::awaitable<Response> handle_streams(HttpContext& context, const Request& request,
                                                std::string_view path) {
  const auto method = request.method();
  if (context.streams == nullptr || context.attraction == nullptr) {
    co_return refuse(request, bhttp::status::service_unavailable, "no_streams",
                     "this node keeps no streams");
  }
  if (path == kStreamsPath || path == std::string(kStreamsPath) + "/") {
    if (method == bhttp::verb::post) co_return co_await create(context, request);
    if (method != bhttp::verb::get) co_return method_not_allowed(request, "GET, POST");
    json list = json::array();
    for (const auto& config : context.streams->list()) {
      list.push_back(describe(config, *context.streams));
    }
    co_return answer(request, bhttp::status::ok, json{{"streams", std::move(list)}});
  }
  const std::string name(path.substr(kStreamsPath.size() + 1));
  auto config = context.streams->find(name);
  if (!config) {
    co_return refuse(request, bhttp::status::not_found, "not_found", "no stream " + name);
  }
  switch (method) {
    case bhttp::verb::get:
      co_return answer(request, bhttp::status::ok, describe(*config, *context.streams));
    case bhttp::verb::patch:
    case bhttp::verb::delete_:
      if (internal(name)) {
        co_return refuse(request, bhttp::status::forbidden, "internal_stream",
                         name + " is the node's own stream");
      }
      if (method == bhttp::verb::patch) co_return co_await change(context, request, *config);
      co_return co_await remove(context, request, name);
    default:
      co_return method_not_allowed(request, "GET, PATCH, DELETE");
  }
}

}  // namespace skein::http
