// The consumer group state machine (group_coordinator.hpp). Everything about
// a group runs on its shard; requests wait there for the rest of their group
// through `done` callbacks (runtime::start_on), and a sweep every 100 ms
// expires sessions and ends rebalances whose time is up.
#include "kafka/group_coordinator.hpp"

#include <spdlog/spdlog.h>

#include <random>
#include <set>

#include "kafka/protocol/error_codes.hpp"
#include "runtime/cross_shard.hpp"

namespace skein::kafka {

namespace asio = boost::asio;
namespace m = messages;
using Clock = std::chrono::steady_clock;
using JoinDone = std::function<void(m::JoinGroupResponse)>;
using SyncDone = std::function<void(m::SyncGroupResponse)>;

namespace {

constexpr auto kSweepEvery = std::chrono::milliseconds(100);

std::string fresh_member_id(const std::string& prefix) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  char tail[40];
  std::snprintf(tail, sizeof tail, "-%016llx%08llx", static_cast<unsigned long long>(random()),
                static_cast<unsigned long long>(random() & 0xffffffff));
  return (prefix.empty() ? std::string("member") : prefix) + tail;
}

m::JoinGroupResponse join_error(ErrorCode error, std::string member_id = {}) {
  m::JoinGroupResponse r;
  r.error_code = code(error);
  r.member_id = std::move(member_id);
  return r;
}

m::SyncGroupResponse sync_error(ErrorCode error) {
  m::SyncGroupResponse r;
  r.error_code = code(error);
  return r;
}

}  // namespace

struct Member {
  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id, client_host;
  std::int32_t session_timeout_ms = 10000;
  std::int32_t rebalance_timeout_ms = 10000;
  std::vector<std::pair<std::string, std::vector<std::byte>>> protocols;
  std::vector<std::byte> assignment;
  std::uint64_t joined_order = 0;  // the first to join leads
  JoinDone join_waiting;
  SyncDone sync_waiting;
  Clock::time_point deadline;  // of its session
};

struct GroupCoordinator::Group {
  enum class State { empty, preparing, completing, stable };
  std::string id;
  State state = State::empty;
  std::int32_t generation = 0;
  std::string protocol_type;
  std::string protocol;
  std::string leader;
  std::map<std::string, Member> members;
  std::set<std::string> pending;                  // ids handed out by MEMBER_ID_REQUIRED
  std::map<std::string, std::string> static_ids;  // instance id -> member id
  std::uint64_t next_order = 0;
  Clock::time_point delay_until;  // the initial rebalance delay of a group formed from empty
  Clock::time_point rebalance_deadline;

  static const char* state_name(State s) {
    switch (s) {
      case State::empty:
        return "Empty";
      case State::preparing:
        return "PreparingRebalance";
      case State::completing:
        return "CompletingRebalance";
      case State::stable:
        return "Stable";
    }
    return "Dead";
  }

  const std::vector<std::byte>* metadata_of(const Member& member) const {
    for (const auto& [name, metadata] : member.protocols)
      if (name == protocol) return &metadata;
    return nullptr;
  }

  // Whether a member with these protocols could join: the group is empty,
  // or some protocol is supported by every member and by it.
  bool compatible(
      const std::string& type,
      const std::vector<std::pair<std::string, std::vector<std::byte>>>& offered) const {
    if (members.empty()) return true;
    if (type != protocol_type) return false;
    for (const auto& [name, metadata] : offered) {
      bool everyone = true;
      for (const auto& [id, member] : members) {
        bool has = false;
        for (const auto& p : member.protocols) has = has || p.first == name;
        everyone = everyone && has;
      }
      if (everyone) return true;
    }
    return false;
  }

  // The protocol every member supports that most members list first.
  std::string choose_protocol() const {
    std::map<std::string, int> votes;
    for (const auto& [id, member] : members) {
      for (const auto& [name, metadata] : member.protocols) {
        bool everyone = true;
        for (const auto& [other_id, other] : members) {
          bool has = false;
          for (const auto& p : other.protocols) has = has || p.first == name;
          everyone = everyone && has;
        }
        if (everyone) {
          ++votes[name];
          break;
        }
      }
    }
    std::string best;
    int most = -1;
    for (const auto& [name, count] : votes)
      if (count > most) best = name, most = count;
    return best;
  }

