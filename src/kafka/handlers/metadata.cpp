// Metadata: this node as the one broker and the leader of every partition;
// the streams asked for (or all of them), created on demand when auto-create
// is on and the client allows it. Also the shared lookup-or-create of a stream.
#include <spdlog/spdlog.h>

#include "kafka/handlers.hpp"
#include "kafka/offset_store.hpp"
#include "kafka/protocol/error_codes.hpp"

namespace skein::kafka {

std::optional<storage::StreamConfig> find_or_create_stream(KafkaContext& context,
                                                           const std::string& name, bool create,
                                                           std::int16_t* error) {
  auto set_error = [&](ErrorCode e) {
    if (error != nullptr) *error = code(e);
  };
  if (auto found = context.streams.find(name)) return found;
  if (!storage::valid_stream_name(name)) {
    set_error(ErrorCode::invalid_topic_exception);
    return std::nullopt;
  }
  set_error(ErrorCode::unknown_topic_or_partition);
  if (!create || !context.settings.auto_create) return std::nullopt;
  storage::StreamConfig config;
  config.name = name;
  config.partitions = context.settings.default_partitions;
  config.fsync = context.settings.default_fsync;
  auto created = context.streams.create(config);
  // Another connection may have created it a moment ago: that is success too.
  if (!created && created.error().code != storage::Errc::exists) {
    spdlog::error("kafka: cannot create stream {}: {}", name, created.error().message);
    set_error(ErrorCode::kafka_storage_error);
    return std::nullopt;
  }
  if (created) spdlog::info("kafka: created stream {} ({} partitions)", name, config.partitions);
  return context.streams.find(name);
}

namespace {

m::MetadataResponse::MetadataResponseTopic describe(KafkaContext& context,
                                                    const storage::StreamConfig& config) {
  m::MetadataResponse::MetadataResponseTopic topic;
  topic.name = config.name;
  topic.is_internal = config.name == OffsetStore::kStream;
  for (std::int32_t p = 0; p < config.partitions; ++p) {
    m::MetadataResponse::MetadataResponsePartition partition;
    partition.partition_index = p;
    partition.leader_id = context.node_id;
    partition.leader_epoch = 0;
    partition.replica_nodes = {context.node_id};
    partition.isr_nodes = {context.node_id};
    topic.partitions.push_back(std::move(partition));
  }
  return topic;
}

}  // namespace

awaitable<m::MetadataResponse> handle_metadata(KafkaContext& context, Session&,
                                               const m::MetadataRequest& request,
                                               std::int16_t version) {
  m::MetadataResponse response;
  m::MetadataResponse::MetadataResponseBroker broker;
  broker.node_id = context.node_id;
  broker.host = context.settings.advertised_host;
  broker.port = context.settings.advertised_port;
  response.brokers.push_back(broker);
  response.cluster_id = context.cluster_id;
  response.controller_id = context.node_id;
  // All topics: a null list (v1+), or an empty one in v0.
  const bool all = !request.topics || (version == 0 && request.topics->empty());
  if (all) {
    for (const auto& config : context.streams.list())
      response.topics.push_back(describe(context, config));
    co_return response;
  }
  for (const auto& wanted : *request.topics) {
    const std::string name = wanted.name.value_or("");
    std::int16_t error = 0;
    auto config = find_or_create_stream(context, name, request.allow_auto_topic_creation, &error);
    if (config) {
      response.topics.push_back(describe(context, *config));
    } else {
      m::MetadataResponse::MetadataResponseTopic missing;
      missing.name = name;
      missing.error_code = error;
      response.topics.push_back(std::move(missing));
    }
  }
  co_return response;
}

}  // namespace skein::kafka
