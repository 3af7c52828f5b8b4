// From a parsed request to its handler and back to a response frame
// (handlers.hpp): every API the codec serves has its case here.
#include <boost/asio/use_awaitable.hpp>

#include "kafka/handlers.hpp"

namespace skein::kafka {

namespace {

// Decodes a request of type Req; nullopt when the body is malformed.
template <class Req>
std::optional<Req> decode(const ParsedRequest& request) {
  Req body;
  Reader reader(request.body);
  if (!body.decode(reader, request.header.api_version)) return std::nullopt;
  return body;
}

template <class Resp>
void answer(Writer& out, const ParsedRequest& request, const Resp& response) {
  write_response_frame(out, request.header.api_version, request.header.correlation_id, response);
}

}  // namespace

awaitable<HandlerOutcome> dispatch(KafkaContext& context, Session& session,
                                   const ParsedRequest& request, Writer& out) {
  const std::int16_t version = request.header.api_version;
  // One case per API: decode, handle, answer. Each body is a named local
  // (GCC 12 mishandles temporaries inside co_await expressions).
#define SKEIN_SERVE(KEY, TYPE, CALL)                \
  case ApiKey::KEY: {                               \
    auto body = decode<m::TYPE##Request>(request);  \
    if (!body) co_return HandlerOutcome::malformed; \
    auto response = co_await CALL;                  \
    answer(out, request, response);                 \
    co_return HandlerOutcome::answered;             \
  }
  switch (static_cast<ApiKey>(request.header.api_key)) {
    SKEIN_SERVE(api_versions, ApiVersions, handle_api_versions(context, session, *body))
    SKEIN_SERVE(metadata, Metadata, handle_metadata(context, session, *body, version))
    SKEIN_SERVE(fetch, Fetch, handle_fetch(context, session, *body, version))
    SKEIN_SERVE(list_offsets, ListOffsets, handle_list_offsets(context, session, *body, version))
    SKEIN_SERVE(offset_for_leader_epoch, OffsetForLeaderEpoch,
                handle_offset_for_leader_epoch(context, session, *body))
    SKEIN_SERVE(find_coordinator, FindCoordinator,
                handle_find_coordinator(context, session, *body, version))
    SKEIN_SERVE(init_producer_id, InitProducerId, handle_init_producer_id(context, session, *body))
    SKEIN_SERVE(describe_cluster, DescribeCluster, handle_describe_cluster(context, session, *body))
    SKEIN_SERVE(create_topics, CreateTopics, handle_create_topics(context, session, *body))
    SKEIN_SERVE(delete_topics, DeleteTopics, handle_delete_topics(context, session, *body, version))
    SKEIN_SERVE(create_partitions, CreatePartitions,
                handle_create_partitions(context, session, *body))
    SKEIN_SERVE(describe_configs, DescribeConfigs,
                handle_describe_configs(context, session, *body, version))
    SKEIN_SERVE(incremental_alter_configs, IncrementalAlterConfigs,
                handle_incremental_alter_configs(context, session, *body))
    SKEIN_SERVE(join_group, JoinGroup, handle_join_group(context, session, *body, version))
    SKEIN_SERVE(sync_group, SyncGroup, handle_sync_group(context, session, *body))
    SKEIN_SERVE(heartbeat, Heartbeat, handle_heartbeat(context, session, *body))
    SKEIN_SERVE(leave_group, LeaveGroup, handle_leave_group(context, session, *body, version))
    SKEIN_SERVE(offset_commit, OffsetCommit, handle_offset_commit(context, session, *body))
    SKEIN_SERVE(offset_fetch, OffsetFetch, handle_offset_fetch(context, session, *body, version))
    SKEIN_SERVE(describe_groups, DescribeGroups, handle_describe_groups(context, session, *body))
    SKEIN_SERVE(list_groups, ListGroups, handle_list_groups(context, session, *body))
    SKEIN_SERVE(delete_groups, DeleteGroups, handle_delete_groups(context, session, *body))
    SKEIN_SERVE(sasl_handshake, SaslHandshake, handle_sasl_handshake(context, session, *body))
    SKEIN_SERVE(sasl_authenticate, SaslAuthenticate,
                handle_sasl_authenticate(context, session, *body))
    case ApiKey::produce: {
      auto body = decode<m::ProduceRequest>(request);
      if (!body) co_return HandlerOutcome::malformed;
      auto response = co_await handle_produce(context, session, *body, version);
      if (response) answer(out, request, *response);  // acks=0: no answer
      co_return HandlerOutcome::answered;
    }
    default:
      co_return HandlerOutcome::malformed;  // not reached: the header parser knows the APIs
  }
#undef SKEIN_SERVE
}

}  // namespace skein::kafka
