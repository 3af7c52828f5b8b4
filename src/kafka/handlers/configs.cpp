// DescribeConfigs and IncrementalAlterConfigs for topics (streams): their
// settings by Kafka config name (storage/stream_config.hpp). A broker
// resource is described with no entries, and cannot be altered here.
#include "kafka/handlers.hpp"
#include "kafka/offset_store.hpp"
#include "kafka/protocol/error_codes.hpp"
#include "runtime/stream_routing.hpp"

namespace skein::kafka {

// Each handler here is a coroutine only in name: GCC 12 crashes on, or
// miscompiles, lambdas and loops like these inside a coroutine, so the work
// is a plain function (handle_*_now) that the coroutine returns.

namespace {

constexpr std::int8_t kTopic = 2, kBroker = 4;
constexpr std::int8_t kDynamicTopicConfig = 1, kDefaultConfig = 5;
// Kafka's ConfigEntry types.
constexpr std::int8_t kTypeString = 2, kTypeLong = 5, kTypeList = 7;

// A stream's routing, shown beside its Kafka configs and changed only over
// the admin API (/v1/streams): the attract filters and the topic template.
constexpr std::string_view kAttractConfig = "skein.attract";
constexpr std::string_view kTemplateConfig = "skein.topic.template";

std::int8_t type_of(const std::string& name) {
  if (name == "cleanup.policy" || name == kAttractConfig) return kTypeList;
  if (name == "fsync.policy" || name == kTemplateConfig) return kTypeString;
  return kTypeLong;
}

// Every config of the stream by name: its Kafka configs and its routing.
std::map<std::string, std::string> all_configs(const storage::StreamConfig& config) {
  auto all = config.kafka_configs();
  auto routing = runtime::StreamRouting::of(config);
  std::string attract;
  if (routing) {
    for (const auto& filter : routing.value().attract) {
      attract += (attract.empty() ? "" : ",") + filter;
    }
  }
  all[std::string(kAttractConfig)] = attract;
  all[std::string(kTemplateConfig)] = routing && !routing.value().topic_template.empty()
                                          ? routing.value().topic_template
                                          : config.name;
  return all;
}

bool is_default_config(const std::map<std::string, std::string>& defaults,
                       const storage::StreamConfig& config, const std::string& name,
                       const std::string& value) {
  if (name == kAttractConfig) return value.empty();
  if (name == kTemplateConfig) return value == config.name;
  return defaults.at(name) == value;
}

}  // namespace

static m::DescribeConfigsResponse handle_describe_configs_now(
    KafkaContext& context, const m::DescribeConfigsRequest& request, std::int16_t version) {
  using Response = m::DescribeConfigsResponse;
  Response response;
  const auto defaults = storage::StreamConfig{}.kafka_configs();
  for (const auto& resource : request.resources) {
    Response::DescribeConfigsResult r;
    r.resource_type = resource.resource_type;
    r.resource_name = resource.resource_name;
    r.error_message = std::nullopt;
    if (resource.resource_type == kBroker) {
      response.results.push_back(std::move(r));
      continue;
    }
    auto config = resource.resource_type == kTopic ? context.streams.find(resource.resource_name)
                                                   : std::nullopt;
    if (resource.resource_type != kTopic) {
      r.error_code = code(ErrorCode::invalid_request);
      r.error_message = "only topic and broker resources are described";
    } else if (!config) {
      r.error_code = code(ErrorCode::unknown_topic_or_partition);
      r.error_message = "no stream " + resource.resource_name;
    } else {
      for (const auto& [name, value] : all_configs(*config)) {
        if (resource.configuration_keys && !resource.configuration_keys->empty() &&
            std::find(resource.configuration_keys->begin(), resource.configuration_keys->end(),
                      name) == resource.configuration_keys->end())
          continue;
        Response::DescribeConfigsResourceResult entry;
        entry.name = name;
        entry.value = value;
        const bool is_default = is_default_config(defaults, *config, name, value);
        entry.read_only = name.starts_with("skein.");
        entry.is_default = version == 0 && is_default;  // v0 only; v1+ says it by the source
        entry.config_source = is_default ? kDefaultConfig : kDynamicTopicConfig;
        entry.config_type = type_of(name);
        entry.documentation = std::nullopt;
        r.configs.push_back(std::move(entry));
      }
    }
    response.results.push_back(std::move(r));
  }
  return response;
}

awaitable<m::DescribeConfigsResponse> handle_describe_configs(
    KafkaContext& context, Session&, const m::DescribeConfigsRequest& request,
    std::int16_t version) {
  co_return handle_describe_configs_now(context, request, version);
}

static m::IncrementalAlterConfigsResponse handle_incremental_alter_configs_now(
    KafkaContext& context, const m::IncrementalAlterConfigsRequest& request) {
  using Response = m::IncrementalAlterConfigsResponse;
  enum : std::int8_t { kSet = 0, kDelete = 1, kAppend = 2, kSubtract = 3 };
  Response response;
  for (const auto& resource : request.resources) {
    Response::AlterConfigsResourceResponse r;
    r.resource_type = resource.resource_type;
    r.resource_name = resource.resource_name;
    r.error_message = std::nullopt;
    auto fail = [&](ErrorCode e, std::string message) {
      r.error_code = code(e);
      r.error_message = std::move(message);
    };
    auto config = resource.resource_type == kTopic ? context.streams.find(resource.resource_name)
                                                   : std::nullopt;
    if (resource.resource_type != kTopic) {
      fail(ErrorCode::invalid_request, "only topic configs can be altered");
    } else if (resource.resource_name == OffsetStore::kStream) {
      fail(ErrorCode::topic_authorization_failed,
           resource.resource_name + " is internal to the node");
    } else if (!config) {
      fail(ErrorCode::unknown_topic_or_partition, "no stream " + resource.resource_name);
    } else {
      for (const auto& change : resource.configs) {
        storage::Status applied = storage::Ok{};
        if (change.config_operation == kSet) {
          applied = config->set_kafka_config(change.name, change.value.value_or(""));
        } else if (change.config_operation == kDelete) {
          applied = config->reset_kafka_config(change.name);
        } else if ((change.config_operation == kAppend || change.config_operation == kSubtract) &&
                   change.name == "cleanup.policy") {
          // The one list-valued setting: add or remove delete / compact.
          const std::string item = change.value.value_or("");
          const bool add = change.config_operation == kAppend;
          if (item == "delete")
            config->cleanup_delete = add;
          else if (item == "compact")
            config->cleanup_compact = add;
          else
            applied =
                storage::Error{storage::Errc::invalid_config, "cleanup.policy has no item " + item};
          if (applied && !config->cleanup_delete && !config->cleanup_compact)
            applied =
                storage::Error{storage::Errc::invalid_config, "cleanup.policy cannot be empty"};
        } else {
          applied = storage::Error{storage::Errc::invalid_config,
                                   "operation " + std::to_string(change.config_operation) +
                                       " does not apply to " + change.name};
        }
        if (!applied) {
          fail(ErrorCode::invalid_config, applied.error().message);
          break;
        }
      }
      if (r.error_code == 0 && !request.validate_only) {
        if (auto updated = context.streams.update(*config); !updated)
          fail(ErrorCode::invalid_config, updated.error().message);
      }
    }
    response.responses.push_back(std::move(r));
  }
  return response;
}

awaitable<m::IncrementalAlterConfigsResponse> handle_incremental_alter_configs(
    KafkaContext& context, Session&, const m::IncrementalAlterConfigsRequest& request) {
  co_return handle_incremental_alter_configs_now(context, request);
}

}  // namespace skein::kafka
