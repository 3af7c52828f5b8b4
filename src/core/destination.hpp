// A destination: something the router delivers events to (an HTTP subscriber
// today; MQTT sessions, streams, mesh links and bridges later).
//
// Every destination lives on one shard (its home) and is only touched there:
// the router hands it events on that shard, so its queue needs no lock. The
// queue is bounded; what happens when a direct subscriber falls behind is its
// SlowPolicy, and it never blocks the publisher or other destinations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "core/lazy_queue.hpp"

namespace skein::core {

enum class SlowPolicy : std::uint8_t {
  disconnect,   // a full queue closes the destination (NATS' slow consumer)
  drop_oldest,  // a full queue drops its oldest event to make room
};

// Parses "disconnect" / "drop-oldest"; false on anything else.
bool parse_slow_policy(std::string_view text, SlowPolicy& out);
std::string_view to_string(SlowPolicy policy);

enum class Offer : std::uint8_t {
  queued,          // the event is in the queue
  dropped_oldest,  // queued, after dropping the oldest event
  overflowed,      // the queue was full and the destination is now closed
  closed,          // the destination was already closed; nothing queued
};

class Destination : public std::enable_shared_from_this<Destination> {
 public:
  Destination(unsigned home_shard, std::size_t capacity, SlowPolicy policy)
      : capacity_(capacity == 0 ? 1 : capacity), home_shard_(home_shard), policy_(policy) {}
  virtual ~Destination() = default;
  Destination(const Destination&) = delete;
  Destination& operator=(const Destination&) = delete;

  unsigned home_shard() const { return home_shard_; }
  // A persistent destination (a stream) answers the receipts of persistent
  // events it is offered, once it has stored them, and never drops.
  virtual bool persistent() const { return false; }
  std::size_t capacity() const { return capacity_; }
  SlowPolicy policy() const { return policy_; }
  bool closed() const { return closed_; }
  // Closed because its queue was full under the disconnect policy.
  bool overflowed() const { return overflowed_; }
  std::size_t queued() const { return queue_.size(); }

  // Home shard only. Queues the event under the policy and wakes the consumer
  // when the queue goes from empty to non-empty, or when it overflows and closes.
  Offer offer(EventPtr event);

  // Home shard only. Moves up to `max` queued events into `out` (appended).
  std::size_t take(std::deque<EventPtr>& out, std::size_t max);
  std::size_t take(std::vector<EventPtr>& out, std::size_t max);

  // Home shard only. Marks the destination closed and wakes the consumer.
  void close();

 protected:
  // Called on the home shard when events became available or the destination
  // closed. Implementations resume their writer; they must not deliver inline.
  virtual void wake() = 0;

 private:
  // Largest first: no padding in the millions of MQTT sessions.
  const std::size_t capacity_;
  // One pointer while empty: an idle destination (an MQTT session of a
  // quiet device) costs no queue.
  LazyQueue<EventPtr> queue_;
  const unsigned home_shard_;
  const SlowPolicy policy_;
  bool closed_ = false;
  bool overflowed_ = false;
};

using DestinationPtr = std::shared_ptr<Destination>;

}  // namespace skein::core
