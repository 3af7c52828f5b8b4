// summarize_filters: small sets pass unchanged; large ones become a bounded
// superset that matches every topic the original filters match.
#include "mesh/filter_summary.hpp"

#include <gtest/gtest.h>

#include <random>

#include "core/topic_names.hpp"

namespace skein::mesh {
namespace {

bool any_matches(const std::vector<std::string>& filters, const std::string& topic) {
  for (const auto& f : filters)
    if (core::filter_matches(f, topic)) return true;
  return false;
}

TEST(FilterSummary, FewFiltersPassUnchanged) {
  std::vector<std::string> f = {"a/b", "c/*/d", ">"};
  EXPECT_EQ(summarize_filters(f, 3), f);
}

TEST(FilterSummary, ManyDevicesBecomeOneFilterPerFirstLevel) {
  std::vector<std::string> f;
  for (int i = 0; i < 100000; ++i) f.push_back("devices/" + std::to_string(i) + "/cmd");
  f.push_back("alerts");
  f.push_back("orders/*/us/>");
  auto s = summarize_filters(f, 1000);
  EXPECT_EQ(s, (std::vector<std::string>{"alerts", "devices/>", "orders/>"}));
}

TEST(FilterSummary, TooManyFirstLevelsBecomeEverythingButKeepDollarTopics) {
  std::vector<std::string> f;
  for (int i = 0; i < 50; ++i) f.push_back("l" + std::to_string(i) + "/x");
  f.push_back("$sys/nodes/>");
  auto s = summarize_filters(f, 10);
  EXPECT_EQ(s, (std::vector<std::string>{">", "$sys/>"}));
  EXPECT_TRUE(any_matches(s, "$sys/nodes/a"));
}

TEST(FilterSummary, TheSummaryMatchesEveryTopicTheFiltersMatch) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> levels = {"a", "b", "ab", "abc", "x", "$s", "*", "ab*"};
  auto level = [&](bool wildcards) {
    for (;;) {
      const auto& l = levels[rng() % levels.size()];
      if (!wildcards && (l == "*" || l == "ab*")) continue;
      return l;
    }
  };
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> filters;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      std::string f;
      const int depth = 1 + static_cast<int>(rng() % 3);
      for (int d = 0; d < depth; ++d) f += (d ? "/" : "") + level(true);
      if (rng() % 4 == 0) f += "/>";
      if (core::check_filter(f)) continue;
      filters.push_back(f);
    }
    const auto summary = summarize_filters(filters, static_cast<std::size_t>(rng() % 6));
    for (int t = 0; t < 200; ++t) {
      std::string topic;
      const int depth = 1 + static_cast<int>(rng() % 4);
      for (int d = 0; d < depth; ++d) topic += (d ? "/" : "") + level(false);
      if (any_matches(filters, topic)) {
        ASSERT_TRUE(any_matches(summary, topic)) << "topic " << topic << " lost by the summary";
      }
    }
  }
}

}  // namespace
}  // namespace skein::mesh
