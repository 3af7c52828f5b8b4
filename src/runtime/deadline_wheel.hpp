// DeadlineWheel: coarse deadlines for very many objects of one shard (the
// keep alive of a million MQTT connections) with no timer and no allocation
// per object. Each object is an Entry, a node linked into one slot of the
// wheel by its deadline; one timer per wheel turns it a slot per tick.
//
// A deadline that moves later (a packet came) costs nothing when it moves:
// the wheel asks the object for its deadline when the old one comes round,
// and moves it then. So a wheel holds entries in the slot of their earliest
// possible deadline, and a busy connection is touched once per keep-alive
// period rather than once per packet.
//
// Deadlines fire up to one tick late, never early. Entries without a
// deadline are listed too (for_each), so the wheel doubles as the shard's
// list of its objects. Used from its shard's thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace skein::runtime {

class DeadlineWheel {
 public:
  using Clock = std::chrono::steady_clock;

  // A node of a circular list: a slot's head, or an entry.
  struct Link {
    Link* prev = nullptr;
    Link* next = nullptr;
  };

  // Derive from it. It leaves its wheel when destroyed.
  class Entry : private Link {
   public:
    bool listed() const { return next != nullptr; }

   protected:
    Entry() = default;
    ~Entry() { unlink(); }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

   private:
    friend class DeadlineWheel;
    void unlink();
    std::int64_t tick_ = 0;  // the tick whose turn it waits for
  };

  // The wheel reached `entry`'s deadline. Returns its deadline now (it has
  // moved on and is relisted there), or nullopt: it is due and has left the
  // wheel (the callback may destroy it then, and only then).
  using OnDeadline = std::optional<Clock::time_point> (*)(Entry& entry, Clock::time_point now);

  DeadlineWheel(boost::asio::io_context& context, Clock::duration tick, std::size_t slots,
                OnDeadline on_deadline);
  ~DeadlineWheel();
  DeadlineWheel(const DeadlineWheel&) = delete;
  DeadlineWheel& operator=(const DeadlineWheel&) = delete;

  // Lists `entry` (moving it when listed) with `deadline`, or with none.
  void set(Entry& entry, std::optional<Clock::time_point> deadline);
  void remove(Entry& entry) { entry.unlink(); }

  // Calls `f(Entry&)` for every entry listed now; `f` may unlink entries
  // (not destroy them: destruction is for later handlers).
  template <class F>
  void for_each(F&& f) {
    std::vector<Entry*> all;
    collect(all);
    for (Entry* e : all)
      if (e->listed()) f(*e);
  }

  Clock::duration tick() const { return tick_; }

 private:
  static void link_before(Link& head, Link& node);
  static bool empty(const Link& head) { return head.next == &head; }
  std::int64_t tick_of(Clock::time_point t) const;
  void collect(std::vector<Entry*>& out);
  void arm();
  void turn();
  // Handles the entries of one slot whose turn is `tick`.
  void turn_slot(std::int64_t tick, Clock::time_point now);

  const Clock::duration tick_;
  const Clock::time_point epoch_;
  const OnDeadline on_deadline_;
  std::vector<Link> slots_;
  Link unscheduled_;        // entries without a deadline
  std::int64_t next_turn_;  // the next tick to handle
  boost::asio::steady_timer timer_;
  bool armed_ = false;
};

}  // namespace skein::runtime
