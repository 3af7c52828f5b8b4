// A timing wheel of intrusive entries (deadline_wheel.hpp).
#include "runtime/deadline_wheel.hpp"

#include <algorithm>

namespace skein::runtime {

void DeadlineWheel::Entry::unlink() {
  if (!next) return;
  prev->next = next;
  next->prev = prev;
  prev = next = nullptr;
}

DeadlineWheel::DeadlineWheel(boost::asio::io_context& context, Clock::duration tick,
                             std::size_t slots, OnDeadline on_deadline)
    : tick_(tick),
      epoch_(Clock::now()),
      on_deadline_(on_deadline),
      slots_(std::max<std::size_t>(slots, 1)),
      next_turn_(1),
      timer_(context) {
  for (Link& slot : slots_) slot.prev = slot.next = &slot;
  unscheduled_.prev = unscheduled_.next = &unscheduled_;
}

DeadlineWheel::~DeadlineWheel() {
  // Entries may outlive the wheel: leave them unlisted, not pointing here.
  for_each([](Entry& e) { e.unlink(); });
}

void DeadlineWheel::link_before(Link& head, Link& node) {
  node.prev = head.prev;
  node.next = &head;
  head.prev->next = &node;
  head.prev = &node;
}

std::int64_t DeadlineWheel::tick_of(Clock::time_point t) const {
  // Rounded up: a deadline fires at or after its time.
  const auto since = t - epoch_;
  return static_cast<std::int64_t>((since + tick_ - Clock::duration(1)) / tick_);
}

void DeadlineWheel::set(Entry& entry, std::optional<Clock::time_point> deadline) {
  entry.unlink();
  if (!deadline) {
    link_before(unscheduled_, entry);
    return;
  }
  // Never into a slot being handled or already passed: the next turn at least.
  entry.tick_ = std::max(tick_of(*deadline), next_turn_);
  link_before(slots_[static_cast<std::size_t>(entry.tick_) % slots_.size()], entry);
  arm();
}

void DeadlineWheel::collect(std::vector<Entry*>& out) {
  auto gather = [&out](Link& head) {
    for (Link* l = head.next; l != &head; l = l->next) out.push_back(static_cast<Entry*>(l));
  };
  for (Link& slot : slots_) gather(slot);
  gather(unscheduled_);
}

void DeadlineWheel::arm() {
  if (armed_) return;
  armed_ = true;
  timer_.expires_at(epoch_ + next_turn_ * tick_);
  timer_.async_wait([this](boost::system::error_code ec) {
    armed_ = false;
    if (!ec) turn();
  });
}

void DeadlineWheel::turn() {
  const Clock::time_point now = Clock::now();
  const std::int64_t due = tick_of(now);
  // After a long stall, one lap handles every slot once.
  const std::int64_t lap = static_cast<std::int64_t>(slots_.size());
  if (due - next_turn_ >= lap) next_turn_ = due - lap + 1;
  while (next_turn_ <= due) {
    const std::int64_t tick = next_turn_++;
    turn_slot(tick, now);
  }
  const bool any =
      std::any_of(slots_.begin(), slots_.end(), [](const Link& slot) { return !empty(slot); });
  if (any) arm();
}

void DeadlineWheel::turn_slot(std::int64_t tick, Clock::time_point now) {
  Link& slot = slots_[static_cast<std::size_t>(tick) % slots_.size()];
  if (empty(slot)) return;
  // Move the slot's entries aside: what is relisted meanwhile lands in
  // later slots, and an entry destroyed meanwhile unlinks from `pending`.
  Link pending;
  pending.next = slot.next;
  pending.prev = slot.prev;
  pending.next->prev = &pending;
  pending.prev->next = &pending;
  slot.prev = slot.next = &slot;
  while (!empty(pending)) {
    auto& entry = static_cast<Entry&>(*pending.next);
    entry.unlink();
    if (entry.tick_ > tick) {  // a later lap's
      link_before(slot, entry);
      continue;
    }
    if (auto deadline = on_deadline_(entry, now)) set(entry, *deadline);
  }
}

}  // namespace skein::runtime
