// SubscriptionIndex (core/subscription_index.hpp): the trie that maps filters to
// subscribers. Hand-written cases for each rule of the filter grammar
// (DESIGN.md §1), then a randomized comparison against a brute-force matcher
// written straight from the grammar, with inserts and removes interleaved.
#include "core/subscription_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/topic_names.hpp"

namespace skein::core {
namespace {

using Index = SubscriptionIndex<int>;

std::vector<int> match(const Index& index, std::string_view topic) {
  std::vector<int> out;
  index.match(topic, out);
  std::sort(out.begin(), out.end());
  return out;
}

// Does `filter` (one subscriber) match `topic`?
bool matches(std::string_view filter, std::string_view topic) {
  Index index;
  EXPECT_TRUE(index.insert(filter, 1));
  return !match(index, topic).empty();
}

using Ints = std::vector<int>;

TEST(SubscriptionIndex, EmptyIndexMatchesNothing) {
  Index index;
  EXPECT_TRUE(index.empty());
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(match(index, "a"), Ints{});
  EXPECT_EQ(match(index, "a/b/c"), Ints{});
}

TEST(SubscriptionIndex, ExactFilter) {
  EXPECT_TRUE(matches("orders/created/us/1234", "orders/created/us/1234"));
  EXPECT_TRUE(matches("a", "a"));
  EXPECT_FALSE(matches("a", "b"));
  EXPECT_FALSE(matches("a", "a/b"));
  EXPECT_FALSE(matches("a/b", "a"));
  EXPECT_FALSE(matches("a/b", "a/bc"));
  EXPECT_FALSE(matches("a/bc", "a/b"));
  EXPECT_FALSE(matches("orders/created/us/1234", "orders/created/us/12345"));
  EXPECT_FALSE(matches("orders/created/us", "orders/created/us/1234"));
}

TEST(SubscriptionIndex, StarMatchesExactlyOneLevel) {
  EXPECT_TRUE(matches("*", "a"));
  EXPECT_TRUE(matches("*", "orders"));
  EXPECT_FALSE(matches("*", "a/b"));
  EXPECT_TRUE(matches("a/*", "a/b"));
  EXPECT_FALSE(matches("a/*", "a"));
  EXPECT_FALSE(matches("a/*", "a/b/c"));
  EXPECT_TRUE(matches("a/*/c", "a/b/c"));
  EXPECT_TRUE(matches("a/*/c", "a/xyz/c"));
  EXPECT_FALSE(matches("a/*/c", "a/c"));
  EXPECT_FALSE(matches("a/*/c", "a/b/d"));
  EXPECT_TRUE(matches("*/*", "x/y"));
  EXPECT_FALSE(matches("*/*", "x"));
  EXPECT_FALSE(matches("*/*", "x/y/z"));
}

TEST(SubscriptionIndex, PrefixMatchesOneLevelStartingWithPrefix) {
  EXPECT_TRUE(matches("ab*", "ab"));  // the prefix itself
  EXPECT_TRUE(matches("ab*", "abc"));
  EXPECT_TRUE(matches("ab*", "abcdef"));
  EXPECT_FALSE(matches("ab*", "a"));
  EXPECT_FALSE(matches("ab*", "xab"));
  EXPECT_FALSE(matches("ab*", "b"));
  EXPECT_FALSE(matches("ab*", "ab/c"));
  EXPECT_TRUE(matches("orders/cre*/us", "orders/created/us"));
  EXPECT_TRUE(matches("orders/cre*/us", "orders/cre/us"));
  EXPECT_FALSE(matches("orders/cre*/us", "orders/cr/us"));
  EXPECT_FALSE(matches("orders/cre*/us", "orders/created/eu"));
  EXPECT_FALSE(matches("orders/cre*/us", "orders/created"));
  EXPECT_TRUE(matches("fleet/eu/veh12*", "fleet/eu/veh12"));
  EXPECT_TRUE(matches("fleet/eu/veh12*", "fleet/eu/veh129"));
  EXPECT_FALSE(matches("fleet/eu/veh12*", "fleet/eu/veh13"));
  // Multi-byte UTF-8 prefixes are compared byte by byte.
  EXPECT_TRUE(matches("caf\xC3\xA9*", "caf\xC3\xA9s"));
  EXPECT_FALSE(matches("caf\xC3\xA9*", "cafe"));
}

TEST(SubscriptionIndex, SeveralPrefixesOfOneLevelAllMatch) {
  Index index;
  ASSERT_TRUE(index.insert("a*", 1));
  ASSERT_TRUE(index.insert("ab*", 2));
  ASSERT_TRUE(index.insert("abc*", 3));
  ASSERT_TRUE(index.insert("abd*", 4));
  ASSERT_TRUE(index.insert("b*", 5));
  EXPECT_EQ(match(index, "a"), (Ints{1}));
  EXPECT_EQ(match(index, "ab"), (Ints{1, 2}));
  EXPECT_EQ(match(index, "abc"), (Ints{1, 2, 3}));
  EXPECT_EQ(match(index, "abcz"), (Ints{1, 2, 3}));
  EXPECT_EQ(match(index, "abd"), (Ints{1, 2, 4}));
  EXPECT_EQ(match(index, "ba"), (Ints{5}));
  EXPECT_EQ(match(index, "c"), Ints{});
}

TEST(SubscriptionIndex, TailMatchesOneOrMoreLevelsNeverZero) {
  EXPECT_FALSE(matches("a/>", "a"));
  EXPECT_TRUE(matches("a/>", "a/b"));
  EXPECT_TRUE(matches("a/>", "a/b/c"));
  EXPECT_TRUE(matches("a/>", "a/b/c/d/e/f"));
  EXPECT_FALSE(matches("a/>", "b/a"));
  EXPECT_FALSE(matches("a/>", "ab/c"));
  EXPECT_TRUE(matches(">", "a"));
  EXPECT_TRUE(matches(">", "a/b/c"));
  EXPECT_FALSE(matches("a/b/>", "a/b"));
  EXPECT_FALSE(matches("a/b/>", "a"));
  EXPECT_TRUE(matches("a/b/>", "a/b/c"));
}

TEST(SubscriptionIndex, Combinations) {
  EXPECT_TRUE(matches("orders/*/us/>", "orders/created/us/1234"));
  EXPECT_TRUE(matches("orders/*/us/>", "orders/paid/us/1/2"));
  EXPECT_FALSE(matches("orders/*/us/>", "orders/created/us"));
  EXPECT_FALSE(matches("orders/*/us/>", "orders/created/eu/1234"));
  EXPECT_FALSE(matches("orders/*/us/>", "orders/us/1234"));
  EXPECT_TRUE(matches("*/cre*/>", "orders/created/us"));
  EXPECT_FALSE(matches("*/cre*/>", "orders/created"));
  EXPECT_FALSE(matches("*/cre*/>", "orders/paid/us"));
  EXPECT_TRUE(matches("*/*/>", "a/b/c"));
  EXPECT_FALSE(matches("*/*/>", "a/b"));
  EXPECT_TRUE(matches("a*/b*/c", "ax/by/c"));
  EXPECT_FALSE(matches("a*/b*/c", "ax/cy/c"));
}

TEST(SubscriptionIndex, FirstLevelWildcardsSkipReservedTopics) {
  for (const char* filter : {"*", ">", "*/x", "*/>", "$*", "$s*", "ab*", "*/*"}) {
    SCOPED_TRACE(filter);
    EXPECT_FALSE(matches(filter, "$sys")) << filter;
    EXPECT_FALSE(matches(filter, "$sys/x")) << filter;
  }
  // Literal '$' filters do match, and wildcards after the first level apply.
  EXPECT_TRUE(matches("$sys", "$sys"));
  EXPECT_TRUE(matches("$sys/x", "$sys/x"));
  EXPECT_TRUE(matches("$sys/*", "$sys/x"));
  EXPECT_TRUE(matches("$sys/>", "$sys/x/y"));
  EXPECT_FALSE(matches("$sys/>", "$sys"));
  EXPECT_TRUE(matches("$sys/x*", "$sys/xy"));
  // '$' deeper than the first level is an ordinary character.
  EXPECT_TRUE(matches("*/x", "a/x"));
  EXPECT_TRUE(matches("a/*", "a/$sys"));
  EXPECT_TRUE(matches("a/>", "a/$sys/x"));
  EXPECT_TRUE(matches("a/$*", "a/$sys"));
}

TEST(SubscriptionIndex, SubscriberWithOverlappingFiltersIsReturnedOnce) {
  Index index;
  ASSERT_TRUE(index.insert("a/b", 7));
  ASSERT_TRUE(index.insert("a/*", 7));
  ASSERT_TRUE(index.insert("a/>", 7));
  ASSERT_TRUE(index.insert("a/b*", 7));
  ASSERT_TRUE(index.insert(">", 7));
  ASSERT_TRUE(index.insert("a/*", 3));
  EXPECT_EQ(index.size(), 6u);
  EXPECT_EQ(match(index, "a/b"), (Ints{3, 7}));
  EXPECT_EQ(match(index, "a/c"), (Ints{3, 7}));
  EXPECT_EQ(match(index, "a/b/c"), (Ints{7}));
  EXPECT_EQ(match(index, "z"), (Ints{7}));
}

TEST(SubscriptionIndex, MatchAppendsWithoutTouchingEarlierEntries) {
  Index index;
  ASSERT_TRUE(index.insert("a/*", 2));
  ASSERT_TRUE(index.insert("a/>", 2));
  ASSERT_TRUE(index.insert("a/b", 1));
  std::vector<int> out = {9, 2, 5};
  index.match("a/b", out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ((std::vector<int>(out.begin(), out.begin() + 3)), (Ints{9, 2, 5}));
  std::vector<int> tail(out.begin() + 3, out.end());
  std::sort(tail.begin(), tail.end());
  EXPECT_EQ(tail, (Ints{1, 2}));
}

TEST(SubscriptionIndex, SeveralSubscribersOnOneFilter) {
  Index index;
  for (int s = 0; s < 5; ++s) ASSERT_TRUE(index.insert("x/y", s));
  EXPECT_EQ(match(index, "x/y"), (Ints{0, 1, 2, 3, 4}));
  ASSERT_TRUE(index.remove("x/y", 2));
  EXPECT_EQ(match(index, "x/y"), (Ints{0, 1, 3, 4}));
  EXPECT_EQ(index.size(), 4u);
}

TEST(SubscriptionIndex, InsertDuplicateReturnsFalse) {
  Index index;
  for (const char* filter : {"a/b", "a/*", "a/b*", "a/>", ">", "*"}) {
    SCOPED_TRACE(filter);
    EXPECT_TRUE(index.insert(filter, 1));
    EXPECT_FALSE(index.insert(filter, 1));
    EXPECT_TRUE(index.insert(filter, 2));  // another subscriber is a new pair
  }
  EXPECT_EQ(index.size(), 12u);
  // "a/b" and "a/b*" and "a/>" are different filters for one subscriber.
  EXPECT_EQ(match(index, "a/b"), (Ints{1, 2}));
}

TEST(SubscriptionIndex, RemoveAbsentReturnsFalse) {
  Index index;
  EXPECT_FALSE(index.remove("a/b", 1));
  ASSERT_TRUE(index.insert("a/b", 1));
  EXPECT_FALSE(index.remove("a/b", 2));    // other subscriber
  EXPECT_FALSE(index.remove("a", 1));      // prefix path of the filter
  EXPECT_FALSE(index.remove("a/b/c", 1));  // longer path
  EXPECT_FALSE(index.remove("a/*", 1));
  EXPECT_FALSE(index.remove("a/b*", 1));
  EXPECT_FALSE(index.remove("a/>", 1));
  EXPECT_FALSE(index.remove("a/b/>", 1));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(match(index, "a/b"), (Ints{1}));
  EXPECT_TRUE(index.remove("a/b", 1));
  EXPECT_FALSE(index.remove("a/b", 1));
  EXPECT_EQ(index.size(), 0u);
}

TEST(SubscriptionIndex, RemovePrunesAndLeavesNothingBehind) {
  const std::vector<std::string> filters = {
      "a",   "a/b", "a/b/c",  "a/*",    "a/*/c", "a/b*",  "a/b*/>",  "a/>",     ">",   "*",
      "*/>", "ab*", "$sys/x", "$sys/>", "x/y/z", "x/y/>", "x/*/z/>", "x/y*/z*", "a/b", "a/b*"};
  Index index;
  std::size_t pairs = 0;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    for (int s : {1, 2}) {
      if (index.insert(filters[i], s)) ++pairs;
    }
  }
  EXPECT_EQ(index.size(), pairs);
  EXPECT_FALSE(match(index, "a/b/c").empty());
  for (std::size_t i = filters.size(); i-- > 0;) {
    for (int s : {2, 1}) index.remove(filters[i], s);
  }
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.empty());
  for (const char* topic : {"a", "a/b", "a/b/c", "ab", "x/y/z", "$sys/x", "q/r/s/t"}) {
    EXPECT_EQ(match(index, topic), Ints{}) << topic;
  }
  // The index is usable again after being emptied.
  ASSERT_TRUE(index.insert("a/b", 5));
  EXPECT_EQ(match(index, "a/b"), (Ints{5}));
}

TEST(SubscriptionIndex, RemoveOneFilterKeepsItsNeighbours) {
  Index index;
  ASSERT_TRUE(index.insert("a/b/c", 1));
  ASSERT_TRUE(index.insert("a/b", 2));
  ASSERT_TRUE(index.insert("a/b/>", 3));
  ASSERT_TRUE(index.insert("a/b*/c", 4));
  ASSERT_TRUE(index.insert("a/*/c", 5));
  ASSERT_TRUE(index.remove("a/b/c", 1));
  EXPECT_EQ(match(index, "a/b/c"), (Ints{3, 4, 5}));
  EXPECT_EQ(match(index, "a/b"), (Ints{2}));
  ASSERT_TRUE(index.remove("a/b", 2));
  EXPECT_EQ(match(index, "a/b/c"), (Ints{3, 4, 5}));
  EXPECT_EQ(match(index, "a/b"), Ints{});
  ASSERT_TRUE(index.remove("a/b/>", 3));
  EXPECT_EQ(match(index, "a/b/c"), (Ints{4, 5}));
  ASSERT_TRUE(index.remove("a/*/c", 5));
  EXPECT_EQ(match(index, "a/b/c"), (Ints{4}));
  ASSERT_TRUE(index.remove("a/b*/c", 4));
  EXPECT_EQ(match(index, "a/b/c"), Ints{});
  EXPECT_TRUE(index.empty());
}

TEST(SubscriptionIndex, MoveKeepsContents) {
  Index index;
  ASSERT_TRUE(index.insert("a/>", 1));
  Index moved = std::move(index);
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_EQ(match(moved, "a/b"), (Ints{1}));
}

// ---------------------------------------------------------------------------
// Property test against a brute-force matcher.

// A filter matches a topic, straight from the grammar in DESIGN.md §1.
bool brute_match(const std::vector<std::string>& filter, const std::vector<std::string>& topic) {
  auto is_wildcard = [](const std::string& level) { return level == ">" || level.back() == '*'; };
  if (topic.front().front() == '$' && is_wildcard(filter.front())) return false;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const std::string& f = filter[i];
    if (f == ">") return topic.size() > i;  // one or more remaining levels
    if (i >= topic.size()) return false;
    if (f == "*") continue;
    if (f.back() == '*') {
      if (!topic[i].starts_with(std::string_view(f).substr(0, f.size() - 1))) return false;
      continue;
    }
    if (f != topic[i]) return false;
  }
  return filter.size() == topic.size();
}