  void start_rebalance(const GroupSettings& settings) {
    if (state == State::completing) {
      // A SyncGroup waiting for the leader will never see this generation.
      for (auto& [id, member] : members)
        if (member.sync_waiting)
          std::exchange(member.sync_waiting, {})(sync_error(ErrorCode::rebalance_in_progress));
    }
    const auto now = Clock::now();
    std::int32_t timeout = 0;
    for (const auto& [id, member] : members)
      timeout = std::max(timeout, member.rebalance_timeout_ms);
    if (state == State::empty)
      delay_until = now + std::min<Clock::duration>(settings.initial_rebalance_delay,
                                                    std::chrono::milliseconds(timeout));
    else if (state != State::preparing)
      delay_until = now;
    rebalance_deadline = now + std::chrono::milliseconds(timeout);
    state = State::preparing;
  }

  // The JoinGroup answer that lets a member back into the generation as it
  // stands, without a rebalance; its session starts again.
  m::JoinGroupResponse current_generation_for(Member& member) const {
    member.deadline = Clock::now() + std::chrono::milliseconds(member.session_timeout_ms);
    m::JoinGroupResponse r;
    r.generation_id = generation;
    r.protocol_type = protocol_type;
    r.protocol_name = protocol;
    r.leader = leader;
    r.member_id = member.id;
    return r;
  }

  void remove_member(const std::string& member_id) {
    auto it = members.find(member_id);
    if (it == members.end()) return;
    Member& member = it->second;
    if (member.join_waiting)
      std::exchange(member.join_waiting, {})(join_error(ErrorCode::unknown_member_id));
    if (member.sync_waiting)
      std::exchange(member.sync_waiting, {})(sync_error(ErrorCode::unknown_member_id));
    if (member.instance_id) static_ids.erase(*member.instance_id);
    members.erase(it);
  }

  // Ends the join phase when everyone has rejoined (after the initial delay)
  // or the rebalance timeout has passed (dropping who has not).
  void maybe_complete_join() {
    if (state != State::preparing) return;
    const auto now = Clock::now();
    if (now < delay_until) return;
    bool all = true;
    for (const auto& [id, member] : members) all = all && static_cast<bool>(member.join_waiting);
    if (!all) {
      if (now < rebalance_deadline) return;
      std::vector<std::string> late;
      for (const auto& [id, member] : members)
        if (!member.join_waiting) late.push_back(id);
      for (const auto& id : late) {
        spdlog::info("kafka: group {}: member {} did not rejoin in time; removed", this->id, id);
        remove_member(id);
      }
    }
    ++generation;
    if (members.empty()) {
      state = State::empty;
      protocol.clear();
      leader.clear();
      return;
    }
    protocol = choose_protocol();
    if (!members.count(leader)) {
      const Member* first = nullptr;
      for (const auto& [id, member] : members)
        if (!first || member.joined_order < first->joined_order) first = &member;
      leader = first->id;
    }
    state = State::completing;
    for (auto& [id, member] : members) {
      m::JoinGroupResponse r;
      r.generation_id = generation;
      r.protocol_type = protocol_type;
      r.protocol_name = protocol;
      r.leader = leader;
      r.member_id = id;
      if (id == leader) {
        for (const auto& [other_id, other] : members) {
          m::JoinGroupResponse::JoinGroupResponseMember entry;
          entry.member_id = other_id;
          entry.group_instance_id = other.instance_id;
          if (const auto* metadata = metadata_of(other)) entry.metadata = *metadata;
          r.members.push_back(std::move(entry));
        }
      }
      member.deadline = now + std::chrono::milliseconds(member.session_timeout_ms);
      std::exchange(member.join_waiting, {})(std::move(r));
    }
  }
};

