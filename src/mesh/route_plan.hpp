// RoutePlan: where an event goes next (DESIGN.md §3 "Forwarding"), computed
// from one registry snapshot.
//
// The link graph holds an edge only where both nodes list each other (a link
// one side has not confirmed carries nothing yet). For each origin the plan
// takes the shortest-path tree rooted there: breadth-first distances, and each
// node's parent is its neighbour one step closer to the origin with the
// smallest name. Every node with the same registry computes the same trees, so
// an event crosses each link at most once.
//
// Store and forward across a cut: a node whose link went down holds it for a
// while (its outbox keeps persistent events for the nodes behind it) and
// lists it as held in its record. An edge both ends list, live or held, is
// in the graph; held, it costs more than any path of live links, so a live
// detour always wins (a ring), while nodes reachable only through a held
// link still get persistent events queued towards them (a line), from any
// node of the mesh. Direct events never wait: they go only to branches
// where the path to an interested node is live all the way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/match_cache.hpp"
#include "core/subscription_index.hpp"
#include "mesh/frame.hpp"

namespace skein::mesh {

class RoutePlan {
 public:
  RoutePlan(const std::vector<NodeRecord>& records, std::string_view self);

  // The neighbours (node names) that an event of `origin` on `topic` goes to
  // from this node. Empty for an origin the plan cannot reach.
  // Direct events (`persistent` false) only towards interest reachable over
  // live links.
  void next_hops(std::string_view origin, std::string_view topic, bool persistent,
                 std::vector<std::string>& out);

  // Nodes reachable from this node (itself included), over confirmed links
  // and held ones.
  std::vector<std::string> reachable() const;
  // Path cost from this node to `node`, or -1 when unreachable: hops over
  // live links; a held link counts as many hops as there are nodes, plus one.
  std::int64_t distance(std::string_view node) const;
  // This node's neighbours over confirmed links (held ones not included).
  std::vector<std::string> neighbours() const;
  // Every filter of every other reachable node (held links included): what
  // this node must attract for the mesh (sorted, unique).
  const std::vector<std::string>& remote_filters() const { return remote_filters_; }

 private:
  using Bits = std::vector<std::uint64_t>;
  struct Branch {
    std::uint32_t child;  // a neighbour of this node
    Bits members;         // the nodes of the child's subtree
    Bits live_members;    // those of them reached from here over live links only
  };
  static bool intersects(const Bits& a, const Bits& b);

  std::vector<std::string> names_;  // sorted; a node's index is its place here
  std::unordered_map<std::string_view, std::uint32_t> index_;
  std::uint32_t self_ = 0;
  struct Edge {
    std::uint32_t to;
    std::uint32_t cost;
  };
  std::vector<std::vector<Edge>> adjacent_;  // confirmed and held edges, sorted by `to`
  std::vector<std::int64_t> distance_from_self_;
  // Per origin index: this node's branches in that origin's tree.
  std::vector<std::vector<Branch>> branches_;
  core::SubscriptionIndex<std::uint32_t> interest_;  // filter -> node index
  core::MatchCache<std::uint32_t> interest_cache_{4096};
  std::vector<std::string> remote_filters_;
};

}  // namespace skein::mesh
