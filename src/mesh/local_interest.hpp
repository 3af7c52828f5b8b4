// LocalInterest: the filters this node's own destinations subscribe to (MQTT
// sessions, HTTP subscribers, attracting streams), counted as they come and
// go, for this node's registry record. The mesh's own destination is left
// out: what the mesh attracts for other nodes is their interest, not ours.
//
// Fed by the subscription service's observer on shard 0; tells its listener
// only when the set of filters changes (a second subscriber to a filter
// changes nothing for the mesh).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/subscription_service.hpp"

namespace skein::mesh {

class LocalInterest {
 public:
  using Listener = std::function<void(std::vector<std::string> filters)>;

  // `ignore`: the mesh's destination. `listener` runs on shard 0.
  LocalInterest(const core::Destination* ignore, Listener listener)
      : ignore_(ignore), listener_(std::move(listener)) {}

  void observe(const std::vector<runtime::SubscriptionService::Change>& changes,
               const std::vector<bool>& effective);

  std::vector<std::string> filters() const;

 private:
  const core::Destination* ignore_;
  Listener listener_;
  std::map<std::string, std::size_t> counts_;
};

}  // namespace skein::mesh
