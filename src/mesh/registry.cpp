// The registry's merge rules (registry.hpp).
#include "mesh/registry.hpp"

#include <algorithm>
#include <set>

namespace skein::mesh {

Registry::Registry(std::string self, std::uint64_t incarnation) : self_(std::move(self)) {
  NodeRecord own;
  own.node = self_;
  own.incarnation = incarnation;
  own.version = 1;
  records_.emplace(self_, Entry{std::move(own), std::nullopt});
}

void Registry::bump_own() {
  ++records_.at(self_).record.version;
  ++generation_;
}

bool Registry::set_links(std::vector<std::string> links, std::vector<std::string> held) {
  for (auto* v : {&links, &held}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  auto& own = records_.at(self_).record;
  if (own.links == links && own.held == held) return false;
  own.links = std::move(links);
  own.held = std::move(held);
  bump_own();
  return true;
}

bool Registry::set_filters(std::vector<std::string> filters) {
  std::sort(filters.begin(), filters.end());
  filters.erase(std::unique(filters.begin(), filters.end()), filters.end());
  auto& own = records_.at(self_).record;
  if (own.filters == filters) return false;
  own.filters = std::move(filters);
  bump_own();
  return true;
}

Registry::Applied Registry::apply(const NodeRecord& record, Clock::time_point now) {
  if (record.node == self_) {
    auto& own = records_.at(self_).record;
    if (!record.newer_than(own)) return Applied::stale;
    // An echo of an earlier life (or of a clock that went back): step past it.
    own.incarnation = std::max(own.incarnation, record.incarnation);
    own.version = record.version + 1;
    ++generation_;
    return Applied::own_bumped;
  }
  auto it = records_.find(record.node);
  if (it != records_.end() && !record.newer_than(it->second.record)) return Applied::stale;
  NodeRecord copy = record;
  std::sort(copy.links.begin(), copy.links.end());
  std::sort(copy.held.begin(), copy.held.end());
  std::sort(copy.filters.begin(), copy.filters.end());
  copy.filters.erase(std::unique(copy.filters.begin(), copy.filters.end()), copy.filters.end());
  if (it == records_.end()) {
    // Unreachable until a plan says otherwise; counted from now.
    std::string name = copy.node;  // not from `copy`, which the entry takes
    records_.emplace(std::move(name), Entry{std::move(copy), now});
  } else {
    it->second.record = std::move(copy);
  }
  ++generation_;
  return Applied::taken;
}

std::vector<NodeRecord> Registry::records() const {
  std::vector<NodeRecord> out;
  out.reserve(records_.size());
  for (const auto& [name, entry] : records_) out.push_back(entry.record);
  return out;
}

const NodeRecord* Registry::find(const std::string& node) const {
  auto it = records_.find(node);
  return it == records_.end() ? nullptr : &it->second.record;
}

std::vector<std::string> Registry::age(const std::vector<std::string>& reachable,
                                       Clock::time_point now, Clock::duration expiry) {
  const std::set<std::string, std::less<>> live(reachable.begin(), reachable.end());
  std::vector<std::string> forgotten;
  for (auto it = records_.begin(); it != records_.end();) {
    Entry& entry = it->second;
    if (it->first == self_ || live.contains(it->first)) {
      entry.unreachable_since.reset();
    } else if (!entry.unreachable_since) {
      entry.unreachable_since = now;
    } else if (now - *entry.unreachable_since >= expiry) {
      forgotten.push_back(it->first);
      it = records_.erase(it);
      ++generation_;
      continue;
    }
    ++it;
  }
  return forgotten;
}

}  // namespace skein::mesh