std::string join(const std::vector<std::string>& levels) {
  std::string out;
  for (const auto& level : levels) {
    if (!out.empty()) out += '/';
    out += level;
  }
  return out;
}

class Generator {
 public:
  explicit Generator(std::uint32_t seed) : rng_(seed) {}

  std::vector<std::string> topic() {
    const std::size_t n = depth();
    std::vector<std::string> levels;
    for (std::size_t i = 0; i < n; ++i) levels.emplace_back(pick(kLevels));
    return levels;
  }

  std::vector<std::string> filter() {
    const std::size_t n = depth();
    std::vector<std::string> levels;
    for (std::size_t i = 0; i < n; ++i) {
      const int kind = uniform(0, 9);
      if (kind < 5) {
        levels.emplace_back(pick(kLevels));
      } else if (kind < 7) {
        levels.emplace_back("*");
      } else if (kind < 9) {
        levels.emplace_back(pick(kPrefixes));
      } else if (i + 1 == n) {
        levels.emplace_back(">");
      } else {
        levels.emplace_back(pick(kLevels));
      }
    }
    return levels;
  }

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

 private:
  static constexpr std::string_view kLevels[] = {"a",      "b",  "ab", "abc",
                                                 "orders", "us", "eu", "$sys"};
  static constexpr std::string_view kPrefixes[] = {"a*",  "ab*", "abc*", "o*",
                                                   "or*", "$*",  "$s*",  "e*"};

