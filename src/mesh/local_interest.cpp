// Counting the node's own filters and their summary groups (local_interest.hpp).
#include "mesh/local_interest.hpp"

#include <algorithm>

#include "mesh/filter_summary.hpp"

namespace skein::mesh {

void LocalInterest::observe(const std::vector<runtime::SubscriptionService::Change>& changes,
                            const std::vector<bool>& effective) {
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < changes.size() && i < effective.size(); ++i) {
      const auto& c = changes[i];
      if (!effective[i] || c.sub.get() == ignore_) continue;
      if (c.add) {
        if (++counts_[c.filter] == 1) {
          ++groups_[summary_group(c.filter)];
          changed = true;
        }
      } else if (auto it = counts_.find(c.filter); it != counts_.end() && --it->second == 0) {
        counts_.erase(it);
        if (auto g = groups_.find(summary_group(c.filter)); g != groups_.end() && --g->second == 0)
          groups_.erase(g);
        changed = true;
      }
    }
  }
  if (changed && listener_) listener_();
}

std::vector<std::string> LocalInterest::advertised(std::size_t max) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  if (counts_.size() <= max) {
    out.reserve(counts_.size());
    for (const auto& [filter, n] : counts_) out.push_back(filter);
    std::sort(out.begin(), out.end());
    return out;
  }
  out.reserve(groups_.size());
  for (const auto& [group, n] : groups_) out.push_back(group);
  return summarize_groups(std::move(out), max);
}

std::size_t LocalInterest::size() const {
  std::lock_guard lock(mutex_);
  return counts_.size();
}

}  // namespace skein::mesh
