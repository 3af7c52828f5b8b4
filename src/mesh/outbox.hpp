// Outbox: the persistent events waiting to cross one link (DESIGN.md §3
// "Store and forward"), in the order they were forwarded, each with its
// position. An event leaves the outbox when the peer acknowledges that it
// stored it; a link that comes back sends again from the first position not
// acknowledged. The events are held in memory; an OutboxStore keeps them on
// disk as well, so that they survive a restart (outbox_log.hpp), and says when
// each is durable: only then may the ingress acknowledge its publisher.
//
// Bounded by bytes and age: beyond either, the oldest events are dropped,
// counted, and the caller logs it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "core/event.hpp"

namespace skein::mesh {

// Durability of outboxes. The engine calls it on its own thread; `done` may
// run on any thread (the engine posts back to itself).
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;
  virtual void append(const std::string& peer, std::uint64_t position, const core::EventPtr& event,
                      std::function<void(bool ok)> done) = 0;
  // Everything below `next` may be forgotten.
  virtual void trim(const std::string& peer, std::uint64_t next) = 0;
};

struct OutboxLimits {
  std::uint64_t max_bytes = std::uint64_t{256} << 20;
  std::chrono::milliseconds max_age{std::chrono::hours(24)};
};

class Outbox {
 public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::uint64_t position;
    core::EventPtr event;
    Clock::time_point added;
    std::size_t bytes;
  };

  // Positions continue from `next` (0 for a new outbox).
  Outbox() : Outbox(0) {}
  explicit Outbox(std::uint64_t next) : acked_(next), next_(next), sent_(next) {}

  // Adds an event; returns its position.
  std::uint64_t add(core::EventPtr event, Clock::time_point now);
  // Restores an event read back from the store (positions ascending).
  void restore(std::uint64_t position, core::EventPtr event, Clock::time_point now);

  // The peer stored everything below `next`. Returns how many entries left.
  std::size_t acknowledge(std::uint64_t next);
  // Drops the oldest entries beyond the limits; returns how many.
  std::size_t enforce(const OutboxLimits& limits, Clock::time_point now);

  // Sending: entries from the send position on, at most `max_events` or
  // about `max_bytes`; advances the send position past them.
  std::vector<const Entry*> take_unsent(std::size_t max_events, std::size_t max_bytes);
  // The link (re)connected: send again from the first unacknowledged entry.
  void rewind() { sent_ = acked_; }

  std::uint64_t acked() const { return acked_; }
  std::uint64_t next() const { return next_; }
  std::uint64_t sent() const { return sent_; }
  std::size_t depth() const { return entries_.size(); }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t dropped() const { return dropped_; }
  bool has_unsent() const { return sent_ < next_; }

 private:
  std::deque<Entry> entries_;  // positions ascending, from acked_ (minus drops) to next_
  std::uint64_t acked_;
  std::uint64_t next_;
  std::uint64_t sent_;
  std::uint64_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
};

// An approximation of an event's size in the outbox (payload, topic, headers).
std::size_t event_bytes(const core::Event& event);

}  // namespace skein::mesh
