// LocalInterest: random subscriptions coming and going through the
// observer's changes; what it advertises is always what summarize_filters
// makes of the node's distinct filters, and its listener hears of exactly
// the changes to that set.
#include "mesh/local_interest.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "mesh/filter_summary.hpp"

namespace skein::mesh {
namespace {

struct Quiet : core::Destination {
  Quiet() : Destination(0, 1, core::SlowPolicy::drop_oldest) {}
  void wake() override {}
};

TEST(LocalInterest, AdvertisesTheSummaryOfTheDistinctFiltersAndTellsOnlyOfChanges) {
  std::vector<core::DestinationPtr> subs;
  for (int i = 0; i < 4; ++i) subs.push_back(std::make_shared<Quiet>());
  const auto mesh = std::make_shared<Quiet>();  // left out
  int told = 0;
  LocalInterest interest(mesh.get(), [&] { ++told; });
  std::set<std::pair<std::string, int>> pairs;  // what the table holds
  std::mt19937_64 rng(11);
  const std::vector<std::string> first = {"devices", "orders", "a", "$sys", "*"};
  auto random_filter = [&] {
    std::string f = first[rng() % first.size()];
    const int depth = static_cast<int>(rng() % 3);
    for (int d = 0; d < depth; ++d) f += "/" + std::to_string(rng() % 40);
    return f;
  };
  for (int round = 0; round < 400; ++round) {
    std::vector<runtime::SubscriptionService::Change> changes;
    std::vector<bool> effective;
    const int n = 1 + static_cast<int>(rng() % 20);
    for (int k = 0; k < n; ++k) {
      runtime::SubscriptionService::Change c;
      const int who = static_cast<int>(rng() % 5);  // 4: the mesh's own destination
      c.sub = who == 4 ? core::DestinationPtr(mesh) : subs[static_cast<std::size_t>(who)];
      c.filter = random_filter();
      c.add = rng() % 3 != 0;
      const auto key = std::pair{c.filter, who};
      effective.push_back(c.add ? pairs.insert(key).second : pairs.erase(key) > 0);
      changes.push_back(std::move(c));
    }
    const int told_before = told;
    static std::set<std::string> last;
    interest.observe(changes, effective);
    std::set<std::string> now;
    for (const auto& [f, who] : pairs)
      if (who != 4) now.insert(f);
    EXPECT_EQ(told - told_before, now != last ? 1 : 0) << "round " << round;
    last = now;
    const std::vector<std::string> all(now.begin(), now.end());
    for (std::size_t max : {3u, 25u, 1000u})
      ASSERT_EQ(interest.advertised(max), summarize_filters(all, max))
          << "round " << round << ", max " << max;
    EXPECT_EQ(interest.size(), now.size());
  }
}

TEST(LocalInterest, AMillionDeviceFiltersAdvertiseAFewGroups) {
  auto device = std::make_shared<Quiet>();
  LocalInterest interest(nullptr, nullptr);
  std::vector<runtime::SubscriptionService::Change> changes;
  for (int i = 0; i < 200000; ++i)
    changes.push_back({true, "devices/" + std::to_string(i) + "/cmd", device});
  changes.push_back({true, "alerts", device});
  interest.observe(changes, std::vector<bool>(changes.size(), true));
  EXPECT_EQ(interest.advertised(10000), (std::vector<std::string>{"alerts", "devices/>"}));
}

}  // namespace
}  // namespace skein::mesh
