// ProducerState: an idempotent producer's retried batch is recognised with
// its first offset, a sequence gap is refused, an older epoch is fenced, a
// new epoch starts at 0, sequences wrap, and unknown producers are accepted.
#include "storage/producer_state.hpp"

#include <gtest/gtest.h>

namespace skein::storage {
namespace {

BatchHeader batch(std::int64_t producer, std::int16_t epoch, std::int32_t sequence,
                  std::int32_t records) {
  BatchHeader h;
  h.producer_id = producer;
  h.producer_epoch = epoch;
  h.base_sequence = sequence;
  h.last_offset_delta = records - 1;
  h.record_count = records;
  return h;
}

using V = ProducerState::Verdict;

TEST(ProducerStateTest, RetriesAreDuplicatesGapsAreRefusedOldEpochsFenced) {
  ProducerState state;
  EXPECT_EQ(state.check(batch(7, 0, 0, 5)).verdict, V::append);
  state.record(batch(7, 0, 0, 5), 100);
  EXPECT_EQ(state.check(batch(7, 0, 5, 3)).verdict, V::append);
  state.record(batch(7, 0, 5, 3), 105);

  auto retry = state.check(batch(7, 0, 0, 5));
  EXPECT_EQ(retry.verdict, V::duplicate);
  EXPECT_EQ(retry.duplicate_base_offset, 100);
  EXPECT_EQ(state.check(batch(7, 0, 5, 3)).duplicate_base_offset, 105);

  auto gap = state.check(batch(7, 0, 10, 1));
  EXPECT_EQ(gap.verdict, V::out_of_order);
  EXPECT_NE(gap.message.find("8 was expected"), std::string::npos) << gap.message;

  EXPECT_EQ(state.check(batch(7, 1, 3, 1)).verdict, V::out_of_order);  // a new epoch starts at 0
  EXPECT_EQ(state.check(batch(7, 1, 0, 1)).verdict, V::append);
  state.record(batch(7, 1, 0, 1), 200);
  EXPECT_EQ(state.check(batch(7, 0, 8, 1)).verdict, V::fenced);

  // Another producer, first seen mid-stream (its state expired, or the node
  // restarted): accepted at any sequence.
  EXPECT_EQ(state.check(batch(9, 3, 4242, 2)).verdict, V::append);
  // Batches without a producer id are never checked.
  EXPECT_EQ(state.check(batch(-1, -1, -1, 1)).verdict, V::append);
  EXPECT_EQ(state.producers(), 1u);
}

TEST(ProducerStateTest, SequencesWrapAtInt32Max) {
  ProducerState state;
  state.record(batch(1, 0, INT32_MAX - 1, 2), 0);  // INT32_MAX - 1 and INT32_MAX
  EXPECT_EQ(state.check(batch(1, 0, 0, 1)).verdict, V::append);
  EXPECT_EQ(state.check(batch(1, 0, INT32_MAX - 1, 2)).verdict, V::duplicate);
}

TEST(ProducerStateTest, OnlyTheLastFiveBatchesAreRemembered) {
  ProducerState state;
  for (int i = 0; i < 7; ++i) state.record(batch(1, 0, i, 1), 10 + i);
  EXPECT_EQ(state.check(batch(1, 0, 6, 1)).duplicate_base_offset, 16);
  EXPECT_EQ(state.check(batch(1, 0, 2, 1)).verdict, V::duplicate);
  // Older than the five kept: neither a duplicate found nor the next one.
  EXPECT_EQ(state.check(batch(1, 0, 1, 1)).verdict, V::out_of_order);
}

}  // namespace
}  // namespace skein::storage