  std::size_t depth() {
    // Mostly short names so that filters and topics meet often.
    static constexpr int kDepths[] = {1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6};
    return static_cast<std::size_t>(kDepths[uniform(0, static_cast<int>(std::size(kDepths)) - 1)]);
  }

  template <std::size_t N>
  std::string_view pick(const std::string_view (&from)[N]) {
    return from[uniform(0, static_cast<int>(N) - 1)];
  }

  std::mt19937 rng_;
};

TEST(SubscriptionIndex, AgreesWithBruteForceUnderInsertsAndRemoves) {
  constexpr std::uint32_t kSeed = 20240611;
  constexpr int kRounds = 25;
  constexpr int kOpsPerRound = 120;
  constexpr int kTopicsPerRound = 2400;  // 60,000 topic checks in all
  SCOPED_TRACE("seed " + std::to_string(kSeed));

  Generator gen(kSeed);
  Index index;
  // The model: every (filter, subscriber) pair the index should hold.
  std::set<std::pair<std::vector<std::string>, int>> model;
  std::size_t checks = 0, nonempty = 0, removes = 0, inserts = 0;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Grow during the first rounds, then churn with more removes than inserts
    // near the end so the index shrinks again.
    const int remove_percent = round < kRounds / 2 ? 30 : 60;
    for (int op = 0; op < kOpsPerRound; ++op) {
      const bool do_remove = gen.uniform(1, 100) <= remove_percent;
      std::vector<std::string> filter;
      int sub = gen.uniform(0, 15);
      if (do_remove && !model.empty() && gen.uniform(0, 3) != 0) {
        // Usually remove a pair that is present...
        auto it = model.begin();
        std::advance(it, gen.uniform(0, static_cast<int>(model.size()) - 1));
        filter = it->first;
        sub = it->second;
      } else {
        // ...sometimes a random one, usually absent.
        filter = gen.filter();
      }
      const std::string text = join(filter);
      ASSERT_FALSE(check_filter(text).has_value()) << "generator made invalid filter " << text;
      const bool present = model.contains({filter, sub});
      if (do_remove) {
        ASSERT_EQ(index.remove(text, sub), present) << "remove " << text << " sub " << sub;
        model.erase({filter, sub});
        ++removes;
      } else {
        ASSERT_EQ(index.insert(text, sub), !present) << "insert " << text << " sub " << sub;
        model.insert({filter, sub});
        ++inserts;
      }
      ASSERT_EQ(index.size(), model.size());
    }

    for (int t = 0; t < kTopicsPerRound; ++t) {
      const std::vector<std::string> topic = gen.topic();
      const std::string text = join(topic);
      ASSERT_FALSE(check_topic(text, Publisher::system).has_value()) << "bad topic " << text;
      std::set<int> expected;
      for (const auto& [filter, sub] : model) {
        const bool hit = brute_match(filter, topic);
        if (hit) expected.insert(sub);
        // The one-filter matcher (MQTT sessions) agrees with the grammar too.
        ASSERT_EQ(filter_matches(join(filter), text), hit) << join(filter) << " vs " << text;
      }
      std::vector<int> got;
      index.match(text, got);
      std::vector<int> got_sorted = got;
      std::sort(got_sorted.begin(), got_sorted.end());
      ASSERT_TRUE(std::adjacent_find(got_sorted.begin(), got_sorted.end()) == got_sorted.end())
          << "duplicate subscriber for topic " << text;
      const std::vector<int> want(expected.begin(), expected.end());
      if (got_sorted != want) {
        std::ostringstream filters;
        for (const auto& [filter, sub] : model) {
          if (brute_match(filter, topic) || std::count(got.begin(), got.end(), sub))
            filters << "  " << join(filter) << " -> " << sub << "\n";
        }
        FAIL() << "topic " << text << " (check " << checks << ")\n"
               << "relevant pairs:\n"
               << filters.str() << ::testing::PrintToString(got_sorted) << " vs brute force "
               << ::testing::PrintToString(want);
      }
      ++checks;
      if (!want.empty()) ++nonempty;
    }
  }
  EXPECT_GE(checks, 50000u);
  // The alphabet is small on purpose: a good share of topics must match something,
  // or the comparison proves little.
  EXPECT_GT(nonempty, checks / 4) << nonempty << " of " << checks << " topics matched";
  EXPECT_GT(removes, 500u);
  EXPECT_GT(inserts, 500u);

  // Drain what is left: the index must end empty and match nothing.
  for (const auto& [filter, sub] : model) ASSERT_TRUE(index.remove(join(filter), sub));
  EXPECT_TRUE(index.empty());
  Generator again(kSeed + 1);
  for (int t = 0; t < 1000; ++t) EXPECT_EQ(match(index, join(again.topic())), Ints{});
}

