// Shared subscriptions (MQTT v5 4.8.2): `$share/{group}/{filter}`. Each
// (group, filter) is one destination in the router, on the shard its key
// hashes to, holding the member sessions; every event it is offered goes to
// one member, in turn, preferring connected members. A member that leaves
// (unsubscribes, or its connection goes) hands its unacknowledged messages
// back, and the group sends them to another member.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/destination.hpp"
#include "mqtt/mqtt_context.hpp"

namespace skein::mqtt {

class SharedGroup;

class SharedGroups {
 public:
  explicit SharedGroups(MqttContext& context) : context_(context) {}

  // Splits "$share/g/f" into the group and the filter; false when it is not
  // a valid shared subscription filter [MQTT-4.8.2-1, MQTT-4.8.2-2].
  static bool parse(std::string_view text, std::string& group, std::string& filter);

  // Adds `member` (a session on `member_shard`) to the group of `key`, which
  // subscribes `filters` in the router when it is new.
  boost::asio::awaitable<void> join(std::string key, std::vector<std::string> filters,
                                    std::weak_ptr<class Session> member, std::uint64_t member_id,
                                    unsigned member_shard);
  boost::asio::awaitable<void> leave(std::string key, std::uint64_t member_id);
  // A member gave back a message it could not deliver; another member gets
  // it. `answer`: whether the event's receipt is still to be answered.
  void hand_back(const std::string& key, core::EventPtr event, std::uint64_t from_member,
                 bool answer = false);

  std::size_t size() const;

 private:
  MqttContext& context_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<SharedGroup>> groups_;  // guarded by mutex_
};

}  // namespace skein::mqtt
