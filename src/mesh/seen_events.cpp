// The sliding bitmap of seen_events.hpp.
#include "mesh/seen_events.hpp"

#include <algorithm>

namespace skein::mesh {

SeenEvents::SeenEvents(std::uint64_t window) : window_(((window + 63) / 64) * 64) {
  if (window_ == 0) window_ = 64;
}

bool SeenEvents::test_and_set(Window& w, std::uint64_t s) {
  const std::uint64_t slot = s % window_;
  std::uint64_t& word = w.bits[slot / 64];
  const std::uint64_t bit = std::uint64_t{1} << (slot % 64);
  const bool was = (word & bit) != 0;
  word |= bit;
  return was;
}

void SeenEvents::clear_slots(Window& w, std::uint64_t first, std::uint64_t count) {
  std::uint64_t slot = first;
  const std::uint64_t end = first + count;
  // Bit by bit up to a word boundary, whole words, then the last bits.
  for (; slot < end && slot % 64 != 0; ++slot)
    w.bits[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
  for (; slot + 64 <= end; slot += 64) w.bits[slot / 64] = 0;
  for (; slot < end; ++slot) w.bits[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
}

SeenEvents::Verdict SeenEvents::check(const std::string& origin, std::uint64_t incarnation,
                                      std::uint64_t sequence) {
  auto [it, inserted] = origins_.try_emplace(origin);
  Window& w = it->second;
  if (inserted || incarnation > w.incarnation) {
    // A new origin, or a new life of one: start an empty window.
    w.incarnation = incarnation;
    w.top = sequence;
    w.bits.assign(window_ / 64, 0);
    test_and_set(w, sequence);
    return Verdict::fresh;
  }
  // An event of an earlier life still travelling: nothing to compare it with.
  if (incarnation < w.incarnation) return Verdict::too_old;
  if (sequence > w.top) {
    // Slide: clear the slots of the sequences the window now passes over.
    const std::uint64_t gap = sequence - w.top;
    if (gap >= window_) {
      std::fill(w.bits.begin(), w.bits.end(), 0);
    } else {
      // The slots after top's, `gap` of them, wrapping at most once.
      const std::uint64_t first = (w.top + 1) % window_;
      const std::uint64_t run = std::min(gap, window_ - first);
      clear_slots(w, first, run);
      clear_slots(w, 0, gap - run);
    }
    w.top = sequence;
    test_and_set(w, sequence);
    return Verdict::fresh;
  }
  if (w.top - sequence >= window_) return Verdict::too_old;
  return test_and_set(w, sequence) ? Verdict::duplicate : Verdict::fresh;
}

void SeenEvents::forget(const std::string& origin, std::uint64_t incarnation,
                        std::uint64_t sequence) {
  auto it = origins_.find(origin);
  if (it == origins_.end()) return;
  Window& w = it->second;
  if (w.incarnation != incarnation || sequence > w.top || w.top - sequence >= window_) return;
  const std::uint64_t slot = sequence % window_;
  w.bits[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
}

}  // namespace skein::mesh