TEST(SubscriptionIndex, BruteForceMatcherSelfCheck) {
  // The reference itself, on the cases the grammar spells out.
  auto bm = [](std::string_view f, std::string_view t) {
    std::vector<std::string> fl, tl;
    for (auto l : split_levels(f)) fl.emplace_back(l);
    for (auto l : split_levels(t)) tl.emplace_back(l);
    return brute_match(fl, tl);
  };
  EXPECT_TRUE(bm("ab*", "ab"));
  EXPECT_TRUE(bm("ab*", "abc"));
  EXPECT_FALSE(bm("ab*", "a"));
  EXPECT_FALSE(bm("ab*", "xab"));
  EXPECT_FALSE(bm("a/>", "a"));
  EXPECT_TRUE(bm("a/>", "a/b/c"));
  EXPECT_FALSE(bm("*", "$sys"));
  EXPECT_FALSE(bm(">", "$sys/x"));
  EXPECT_TRUE(bm("$sys/x", "$sys/x"));
  EXPECT_TRUE(bm("orders/*/us/>", "orders/new/us/1"));
}

}  // namespace
}  // namespace skein::core

namespace skein::core {
namespace {

// The index holds at least a million filters (the foundation's requirement):
// every one of them matches its topic, and removing them all empties it.
TEST(SubscriptionIndexCapacity, HoldsAMillionFilters) {
  constexpr int kFilters = 1'000'000;
  SubscriptionIndex<int> index;
  auto filter = [](int i) {
    const int region = i % 16, vehicle = i / 16;
    switch (i % 4) {
      case 0:
        return "fleet/r" + std::to_string(region) + "/v" + std::to_string(vehicle) + "/telemetry";
      case 1:
        return "fleet/*/v" + std::to_string(vehicle) + "/>";
      case 2:
        return "fleet/r" + std::to_string(region) + "/v" + std::to_string(vehicle) + "*/x";
      default:
        return "orders/r" + std::to_string(region) + "/" + std::to_string(vehicle);
    }
  };
  for (int i = 0; i < kFilters; ++i) ASSERT_TRUE(index.insert(filter(i), i));
  EXPECT_EQ(index.size(), static_cast<std::size_t>(kFilters));
  std::vector<int> out;
  // i = 0 exactly; "fleet/*/v0/>" is the filter of every i = 1 mod 4 below 16.
  index.match("fleet/r0/v0/telemetry", out);
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, (std::vector<int>{0, 1, 5, 9, 13}));
  out.clear();
  index.match("orders/r3/62499", out);  // i = 62499 * 16 + 3
  EXPECT_EQ(out, (std::vector<int>{999'987}));
  for (int i = 0; i < kFilters; ++i) ASSERT_TRUE(index.remove(filter(i), i));
  EXPECT_TRUE(index.empty());
}

// match_filter against a brute force: two filters overlap when some topic
// (over a small alphabet that witnesses every prefix relation used) matches
// both.
TEST(SubscriptionIndex, MatchFilterFindsExactlyTheFiltersThatShareATopic) {
  const std::vector<std::string> filter_levels = {"a", "ab", "b", "*", "a*", "ab*", "b*"};
  const std::vector<std::string> topic_levels = {"a", "ab", "abc", "b", "c"};
  std::mt19937 rng(7);
  auto random_filter = [&] {
    const int n = 1 + static_cast<int>(rng() % 3);
    std::string f;
    for (int i = 0; i < n; ++i) {
      if (i > 0) f += '/';
      f += filter_levels[rng() % filter_levels.size()];
    }
    if (rng() % 3 == 0) f += "/>";
    return f;
  };
  std::vector<std::string> topics;
  std::vector<std::string> frontier = {""};
  for (int depth = 0; depth < 5; ++depth) {
    std::vector<std::string> next;
    for (const auto& t : frontier) {
      for (const auto& l : topic_levels) next.push_back(t.empty() ? l : t + "/" + l);
    }
    topics.insert(topics.end(), next.begin(), next.end());
    frontier = std::move(next);
  }
  auto matches = [](const std::string& filter, const std::string& topic) {
    Index one;
    one.insert(filter, 1);
    std::vector<int> out;
    one.match(topic, out);
    return !out.empty();
  };
  for (int round = 0; round < 150; ++round) {
    Index index;
    std::vector<std::string> stored;
    for (int i = 0; i < 6; ++i) {
      stored.push_back(random_filter());
      ASSERT_FALSE(check_filter(stored.back())) << stored.back();
      index.insert(stored.back(), i);
    }
    const std::string pattern = random_filter();
    std::vector<int> got;
    index.match_filter(pattern, got);
    std::set<int> expected;
    for (int i = 0; i < 6; ++i) {
      for (const auto& topic : topics) {
        if (matches(stored[static_cast<std::size_t>(i)], topic) && matches(pattern, topic)) {
          expected.insert(i);
          break;
        }
      }
    }
    EXPECT_EQ(std::set<int>(got.begin(), got.end()), expected) << "pattern " << pattern;
    EXPECT_EQ(got.size(), expected.size()) << "each subscriber once";
  }
}

}  // namespace
}  // namespace skein::core
