// The mesh engine in the in-process harness (mesh_harness.hpp): line, star,
// ring, full mesh and random connected graphs. The property checked for every
// topology: every event reaches every matching subscriber exactly once,
// crosses each link at most once, and a node that receives it either has a
// matching subscriber or passes it on (so no branch without interest gets it).
#include <gtest/gtest.h>

#include "mesh_harness.hpp"

namespace skein::mesh::testing {
namespace {

using Edges = std::vector<std::pair<int, int>>;

std::string name_of(int i) {
  return "n" + std::to_string(10 + i);
}

Edges line(int n) {
  Edges e;
  for (int i = 0; i + 1 < n; ++i) e.emplace_back(i, i + 1);
  return e;
}
Edges star(int n) {
  Edges e;
  for (int i = 1; i < n; ++i) e.emplace_back(0, i);
  return e;
}
Edges ring(int n) {
  Edges e = line(n);
  e.emplace_back(n - 1, 0);
  return e;
}
Edges full(int n) {
  Edges e;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) e.emplace_back(i, j);
  return e;
}
// A random spanning tree plus extra random edges: connected, with cycles.
Edges random_graph(int n, std::mt19937_64& rng) {
  Edges e;
  for (int i = 1; i < n; ++i) e.emplace_back(static_cast<int>(rng() % i), i);
  const int extra = static_cast<int>(rng() % (n + 1));
  for (int k = 0; k < extra; ++k) {
    int a = static_cast<int>(rng() % n), b = static_cast<int>(rng() % n);
    if (a == b) continue;
    if (a > b) std::swap(a, b);
    if (std::find(e.begin(), e.end(), std::make_pair(a, b)) == e.end() &&
        std::find(e.begin(), e.end(), std::make_pair(b, a)) == e.end())
      e.emplace_back(a, b);
  }
  return e;
}

const std::vector<std::string> kTopics = {"orders/created/us/1", "orders/created/eu/2",
                                          "orders/paid/us/3",    "devices/7/cmd",
                                          "devices/8/state",     "alerts"};
const std::vector<std::string> kFilters = {"orders/*/us/>",   "orders/>", "devices/7/cmd",
                                           "devices/*/state", "alerts",   "orders/created/*/*",
                                           "nothing/matches"};

struct Built {
  Harness harness;
  std::vector<std::string> nodes;
  explicit Built(std::uint64_t seed) : harness(seed) {}
};

void build(Built& b, int n, const Edges& edges) {
  for (int i = 0; i < n; ++i) b.nodes.push_back(b.harness.add(name_of(i)).name());
  for (auto [x, y] : edges) b.harness.link(name_of(x), name_of(y));
  b.harness.run();
}

// Publishes `count` random events and checks the property for each.
void check_property(Built& b, std::mt19937_64& rng, int count, bool persistent = false) {
  Harness& h = b.harness;
  std::vector<std::pair<EventId, std::string>> published;
  for (auto& name : b.nodes) {
    auto& node = h.node(name);
    node.delivered.clear();
    node.arrived.clear();
  }
  h.crossings.clear();
  for (int k = 0; k < count; ++k) {
    const auto& at = b.nodes[rng() % b.nodes.size()];
    const auto& topic = kTopics[rng() % kTopics.size()];
    published.emplace_back(h.node(at).publish(topic, persistent), topic);
    if (rng() % 4 == 0) h.run();
  }
  h.run();
  ASSERT_TRUE(h.decode_errors.empty()) << h.decode_errors.front();

  for (const auto& [id, topic] : published) {
    // Exactly once at every matching subscriber.
    for (const auto& name : b.nodes) {
      auto& node = h.node(name);
      for (const auto& [sub, filter] : node.subscribers()) {
        const auto& got = node.delivered[sub];
        const auto n = std::count(got.begin(), got.end(), id);
        EXPECT_EQ(n, core::filter_matches(filter, topic) ? 1 : 0)
            << "subscriber " << sub << " at " << name << " on " << filter << ", event " << id.origin
            << "/" << id.sequence << " on " << topic;
      }
    }
    // At most once per link (either direction).
    std::map<std::pair<std::string, std::string>, int> per_link;
    for (const auto& [dir, events] : h.crossings) {
      auto it = events.find(id);
      if (it == events.end()) continue;
      auto key = dir.first < dir.second ? dir : std::make_pair(dir.second, dir.first);
      per_link[key] += it->second;
    }
    for (const auto& [link, n] : per_link)
      EXPECT_LE(n, 1) << "event " << id.origin << "/" << id.sequence << " crossed " << link.first
                      << "-" << link.second << " " << n << " times";
    // A node reached has interest or passes the event on.
    for (const auto& name : b.nodes) {
      auto& node = h.node(name);
      if (std::count(node.arrived.begin(), node.arrived.end(), id) == 0) continue;
      bool local = false;
      for (const auto& [sub, filter] : node.subscribers())
        local |= core::filter_matches(filter, topic);
      bool passed_on = false;
      for (const auto& [dir, events] : h.crossings)
        if (dir.first == name && events.contains(id)) passed_on = true;
      EXPECT_TRUE(local || passed_on)
          << name << " got " << id.origin << "/" << id.sequence << " with no interest";
    }
  }
}

void subscribe_randomly(Built& b, std::mt19937_64& rng, int& next_id) {
  for (const auto& name : b.nodes) {
    const int subs = static_cast<int>(rng() % 3);
    for (int k = 0; k < subs; ++k)
      b.harness.node(name).subscribe(next_id++, kFilters[rng() % kFilters.size()]);
  }
  b.harness.run();
}

std::map<EventId, int>& crossed(Built& b, int from, int to) {
  return b.harness.crossings[{name_of(from), name_of(to)}];
}

struct Shape {
  const char* name;
  int nodes;
  Edges (*make)(int);
};

class Topologies : public ::testing::TestWithParam<Shape> {};

TEST_P(Topologies, EveryEventReachesEveryMatchingSubscriberOnceAndCrossesEachLinkOnce) {
  const Shape shape = GetParam();
  std::mt19937_64 rng(42);
  Built b(7);
  build(b, shape.nodes, shape.make(shape.nodes));
  int id = 0;
  subscribe_randomly(b, rng, id);
  // Every node learned every other node's record.
  for (const auto& name : b.nodes)
    EXPECT_EQ(b.harness.node(name).engine().registry().size(), b.nodes.size()) << name;
  check_property(b, rng, 300);
  check_property(b, rng, 100, /*persistent=*/true);
}

INSTANTIATE_TEST_SUITE_P(Mesh, Topologies,
                         ::testing::Values(Shape{"line", 6, line}, Shape{"star", 7, star},
                                           Shape{"ring", 6, ring}, Shape{"full", 5, full}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MeshEngine, RandomConnectedGraphsKeepTheProperty) {
  std::mt19937_64 rng(2026);
  for (int round = 0; round < 25; ++round) {
    const int n = 2 + static_cast<int>(rng() % 11);
    Built b(rng());
    build(b, n, random_graph(n, rng));
    int id = 0;
    subscribe_randomly(b, rng, id);
    check_property(b, rng, 80);
    if (HasFailure()) {
      ADD_FAILURE() << "round " << round << " with " << n << " nodes";
      return;
    }
  }
}

TEST(MeshEngine, SubscriptionsChangingWhileTrafficFlowsNeverDuplicate) {
  std::mt19937_64 rng(99);
  Built b(3);
  build(b, 8, random_graph(8, rng));
  // Stable subscribers, there from the start to the end.
  b.harness.node(name_of(7)).subscribe(1000, "orders/*/us/>");
  b.harness.node(name_of(3)).subscribe(1001, "devices/>");
  b.harness.run();
  std::vector<std::pair<EventId, std::string>> published;
  int next = 0;
  std::vector<std::pair<std::string, int>> live;
  for (int step = 0; step < 600; ++step) {
    const auto& at = b.nodes[rng() % b.nodes.size()];
    if (rng() % 5 == 0) {
      if (!live.empty() && rng() % 2 == 0) {
        auto [where, sub] = live[rng() % live.size()];
        b.harness.node(where).unsubscribe(sub);
        std::erase(live, std::make_pair(where, sub));
      } else {
        b.harness.node(at).subscribe(next, kFilters[rng() % kFilters.size()]);
        live.emplace_back(at, next++);
      }
    }
    const auto& topic = kTopics[rng() % kTopics.size()];
    published.emplace_back(b.harness.node(at).publish(topic), topic);
    // Deliver only some of the traffic before the next change.
    if (rng() % 3 == 0) b.harness.run(rng() % 20);
  }
  b.harness.run();
  ASSERT_TRUE(b.harness.decode_errors.empty());
  for (const auto& name : b.nodes) {
    for (const auto& [sub, got] : b.harness.node(name).delivered) {
      std::set<EventId> unique(got.begin(), got.end());
      EXPECT_EQ(unique.size(), got.size()) << "subscriber " << sub << " got a duplicate";
    }
  }
  // The stable subscribers got every matching event exactly once.
  for (auto [node, sub, filter] :
       {std::tuple{7, 1000, "orders/*/us/>"}, std::tuple{3, 1001, "devices/>"}}) {
    auto& got = b.harness.node(name_of(node)).delivered[sub];
    std::size_t expected = 0;
    for (const auto& [id, topic] : published) expected += core::filter_matches(filter, topic);
    EXPECT_EQ(got.size(), expected) << filter;
  }
  // Links carried each event at most once (trees do not change with filters).
  for (const auto& [dir, events] : b.harness.crossings)
    for (const auto& [id, n] : events) EXPECT_EQ(n, 1);
}

TEST(MeshEngine, ARingRoutesAroundACutLinkAndBackWhenItHeals) {
  Built b(5);
  build(b, 4, ring(4));  // n10-n11-n12-n13-n10
  b.harness.node(name_of(1)).subscribe(1, "alerts");
  b.harness.run();
  // n10 -> n11 goes over their direct link.
  b.harness.crossings.clear();
  b.harness.node(name_of(0)).publish("alerts");
  b.harness.run();
  EXPECT_EQ(crossed(b, 0, 1).size(), 1u);
  b.harness.cut(name_of(0), name_of(1));
  b.harness.run();
  b.harness.crossings.clear();
  const auto id = b.harness.node(name_of(0)).publish("alerts");
  b.harness.run();
  // Around the ring: n10 -> n13 -> n12 -> n11.
  EXPECT_EQ(crossed(b, 0, 3).count(id), 1u);
  EXPECT_EQ(crossed(b, 3, 2).count(id), 1u);
  EXPECT_EQ(crossed(b, 2, 1).count(id), 1u);
  const auto& got = b.harness.node(name_of(1)).delivered[1];
  EXPECT_EQ(std::count(got.begin(), got.end(), id), 1);
  b.harness.link(name_of(0), name_of(1));
  b.harness.run();
  b.harness.crossings.clear();
  const auto back = b.harness.node(name_of(0)).publish("alerts");
  b.harness.run();
  EXPECT_EQ(crossed(b, 0, 1).count(back), 1u);
  EXPECT_EQ(crossed(b, 0, 3).count(back), 0u);
}

TEST(MeshEngine, PersistentEventsPublishedDuringACutArriveOnceWhenItHeals) {
  Built b(11);
  build(b, 3, line(3));  // n10 - n11 - n12
  b.harness.node(name_of(2)).subscribe(1, "orders/>");
  b.harness.run();
  b.harness.cut(name_of(0), name_of(1));
  b.harness.run();
  std::vector<EventId> sent;
  for (int i = 0; i < 50; ++i) sent.push_back(b.harness.node(name_of(0)).publish("orders/x", true));
  // Direct events during the cut go nowhere.
  const auto lost = b.harness.node(name_of(0)).publish("orders/y", false);
  b.harness.run();
  EXPECT_TRUE(b.harness.node(name_of(2)).delivered[1].empty());
  EXPECT_EQ(b.harness.node(name_of(0)).engine().outbox(name_of(1))->depth(), 50u);
  b.harness.link(name_of(0), name_of(1));
  b.harness.run();
  const auto& got = b.harness.node(name_of(2)).delivered[1];
  EXPECT_EQ(got, sent);  // all, once, in order
  EXPECT_EQ(std::count(got.begin(), got.end(), lost), 0);
  // Acknowledged hop by hop: nothing left waiting.
  EXPECT_EQ(b.harness.node(name_of(0)).engine().outbox(name_of(1))->depth(), 0u);
  EXPECT_EQ(b.harness.node(name_of(1)).engine().outbox(name_of(2))->depth(), 0u);
}

TEST(MeshEngine, PersistentEventsCrossACutFurtherAwayOnceItHeals) {
  Built b(17);
  build(b, 4, line(4));  // n10 - n11 - n12 - n13
  b.harness.node(name_of(3)).subscribe(1, "orders/>");
  b.harness.run();
  b.harness.cut(name_of(2), name_of(3));
  b.harness.run();
  // n10 is two hops from the cut and still routes persistent events to it.
  std::vector<EventId> sent;
  for (int i = 0; i < 20; ++i) sent.push_back(b.harness.node(name_of(0)).publish("orders/x", true));
  const auto direct = b.harness.node(name_of(0)).publish("orders/y", false);
  b.harness.run();
  EXPECT_EQ(b.harness.node(name_of(2)).engine().outbox(name_of(3))->depth(), 20u);
  // The direct event did not even leave n10: nothing live leads to interest.
  EXPECT_EQ(crossed(b, 0, 1).count(direct), 0u);
  b.harness.link(name_of(2), name_of(3));
  b.harness.run();
  EXPECT_EQ(b.harness.node(name_of(3)).delivered[1], sent);
}

TEST(MeshEngine, ResentPersistentEventsAreDroppedAsDuplicates) {
  Built b(13);
  build(b, 2, line(2));
  b.harness.node(name_of(1)).subscribe(1, "orders/>");
  b.harness.run();
  // Send, then lose the link before the acknowledgement comes back.
  std::vector<EventId> sent;
  for (int i = 0; i < 10; ++i) sent.push_back(b.harness.node(name_of(0)).publish("orders/z", true));
  b.harness.run(10);  // the events frame arrives, the ack is still on the wire
  b.harness.cut(name_of(0), name_of(1));
  b.harness.link(name_of(0), name_of(1));
  b.harness.run();
  EXPECT_EQ(b.harness.node(name_of(1)).delivered[1], sent);
  EXPECT_EQ(b.harness.node(name_of(0)).engine().outbox(name_of(1))->depth(), 0u);
}

TEST(MeshEngine, AForgottenNodeAgesOut) {
  EngineSettings s;
  s.node_expiry = std::chrono::milliseconds(0);
  s.outbox.max_age = std::chrono::milliseconds(0);
  Harness h(1, s);
  h.add("a");
  h.add("b");
  h.link("a", "b");
  h.run();
  EXPECT_EQ(h.node("a").engine().registry().size(), 2u);
  h.cut("a", "b");
  h.run();
  h.node("a").engine().tick(std::chrono::steady_clock::now());
  h.node("a").engine().tick(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  EXPECT_EQ(h.node("a").engine().registry().size(), 1u);
}

TEST(MeshEngine, RemoteFiltersAreWhatOtherReachableNodesWant) {
  Harness h;
  h.add("a");
  h.add("b");
  h.add("c");
  h.link("a", "b");
  h.link("b", "c");
  h.node("c").subscribe(1, "x/>");
  h.node("b").subscribe(2, "y");
  h.node("a").subscribe(3, "z");
  h.run();
  EXPECT_EQ(h.node("a").remote_filters(), (std::vector<std::string>{"x/>", "y"}));
  h.node("c").unsubscribe(1);
  h.run();
  EXPECT_EQ(h.node("a").remote_filters(), (std::vector<std::string>{"y"}));
}

}  // namespace
}  // namespace skein::mesh::testing
