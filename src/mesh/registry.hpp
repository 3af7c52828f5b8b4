// The registry (DESIGN.md §3): this node's copy of every node's record — its
// links and its filters — versioned per node. The own record changes when a
// link comes or goes or local subscriptions change; other records come from
// peers, and a record is taken only when it is newer than the one held
// (higher incarnation, then higher version), which is what makes flooding
// converge: each node passes a record on once, the first time it sees it.
//
// A node that can no longer be reached over established links stays in the
// registry (routing ignores it) until it has been unreachable for the expiry
// time; then it is forgotten.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mesh/frame.hpp"

namespace skein::mesh {

class Registry {
 public:
  using Clock = std::chrono::steady_clock;

  Registry(std::string self, std::uint64_t incarnation);

  const NodeRecord& self() const { return records_.at(self_).record; }
  const std::string& self_name() const { return self_; }

  // Changes the own record (a new version) when it differs; true if it did.
  bool set_links(std::vector<std::string> links, std::vector<std::string> held = {});
  bool set_filters(std::vector<std::string> filters);

  // Takes a peer's record when it is newer. A record of this node from an
  // earlier life that claims a higher version makes the own record jump past
  // it (so that peers take the next own record), and is not taken.
  enum class Applied { taken, stale, own_bumped };
  Applied apply(const NodeRecord& record, Clock::time_point now);

  // Every record, sorted by node name.
  std::vector<NodeRecord> records() const;
  const NodeRecord* find(const std::string& node) const;
  std::size_t size() const { return records_.size(); }

  // Bumped by every change: a route plan built from an older generation is stale.
  std::uint64_t generation() const { return generation_; }

  // Marks which nodes are reachable now (from the route plan) and forgets
  // those unreachable for longer than `expiry`. Returns the forgotten names.
  std::vector<std::string> age(const std::vector<std::string>& reachable, Clock::time_point now,
                               Clock::duration expiry);

 private:
  struct Entry {
    NodeRecord record;
    std::optional<Clock::time_point> unreachable_since;
  };
  void bump_own();

  std::string self_;
  std::map<std::string, Entry, std::less<>> records_;
  std::uint64_t generation_ = 1;
};

}  // namespace skein::mesh
