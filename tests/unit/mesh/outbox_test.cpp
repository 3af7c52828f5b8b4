// Outbox: positions, sending windows, acknowledgements, rewinding after a
// reconnection, and the byte and age limits that drop the oldest events.
#include "mesh/outbox.hpp"

#include <gtest/gtest.h>

namespace skein::mesh {
namespace {

core::EventPtr event(std::size_t payload_bytes = 10) {
  core::Event e;
  e.topic = "t";
  e.payload.assign(payload_bytes, 'x');
  return std::make_shared<const core::Event>(std::move(e));
}

TEST(Outbox, SendsOnceAcknowledgesAndResendsFromTheFirstUnacknowledged) {
  Outbox o;
  const auto now = Outbox::Clock::now();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(o.add(event(), now), static_cast<std::uint64_t>(i));
  auto first = o.take_unsent(4, 1 << 20);
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(first.front()->position, 0u);
  auto rest = o.take_unsent(100, 1 << 20);
  ASSERT_EQ(rest.size(), 6u);
  EXPECT_EQ(rest.front()->position, 4u);
  EXPECT_FALSE(o.has_unsent());
  EXPECT_EQ(o.acknowledge(3), 7u);
  EXPECT_EQ(o.acked(), 3u);
  o.rewind();  // the link came back: from 3 again
  auto again = o.take_unsent(100, 1 << 20);
  ASSERT_EQ(again.size(), 7u);
  EXPECT_EQ(again.front()->position, 3u);
  EXPECT_EQ(o.acknowledge(1000), 0u);  // beyond the end counts as the end
  EXPECT_EQ(o.acked(), 10u);
  EXPECT_EQ(o.bytes(), 0u);
}

TEST(Outbox, ByteAndAgeLimitsDropTheOldest) {
  Outbox o;
  const auto t0 = Outbox::Clock::now();
  for (int i = 0; i < 10; ++i) o.add(event(1000), t0 + std::chrono::seconds(i));
  OutboxLimits limits;
  limits.max_bytes = 5 * event_bytes(*event(1000));
  limits.max_age = std::chrono::hours(1);
  EXPECT_EQ(o.enforce(limits, t0 + std::chrono::seconds(10)), 5u);
  EXPECT_EQ(o.depth(), 5u);
  EXPECT_EQ(o.acked(), 5u);  // dropped positions are never sent
  EXPECT_EQ(o.dropped(), 5u);
  limits.max_bytes = 1 << 30;
  limits.max_age = std::chrono::seconds(3);
  // At t0+10s the entries added at 5..9 s are 5..1 s old: those older than 3 s go.
  EXPECT_EQ(o.enforce(limits, t0 + std::chrono::seconds(10)), 2u);
  auto left = o.take_unsent(100, 1 << 30);
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left.front()->position, 7u);
}

TEST(Outbox, RestoredEventsContinueTheirPositions) {
  Outbox o;
  const auto now = Outbox::Clock::now();
  o.restore(40, event(), now);
  o.restore(41, event(), now);
  EXPECT_EQ(o.acked(), 40u);
  EXPECT_EQ(o.add(event(), now), 42u);
  auto all = o.take_unsent(10, 1 << 20);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]->position, 40u);
  EXPECT_EQ(all[2]->position, 42u);
}

TEST(Outbox, SendingStopsAtTheByteBudget) {
  Outbox o;
  const auto now = Outbox::Clock::now();
  for (int i = 0; i < 10; ++i) o.add(event(1000), now);
  auto some = o.take_unsent(100, 2500);
  EXPECT_EQ(some.size(), 3u);  // stops once the budget is passed
}

}  // namespace
}  // namespace skein::mesh
