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
// Store and forward across a cut: this node's links that are down but held
// (their outboxes keep persistent events until the peer comes back) count as
// edges too, dearer than any path of live links, so that nodes reachable only
// through them still get persistent events queued towards them, while a live
// detour always wins. Direct events never take a held link (the engine skips
// it). Only this node knows its held links; they change trees only where no
// live path exists, which no other node can reach either. This node forwards an event from
// origin O to each of its children in O's tree whose subtree holds a node with
// a filter matching the event's topic: branches without interest get nothing.
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
  RoutePlan(const std::vector<NodeRecord>& records, std::string_view self,
            const std::vector<std::string>& held_links = {});

  // The neighbours (node names) that an event of `origin` on `topic` goes to
  // from this node. Empty for an origin the plan cannot reach.
  void next_hops(std::string_view origin, std::string_view topic, std::vector<std::string>& out);

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
