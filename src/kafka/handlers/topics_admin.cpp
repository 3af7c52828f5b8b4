// CreateTopics, DeleteTopics and CreatePartitions: Kafka topics are streams
// (DESIGN.md §1). A single node holds one replica of everything, so a
// replication factor above 1 is refused rather than pretended.
#include "kafka/handlers.hpp"
#include "kafka/offset_store.hpp"
#include "kafka/protocol/error_codes.hpp"
#include "runtime/stream_attraction.hpp"

namespace skein::kafka {

// Each handler here is a coroutine only in name: GCC 12 crashes on, or
// miscompiles, lambdas and loops like these inside a coroutine, so the work
// is a plain function (handle_*_now) that the coroutine returns.

namespace {

std::int16_t error_for(const storage::Error& error) {
  switch (error.code) {
    case storage::Errc::exists:
      return code(ErrorCode::topic_already_exists);
    case storage::Errc::not_found:
      return code(ErrorCode::unknown_topic_or_partition);
    case storage::Errc::invalid_config:
      return code(ErrorCode::invalid_config);
    default:
      return code(ErrorCode::kafka_storage_error);
  }
}

}  // namespace

static m::CreateTopicsResponse handle_create_topics_now(KafkaContext& context,
                                                        const m::CreateTopicsRequest& request) {
  using Response = m::CreateTopicsResponse;
  Response response;
  for (const auto& topic : request.topics) {
    Response::CreatableTopicResult r;
    r.name = topic.name;
    r.error_message = std::nullopt;
    auto fail = [&](ErrorCode e, std::string message) {
      r.error_code = code(e);
      r.error_message = std::move(message);
    };
    storage::StreamConfig config;
    config.name = topic.name;
    config.fsync = context.settings.default_fsync;
    config.partitions =
        topic.num_partitions == -1 ? context.settings.default_partitions : topic.num_partitions;
    std::string why;
    if (!storage::valid_stream_name(topic.name, &why)) {
      fail(ErrorCode::invalid_topic_exception, why);
    } else if (topic.replication_factor > 1) {
      fail(ErrorCode::invalid_replication_factor,
           "this cluster has one broker: replication factor " +
               std::to_string(topic.replication_factor) + " cannot be met");
    } else if (!topic.assignments.empty()) {
      fail(ErrorCode::invalid_replica_assignment, "replica assignments are not supported");
    } else if (config.partitions < 1) {
      fail(ErrorCode::invalid_partitions,
           "number of partitions must be at least 1, not " + std::to_string(config.partitions));
    } else {
      for (const auto& c : topic.configs) {
        auto set =
            c.value ? config.set_kafka_config(c.name, *c.value) : config.reset_kafka_config(c.name);
        if (!set) {
          fail(ErrorCode::invalid_config, set.error().message);
          break;
        }
      }
    }
    if (r.error_code == 0 && !request.validate_only) {
      if (auto created = context.streams.create(config); !created)
        fail(static_cast<ErrorCode>(error_for(created.error())), created.error().message);
    } else if (r.error_code == 0 && context.streams.find(config.name)) {
      fail(ErrorCode::topic_already_exists, "stream " + config.name + " exists already");
    }
    if (r.error_code == 0) {
      r.num_partitions = config.partitions;
      r.replication_factor = 1;
      std::vector<Response::CreatableTopicConfigs> configs;
      for (const auto& [name, value] : config.kafka_configs()) {
        Response::CreatableTopicConfigs entry;
        entry.name = name;
        entry.value = value;
        entry.config_source = 1;  // DYNAMIC_TOPIC_CONFIG
        configs.push_back(std::move(entry));
      }
      r.configs = std::move(configs);
    }
    response.topics.push_back(std::move(r));
  }
  return response;
}

awaitable<m::CreateTopicsResponse> handle_create_topics(KafkaContext& context, Session&,
                                                        const m::CreateTopicsRequest& request) {
  co_return handle_create_topics_now(context, request);
}

static m::DeleteTopicsResponse handle_delete_topics_now(KafkaContext& context,
                                                        const m::DeleteTopicsRequest& request,
                                                        std::int16_t version) {
  m::DeleteTopicsResponse response;
  std::vector<std::string> names = request.topic_names;  // v0-5
  if (version >= 6)
    for (const auto& t : request.topics) names.push_back(t.name.value_or(""));
  for (const std::string& name : names) {
    m::DeleteTopicsResponse::DeletableTopicResult r;
    r.name = name;
    if (name == OffsetStore::kStream) {
      r.error_code = code(ErrorCode::topic_authorization_failed);
      r.error_message = name + " is internal to the node";
    } else if (auto removed = context.streams.remove(name); !removed) {
      r.error_code = error_for(removed.error());
      r.error_message = removed.error().message;
    } else if (context.attraction != nullptr) {
      context.attraction->sync_later(name);  // its attract filters leave the router
    }
    response.responses.push_back(std::move(r));
  }
  return response;
}

awaitable<m::DeleteTopicsResponse> handle_delete_topics(KafkaContext& context, Session&,
                                                        const m::DeleteTopicsRequest& request,
                                                        std::int16_t version) {
  co_return handle_delete_topics_now(context, request, version);
}

static m::CreatePartitionsResponse handle_create_partitions_now(
    KafkaContext& context, const m::CreatePartitionsRequest& request) {
  m::CreatePartitionsResponse response;
  for (const auto& topic : request.topics) {
    m::CreatePartitionsResponse::CreatePartitionsTopicResult r;
    r.name = topic.name;
    auto config = context.streams.find(topic.name);
    if (topic.name == OffsetStore::kStream) {
      r.error_code = code(ErrorCode::topic_authorization_failed);
      r.error_message = topic.name + " is internal to the node";
    } else if (!config) {
      r.error_code = code(ErrorCode::unknown_topic_or_partition);
      r.error_message = "no stream " + topic.name;
    } else if (topic.count <= config->partitions) {
      r.error_code = code(ErrorCode::invalid_partitions);
      r.error_message = "stream " + topic.name + " has " + std::to_string(config->partitions) +
                        " partitions; a new count must be larger, not " +
                        std::to_string(topic.count);
    } else if (!request.validate_only) {
      config->partitions = topic.count;
      if (auto updated = context.streams.update(*config); !updated) {
        r.error_code = error_for(updated.error());
        r.error_message = updated.error().message;
      }
    }
    response.results.push_back(std::move(r));
  }
  return response;
}

awaitable<m::CreatePartitionsResponse> handle_create_partitions(
    KafkaContext& context, Session&, const m::CreatePartitionsRequest& request) {
  co_return handle_create_partitions_now(context, request);
}

}  // namespace skein::kafka