GroupCoordinator::GroupCoordinator(runtime::ShardPool& pool, OffsetStore& offsets,
                                   GroupSettings settings)
    : pool_(pool), offsets_(offsets), settings_(settings), groups_(pool.size()) {}

GroupCoordinator::~GroupCoordinator() = default;

void GroupCoordinator::start() {
  for (unsigned shard = 0; shard < pool_.size(); ++shard) {
    sweeps_.push_back(std::make_unique<asio::steady_timer>(pool_.executor(shard)));
    schedule_sweep(shard);
  }
}

void GroupCoordinator::stop() {
  for (auto& timer : sweeps_) timer->cancel();
}

void GroupCoordinator::schedule_sweep(unsigned shard) {
  sweeps_[shard]->expires_after(kSweepEvery);
  sweeps_[shard]->async_wait([this, shard](boost::system::error_code ec) {
    if (ec) return;
    sweep(shard);
    schedule_sweep(shard);
  });
}

// Sessions that ran out, and rebalances whose delay or deadline came.
void GroupCoordinator::sweep(unsigned shard) {
  const auto now = Clock::now();
  for (auto& [id, g] : groups_[shard]) {
    if (g->state == Group::State::stable || g->state == Group::State::completing) {
      std::vector<std::string> expired;
      for (const auto& [member_id, member] : g->members)
        if (now > member.deadline) expired.push_back(member_id);
      for (const auto& member_id : expired) {
        spdlog::info("kafka: group {}: member {} missed its session timeout; removed", id,
                     member_id);
        g->remove_member(member_id);
      }
      if (!expired.empty()) g->start_rebalance(settings_);
    }
    g->maybe_complete_join();
  }
}

unsigned GroupCoordinator::shard_of(const std::string& group_id) const {
  return static_cast<unsigned>(std::hash<std::string>{}(group_id) % pool_.size());
}

GroupCoordinator::Group& GroupCoordinator::group(unsigned shard, const std::string& group_id) {
  auto& slot = groups_[shard][group_id];
  if (!slot) {
    slot = std::make_unique<Group>();
    slot->id = group_id;
  }
  return *slot;
}

GroupCoordinator::Group* GroupCoordinator::find(unsigned shard, const std::string& group_id) {
  auto it = groups_[shard].find(group_id);
  return it == groups_[shard].end() ? nullptr : it->second.get();
}

