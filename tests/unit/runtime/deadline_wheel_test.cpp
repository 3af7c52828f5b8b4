// DeadlineWheel: deadlines fire once, never early and at most about a tick
// late; moved deadlines, deadlines past a lap, destroyed entries, entries
// without deadlines, and a wheel that dies before its entries.
#include "runtime/deadline_wheel.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

namespace skein::runtime {
namespace {

namespace asio = boost::asio;
using Clock = DeadlineWheel::Clock;
using std::chrono::milliseconds;

struct Item : DeadlineWheel::Entry {
  Clock::time_point deadline;
  std::optional<Clock::time_point> moved_to;  // answered once, at the first turn
  int fired = 0;
  Clock::time_point fired_at;
  Clock::time_point asked_at;
};

std::optional<Clock::time_point> on_deadline(DeadlineWheel::Entry& entry, Clock::time_point now) {
  auto& item = static_cast<Item&>(entry);
  item.asked_at = now;
  if (item.moved_to) {
    item.deadline = *item.moved_to;
    item.moved_to.reset();
  }
  if (now < item.deadline) return item.deadline;
  ++item.fired;
  item.fired_at = now;
  return std::nullopt;
}

// Runs the context until every item fired or `limit` passed.
void run_until_fired(asio::io_context& io, const std::vector<Item*>& items, milliseconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    io.run_for(milliseconds(5));
    io.restart();
    bool all = true;
    for (Item* item : items) all = all && item->fired > 0;
    if (all) return;
  }
}

TEST(DeadlineWheel, FiresOnceNeverEarlyAndAboutATickLate) {
  asio::io_context io;
  DeadlineWheel wheel(io, milliseconds(10), 64, &on_deadline);
  Item item;
  item.deadline = Clock::now() + milliseconds(50);
  wheel.set(item, item.deadline);
  run_until_fired(io, {&item}, milliseconds(2000));
  ASSERT_EQ(item.fired, 1);
  EXPECT_GE(item.fired_at, item.deadline);
  EXPECT_LT(item.fired_at - item.deadline, milliseconds(500));  // a tick, plus a busy machine
  EXPECT_FALSE(item.listed());
  io.run_for(milliseconds(50));
  EXPECT_EQ(item.fired, 1);
}

TEST(DeadlineWheel, AMovedDeadlineIsAskedForAtTheOldOneAndFiresAtTheNew) {
  asio::io_context io;
  DeadlineWheel wheel(io, milliseconds(10), 64, &on_deadline);
  Item item;
  const auto start = Clock::now();
  item.deadline = start + milliseconds(30);
  item.moved_to = start + milliseconds(120);  // "a packet came"
  wheel.set(item, item.deadline);
  run_until_fired(io, {&item}, milliseconds(3000));
  ASSERT_EQ(item.fired, 1);
  EXPECT_GE(item.fired_at, start + milliseconds(120));
}

TEST(DeadlineWheel, ADeadlineBeyondOneLapWaitsForItsOwnLap) {
  asio::io_context io;
  // 4 slots of 10 ms: a lap is 40 ms; the deadline is 2.5 laps away.
  DeadlineWheel wheel(io, milliseconds(10), 4, &on_deadline);
  Item item;
  item.deadline = Clock::now() + milliseconds(100);
  wheel.set(item, item.deadline);
  run_until_fired(io, {&item}, milliseconds(3000));
  ASSERT_EQ(item.fired, 1);
  EXPECT_GE(item.fired_at, item.deadline);
}

TEST(DeadlineWheel, ManyRandomDeadlinesEachFireOnceAndNotEarly) {
  asio::io_context io;
  DeadlineWheel wheel(io, milliseconds(5), 16, &on_deadline);  // laps of 80 ms
  std::mt19937 random(7);
  std::vector<std::unique_ptr<Item>> items;
  std::vector<Item*> all;
  const auto start = Clock::now();
  for (int i = 0; i < 2000; ++i) {
    auto item = std::make_unique<Item>();
    item->deadline = start + milliseconds(random() % 300);
    if (i % 3 == 0) item->moved_to = item->deadline + milliseconds(random() % 200);
    wheel.set(*item, item->deadline);
    all.push_back(item.get());
    items.push_back(std::move(item));
  }
  run_until_fired(io, all, milliseconds(5000));
  for (const auto& item : items) {
    ASSERT_EQ(item->fired, 1);
    ASSERT_GE(item->fired_at, item->deadline);
  }
}

TEST(DeadlineWheel, DestroyedAndUnscheduledEntriesNeverFireAndAreListedUntilGone) {
  asio::io_context io;
  DeadlineWheel wheel(io, milliseconds(5), 8, &on_deadline);
  auto doomed = std::make_unique<Item>();
  Item quiet, timed;
  doomed->deadline = timed.deadline = Clock::now() + milliseconds(20);
  wheel.set(*doomed, doomed->deadline);
  wheel.set(timed, timed.deadline);
  wheel.set(quiet, std::nullopt);
  int listed = 0;
  wheel.for_each([&](DeadlineWheel::Entry&) { ++listed; });
  EXPECT_EQ(listed, 3);
  doomed.reset();  // leaves the wheel as it dies
  run_until_fired(io, {&timed}, milliseconds(2000));
  EXPECT_EQ(timed.fired, 1);
  EXPECT_EQ(quiet.fired, 0);
  listed = 0;
  wheel.for_each([&](DeadlineWheel::Entry& e) {
    EXPECT_EQ(&e, static_cast<DeadlineWheel::Entry*>(&quiet));
    ++listed;
  });
  EXPECT_EQ(listed, 1);
}

TEST(DeadlineWheel, EntriesOutliveTheirWheelUnlisted) {
  asio::io_context io;
  Item a, b;
  {
    DeadlineWheel wheel(io, milliseconds(5), 8, &on_deadline);
    wheel.set(a, Clock::now() + milliseconds(100));
    wheel.set(b, std::nullopt);
    EXPECT_TRUE(a.listed());
    EXPECT_TRUE(b.listed());
  }
  EXPECT_FALSE(a.listed());
  EXPECT_FALSE(b.listed());
}

}  // namespace
}  // namespace skein::runtime
