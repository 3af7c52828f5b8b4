// GroupCoordinator: Kafka's consumer group membership protocol (the classic
// one: JoinGroup, SyncGroup, Heartbeat, LeaveGroup), with this node as the
// coordinator of every group (DESIGN.md §8: "group coordinator").
//
// A group lives on one shard (hash of its id) and is touched only there; the
// awaitables hop there and back. A group's life:
//
//   Empty --join--> PreparingRebalance --everyone joined, or the rebalance
//   timeout--> CompletingRebalance --the leader's SyncGroup--> Stable
//
// A rebalance starts when a member joins, leaves, changes its protocols or
// misses its session timeout. It waits until every member has rejoined (those
// that do not within the rebalance timeout are removed), then bumps the
// generation, picks the protocol every member supports that most members
// prefer, and answers every JoinGroup: the leader gets every member's
// metadata to compute the assignment (range, roundrobin, cooperative-sticky:
// the assignors run in the clients, their metadata passes through untouched),
// and its SyncGroup hands each member its part. A group formed from empty
// waits group_initial_rebalance_delay first, so that members starting
// together land in one generation (Kafka's group.initial.rebalance.delay.ms).
//
// JoinGroup v4+ without a member id gets MEMBER_ID_REQUIRED and an id to
// rejoin with (KIP-394). Static members (group.instance.id, KIP-345) keep
// their identity across restarts: a static member rejoining with a new
// member id takes over its old one's place and assignment without a
// rebalance. Offsets are validated here and kept by the OffsetStore.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kafka/offset_store.hpp"
#include "kafka/protocol/apis.hpp"
#include "runtime/shard_pool.hpp"

namespace skein::kafka {

struct GroupSettings {
  std::chrono::milliseconds initial_rebalance_delay{3000};
  std::chrono::milliseconds min_session_timeout{6000};
  std::chrono::milliseconds max_session_timeout{1800000};
};

class GroupCoordinator {
 public:
  GroupCoordinator(runtime::ShardPool& pool, OffsetStore& offsets, GroupSettings settings);
  ~GroupCoordinator();

  // Starts the session-timeout sweeps (after the pool started).
  void start();
  void stop();

  struct Caller {
    std::string client_id;
    std::string client_host;
  };

  boost::asio::awaitable<messages::JoinGroupResponse> join(messages::JoinGroupRequest request,
                                                           std::int16_t version, Caller caller);
  boost::asio::awaitable<messages::SyncGroupResponse> sync(messages::SyncGroupRequest request);
  boost::asio::awaitable<std::int16_t> heartbeat(messages::HeartbeatRequest request);
  boost::asio::awaitable<messages::LeaveGroupResponse> leave(messages::LeaveGroupRequest request,
                                                             std::int16_t version);
  boost::asio::awaitable<messages::DescribeGroupsResponse::DescribedGroup> describe(
      std::string group_id);
  // (group id, protocol type, state) of every group with members or offsets.
  boost::asio::awaitable<std::vector<messages::ListGroupsResponse::ListedGroup>> list();
  // NONE, NON_EMPTY_GROUP or GROUP_ID_NOT_FOUND; deletes the group's offsets.
  boost::asio::awaitable<std::int16_t> remove(std::string group_id);
  // Whether `member_id` of generation `generation` may commit for the group:
  // NONE or the error to answer each partition with.
  boost::asio::awaitable<std::int16_t> check_commit(std::string group_id, std::int32_t generation,
                                                    std::string member_id,
                                                    std::optional<std::string> instance_id);

  struct Group;  // defined in group_coordinator.cpp

 private:
  unsigned shard_of(const std::string& group_id) const;
  Group& group(unsigned shard, const std::string& group_id);  // created when absent
  Group* find(unsigned shard, const std::string& group_id);
  void sweep(unsigned shard);
  void schedule_sweep(unsigned shard);

  runtime::ShardPool& pool_;
  OffsetStore& offsets_;
  GroupSettings settings_;
  // Per shard, touched only there: its groups.
  std::vector<std::unordered_map<std::string, std::unique_ptr<Group>>> groups_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> sweeps_;
};

}  // namespace skein::kafka
