// ShardMailboxes: how the router hands an event to a destination that lives on
// another shard (the core::DeliveryPort of a running node).
//
// One mailbox per ordered pair of shards (from -> to). The sender appends to
// the mailbox and, when it was idle, posts one drain to the receiving shard;
// the receiver swaps the whole batch out and offers each event to its
// destination there. The mailbox's mutex is held for one push_back or one
// swap and is shared by exactly two threads, so it is never a point of
// contention; posting once per batch rather than once per event is what makes
// cross-shard fan-out cheap. Order per (sender shard, destination) is kept,
// so each publisher's events reach each subscriber in publish order.
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/router.hpp"
#include "runtime/shard_pool.hpp"

namespace skein::runtime {

class ShardMailboxes final : public core::DeliveryPort {
 public:
  ShardMailboxes(ShardPool& pool, core::Router& router);

  // On shard `from`.
  void send(unsigned from_shard, core::DestinationPtr destination, core::EventPtr event) override;

 private:
  using Item = std::pair<core::DestinationPtr, core::EventPtr>;
  struct alignas(64) Mailbox {
    std::mutex mutex;
    std::vector<Item> incoming;  // guarded by mutex
    bool drain_posted = false;   // guarded by mutex
    std::vector<Item> draining;  // receiver only: reused so steady state allocates nothing
  };

  void drain(unsigned from_shard, unsigned to_shard);
  Mailbox& box(unsigned from, unsigned to) { return *boxes_[from * pool_.size() + to]; }

  ShardPool& pool_;
  core::Router& router_;
  std::vector<std::unique_ptr<Mailbox>> boxes_;
};

}  // namespace skein::runtime
