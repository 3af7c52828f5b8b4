// SubscriptionTable (core/subscription_table.hpp): the two-copy left-right
// wrapper; and MatchCache (core/match_cache.hpp): the per-shard topic cache
// keyed on the table's generation.
#include "core/subscription_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/match_cache.hpp"

namespace skein::core {
namespace {

using Table = SubscriptionTable<int>;
using Change = Table::Change;
using Changes = std::vector<Change>;
using Ints = std::vector<int>;

Ints match(const Table& table, std::string_view topic) {
  Ints out;
  table.readable().match(topic, out);
  std::sort(out.begin(), out.end());
  return out;
}

// The writer's full cycle: stage, publish, (readers quiesce), catch up.
std::vector<bool> apply_batch(Table& table, const Changes& changes) {
  std::vector<bool> effective = table.stage(changes);
  table.publish();
  table.catch_up(changes);
  return effective;
}

const std::vector<std::string> kProbeTopics = {"a",     "a/b",   "a/b/c", "a/c",    "ab",
                                               "abc/d", "x/y/z", "x/y",   "$sys/x", "q"};

// What the active copy answers for every probe topic, plus its size.
struct Snapshot {
  std::size_t size;
  std::vector<Ints> matches;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Table& table) {
  Snapshot s{table.size(), {}};
  for (const auto& topic : kProbeTopics) s.matches.push_back(match(table, topic));
  return s;
}

// Makes the other copy active (an empty batch), so that it can be inspected.
void flip(Table& table) {
  apply_batch(table, {});
}

// Both copies answer the same, checked by looking at each in turn.
void expect_copies_equal(Table& table) {
  const Snapshot first = snapshot(table);
  flip(table);
  const Snapshot second = snapshot(table);
  EXPECT_EQ(first, second);
  flip(table);
  EXPECT_EQ(snapshot(table), first);
}

TEST(SubscriptionTable, StartsEmptyAtGenerationZero) {
  Table table;
  EXPECT_EQ(table.generation(), 0u);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_TRUE(table.readable().empty());
}

TEST(SubscriptionTable, StagedChangeIsInvisibleUntilPublished) {
  Table table;
  const Changes changes = {{true, "a/b", 1}, {true, "a/*", 2}};
  const std::vector<bool> effective = table.stage(changes);
  EXPECT_EQ(effective, (std::vector<bool>{true, true}));
  // Readers still see the old (empty) copy and the old generation.
  EXPECT_EQ(table.generation(), 0u);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(match(table, "a/b"), Ints{});

  const SubscriptionIndex<int>* before = &table.readable();
  table.publish();
  EXPECT_NE(&table.readable(), before) << "publish must switch to the other copy";
  EXPECT_EQ(table.generation(), 1u);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(match(table, "a/b"), (Ints{1, 2}));
  EXPECT_EQ(match(table, "a/c"), (Ints{2}));

  // The copy readers left is not touched by publish: it is still the old state
  // until catch_up.
  EXPECT_TRUE(before->empty());
  table.catch_up(changes);
  EXPECT_EQ(before->size(), 2u);
  EXPECT_EQ(table.generation(), 1u) << "catch_up does not publish";
  expect_copies_equal(table);
}

TEST(SubscriptionTable, GenerationIncrementsOncePerPublish) {
  Table table;
  for (std::uint64_t g = 1; g <= 5; ++g) {
    apply_batch(table, {{true, "t/" + std::to_string(g), static_cast<int>(g)}});
    EXPECT_EQ(table.generation(), g);
  }
  // An empty or ineffective batch still publishes a copy, so still bumps.
  apply_batch(table, {});
  EXPECT_EQ(table.generation(), 6u);
  apply_batch(table, {{true, "t/1", 1}});
  EXPECT_EQ(table.generation(), 7u);
  EXPECT_EQ(table.size(), 5u);
}

TEST(SubscriptionTable, EffectiveFlagsForDuplicateAddAndAbsentRemove) {
  Table table;
  EXPECT_EQ(apply_batch(table, {{true, "a/b", 1}, {true, "a/b", 1}, {true, "a/b", 2}}),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(table.size(), 2u);
  expect_copies_equal(table);

  EXPECT_EQ(apply_batch(table, {{false, "a/b", 3},
                                {false, "a/c", 1},
                                {true, "a/b", 1},
                                {false, "a/b", 1},
                                {false, "a/b", 1}}),
            (std::vector<bool>{false, false, false, true, false}));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(match(table, "a/b"), (Ints{2}));
  expect_copies_equal(table);

  // Add then remove of the same new pair in one batch: both effective, net nothing.
  EXPECT_EQ(apply_batch(table, {{true, "n/>", 9}, {false, "n/>", 9}}),
            (std::vector<bool>{true, true}));
  EXPECT_EQ(match(table, "n/x"), Ints{});
  EXPECT_EQ(table.size(), 1u);
  expect_copies_equal(table);
}

TEST(SubscriptionTable, CopiesStayEqualOverManyBatches) {
  Table table;
  int step = 0;
  const std::vector<std::string> filters = {"a", "a/b",   "a/*",   "a/>",    ">",     "ab*",
                                            "*", "x/*/z", "x/y/>", "$sys/x", "a/b/c", "*/c"};
  for (int round = 0; round < 30; ++round) {
    Changes batch;
    for (int i = 0; i < 7; ++i, ++step) {
      const std::string& filter = filters[(step * 5 + round) % filters.size()];
      batch.push_back({(step % 3) != 0, filter, step % 4});
    }
    const std::uint64_t generation = table.generation();
    apply_batch(table, batch);
    EXPECT_EQ(table.generation(), generation + 1);
    expect_copies_equal(table);
  }
}

TEST(SubscriptionTable, ActiveCopyMatchesAPlainIndexFedTheSameChanges) {
  Table table;
  SubscriptionIndex<int> reference;
  const std::vector<std::string> filters = {"a", "a/b", "a/*", "a/>", ">", "ab*", "*", "x/*/z"};
  int step = 0;
  for (int round = 0; round < 40; ++round) {
    Changes batch;
    std::vector<bool> expected;
    for (int i = 0; i < 5; ++i, ++step) {
      Change c{(step % 3) != 1, filters[(step * 7 + round) % filters.size()], step % 3};
      expected.push_back(c.add ? reference.insert(c.filter, c.sub)
                               : reference.remove(c.filter, c.sub));
      batch.push_back(std::move(c));
    }
    EXPECT_EQ(apply_batch(table, batch), expected) << "round " << round;
    ASSERT_EQ(table.size(), reference.size());
    for (const auto& topic : kProbeTopics) {
      Ints want;
      reference.match(topic, want);
      std::sort(want.begin(), want.end());
      EXPECT_EQ(match(table, topic), want) << topic;
    }
  }
  expect_copies_equal(table);
}

// ---------------------------------------------------------------------------
// MatchCache

TEST(MatchCache, MissThenHitAfterInsert) {
  MatchCache<int> cache;
  EXPECT_EQ(cache.find("a/b", 0), nullptr);
  const Ints& stored = cache.insert("a/b", {1, 2}, 0);
  EXPECT_EQ(stored, (Ints{1, 2}));
  const Ints* hit = cache.find("a/b", 0);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(*hit, (Ints{1, 2}));
  EXPECT_EQ(hit, &stored);
  EXPECT_EQ(cache.find("a/c", 0), nullptr);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(MatchCache, EmptyResultIsCachedToo) {
  MatchCache<int> cache;
  cache.insert("nobody", {}, 0);
  const Ints* hit = cache.find("nobody", 0);
  ASSERT_NE(hit, nullptr);
  EXPECT_TRUE(hit->empty());
}

TEST(MatchCache, GenerationChangeEmptiesIt) {
  MatchCache<int> cache;
  cache.insert("a/b", {1}, 0);
  cache.insert("a/c", {2}, 0);
  ASSERT_NE(cache.find("a/b", 0), nullptr);
  EXPECT_EQ(cache.find("a/b", 1), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  // Still a miss under the new generation, and the old one does not come back.
  EXPECT_EQ(cache.find("a/c", 1), nullptr);
  cache.insert("a/b", {3}, 1);
  ASSERT_NE(cache.find("a/b", 1), nullptr);
  EXPECT_EQ(*cache.find("a/b", 1), (Ints{3}));
  EXPECT_EQ(cache.find("a/c", 1), nullptr);
}

TEST(MatchCache, InsertUnderNewGenerationEmptiesIt) {
  MatchCache<int> cache;
  cache.insert("a/b", {1}, 0);
  cache.insert("a/c", {2}, 5);  // no find in between
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.find("a/b", 5), nullptr);
  ASSERT_NE(cache.find("a/c", 5), nullptr);
}

TEST(MatchCache, EmptiedWhenMaxEntriesReached) {
  MatchCache<int> cache(3);
  cache.insert("t/1", {1}, 0);
  cache.insert("t/2", {2}, 0);
  cache.insert("t/3", {3}, 0);
  EXPECT_EQ(cache.size(), 3u);
  for (const char* t : {"t/1", "t/2", "t/3"}) EXPECT_NE(cache.find(t, 0), nullptr) << t;
  cache.insert("t/4", {4}, 0);
  EXPECT_EQ(cache.size(), 1u);
  for (const char* t : {"t/1", "t/2", "t/3"}) EXPECT_EQ(cache.find(t, 0), nullptr) << t;
  ASSERT_NE(cache.find("t/4", 0), nullptr);
  EXPECT_EQ(*cache.find("t/4", 0), (Ints{4}));
}

TEST(MatchCache, ReplacingAnEntryBelowTheBoundKeepsTheOthers) {
  MatchCache<int> cache(3);
  cache.insert("t/1", {1}, 0);
  cache.insert("t/2", {2}, 0);
  cache.insert("t/1", {7}, 0);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(*cache.find("t/1", 0), (Ints{7}));
  EXPECT_NE(cache.find("t/2", 0), nullptr);
}

TEST(MatchCache, Clear) {
  MatchCache<int> cache;
  cache.insert("a", {1}, 4);
  cache.insert("b", {2}, 4);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find("a", 4), nullptr);
  EXPECT_EQ(cache.find("b", 4), nullptr);
  // Usable afterwards under the same generation.
  cache.insert("a", {1}, 4);
  EXPECT_NE(cache.find("a", 4), nullptr);
}

TEST(MatchCache, WithATable) {
  Table table;
  MatchCache<int> cache;
  auto lookup = [&](std::string_view topic) {
    if (const Ints* hit = cache.find(topic, table.generation())) return *hit;
    Ints out;
    table.readable().match(topic, out);
    std::sort(out.begin(), out.end());
    return cache.insert(topic, std::move(out), table.generation());
  };
  apply_batch(table, {{true, "a/*", 1}});
  EXPECT_EQ(lookup("a/b"), (Ints{1}));
  EXPECT_NE(cache.find("a/b", table.generation()), nullptr);
  apply_batch(table, {{true, "a/b", 2}});
  EXPECT_EQ(cache.find("a/b", table.generation()), nullptr);
  EXPECT_EQ(lookup("a/b"), (Ints{1, 2}));
  apply_batch(table, {{false, "a/*", 1}});
  EXPECT_EQ(lookup("a/b"), (Ints{2}));
}

}  // namespace
}  // namespace skein::core
