// The router's publish path: cache lookup, trie match on a miss, local offer or
// hand-off to the destination's shard.
#include "core/router.hpp"

#include <chrono>

namespace skein::core {

namespace {
void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  // Only the owning shard writes, so a load and a store suffice (no locked RMW).
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
}  // namespace

Router::Router(std::string node_name, unsigned shard_count, std::size_t cache_entries,
               std::uint64_t incarnation)
    : node_name_(std::move(node_name)),
      incarnation_(incarnation != 0 ? incarnation
                                    : static_cast<std::uint64_t>(
                                          std::chrono::duration_cast<std::chrono::microseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count())) {
  caches_.reserve(shard_count);
  for (unsigned i = 0; i < shard_count; ++i)
    caches_.push_back(std::make_unique<PerShard>(cache_entries));
}

EventPtr Router::stamp(Event event) {
  event.origin.node = node_name_;
  event.origin.incarnation = incarnation_;
  event.origin.sequence = next_sequence_.fetch_add(1, std::memory_order_relaxed);
  if (event.timestamp_ms == 0) {
    event.timestamp_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  }
  return std::make_shared<const Event>(std::move(event));
}

std::size_t Router::publish(unsigned shard, const EventPtr& event) {
  PerShard& local = *caches_[shard];
  bump(local.counters.published);
  const std::uint64_t generation = table_.generation();
  const std::vector<DestinationPtr>* matched = local.cache.find(event->topic, generation);
  if (matched == nullptr) {
    std::vector<DestinationPtr> found;
    table_.readable().match(event->topic, found);
    matched = &local.cache.insert(event->topic, std::move(found), generation);
  }
  if (matched->empty()) bump(local.counters.unmatched);
  for (const DestinationPtr& destination : *matched) {
    // Counted before the offer, so that no answer can complete the receipt early.
    if (event->receipt && destination->persistent()) event->receipt->expect();
    if (destination->home_shard() == shard || port_ == nullptr) {
      deliver_local(shard, *destination, event);
    } else {
      port_->send(shard, destination, event);
    }
  }
  return matched->size();
}

void Router::deliver_local(unsigned shard, Destination& destination, EventPtr event) {
  RouterCounters& counters = caches_[shard]->counters;
  // A persistent destination that refuses the event must still answer its receipt.
  std::shared_ptr<Receipt> receipt = destination.persistent() ? event->receipt : nullptr;
  switch (destination.offer(std::move(event))) {
    case Offer::queued:
      bump(counters.delivered);
      break;
    case Offer::dropped_oldest:
      bump(counters.delivered);
      bump(counters.dropped_oldest);
      break;
    case Offer::overflowed:
      bump(counters.overflowed);
      if (receipt) receipt->failed("a destination's queue is full");
      break;
    case Offer::closed:
      if (receipt) receipt->failed("a destination closed");
      break;
  }
}

RouterTotals Router::totals() const {
  RouterTotals t;
  for (const auto& s : caches_) {
    t.published += s->counters.published.load(std::memory_order_relaxed);
    t.unmatched += s->counters.unmatched.load(std::memory_order_relaxed);
    t.delivered += s->counters.delivered.load(std::memory_order_relaxed);
    t.dropped_oldest += s->counters.dropped_oldest.load(std::memory_order_relaxed);
    t.overflowed += s->counters.overflowed.load(std::memory_order_relaxed);
  }
  return t;
}

}  // namespace skein::core
