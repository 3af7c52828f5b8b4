// Bounded per-destination queues and the slow-subscriber policies.
#include "core/destination.hpp"

namespace skein::core {

bool parse_slow_policy(std::string_view text, SlowPolicy& out) {
  if (text == "disconnect") {
    out = SlowPolicy::disconnect;
    return true;
  }
  if (text == "drop-oldest") {
    out = SlowPolicy::drop_oldest;
    return true;
  }
  return false;
}

std::string_view to_string(SlowPolicy policy) {
  return policy == SlowPolicy::disconnect ? "disconnect" : "drop-oldest";
}

Offer Destination::offer(EventPtr event) {
  if (closed_) return Offer::closed;
  const bool was_empty = queue_.empty();
  Offer result = Offer::queued;
  if (queue_.size() >= capacity_) {
    if (policy_ == SlowPolicy::disconnect) {
      overflowed_ = true;
      close();
      return Offer::overflowed;
    }
    // A persistent destination's dropped event was counted on its receipt:
    // answer it, or its publisher would wait for nothing.
    if (persistent() && queue_.front()->receipt)
      queue_.front()->receipt->failed("a destination's queue is full");
    queue_.pop_front();
    result = Offer::dropped_oldest;
  }
  queue_.push_back(std::move(event));
  if (was_empty) wake();
  return result;
}

namespace {
template <class Queue, class Out>
std::size_t move_front(Queue& queue, Out& out, std::size_t max) {
  std::size_t n = 0;
  while (n < max && !queue.empty()) {
    out.push_back(std::move(queue.front()));
    queue.pop_front();
    ++n;
  }
  return n;
}
}  // namespace

std::size_t Destination::take(std::deque<EventPtr>& out, std::size_t max) {
  return move_front(queue_, out, max);
}

std::size_t Destination::take(std::vector<EventPtr>& out, std::size_t max) {
  return move_front(queue_, out, max);
}

void Destination::close() {
  if (closed_) return;
  closed_ = true;
  queue_.clear();
  wake();
}

}  // namespace skein::core
