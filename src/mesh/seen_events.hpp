// SeenEvents: drops an event that reaches this node a second time (DESIGN.md
// §2: duplicates suppressed by origin and sequence). A second copy arrives
// when routes change while events are in flight, or when a link resends
// persistent events the peer stored but had not acknowledged yet.
//
// Per origin incarnation it keeps a window of the last `window` sequence
// numbers as bits below the highest seen (a sliding bitmap, as anti-replay
// windows do): constant memory per origin, one bit test per event. A sequence
// older than the window cannot be told apart: a direct event that late is
// dropped (at most once), a persistent one is taken (at least once: it waited
// in an outbox, and dropping it would lose it).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace skein::mesh {

class SeenEvents {
 public:
  // `window`: sequence numbers remembered per origin (rounded up to 64).
  explicit SeenEvents(std::uint64_t window = std::uint64_t{1} << 20);

  enum class Verdict { fresh, duplicate, too_old };
  // Records the event as seen; `duplicate` when it was seen before.
  Verdict check(const std::string& origin, std::uint64_t incarnation, std::uint64_t sequence);

  // Forgets that the event was seen (it could not be stored, so a copy sent
  // again must be taken). Nothing happens outside the window.
  void forget(const std::string& origin, std::uint64_t incarnation, std::uint64_t sequence);

  std::size_t origins() const { return origins_.size(); }

 private:
  struct Window {
    std::uint64_t incarnation = 0;
    std::uint64_t top = 0;            // highest sequence seen
    std::vector<std::uint64_t> bits;  // bit (s % window) set: s seen, for s in (top-window, top]
  };
  bool test_and_set(Window& w, std::uint64_t sequence);
  static void clear_slots(Window& w, std::uint64_t first, std::uint64_t count);

  std::uint64_t window_;
  std::unordered_map<std::string, Window> origins_;
};

}  // namespace skein::mesh