asio::awaitable<m::JoinGroupResponse> GroupCoordinator::join(m::JoinGroupRequest request,
                                                             std::int16_t version, Caller caller) {
  const unsigned shard = shard_of(request.group_id);
  auto work = [this, shard, request = std::move(request), version,
               caller = std::move(caller)](JoinDone done) mutable {
    if (request.group_id.empty()) return done(join_error(ErrorCode::invalid_group_id));
    const auto session = std::chrono::milliseconds(request.session_timeout_ms);
    if (session < settings_.min_session_timeout || session > settings_.max_session_timeout)
      return done(join_error(ErrorCode::invalid_session_timeout, request.member_id));
    std::vector<std::pair<std::string, std::vector<std::byte>>> protocols;
    for (auto& p : request.protocols) protocols.emplace_back(p.name, std::move(p.metadata));
    if (protocols.empty() || request.protocol_type.empty())
      return done(join_error(ErrorCode::inconsistent_group_protocol, request.member_id));
    Group& g = group(shard, request.group_id);
    const std::int32_t rebalance_timeout = request.rebalance_timeout_ms < 0
                                               ? request.session_timeout_ms
                                               : request.rebalance_timeout_ms;

    auto admit = [&](const std::string& id) -> Member& {
      Member& member = g.members[id];
      member.id = id;
      member.instance_id = request.group_instance_id;
      member.joined_order = g.next_order++;
      if (member.instance_id) g.static_ids[*member.instance_id] = id;
      return member;
    };
    auto update = [&](Member& member) {
      member.client_id = caller.client_id;
      member.client_host = caller.client_host;
      member.session_timeout_ms = request.session_timeout_ms;
      member.rebalance_timeout_ms = rebalance_timeout;
      member.protocols = protocols;
    };
    auto wait_for_rebalance = [&](Member& member) {
      member.join_waiting = std::move(done);
      if (g.members.size() == 1 && g.state != Group::State::preparing)
        g.protocol_type = request.protocol_type;
      if (g.state != Group::State::preparing) g.start_rebalance(settings_);
      g.maybe_complete_join();
    };

    std::string id = request.member_id;
    if (id.empty()) {
      if (!g.compatible(request.protocol_type, protocols))
        return done(join_error(ErrorCode::inconsistent_group_protocol));
      if (request.group_instance_id) {
        const std::string fresh = fresh_member_id(*request.group_instance_id);
        auto known = g.static_ids.find(*request.group_instance_id);
        if (known != g.static_ids.end() && g.members.count(known->second) > 0) {
          // A static member back with a new id: it takes over its old place.
          Member old = std::move(g.members.at(known->second));
          g.members.erase(known->second);
          if (old.join_waiting) old.join_waiting(join_error(ErrorCode::fenced_instance_id));
          if (old.sync_waiting) old.sync_waiting(sync_error(ErrorCode::fenced_instance_id));
          const bool was_leader = g.leader == old.id;
          Member& member = g.members[fresh];
          member = std::move(old);
          member.id = fresh;
          member.join_waiting = {};
          member.sync_waiting = {};
          g.static_ids[*request.group_instance_id] = fresh;
          const bool same = member.protocols == protocols;
          update(member);
          if (was_leader) g.leader = fresh;
          if (g.state == Group::State::stable && same && !was_leader)
            return done(g.current_generation_for(member));
          return wait_for_rebalance(member);
        }
        Member& member = admit(fresh);
        update(member);
        return wait_for_rebalance(member);
      }
      id = fresh_member_id(caller.client_id);
      if (version >= 4) {
        g.pending.insert(id);
        return done(join_error(ErrorCode::member_id_required, id));
      }
      Member& member = admit(id);
      update(member);
      return wait_for_rebalance(member);
    }
    if (g.pending.erase(id) > 0) {
      if (!g.compatible(request.protocol_type, protocols))
        return done(join_error(ErrorCode::inconsistent_group_protocol, id));
      Member& member = admit(id);
      update(member);
      return wait_for_rebalance(member);
    }
    auto it = g.members.find(id);
    if (it == g.members.end()) return done(join_error(ErrorCode::unknown_member_id, id));
    Member& member = it->second;
    if (request.group_instance_id != member.instance_id)
      return done(join_error(ErrorCode::fenced_instance_id, id));
    const bool same = member.protocols == protocols;
    update(member);
    if (g.state != Group::State::preparing && same && g.leader != id) {
      // A follower rejoining with what it had: the current generation stands.
      return done(g.current_generation_for(member));
    }
    return wait_for_rebalance(member);
  };
  m::JoinGroupResponse response =
      co_await runtime::start_on<m::JoinGroupResponse>(pool_.executor(shard), std::move(work));
  co_return response;
}

asio::awaitable<m::SyncGroupResponse> GroupCoordinator::sync(m::SyncGroupRequest request) {
  const unsigned shard = shard_of(request.group_id);
  auto work = [this, shard, request = std::move(request)](SyncDone done) mutable {
    Group* g = find(shard, request.group_id);
    if (!g || !g->members.count(request.member_id))
      return done(sync_error(ErrorCode::unknown_member_id));
    Member& member = g->members.at(request.member_id);
    if (request.group_instance_id != member.instance_id)
      return done(sync_error(ErrorCode::fenced_instance_id));
    if (request.generation_id != g->generation)
      return done(sync_error(ErrorCode::illegal_generation));
    if (g->state == Group::State::preparing)
      return done(sync_error(ErrorCode::rebalance_in_progress));
    auto answer = [g](Member& m) {
      m::SyncGroupResponse r;
      r.protocol_type = g->protocol_type;
      r.protocol_name = g->protocol;
      r.assignment = m.assignment;
      m.deadline = Clock::now() + std::chrono::milliseconds(m.session_timeout_ms);
      return r;
    };
    if (g->state == Group::State::stable) return done(answer(member));
    member.sync_waiting = std::move(done);
    if (request.member_id != g->leader) return;
    for (auto& [id, m] : g->members) m.assignment.clear();
    for (auto& a : request.assignments) {
      auto it = g->members.find(a.member_id);
      if (it != g->members.end()) it->second.assignment = std::move(a.assignment);
    }
    g->state = Group::State::stable;
    for (auto& [id, m] : g->members)
      if (m.sync_waiting) std::exchange(m.sync_waiting, {})(answer(m));
  };
  m::SyncGroupResponse response =
      co_await runtime::start_on<m::SyncGroupResponse>(pool_.executor(shard), std::move(work));
  co_return response;
}

