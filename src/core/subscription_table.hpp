// SubscriptionTable: the subscription index made readable from every shard at
// once without locks (DESIGN.md §5), by keeping two copies ("left-right").
//
// Readers (any shard, on every publish) use the active copy, which nobody
// writes while it is active. The single writer applies a batch of changes to
// the standby copy, publishes it as the active one, waits until every shard has
// passed a point where it holds no reference into the old copy (the caller
// supplies that wait: see runtime/subscription_service), then applies the same
// batch to the old copy so the two are equal again. Reads are wait-free, a
// change costs two trie updates and one round of messages to the shards, and
// memory is twice the index whatever the number of cores.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/subscription_index.hpp"

namespace skein::core {

template <class Sub>
class SubscriptionTable {
 public:
  struct Change {
    bool add = true;  // false: remove
    std::string filter;
    Sub sub;
  };

  // Readers: the copy to match against. Valid until the caller's next
  // quiescent point (for a shard: the end of the current handler).
  const SubscriptionIndex<Sub>& readable() const {
    return copies_[active_.load(std::memory_order_acquire)];
  }

  // Bumped each time a new copy becomes active: caches keyed on it go stale.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Writer, step 1: apply to the standby copy. Returns, per change, whether it
  // changed anything (an add of a present pair or a remove of an absent one
  // does not).
  std::vector<bool> stage(const std::vector<Change>& changes) {
    std::vector<bool> effective;
    effective.reserve(changes.size());
    auto& standby = copies_[1 - active_.load(std::memory_order_relaxed)];
    for (const auto& c : changes)
      effective.push_back(c.add ? standby.insert(c.filter, c.sub)
                                : standby.remove(c.filter, c.sub));
    return effective;
  }

  // Writer, step 2: make the standby copy the active one.
  void publish() {
    active_.store(1 - active_.load(std::memory_order_relaxed), std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }

  // Writer, step 3, once no reader can still be in the old copy: bring it up to
  // date so that the next stage() starts from the same state.
  void catch_up(const std::vector<Change>& changes) { (void)stage(changes); }

  // Writer only: the number of (filter, subscriber) pairs.
  std::size_t size() const { return readable().size(); }

 private:
  SubscriptionIndex<Sub> copies_[2];
  std::atomic<int> active_{0};
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace skein::core
