// Route plans: shortest-path trees with ties broken by name, interest
// pruning, unconfirmed links ignored, held links used only as a last resort.
#include "mesh/route_plan.hpp"

#include <gtest/gtest.h>

namespace skein::mesh {
namespace {

NodeRecord rec(std::string name, std::vector<std::string> links,
               std::vector<std::string> filters = {}, std::vector<std::string> held = {}) {
  return NodeRecord{std::move(name), 1, 1, std::move(links), std::move(held), std::move(filters)};
}

std::vector<std::string> hops(RoutePlan& p, std::string_view origin, std::string_view topic,
                              bool persistent = false) {
  std::vector<std::string> out;
  p.next_hops(origin, topic, persistent, out);
  return out;
}

TEST(RoutePlan, LineForwardsOnlyTowardsInterest) {
  std::vector<NodeRecord> r = {rec("a", {"b"}), rec("b", {"a", "c"}), rec("c", {"b"}, {"x/>"})};
  RoutePlan at_a(r, "a"), at_b(r, "b"), at_c(r, "c");
  EXPECT_EQ(hops(at_a, "a", "x/1"), (std::vector<std::string>{"b"}));
  EXPECT_EQ(hops(at_b, "a", "x/1"), (std::vector<std::string>{"c"}));
  EXPECT_TRUE(hops(at_c, "a", "x/1").empty());
  EXPECT_TRUE(hops(at_a, "a", "y").empty());    // nobody wants y
  EXPECT_TRUE(hops(at_b, "c", "x/1").empty());  // c's own filter is not remote interest for c's
                                                // events at b... unless a wants it
  EXPECT_EQ(at_a.remote_filters(), (std::vector<std::string>{"x/>"}));
  EXPECT_EQ(at_a.distance("c"), 2);
}

TEST(RoutePlan, EqualCostPathsTieOnTheSmallestName) {
  // a - b - d and a - c - d: d's parent in a's tree is b (smaller than c).
  std::vector<NodeRecord> r = {rec("a", {"b", "c"}), rec("b", {"a", "d"}), rec("c", {"a", "d"}),
                               rec("d", {"b", "c"}, {"t"})};
  RoutePlan at_a(r, "a"), at_b(r, "b"), at_c(r, "c");
  EXPECT_EQ(hops(at_a, "a", "t"), (std::vector<std::string>{"b"}));
  EXPECT_EQ(hops(at_b, "a", "t"), (std::vector<std::string>{"d"}));
  EXPECT_TRUE(hops(at_c, "a", "t").empty());
}

TEST(RoutePlan, OneSidedLinksCarryNothing) {
  std::vector<NodeRecord> r = {rec("a", {"b"}), rec("b", {}, {"t"})};
  RoutePlan at_a(r, "a");
  EXPECT_TRUE(hops(at_a, "a", "t").empty());
  EXPECT_EQ(at_a.distance("b"), -1);
  EXPECT_TRUE(at_a.remote_filters().empty());
}

TEST(RoutePlan, HeldLinksAreALastResort) {
  // Ring a-b-c-d-a with a-b down and held at both ends: the live detour wins.
  std::vector<NodeRecord> ring = {rec("a", {"d"}, {}, {"b"}), rec("b", {"c"}, {"t"}, {"a"}),
                                  rec("c", {"b", "d"}), rec("d", {"a", "c"})};
  RoutePlan detour(ring, "a");
  EXPECT_EQ(hops(detour, "a", "t"), (std::vector<std::string>{"d"}));
  EXPECT_EQ(hops(detour, "a", "t", true), (std::vector<std::string>{"d"}));
  EXPECT_EQ(detour.distance("b"), 3);
}

TEST(RoutePlan, PersistentEventsCrossAHeldLinkFromAnywhereDirectOnesDoNot) {
  // Line a-b-c with b-c down and held at both ends; x hangs off a.
  std::vector<NodeRecord> line = {rec("x", {"a"}), rec("a", {"b", "x"}), rec("b", {"a"}, {}, {"c"}),
                                  rec("c", {}, {"t"}, {"b"})};
  RoutePlan at_x(line, "x"), at_a(line, "a"), at_b(line, "b");
  // Persistent: towards the held link from every node.
  EXPECT_EQ(hops(at_x, "x", "t", true), (std::vector<std::string>{"a"}));
  EXPECT_EQ(hops(at_a, "x", "t", true), (std::vector<std::string>{"b"}));
  EXPECT_EQ(hops(at_b, "x", "t", true), (std::vector<std::string>{"c"}));
  // Direct: nowhere, the path is not live.
  EXPECT_TRUE(hops(at_x, "x", "t").empty());
  EXPECT_TRUE(hops(at_a, "x", "t").empty());
  EXPECT_EQ(at_x.remote_filters(), (std::vector<std::string>{"t"}));
  EXPECT_TRUE(at_b.neighbours() == (std::vector<std::string>{"a"}));
  // A hold one side alone has forgotten makes no edge.
  std::vector<NodeRecord> one_sided = {rec("b", {}, {}, {"c"}), rec("c", {}, {"t"})};
  RoutePlan at_b2(one_sided, "b");
  EXPECT_TRUE(hops(at_b2, "b", "t", true).empty());
}

TEST(RoutePlan, StarFansOutOnlyToInterestedLeaves) {
  std::vector<NodeRecord> r = {rec("hub", {"l1", "l2", "l3"}), rec("l1", {"hub"}, {"a/*"}),
                               rec("l2", {"hub"}, {"b"}), rec("l3", {"hub"}, {"a/>"})};
  RoutePlan at_hub(r, "hub");
  EXPECT_EQ(hops(at_hub, "l2", "a/x"), (std::vector<std::string>{"l1", "l3"}));
  EXPECT_TRUE(hops(at_hub, "l2", "b").empty());  // only l2 wants b, and it is the origin
  RoutePlan at_l1(r, "l1");
  EXPECT_EQ(hops(at_l1, "l1", "b"), (std::vector<std::string>{"hub"}));
  EXPECT_TRUE(hops(at_l1, "l2", "b").empty());
}

TEST(RoutePlan, UnknownOriginGoesNowhere) {
  std::vector<NodeRecord> r = {rec("a", {"b"}), rec("b", {"a"}, {"t"})};
  RoutePlan at_a(r, "a");
  EXPECT_TRUE(hops(at_a, "zz", "t").empty());
}

}  // namespace
}  // namespace skein::mesh
