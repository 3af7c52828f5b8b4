// SubscriptionService + ShardMailboxes on real shards: a subscription is in
// effect on every shard when subscribe() returns, cross-shard delivery keeps
// publish order, and concurrent changes from several shards all land.
#include "runtime/subscription_service.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "runtime/cross_shard.hpp"
#include "runtime/shard_mailbox.hpp"

namespace skein::runtime {
namespace {

namespace asio = boost::asio;

// Records what it receives; touched only on its home shard.
class RecordingDestination final : public core::Destination {
 public:
  using Destination::Destination;
  std::vector<std::uint64_t> sequences() {
    std::deque<core::EventPtr> events;
    take(events, queued());
    for (auto& e : events) seen_.push_back(e->origin.sequence);
    return seen_;
  }

 protected:
  void wake() override {}

 private:
  std::vector<std::uint64_t> seen_;
};

struct Harness {
  ShardPool pool{2};
  core::Router router{"test", 2};
  ShardMailboxes mailboxes{pool, router};
  SubscriptionService service{pool, router};
  Harness() {
    router.set_delivery_port(&mailboxes);
    pool.start();
  }
  ~Harness() { pool.stop(); }

  template <class F>
  auto on(unsigned shard, F f) {
    return asio::co_spawn(pool.executor(shard), detail::invoke_as_coroutine(std::move(f)),
                          asio::use_future)
        .get();
  }
};

core::Event event_on(std::string topic) {
  core::Event event;
  event.topic = std::move(topic);
  return event;
}

asio::awaitable<void> subscribe_then_publish(Harness* h, core::DestinationPtr d, int events) {
  // A named vector: GCC 12 miscompiles a braced list inside co_await.
  std::vector<std::string> filters{"orders/*/us/>"};
  co_await h->service.subscribe(d, std::move(filters));
  for (int i = 0; i < events; ++i) {
    h->router.publish(ShardPool::current(),
                      h->router.stamp(event_on("orders/new/us/" + std::to_string(i))));
  }
  // Not matching: must not arrive.
  h->router.publish(ShardPool::current(), h->router.stamp(event_on("orders/new/eu/1")));
}

TEST(SubscriptionService, InEffectOnEveryShardWhenSubscribeReturns) {
  Harness h;
  auto remote = std::make_shared<RecordingDestination>(1, 100000, core::SlowPolicy::disconnect);
  // Subscribe from shard 0 and publish immediately from shard 0: events cross to shard 1.
  asio::co_spawn(h.pool.executor(0), subscribe_then_publish(&h, remote, 5000), asio::use_future)
      .get();
  // The drains are posted to shard 1 before this call, so they have run when it does.
  auto seen = h.on(1, [&] { return remote->sequences(); });
  ASSERT_EQ(seen.size(), 5000u);
  for (std::size_t i = 1; i < seen.size(); ++i) ASSERT_LT(seen[i - 1], seen[i]) << "order at " << i;
  EXPECT_EQ(h.service.count(), 1u);
}

asio::awaitable<void> subscribe_many(Harness* h, core::DestinationPtr d, int n, std::string tag) {
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> filters{tag + "/" + std::to_string(i) + "/>"};
    co_await h->service.subscribe(d, std::move(filters));
  }
}

TEST(SubscriptionService, ConcurrentChangesFromSeveralShardsAllLand) {
  Harness h;
  auto a = std::make_shared<RecordingDestination>(0, 10, core::SlowPolicy::disconnect);
  auto b = std::make_shared<RecordingDestination>(1, 10, core::SlowPolicy::disconnect);
  auto fa = asio::co_spawn(h.pool.executor(0), subscribe_many(&h, a, 300, "a"), asio::use_future);
  auto fb = asio::co_spawn(h.pool.executor(1), subscribe_many(&h, b, 300, "b"), asio::use_future);
  fa.get();
  fb.get();
  EXPECT_EQ(h.service.count(), 600u);
  // Both copies hold every change: check the active one now, then after one
  // more (no-op) change has flipped to the other.
  for (int round = 0; round < 2; ++round) {
    auto matched = h.on(0, [&] {
      std::vector<core::DestinationPtr> out;
      h.router.table().readable().match("a/299/x", out);
      h.router.table().readable().match("b/0/x", out);
      return out.size();
    });
    EXPECT_EQ(matched, 2u) << "round " << round;
    asio::co_spawn(h.pool.executor(0), h.service.apply(std::vector<SubscriptionService::Change>{}),
                   asio::use_future)
        .get();
  }
}

asio::awaitable<std::vector<bool>> add_twice_remove_absent(Harness* h, core::DestinationPtr d) {
  using Change = SubscriptionService::Change;
  std::vector<Change> changes{Change{true, "x/>", d}, Change{true, "x/>", d},
                              Change{false, "y", d}};
  co_return co_await h->service.apply(std::move(changes));
}

TEST(SubscriptionService, ReportsWhichChangesTookEffect) {
  Harness h;
  auto d = std::make_shared<RecordingDestination>(0, 10, core::SlowPolicy::disconnect);
  auto effective =
      asio::co_spawn(h.pool.executor(1), add_twice_remove_absent(&h, d), asio::use_future).get();
  EXPECT_EQ(effective, (std::vector<bool>{true, false, false}));
  EXPECT_EQ(h.service.count(), 1u);
}

asio::awaitable<void> unsubscribe(Harness* h, core::DestinationPtr d) {
  std::vector<std::string> filters{"orders/*/us/>"};
  co_await h->service.unsubscribe(d, std::move(filters));
  h->router.publish(ShardPool::current(), h->router.stamp(event_on("orders/a/us/1")));
}

TEST(SubscriptionService, UnsubscribeStopsDelivery) {
  Harness h;
  auto d = std::make_shared<RecordingDestination>(1, 100, core::SlowPolicy::disconnect);
  asio::co_spawn(h.pool.executor(0), subscribe_then_publish(&h, d, 3), asio::use_future).get();
  asio::co_spawn(h.pool.executor(0), unsubscribe(&h, d), asio::use_future).get();
  auto seen = h.on(1, [&] { return d->sequences(); });
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(h.service.count(), 0u);
}

}  // namespace
}  // namespace skein::runtime
