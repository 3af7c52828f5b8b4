// Sequence and epoch checks of idempotent producers (producer_state.hpp).
#include "storage/producer_state.hpp"

namespace skein::storage {

namespace {
// Sequences wrap from INT32_MAX to 0, as the Java client's do.
std::int32_t after(std::int32_t sequence, std::int64_t steps) {
  return static_cast<std::int32_t>((static_cast<std::int64_t>(sequence) + steps) %
                                   (std::int64_t{INT32_MAX} + 1));
}
}  // namespace

ProducerState::Check ProducerState::check(const BatchHeader& h) const {
  if (h.producer_id < 0) return {};
  auto it = producers_.find(h.producer_id);
  if (it == producers_.end()) return {};
  const Producer& p = it->second;
  if (h.producer_epoch < p.epoch) {
    return {Verdict::fenced, -1,
            "producer " + std::to_string(h.producer_id) + " epoch " +
                std::to_string(h.producer_epoch) + " is older than the current " +
                std::to_string(p.epoch)};
  }
  if (h.producer_epoch > p.epoch) {
    if (h.base_sequence == 0) return {};
    return {Verdict::out_of_order, -1,
            "a new epoch must start at sequence 0, not " + std::to_string(h.base_sequence)};
  }
  const std::int32_t last = after(h.base_sequence, h.last_offset_delta);
  for (const Batch& b : p.recent)
    if (b.first_sequence == h.base_sequence && b.last_sequence == last)
      return {Verdict::duplicate, b.base_offset, {}};
  const std::int32_t expected = after(p.last_sequence, 1);
  if (h.base_sequence != expected) {
    return {Verdict::out_of_order, -1,
            "sequence " + std::to_string(h.base_sequence) + " where " + std::to_string(expected) +
                " was expected from producer " + std::to_string(h.producer_id)};
  }
  return {};
}

void ProducerState::record(const BatchHeader& h, std::int64_t base_offset) {
  if (h.producer_id < 0) return;
  Producer& p = producers_[h.producer_id];
  if (h.producer_epoch != p.epoch) p = Producer{h.producer_epoch, {}, 0, -1};
  const std::int32_t last = after(h.base_sequence, h.last_offset_delta);
  p.recent[p.next] = {h.base_sequence, last, base_offset};
  p.next = (p.next + 1) % p.recent.size();
  p.last_sequence = last;
}

}  // namespace skein::storage
