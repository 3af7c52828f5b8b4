// The router: delivers each published event to every destination whose filter
// matches its topic (DESIGN.md §1, §5).
//
// publish() runs on the publisher's shard. It looks the topic up in that
// shard's match cache (falling back to the shared SubscriptionTable), offers
// the event directly to destinations on the same shard, and hands the others
// to the DeliveryPort, which carries them to their home shard in order
// (runtime/shard_mailbox). Nothing here blocks and nothing copies a payload:
// every destination receives the same EventPtr.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/destination.hpp"
#include "core/event.hpp"
#include "core/match_cache.hpp"
#include "core/subscription_table.hpp"

namespace skein::core {

// How an event reaches a destination whose home is another shard.
class DeliveryPort {
 public:
  virtual ~DeliveryPort() = default;
  virtual void send(unsigned from_shard, DestinationPtr destination, EventPtr event) = 0;
};

// Counters of one shard. Written only by that shard (relaxed atomics so that
// the metrics endpoint may read them from anywhere); padded so that two
// shards never share a cache line.
struct alignas(64) RouterCounters {
  std::atomic<std::uint64_t> published{0};       // events given to publish()
  std::atomic<std::uint64_t> unmatched{0};       // of those, events nobody wanted
  std::atomic<std::uint64_t> delivered{0};       // events queued at a destination
  std::atomic<std::uint64_t> dropped_oldest{0};  // queued events dropped by drop-oldest
  std::atomic<std::uint64_t> overflowed{0};      // destinations closed by a full queue
};

struct RouterTotals {
  std::uint64_t published = 0, unmatched = 0, delivered = 0, dropped_oldest = 0, overflowed = 0;
};

class Router {
 public:
  // `incarnation` 0: the time of construction in microseconds since the epoch,
  // which grows from one start of the node to the next.
  Router(std::string node_name, unsigned shard_count, std::size_t cache_entries = 4096,
         std::uint64_t incarnation = 0);

  void set_delivery_port(DeliveryPort* port) { port_ = port; }
  const std::string& node_name() const { return node_name_; }
  std::uint64_t incarnation() const { return incarnation_; }
  unsigned shard_count() const { return static_cast<unsigned>(caches_.size()); }

  // Completes an event at ingress: origin (this node, next sequence) and, when
  // unset, the timestamp. Returns the shared, immutable event.
  EventPtr stamp(Event event);

  // On shard `shard`: delivers `event` to every matching destination.
  // Returns how many destinations matched.
  std::size_t publish(unsigned shard, const EventPtr& event);

  // On `destination`'s home shard `shard`: offers the event and counts the outcome.
  void deliver_local(unsigned shard, Destination& destination, EventPtr event);

  // The subscription table; its writer is runtime/subscription_service.
  SubscriptionTable<DestinationPtr>& table() { return table_; }

  // On shard `shard`: forget cached matches (called after a table change so
  // that the cache holds no destination that has gone).
  void clear_cache(unsigned shard) { caches_[shard]->cache.clear(); }

  const RouterCounters& counters(unsigned shard) const { return caches_[shard]->counters; }
  RouterTotals totals() const;

 private:
  struct PerShard {
    MatchCache<DestinationPtr> cache;
    RouterCounters counters;
    explicit PerShard(std::size_t entries) : cache(entries) {}
  };

  std::string node_name_;
  std::uint64_t incarnation_;
  std::atomic<std::uint64_t> next_sequence_{1};
  SubscriptionTable<DestinationPtr> table_;
  std::vector<std::unique_ptr<PerShard>> caches_;
  DeliveryPort* port_ = nullptr;
};

}  // namespace skein::core
