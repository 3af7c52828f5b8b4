// The Kafka APIs' handlers, one per API (DESIGN.md §8: "one handler per
// API"), and the dispatch from a parsed request to its handler. A handler
// gets the decoded request and returns the response body; dispatch writes
// the frame. A handler may return no response: a Produce with acks=0.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "kafka/kafka_context.hpp"
#include "kafka/protocol/apis.hpp"
#include "kafka/protocol/request_header.hpp"

namespace skein::kafka {

// Per-connection state that handlers read and change.
struct Session {
  unsigned shard = 0;  // where the connection lives
  std::string client_id;
  std::string client_host;     // the peer's address
  std::string sasl_mechanism;  // chosen by SaslHandshake; empty before
  std::string principal;       // "User:name" after SaslAuthenticate, else "User:ANONYMOUS"
};

enum class HandlerOutcome {
  answered,   // the response (if any) is in the writer
  malformed,  // the body did not decode: close the connection
};

// Decodes `request`'s body, runs its handler, writes the response frame.
boost::asio::awaitable<HandlerOutcome> dispatch(KafkaContext& context, Session& session,
                                                const ParsedRequest& request, Writer& out);

namespace m = messages;
using boost::asio::awaitable;

awaitable<m::ApiVersionsResponse> handle_api_versions(KafkaContext&, Session&,
                                                      const m::ApiVersionsRequest&);
awaitable<m::MetadataResponse> handle_metadata(KafkaContext&, Session&, const m::MetadataRequest&,
                                               std::int16_t version);
awaitable<std::optional<m::ProduceResponse>> handle_produce(KafkaContext&, Session&,
                                                            const m::ProduceRequest&,
                                                            std::int16_t version);
awaitable<m::FetchResponse> handle_fetch(KafkaContext&, Session&, const m::FetchRequest&,
                                         std::int16_t version);
awaitable<m::ListOffsetsResponse> handle_list_offsets(KafkaContext&, Session&,
                                                      const m::ListOffsetsRequest&,
                                                      std::int16_t version);
awaitable<m::OffsetForLeaderEpochResponse> handle_offset_for_leader_epoch(
    KafkaContext&, Session&, const m::OffsetForLeaderEpochRequest&);
awaitable<m::FindCoordinatorResponse> handle_find_coordinator(KafkaContext&, Session&,
                                                              const m::FindCoordinatorRequest&,
                                                              std::int16_t version);
awaitable<m::InitProducerIdResponse> handle_init_producer_id(KafkaContext&, Session&,
                                                             const m::InitProducerIdRequest&);
awaitable<m::DescribeClusterResponse> handle_describe_cluster(KafkaContext&, Session&,
                                                              const m::DescribeClusterRequest&);
awaitable<m::CreateTopicsResponse> handle_create_topics(KafkaContext&, Session&,
                                                        const m::CreateTopicsRequest&);
awaitable<m::DeleteTopicsResponse> handle_delete_topics(KafkaContext&, Session&,
                                                        const m::DeleteTopicsRequest&,
                                                        std::int16_t version);
awaitable<m::CreatePartitionsResponse> handle_create_partitions(KafkaContext&, Session&,
                                                                const m::CreatePartitionsRequest&);
awaitable<m::DescribeConfigsResponse> handle_describe_configs(KafkaContext&, Session&,
                                                              const m::DescribeConfigsRequest&,
                                                              std::int16_t version);
awaitable<m::IncrementalAlterConfigsResponse> handle_incremental_alter_configs(
    KafkaContext&, Session&, const m::IncrementalAlterConfigsRequest&);
awaitable<m::SaslHandshakeResponse> handle_sasl_handshake(KafkaContext&, Session&,
                                                          const m::SaslHandshakeRequest&);
awaitable<m::SaslAuthenticateResponse> handle_sasl_authenticate(KafkaContext&, Session&,
                                                                const m::SaslAuthenticateRequest&);

awaitable<m::JoinGroupResponse> handle_join_group(KafkaContext&, Session&,
                                                  const m::JoinGroupRequest&, std::int16_t version);
awaitable<m::SyncGroupResponse> handle_sync_group(KafkaContext&, Session&,
                                                  const m::SyncGroupRequest&);
awaitable<m::HeartbeatResponse> handle_heartbeat(KafkaContext&, Session&,
                                                 const m::HeartbeatRequest&);
awaitable<m::LeaveGroupResponse> handle_leave_group(KafkaContext&, Session&,
                                                    const m::LeaveGroupRequest&,
                                                    std::int16_t version);
awaitable<m::OffsetCommitResponse> handle_offset_commit(KafkaContext&, Session&,
                                                        const m::OffsetCommitRequest&);
awaitable<m::OffsetFetchResponse> handle_offset_fetch(KafkaContext&, Session&,
                                                      const m::OffsetFetchRequest&,
                                                      std::int16_t version);
awaitable<m::DescribeGroupsResponse> handle_describe_groups(KafkaContext&, Session&,
                                                            const m::DescribeGroupsRequest&);
awaitable<m::ListGroupsResponse> handle_list_groups(KafkaContext&, Session&,
                                                    const m::ListGroupsRequest&);
awaitable<m::DeleteGroupsResponse> handle_delete_groups(KafkaContext&, Session&,
                                                        const m::DeleteGroupsRequest&);

// The user a SASL PLAIN token names (authzid NUL user NUL password); empty
// when the token is malformed.
std::string plain_user(std::span<const std::byte> token);

// The stream named `name`, created with the node's defaults when it is
// missing and `create` is set; nullopt when it does not exist (or cannot be
// created: `error` says why, as a Kafka error code).
std::optional<storage::StreamConfig> find_or_create_stream(KafkaContext& context,
                                                           const std::string& name, bool create,
                                                           std::int16_t* error = nullptr);

}  // namespace skein::kafka
