// Idempotent producers (Kafka's KIP-98, as a broker keeps it per partition):
// a producer id and epoch stamp every batch, with the sequence number of its
// first record. The partition remembers, per producer, the epoch and the
// last five batches' sequence ranges and offsets (a producer has at most five
// in flight), so that a retried batch is answered with the offset it got the
// first time instead of being appended twice, a gap in sequences is refused
// as out of order, and an older epoch (a zombie producer) is fenced.
//
// A producer the partition has not seen is accepted at any sequence, as
// Kafka does once a producer's state has expired; state is in memory and
// starts empty when the node starts. Owned by the partition's shard.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "storage/record_batch.hpp"

namespace skein::storage {

class ProducerState {
 public:
  enum class Verdict {
    append,        // new: append it, then record()
    duplicate,     // already appended: answer with duplicate_base_offset
    out_of_order,  // a sequence gap (OUT_OF_ORDER_SEQUENCE_NUMBER)
    fenced,        // an older epoch (INVALID_PRODUCER_EPOCH)
  };
  struct Check {
    Verdict verdict = Verdict::append;
    std::int64_t duplicate_base_offset = -1;
    std::string message;
  };

  // What to do with a batch; batches without a producer id are always appended.
  Check check(const BatchHeader& header) const;
  // After the batch was appended at `base_offset`.
  void record(const BatchHeader& header, std::int64_t base_offset);

  std::size_t producers() const { return producers_.size(); }

 private:
  struct Batch {
    std::int32_t first_sequence = -1;
    std::int32_t last_sequence = -1;
    std::int64_t base_offset = -1;
  };
  struct Producer {
    std::int16_t epoch = -1;
    std::array<Batch, 5> recent;  // a ring of the last five batches
    std::size_t next = 0;         // where the next one goes
    std::int32_t last_sequence = -1;
  };
  std::unordered_map<std::int64_t, Producer> producers_;
};

}  // namespace skein::storage