asio::awaitable<std::int16_t> GroupCoordinator::heartbeat(m::HeartbeatRequest request) {
  const unsigned shard = shard_of(request.group_id);
  auto work = [this, shard, request = std::move(request)]() -> std::int16_t {
    Group* g = find(shard, request.group_id);
    if (!g || !g->members.count(request.member_id)) return code(ErrorCode::unknown_member_id);
    Member& member = g->members.at(request.member_id);
    if (request.group_instance_id != member.instance_id) return code(ErrorCode::fenced_instance_id);
    if (request.generation_id != g->generation) return code(ErrorCode::illegal_generation);
    member.deadline = Clock::now() + std::chrono::milliseconds(member.session_timeout_ms);
    if (g->state == Group::State::preparing) return code(ErrorCode::rebalance_in_progress);
    return code(ErrorCode::none);
  };
  const std::int16_t error = co_await runtime::run_on(pool_.executor(shard), std::move(work));
  co_return error;
}

asio::awaitable<m::LeaveGroupResponse> GroupCoordinator::leave(m::LeaveGroupRequest request,
                                                               std::int16_t version) {
  const unsigned shard = shard_of(request.group_id);
  auto work = [this, shard, request = std::move(request), version]() {
    m::LeaveGroupResponse response;
    std::vector<m::LeaveGroupRequest::MemberIdentity> leaving = request.members;
    if (version < 3) {
      m::LeaveGroupRequest::MemberIdentity one;
      one.member_id = request.member_id;
      leaving.push_back(one);
    }
    Group* g = find(shard, request.group_id);
    bool removed = false;
    for (const auto& who : leaving) {
      m::LeaveGroupResponse::MemberResponse r;
      r.member_id = who.member_id;
      r.group_instance_id = who.group_instance_id;
      std::string id = who.member_id;
      if (g && id.empty() && who.group_instance_id) {
        auto known = g->static_ids.find(*who.group_instance_id);
        if (known != g->static_ids.end()) id = known->second;
      }
      if (!g || !g->members.count(id)) {
        r.error_code = code(ErrorCode::unknown_member_id);
      } else {
        g->remove_member(id);
        removed = true;
      }
      response.members.push_back(std::move(r));
    }
    if (version < 3) response.error_code = response.members.front().error_code;
    if (removed) {
      if (g->members.empty() && g->state != Group::State::preparing) {
        ++g->generation;
        g->state = Group::State::empty;
      } else if (g->state != Group::State::preparing) {
        g->start_rebalance(settings_);
      }
      g->maybe_complete_join();
    }
    if (version < 3) response.members.clear();
    return response;
  };
  m::LeaveGroupResponse response = co_await runtime::run_on(pool_.executor(shard), std::move(work));
  co_return response;
}

asio::awaitable<m::DescribeGroupsResponse::DescribedGroup> GroupCoordinator::describe(
    std::string group_id) {
  const unsigned shard = shard_of(group_id);
  auto work = [this, shard, group_id]() {
    m::DescribeGroupsResponse::DescribedGroup d;
    d.group_id = group_id;
    Group* g = find(shard, group_id);
    if (!g) {
      d.group_state = offsets_.has_offsets(group_id) ? "Empty" : "Dead";
      return d;
    }
    d.group_state = Group::state_name(g->state);
    d.protocol_type = g->protocol_type;
    d.protocol_data = g->state == Group::State::stable ? g->protocol : "";
    for (const auto& [id, member] : g->members) {
      m::DescribeGroupsResponse::DescribedGroupMember entry;
      entry.member_id = id;
      entry.group_instance_id = member.instance_id;
      entry.client_id = member.client_id;
      entry.client_host = member.client_host;
      if (const auto* metadata = g->metadata_of(member)) entry.member_metadata = *metadata;
      entry.member_assignment = member.assignment;
      d.members.push_back(std::move(entry));
    }
    return d;
  };
  auto described = co_await runtime::run_on(pool_.executor(shard), std::move(work));
  co_return described;
}

