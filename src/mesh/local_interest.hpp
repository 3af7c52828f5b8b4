// LocalInterest: the filters this node's own destinations subscribe to (MQTT
// sessions, HTTP subscribers, attracting streams), counted as they come and
// go, for this node's registry record. The mesh's own destination is left
// out: what the mesh attracts for other nodes is their interest, not ours.
//
// Fed by the subscription service's observer on shard 0; tells its listener
// only when the set of filters changes (a second subscriber to a filter
// changes nothing for the mesh). The listener learns only that it changed:
// the mesh reads what to advertise (advertised()) once per record version,
// and that is at most `max` filters whatever the node holds. The summary
// groups (filter_summary.hpp) are counted as filters come and go, so a
// node with a million device subscriptions never lists them: a change costs
// a hash lookup, not a copy of every filter.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/subscription_service.hpp"

namespace skein::mesh {

class LocalInterest {
 public:
  using Listener = std::function<void()>;

  // `ignore`: the mesh's destination. `listener` runs on shard 0.
  LocalInterest(const core::Destination* ignore, Listener listener)
      : ignore_(ignore), listener_(std::move(listener)) {}

  void observe(const std::vector<runtime::SubscriptionService::Change>& changes,
               const std::vector<bool>& effective);

  // From any thread: the filters, sorted, when there are at most `max`; else
  // their summary, as summarize_filters(filters, max) gives it.
  std::vector<std::string> advertised(std::size_t max) const;
  std::size_t size() const;

 private:
  const core::Destination* ignore_;
  Listener listener_;
  mutable std::mutex mutex_;  // observe() on shard 0, advertised() on the mesh's shard
  std::unordered_map<std::string, std::size_t> counts_;  // filter -> subscriptions
  std::map<std::string, std::size_t> groups_;            // summary group -> filters in it
};

}  // namespace skein::mesh
