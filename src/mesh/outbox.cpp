// The in-memory side of an outbox (outbox.hpp).
#include "mesh/outbox.hpp"

#include <algorithm>

namespace skein::mesh {

std::size_t event_bytes(const core::Event& e) {
  std::size_t n = 64 + e.topic.size() + e.payload.size() + e.content_type.size();
  if (e.key) n += e.key->size();
  for (const auto& h : e.headers) n += h.name.size() + h.value.size() + 16;
  return n;
}

std::uint64_t Outbox::add(core::EventPtr event, Clock::time_point now) {
  const std::uint64_t position = next_++;
  const std::size_t size = event_bytes(*event);
  bytes_ += size;
  entries_.push_back(Entry{position, std::move(event), now, size});
  return position;
}

void Outbox::restore(std::uint64_t position, core::EventPtr event, Clock::time_point now) {
  if (position < next_) return;  // already held
  if (entries_.empty()) acked_ = sent_ = position;
  next_ = position + 1;
  const std::size_t size = event_bytes(*event);
  bytes_ += size;
  entries_.push_back(Entry{position, std::move(event), now, size});
}

std::size_t Outbox::acknowledge(std::uint64_t next) {
  next = std::min(next, next_);
  if (next <= acked_) return entries_.size();
  acked_ = next;
  sent_ = std::max(sent_, acked_);
  while (!entries_.empty() && entries_.front().position < next) {
    bytes_ -= entries_.front().bytes;
    entries_.pop_front();
  }
  return entries_.size();
}

std::size_t Outbox::enforce(const OutboxLimits& limits, Clock::time_point now) {
  std::size_t dropped = 0;
  while (!entries_.empty() &&
         (bytes_ > limits.max_bytes || now - entries_.front().added > limits.max_age)) {
    bytes_ -= entries_.front().bytes;
    entries_.pop_front();
    ++dropped;
  }
  if (dropped > 0) {
    // The dropped positions count as acknowledged: nobody will send them.
    acked_ = entries_.empty() ? next_ : entries_.front().position;
    sent_ = std::max(sent_, acked_);
    dropped_ += dropped;
  }
  return dropped;
}

std::vector<const Outbox::Entry*> Outbox::take_unsent(std::size_t max_events,
                                                      std::size_t max_bytes) {
  std::vector<const Entry*> out;
  if (sent_ >= next_ || entries_.empty()) return out;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), sent_,
                             [](const Entry& e, std::uint64_t p) { return e.position < p; });
  auto i = static_cast<std::size_t>(it - entries_.begin());
  std::size_t bytes = 0;
  for (; i < entries_.size() && out.size() < max_events && bytes < max_bytes; ++i) {
    out.push_back(&entries_[i]);
    bytes += entries_[i].bytes;
  }
  sent_ = out.empty() ? next_ : out.back()->position + 1;
  return out;
}

}  // namespace skein::mesh
