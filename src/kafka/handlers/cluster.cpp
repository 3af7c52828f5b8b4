// The cluster-shaped APIs of a single-node cluster: ApiVersions, DescribeCluster,
// FindCoordinator (this node coordinates every group), InitProducerId (ids from
// a node-wide counter) and OffsetForLeaderEpoch (one epoch, 0, for ever).
#include "kafka/handlers.hpp"
#include "kafka/protocol/api_versions.hpp"
#include "kafka/protocol/error_codes.hpp"

namespace skein::kafka {

awaitable<m::ApiVersionsResponse> handle_api_versions(KafkaContext&, Session&,
                                                      const m::ApiVersionsRequest&) {
  m::ApiVersionsResponse response = api_versions_response();
  co_return response;
}

awaitable<m::DescribeClusterResponse> handle_describe_cluster(KafkaContext& context, Session&,
                                                              const m::DescribeClusterRequest&) {
  m::DescribeClusterResponse response;
  response.cluster_id = context.cluster_id;
  response.controller_id = context.node_id;
  m::DescribeClusterResponse::DescribeClusterBroker broker;
  broker.broker_id = context.node_id;
  broker.host = context.settings.advertised_host;
  broker.port = context.settings.advertised_port;
  response.brokers.push_back(broker);
  co_return response;
}

awaitable<m::FindCoordinatorResponse> handle_find_coordinator(
    KafkaContext& context, Session&, const m::FindCoordinatorRequest& request,
    std::int16_t version) {
  m::FindCoordinatorResponse response;
  // v4 batches keys; earlier versions carry one key and answer in the top level.
  if (version >= 4) {
    for (const std::string& key : request.coordinator_keys) {
      m::FindCoordinatorResponse::Coordinator c;
      c.key = key;
      c.node_id = context.node_id;
      c.host = context.settings.advertised_host;
      c.port = context.settings.advertised_port;
      c.error_message = std::nullopt;
      response.coordinators.push_back(c);
    }
  } else {
    response.node_id = context.node_id;
    response.host = context.settings.advertised_host;
    response.port = context.settings.advertised_port;
    response.error_message = std::nullopt;
  }
  co_return response;
}

awaitable<m::InitProducerIdResponse> handle_init_producer_id(
    KafkaContext& context, Session&, const m::InitProducerIdRequest& request) {
  m::InitProducerIdResponse response;
  if (request.transactional_id && !request.transactional_id->empty()) {
    // Transactions come later: say so rather than pretend.
    response.error_code = code(ErrorCode::transactional_id_authorization_failed);
    co_return response;
  }
  response.producer_id = context.next_producer_id.fetch_add(1);
  response.producer_epoch = 0;
  co_return response;
}

awaitable<m::OffsetForLeaderEpochResponse> handle_offset_for_leader_epoch(
    KafkaContext& context, Session&, const m::OffsetForLeaderEpochRequest& request) {
  m::OffsetForLeaderEpochResponse response;
  for (const auto& topic : request.topics) {
    m::OffsetForLeaderEpochResponse::OffsetForLeaderTopicResult t;
    t.topic = topic.topic;
    for (const auto& part : topic.partitions) {
      m::OffsetForLeaderEpochResponse::EpochEndOffset e;
      e.partition = part.partition;
      auto p = context.streams.partition(topic.topic, part.partition);
      if (!p) {
        e.error_code = code(ErrorCode::unknown_topic_or_partition);
      } else {
        // Every partition has had one leader epoch, 0, since it was created.
        e.leader_epoch = 0;
        e.end_offset = part.leader_epoch <= 0 ? p->log_end() : -1;
      }
      t.partitions.push_back(e);
    }
    response.topics.push_back(std::move(t));
  }
  co_return response;
}

}  // namespace skein::kafka
