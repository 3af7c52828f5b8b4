// Shared subscription groups: one router destination per (group, filter),
// handing each event to one member in turn (shared_groups.hpp).
#include "mqtt/shared_groups.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "mqtt/session.hpp"
#include "runtime/cross_shard.hpp"

namespace skein::mqtt {

namespace asio = boost::asio;

class SharedGroup final : public core::Destination {
 public:
  struct Member {
    std::weak_ptr<Session> session;
    std::uint64_t id;
    unsigned shard;
  };

  SharedGroup(MqttContext& context, unsigned shard, std::string key)
      : Destination(shard, std::numeric_limits<std::size_t>::max(), core::SlowPolicy::drop_oldest),
        context_(context),
        key_(std::move(key)) {}

  bool persistent() const override { return true; }  // members answer the receipts

  // Home shard only.
  void add(Member member) { members_.push_back(std::move(member)); }
  bool remove(std::uint64_t id) {
    std::erase_if(members_, [id](const Member& m) { return m.id == id; });
    return members_.empty();
  }
  bool empty() const { return members_.empty(); }
  std::vector<std::string> filters;

  // Home shard only: sends `event` to the next member, skipping `except`
  // while another is there.
  // A handed-back event's receipt was answered by its first member: `answer`
  // is false then, and no member answers it again.
  void dispatch(core::EventPtr event, std::uint64_t except, bool answer) {
    std::erase_if(members_, [](const Member& m) { return m.session.expired(); });
    if (members_.empty()) {
      if (answer && event->receipt) event->receipt->stored(false);
      return;
    }
    // Prefer a connected member other than `except`; any member otherwise.
    const std::size_t n = members_.size();
    std::optional<std::size_t> chosen, fallback;
    for (std::size_t step = 0; step < n; ++step) {
      const std::size_t i = (next_ + step) % n;
      const Member& m = members_[i];
      if (m.id == except && n > 1) continue;
      auto session = m.session.lock();
      if (!session) continue;
      if (!fallback) fallback = i;
      if (session->online()) {
        chosen = i;
        break;
      }
    }
    const std::size_t i = chosen.value_or(fallback.value_or(next_ % n));
    next_ = i + 1;
    const Member& m = members_[i];
    asio::post(context_.pool.executor(m.shard),
               [session = m.session, event = std::move(event), key = key_, answer]() {
                 if (auto s = session.lock()) {
                   s->offer_shared(event, key, answer);
                 } else if (answer && event->receipt) {
                   event->receipt->stored(false);
                 }
               });
  }

 protected:
  void wake() override {
    if (posted_) return;
    posted_ = true;
    auto self = std::static_pointer_cast<SharedGroup>(shared_from_this());
    asio::post(context_.pool.executor(home_shard()), [self] {
      self->posted_ = false;
      std::vector<core::EventPtr> events;
      self->take(events, std::numeric_limits<std::size_t>::max());
      for (auto& event : events) self->dispatch(std::move(event), 0, true);
    });
  }

 private:
  MqttContext& context_;
  std::string key_;
  std::vector<Member> members_;
  std::size_t next_ = 0;
  bool posted_ = false;
};

bool SharedGroups::parse(std::string_view text, std::string& group, std::string& filter) {
  constexpr std::string_view kPrefix = "$share/";
  if (!text.starts_with(kPrefix)) return false;
  text.remove_prefix(kPrefix.size());
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  group = std::string(text.substr(0, slash));
  // The share name holds no wildcard [MQTT-4.8.2-2]; the filter is non-empty.
  if (group.find_first_of("+#") != std::string::npos) return false;
  filter = std::string(text.substr(slash + 1));
  return !filter.empty();
}

asio::awaitable<void> SharedGroups::join(std::string key, std::vector<std::string> filters,
                                         std::weak_ptr<Session> member, std::uint64_t member_id,
                                         unsigned member_shard) {
  std::shared_ptr<SharedGroup> group;
  bool fresh = false;
  {
    std::lock_guard lock(mutex_);
    auto& slot = groups_[key];
    if (!slot) {
      const auto shard =
          static_cast<unsigned>(std::hash<std::string>{}(key) % context_.pool.size());
      slot = std::make_shared<SharedGroup>(context_, shard, key);
      slot->filters = filters;
      fresh = true;
    }
    group = slot;
  }
  // Members change on the group's shard only. Named arguments of the exact
  // parameter types: GCC 12 destroys temporaries (lambdas, converted
  // pointers) in a co_await expression twice.
  SharedGroup::Member joining{std::move(member), member_id, member_shard};
  auto add = [group, joining] { group->add(joining); };
  asio::any_io_executor home = context_.pool.executor(group->home_shard());
  co_await runtime::run_on(std::move(home), std::move(add));
  if (fresh) {
    core::DestinationPtr destination = group;
    std::vector<std::string> filters_copy = group->filters;
    co_await context_.subscriptions.subscribe(std::move(destination), std::move(filters_copy));
  }
}

asio::awaitable<void> SharedGroups::leave(std::string key, std::uint64_t member_id) {
  std::shared_ptr<SharedGroup> group;
  {
    std::lock_guard lock(mutex_);
    auto it = groups_.find(key);
    if (it == groups_.end()) co_return;
    group = it->second;
  }
  auto remove = [group, member_id] { return group->remove(member_id); };
  asio::any_io_executor home = context_.pool.executor(group->home_shard());
  const bool now_empty = co_await runtime::run_on(home, std::move(remove));
  if (!now_empty) co_return;
  {
    std::lock_guard lock(mutex_);
    auto it = groups_.find(key);
    if (it == groups_.end() || it->second != group || !group->empty()) co_return;
    groups_.erase(it);
  }
  core::DestinationPtr destination = group;
  std::vector<std::string> filters_copy = group->filters;
  co_await context_.subscriptions.unsubscribe(std::move(destination), std::move(filters_copy));
  // Events that reached the group meanwhile have no member left.
  auto answer_left = [group] {
    std::vector<core::EventPtr> left;
    group->take(left, std::numeric_limits<std::size_t>::max());
    for (auto& event : left)
      if (event->receipt) event->receipt->stored(false);
  };
  co_await runtime::run_on(home, std::move(answer_left));
}

void SharedGroups::hand_back(const std::string& key, core::EventPtr event, std::uint64_t from,
                             bool answer) {
  std::shared_ptr<SharedGroup> group;
  {
    std::lock_guard lock(mutex_);
    auto it = groups_.find(key);
    if (it != groups_.end()) group = it->second;
  }
  if (!group) {  // the group is gone: nobody left to take it
    if (answer && event->receipt) event->receipt->stored(false);
    return;
  }
  asio::post(context_.pool.executor(group->home_shard()),
             [group, event = std::move(event), from, answer]() mutable {
               group->dispatch(std::move(event), from, answer);
             });
}

std::size_t SharedGroups::size() const {
  std::lock_guard lock(mutex_);
  return groups_.size();
}

}  // namespace skein::mqtt
