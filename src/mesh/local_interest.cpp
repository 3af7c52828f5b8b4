// Counting the node's own filters (local_interest.hpp).
#include "mesh/local_interest.hpp"

namespace skein::mesh {

void LocalInterest::observe(const std::vector<runtime::SubscriptionService::Change>& changes,
                            const std::vector<bool>& effective) {
  bool changed = false;
  for (std::size_t i = 0; i < changes.size() && i < effective.size(); ++i) {
    const auto& c = changes[i];
    if (!effective[i] || c.sub.get() == ignore_) continue;
    if (c.add) {
      changed |= ++counts_[c.filter] == 1;
    } else if (auto it = counts_.find(c.filter); it != counts_.end() && --it->second == 0) {
      counts_.erase(it);
      changed = true;
    }
  }
  if (changed && listener_) listener_(filters());
}

std::vector<std::string> LocalInterest::filters() const {
  std::vector<std::string> out;
  out.reserve(counts_.size());
  for (const auto& [filter, n] : counts_) out.push_back(filter);
  return out;
}

}  // namespace skein::mesh
