// Shortest-path trees and interest pruning (route_plan.hpp).
#include "mesh/route_plan.hpp"

#include <algorithm>
#include <map>
#include <queue>
#include <set>

namespace skein::mesh {

// Path costs from `from` (Dijkstra; -1: unreachable). Meshes are small (tens
// to hundreds of nodes) and plans are rebuilt only on registry changes.
template <class Adjacency>
std::vector<std::int64_t> costs_from(const Adjacency& adjacent, std::uint32_t from) {
  std::vector<std::int64_t> d(adjacent.size(), -1);
  using Item = std::pair<std::int64_t, std::uint32_t>;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> queue;
  d[from] = 0;
  queue.emplace(0, from);
  while (!queue.empty()) {
    auto [cost, u] = queue.top();
    queue.pop();
    if (cost != d[u]) continue;
    for (const auto& e : adjacent[u]) {
      const std::int64_t c = cost + e.cost;
      if (d[e.to] < 0 || c < d[e.to]) {
        d[e.to] = c;
        queue.emplace(c, e.to);
      }
    }
  }
  return d;
}

RoutePlan::RoutePlan(const std::vector<NodeRecord>& records, std::string_view self) {
  names_.reserve(records.size());
  for (const auto& r : records) names_.push_back(r.node);
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
  for (std::uint32_t i = 0; i < names_.size(); ++i) index_.emplace(names_[i], i);
  const std::size_t n = names_.size();
  self_ = index_.at(self);

  // Edges: both ends list each other, live or held; live when both say live.
  std::vector<std::set<std::uint32_t>> live(n), any(n);
  for (const auto& r : records) {
    const std::uint32_t a = index_.at(r.node);
    for (const auto* list : {&r.links, &r.held}) {
      for (const auto& peer : *list) {
        auto it = index_.find(peer);
        if (it == index_.end() || it->second == a) continue;
        any[a].insert(it->second);
        if (list == &r.links) live[a].insert(it->second);
      }
    }
  }
  // A held link costs more than any path of live links.
  const auto held_cost = static_cast<std::uint32_t>(n + 1);
  adjacent_.assign(n, {});
  for (std::uint32_t a = 0; a < n; ++a)
    for (std::uint32_t b : any[a])  // sets iterate sorted
      if (any[b].contains(a))
        adjacent_[a].push_back(
            Edge{b, live[a].contains(b) && live[b].contains(a) ? 1u : held_cost});

  distance_from_self_ = costs_from(adjacent_, self_);
  const std::size_t words = (n + 63) / 64;
  branches_.assign(n, {});
  for (std::uint32_t origin = 0; origin < n; ++origin) {
    if (distance_from_self_[origin] < 0) continue;  // same component both ways
    const std::vector<std::int64_t> d = costs_from(adjacent_, origin);
    // Parent: the neighbour on a cheapest path with the smallest name (index).
    std::vector<std::int64_t> parent(n, -1);
    for (std::uint32_t v = 0; v < n; ++v) {
      if (d[v] <= 0) continue;
      for (const auto& e : adjacent_[v]) {
        if (d[e.to] >= 0 && d[e.to] + e.cost == d[v]) {
          parent[v] = e.to;
          break;  // adjacency is sorted: the first is the smallest
        }
      }
    }
    // Children of this node in the tree, and which nodes hang below each.
    std::vector<Branch>& mine = branches_[origin];
    std::unordered_map<std::uint32_t, std::size_t> branch_of;
    for (std::uint32_t v = 0; v < n; ++v) {
      if (parent[v] == static_cast<std::int64_t>(self_)) {
        branch_of.emplace(v, mine.size());
        mine.push_back(Branch{v, Bits(words, 0), Bits(words, 0)});
      }
    }
    if (mine.empty()) continue;
    auto cost = [&](std::uint32_t a, std::uint32_t b) {
      for (const auto& e : adjacent_[a])
        if (e.to == b) return e.cost;
      return held_cost;
    };
    for (std::uint32_t v = 0; v < n; ++v) {
      // Climb from v towards the origin; the first child of self met names
      // the branch. Note whether every edge on the way is live.
      bool all_live = true;
      for (std::int64_t u = v; u >= 0 && d[static_cast<std::size_t>(u)] > d[self_];
           u = parent[static_cast<std::size_t>(u)]) {
        const auto uu = static_cast<std::uint32_t>(u);
        const auto up = static_cast<std::uint32_t>(parent[uu]);
        all_live = all_live && cost(uu, up) == 1;
        auto it = branch_of.find(uu);
        if (it != branch_of.end()) {
          mine[it->second].members[v / 64] |= std::uint64_t{1} << (v % 64);
          if (all_live) mine[it->second].live_members[v / 64] |= std::uint64_t{1} << (v % 64);
          break;
        }
      }
    }
  }

  std::set<std::string> remote;
  for (const auto& r : records) {
    const std::uint32_t i = index_.at(r.node);
    if (i == self_ || distance_from_self_[i] < 0) continue;
    for (const auto& f : r.filters) {
      interest_.insert(f, i);
      remote.insert(f);
    }
  }
  remote_filters_.assign(remote.begin(), remote.end());
}

bool RoutePlan::intersects(const Bits& a, const Bits& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (a[i] & b[i]) return true;
  return false;
}

void RoutePlan::next_hops(std::string_view origin, std::string_view topic, bool persistent,
                          std::vector<std::string>& out) {
  auto it = index_.find(origin);
  if (it == index_.end()) return;
  const auto& mine = branches_[it->second];
  if (mine.empty()) return;
  const std::vector<std::uint32_t>* interested = interest_cache_.find(topic, 0);
  if (interested == nullptr) {
    std::vector<std::uint32_t> found;
    interest_.match(topic, found);
    interested = &interest_cache_.insert(topic, std::move(found), 0);
  }
  if (interested->empty()) return;
  Bits wanted((names_.size() + 63) / 64, 0);
  for (std::uint32_t v : *interested) wanted[v / 64] |= std::uint64_t{1} << (v % 64);
  for (const Branch& b : mine)
    if (intersects(persistent ? b.members : b.live_members, wanted)) out.push_back(names_[b.child]);
}

std::vector<std::string> RoutePlan::reachable() const {
  std::vector<std::string> out;
  for (std::uint32_t i = 0; i < names_.size(); ++i)
    if (distance_from_self_[i] >= 0) out.push_back(names_[i]);
  return out;
}

std::int64_t RoutePlan::distance(std::string_view node) const {
  auto it = index_.find(node);
  return it == index_.end() ? -1 : distance_from_self_[it->second];
}

std::vector<std::string> RoutePlan::neighbours() const {
  std::vector<std::string> out;
  for (const auto& e : adjacent_[self_])
    if (e.cost == 1) out.push_back(names_[e.to]);
  return out;
}

}  // namespace skein::mesh