asio::awaitable<std::vector<m::ListGroupsResponse::ListedGroup>> GroupCoordinator::list() {
  std::map<std::string, m::ListGroupsResponse::ListedGroup> all;
  for (const std::string& id : offsets_.groups()) {
    m::ListGroupsResponse::ListedGroup entry;
    entry.group_id = id;
    entry.protocol_type = "consumer";
    entry.group_state = "Empty";
    all[id] = entry;
  }
  for (unsigned shard = 0; shard < pool_.size(); ++shard) {
    auto work = [this, shard]() {
      std::vector<m::ListGroupsResponse::ListedGroup> out;
      for (const auto& [id, g] : groups_[shard]) {
        if (g->members.empty() && g->state == Group::State::empty) continue;
        m::ListGroupsResponse::ListedGroup entry;
        entry.group_id = id;
        entry.protocol_type = g->protocol_type;
        entry.group_state = Group::state_name(g->state);
        out.push_back(std::move(entry));
      }
      return out;
    };
    auto found = co_await runtime::run_on(pool_.executor(shard), std::move(work));
    for (auto& entry : found) all[entry.group_id] = std::move(entry);
  }
  std::vector<m::ListGroupsResponse::ListedGroup> out;
  for (auto& [id, entry] : all) out.push_back(std::move(entry));
  co_return out;
}

asio::awaitable<std::int16_t> GroupCoordinator::remove(std::string group_id) {
  const unsigned shard = shard_of(group_id);
  auto work = [this, shard, group_id]() -> std::int16_t {
    Group* g = find(shard, group_id);
    if (g && !g->members.empty()) return code(ErrorCode::non_empty_group);
    const bool known = g != nullptr || offsets_.has_offsets(group_id);
    if (g) groups_[shard].erase(group_id);
    return known ? code(ErrorCode::none) : code(ErrorCode::group_id_not_found);
  };
  const std::int16_t error = co_await runtime::run_on(pool_.executor(shard), std::move(work));
  if (error == code(ErrorCode::none)) {
    auto failed = co_await offsets_.forget(group_id);
    if (failed) co_return code(ErrorCode::kafka_storage_error);
  }
  co_return error;
}

asio::awaitable<std::int16_t> GroupCoordinator::check_commit(
    std::string group_id, std::int32_t generation, std::string member_id,
    std::optional<std::string> instance_id) {
  const unsigned shard = shard_of(group_id);
  auto work = [this, shard, group_id, generation, member_id, instance_id]() -> std::int16_t {
    Group* g = find(shard, group_id);
    if (generation < 0 && member_id.empty()) {
      // A consumer that assigns its own partitions commits outside any group.
      return g && !g->members.empty() ? code(ErrorCode::unknown_member_id) : code(ErrorCode::none);
    }
    if (!g || !g->members.count(member_id)) return code(ErrorCode::unknown_member_id);
    Member& member = g->members.at(member_id);
    if (instance_id != member.instance_id) return code(ErrorCode::fenced_instance_id);
    if (g->state == Group::State::completing) return code(ErrorCode::rebalance_in_progress);
    if (generation != g->generation) return code(ErrorCode::illegal_generation);
    member.deadline = Clock::now() + std::chrono::milliseconds(member.session_timeout_ms);
    return code(ErrorCode::none);
  };
  const std::int16_t error = co_await runtime::run_on(pool_.executor(shard), std::move(work));
  co_return error;
}

}  // namespace skein::kafka
