// The consumer group APIs: membership (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup) through the GroupCoordinator, committed offsets (OffsetCommit,
// OffsetFetch) through the OffsetStore, and DescribeGroups, ListGroups,
// DeleteGroups.
#include "kafka/group_coordinator.hpp"
#include "kafka/handlers.hpp"
#include "kafka/offset_store.hpp"
#include "kafka/protocol/error_codes.hpp"

namespace skein::kafka {

namespace {
// Kafka's offset.metadata.max.bytes.
constexpr std::size_t kMaxOffsetMetadata = 4096;
}  // namespace

awaitable<m::JoinGroupResponse> handle_join_group(KafkaContext& context, Session& session,
                                                  const m::JoinGroupRequest& request,
                                                  std::int16_t version) {
  GroupCoordinator::Caller caller{session.client_id, session.client_host};
  m::JoinGroupResponse response = co_await context.groups->join(request, version, caller);
  co_return response;
}

awaitable<m::SyncGroupResponse> handle_sync_group(KafkaContext& context, Session&,
                                                  const m::SyncGroupRequest& request) {
  m::SyncGroupResponse response = co_await context.groups->sync(request);
  co_return response;
}

awaitable<m::HeartbeatResponse> handle_heartbeat(KafkaContext& context, Session&,
                                                 const m::HeartbeatRequest& request) {
  m::HeartbeatResponse response;
  response.error_code = co_await context.groups->heartbeat(request);
  co_return response;
}

awaitable<m::LeaveGroupResponse> handle_leave_group(KafkaContext& context, Session&,
                                                    const m::LeaveGroupRequest& request,
                                                    std::int16_t version) {
  m::LeaveGroupResponse response = co_await context.groups->leave(request, version);
  co_return response;
}

awaitable<m::OffsetCommitResponse> handle_offset_commit(KafkaContext& context, Session&,
                                                        const m::OffsetCommitRequest& request) {
  using Response = m::OffsetCommitResponse;
  Response response;
  std::int16_t error =
      co_await context.groups->check_commit(request.group_id, request.generation_id_or_member_epoch,
                                            request.member_id, request.group_instance_id);
  std::vector<std::tuple<std::string, std::int32_t, CommittedOffset>> commits;
  for (const auto& topic : request.topics) {
    Response::OffsetCommitResponseTopic t;
    t.name = topic.name;
    for (const auto& part : topic.partitions) {
      Response::OffsetCommitResponsePartition p;
      p.partition_index = part.partition_index;
      p.error_code = error;
      const std::string metadata = part.committed_metadata.value_or("");
      if (error == 0 && metadata.size() > kMaxOffsetMetadata) {
        p.error_code = code(ErrorCode::offset_metadata_too_large);
      } else if (error == 0 && !context.streams.partition(topic.name, part.partition_index)) {
        p.error_code = code(ErrorCode::unknown_topic_or_partition);
      } else if (error == 0) {
        commits.emplace_back(
            topic.name, part.partition_index,
            CommittedOffset{part.committed_offset, part.committed_leader_epoch, metadata, 0});
      }
      t.partitions.push_back(p);
    }
    response.topics.push_back(std::move(t));
  }
  if (!commits.empty()) {
    auto failed = co_await context.offsets->commit(request.group_id, std::move(commits));
    if (failed) {
      for (auto& t : response.topics)
        for (auto& p : t.partitions)
          if (p.error_code == 0) p.error_code = code(ErrorCode::coordinator_not_available);
    }
  }
  co_return response;
}

namespace {

// The answer for one group: the partitions asked (nullopt: all committed).
template <class Topic, class Partition, class Wanted>
std::vector<Topic> offsets_for(const OffsetStore& store, const std::string& group,
                               const std::optional<std::vector<Wanted>>& wanted) {
  std::vector<Topic> out;
  auto entry = [](std::int32_t index, const std::optional<CommittedOffset>& c) {
    Partition p;
    p.partition_index = index;
    p.committed_offset = c ? c->offset : -1;
    p.committed_leader_epoch = c ? c->leader_epoch : -1;
    p.metadata = c ? c->metadata : std::string();
    return p;
  };
  if (!wanted) {
    for (const auto& [key, committed] : store.fetch_all(group)) {
      if (out.empty() || out.back().name != key.first) {
        out.emplace_back();
        out.back().name = key.first;
      }
      out.back().partitions.push_back(entry(key.second, committed));
    }
    return out;
  }
  for (const auto& topic : *wanted) {
    Topic t;
    t.name = topic.name;
    for (std::int32_t index : topic.partition_indexes)
      t.partitions.push_back(entry(index, store.fetch(group, topic.name, index)));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

awaitable<m::OffsetFetchResponse> handle_offset_fetch(KafkaContext& context, Session&,
                                                      const m::OffsetFetchRequest& request,
                                                      std::int16_t version) {
  using Response = m::OffsetFetchResponse;
  Response response;
  if (version >= 8) {
    for (const auto& g : request.groups) {
      Response::OffsetFetchResponseGroup group;
      group.group_id = g.group_id;
      group.topics =
          offsets_for<Response::OffsetFetchResponseTopics, Response::OffsetFetchResponsePartitions>(
              *context.offsets, g.group_id, g.topics);
      response.groups.push_back(std::move(group));
    }
    co_return response;
  }
  response.topics =
      offsets_for<Response::OffsetFetchResponseTopic, Response::OffsetFetchResponsePartition>(
          *context.offsets, request.group_id, request.topics);
  co_return response;
}

awaitable<m::DescribeGroupsResponse> handle_describe_groups(
    KafkaContext& context, Session&, const m::DescribeGroupsRequest& request) {
  m::DescribeGroupsResponse response;
  for (const std::string& id : request.groups) {
    auto described = co_await context.groups->describe(id);
    response.groups.push_back(std::move(described));
  }
  co_return response;
}

awaitable<m::ListGroupsResponse> handle_list_groups(KafkaContext& context, Session&,
                                                    const m::ListGroupsRequest& request) {
  m::ListGroupsResponse response;
  auto groups = co_await context.groups->list();
  for (auto& g : groups) {
    const auto& filter = request.states_filter;
    if (!filter.empty() && std::find(filter.begin(), filter.end(), g.group_state) == filter.end())
      continue;
    response.groups.push_back(std::move(g));
  }
  co_return response;
}

awaitable<m::DeleteGroupsResponse> handle_delete_groups(KafkaContext& context, Session&,
                                                        const m::DeleteGroupsRequest& request) {
  m::DeleteGroupsResponse response;
  for (const std::string& id : request.groups_names) {
    m::DeleteGroupsResponse::DeletableGroupResult r;
    r.group_id = id;
    r.error_code = co_await context.groups->remove(id);
    response.results.push_back(std::move(r));
  }
  co_return response;
}

}  // namespace skein::kafka
