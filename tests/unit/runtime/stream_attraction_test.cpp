// Streams as router destinations, on real shards with a real StreamService:
// attracted events land in the partition Kafka's partitioner picks, with
// their topic in `skein-topic`, in publish order per key; persistent events'
// receipts are answered once stored (or fail when the stream cannot take
// them); a stream does not take back what entered through it; filter
// changes and removal take effect in the router. Also the routing settings'
// round trip through a StreamConfig, and core::Receipt on its own.
#include "runtime/stream_attraction.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <map>
#include <thread>

#include "../storage/temp_dir.hpp"
#include "core/kafka_partitioner.hpp"
#include "runtime/shard_mailbox.hpp"
#include "runtime/stream_routing.hpp"
#include "storage/record_batch.hpp"

namespace skein::runtime {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct Harness {
  explicit Harness(const std::string& dir) : streams(pool, {dir, 3600s}) {
    router.set_delivery_port(&mailboxes);
    streams.open();
    pool.start();
    streams.start();
  }
  ~Harness() {
    attraction.stop();
    pool.stop();
    streams.close();
  }
  void create(const std::string& name, std::int32_t partitions, std::vector<std::string> attract) {
    storage::StreamConfig config;
    config.name = name;
    config.partitions = partitions;
    StreamRouting routing;
    routing.attract = std::move(attract);
    routing.store_into(config);
    ASSERT_TRUE(streams.create(config).ok());
    sync(name);
  }
  void sync(const std::string& name) {
    asio::co_spawn(pool.executor(1), attraction.sync(name), asio::use_future).get();
  }
  // Publishes on `shard` (from that shard's thread).
  void publish(unsigned shard, core::Event event) {
    asio::co_spawn(
        pool.executor(shard),
        [this, shard, event = std::move(event)]() mutable -> asio::awaitable<void> {
          router.publish(shard, router.stamp(std::move(event)));
          co_return;
        },
        asio::use_future)
        .get();
  }
  std::int64_t stored(const std::string& name) {
    std::int64_t n = 0;
    for (const auto& p : streams.partitions(name)) n += p->log_end();
    return n;
  }
  // Waits (bounded) until the stream holds `n` records.
  bool wait_stored(const std::string& name, std::int64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (stored(name) < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);  // polling a condition, with a deadline
    }
    return stored(name) == n;
  }
  struct Record {
    std::string topic;
    std::optional<std::string> key;
    std::string value;
  };
  std::vector<Record> records(const std::string& name, std::int32_t partition) {
    auto p = streams.partition(name, partition);
    std::vector<Record> out;
    std::int64_t offset = 0;
    while (offset < p->log_end()) {
      auto read =
          asio::co_spawn(pool.executor(0), streams.read(p, offset, 1 << 20), asio::use_future)
              .get();
      EXPECT_FALSE(read.error);
      if (!read.range) break;
      std::vector<std::byte> bytes(read.range->length);
      EXPECT_EQ(::pread(read.range->fd(), bytes.data(), bytes.size(),
                        static_cast<off_t>(read.range->position)),
                static_cast<ssize_t>(bytes.size()));
      std::span<const std::byte> rest = bytes;
      while (!rest.empty()) {
        auto header = storage::check_batch(rest, rest.size()).header;
        EXPECT_TRUE(header.has_value());
        if (!header) return out;
        auto decoded = storage::decode_records(rest.first(header->total_bytes()));
        EXPECT_TRUE(decoded.has_value());
        for (const auto& r : *decoded) {
          EXPECT_FALSE(r.headers.empty());
          Record rec;
          if (!r.headers.empty() && r.headers[0].first == "skein-topic") {
            rec.topic = std::string(r.headers[0].second);
          }
          if (r.key) rec.key = std::string(*r.key);
          rec.value = std::string(r.value.value_or(""));
          out.push_back(std::move(rec));
          offset = r.offset + 1;
        }
        rest = rest.subspan(header->total_bytes());
      }
    }
    return out;
  }

  ShardPool pool{2};
  core::Router router{"test", 2};
  ShardMailboxes mailboxes{pool, router};
  SubscriptionService subscriptions{pool, router};
  StreamService streams;
  StreamAttraction attraction{pool, streams, subscriptions};
};

core::Event event(std::string topic, std::optional<std::string> key, std::string payload) {
  core::Event e;
  e.topic = std::move(topic);
  e.key = std::move(key);
  e.payload = std::move(payload);
  return e;
}

TEST(StreamAttractionTest, AttractedEventsLandByKeyInOrderWithTheirTopic) {
  storage::TempDir dir("attraction-order");
  Harness h(dir.path());
  h.create("us-orders", 3, {"orders/*/us/>"});
  int us = 0;
  for (int i = 0; i < 600; ++i) {
    const bool is_us = i % 3 != 0;
    us += is_us ? 1 : 0;
    const std::string key = "k" + std::to_string(i % 11);
    h.publish(static_cast<unsigned>(i % 2), event("orders/" + std::to_string(i % 5) +
                                                      (is_us ? "/us/" : "/eu/") + std::to_string(i),
                                                  key, std::to_string(i)));
  }
  // Keyless: by topic.
  h.publish(0, event("orders/9/us/keyless", std::nullopt, "keyless"));
  ASSERT_TRUE(h.wait_stored("us-orders", us + 1));
  std::map<std::string, int> last_by_key;
  int seen = 0;
  for (std::int32_t p = 0; p < 3; ++p) {
    for (const auto& r : h.records("us-orders", p)) {
      ++seen;
      EXPECT_NE(r.topic.find("/us/"), std::string::npos) << r.topic;
      if (!r.key) {
        EXPECT_EQ(r.value, "keyless");
        EXPECT_EQ(p, core::partition_for_topic("orders/9/us/keyless", 3));
        continue;
      }
      EXPECT_EQ(p, core::partition_for_key(*r.key, 3)) << *r.key;
      const int n = std::stoi(r.value);
      EXPECT_EQ(r.topic, "orders/" + std::to_string(n % 5) + "/us/" + std::to_string(n));
      // Events of one key were published one after another from two shards
      // in turn, each publish complete before the next: publish order.
      auto it = last_by_key.find(*r.key);
      if (it != last_by_key.end()) {
        EXPECT_LT(it->second, n) << *r.key;
      }
      last_by_key[*r.key] = n;
    }
  }
  EXPECT_EQ(seen, us + 1);
  const auto destination = h.attraction.destination("us-orders");
  ASSERT_NE(destination, nullptr);
  EXPECT_EQ(destination->appended(), static_cast<std::uint64_t>(us + 1));
}

struct ReceiptResult {
  std::optional<std::string> failure;
  std::size_t stored = 0;
};

std::future<ReceiptResult> with_receipt(core::Event& e) {
  auto promise = std::make_shared<std::promise<ReceiptResult>>();
  auto future = promise->get_future();
  e.delivery = core::DeliveryClass::persistent;
  e.receipt = std::make_shared<core::Receipt>(
      [promise](std::optional<std::string> failure, std::size_t stored) {
        promise->set_value({std::move(failure), stored});
      });
  return future;
}

TEST(StreamAttractionTest, PersistentReceiptsCountEveryAttractingStream) {
  storage::TempDir dir("attraction-receipts");
  Harness h(dir.path());
  h.create("one", 2, {"a/>"});
  h.create("two", 1, {"a/b/*", "a/>"});  // two filters of one stream match: stored once
  auto publish_persistent = [&](const std::string& topic) {
    core::Event e = event(topic, "k", "v");
    auto future = with_receipt(e);
    auto receipt = e.receipt;
    h.publish(1, std::move(e));
    receipt->stored(false);  // the publisher's own expectation
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    return future.get();
  };
  const ReceiptResult both = publish_persistent("a/b/c");
  EXPECT_FALSE(both.failure);
  EXPECT_EQ(both.stored, 2u);
  EXPECT_EQ(h.stored("one"), 1);
  EXPECT_EQ(h.stored("two"), 1);
  const ReceiptResult none = publish_persistent("z/z");
  EXPECT_FALSE(none.failure);
  EXPECT_EQ(none.stored, 0u);
}

TEST(StreamAttractionTest, AStreamDoesNotTakeBackWhatEnteredThroughIt) {
  storage::TempDir dir("attraction-ingress");
  Harness h(dir.path());
  h.create("devices", 1, {"devices/>"});
  h.create("mirror", 1, {"devices/>"});
  core::Event e = event("devices/d1", "d1", "from kafka");
  e.ingress_stream = "devices";
  h.publish(0, std::move(e));
  h.publish(0, event("devices/d2", "d2", "from http"));
  ASSERT_TRUE(h.wait_stored("mirror", 2));
  ASSERT_TRUE(h.wait_stored("devices", 1));
  const auto records = h.records("devices", 0);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].value, "from http");
}

TEST(StreamAttractionTest, FilterChangesAndRemovalReachTheRouter) {
  storage::TempDir dir("attraction-changes");
  Harness h(dir.path());
  h.create("s", 1, {"a/>"});
  EXPECT_EQ(h.attraction.filter_count("s"), 1u);
  EXPECT_EQ(h.router.table().size(), 1u);
  auto config = *h.streams.find("s");
  StreamRouting routing;
  routing.attract = {"b/>", "c/*"};
  routing.store_into(config);
  ASSERT_TRUE(h.streams.update(config).ok());
  h.sync("s");
  EXPECT_EQ(h.attraction.filter_count("s"), 2u);
  EXPECT_EQ(h.router.table().size(), 2u);
  h.publish(0, event("a/1", std::nullopt, "old filter"));
  h.publish(0, event("b/1", std::nullopt, "new filter"));
  ASSERT_TRUE(h.wait_stored("s", 1));
  EXPECT_EQ(h.records("s", 0).at(0).value, "new filter");
  // Removal: the filters leave the router; a persistent event finds no stream.
  auto destination = h.attraction.destination("s");
  ASSERT_TRUE(h.streams.remove("s").ok());
  h.sync("s");
  EXPECT_EQ(h.router.table().size(), 0u);
  EXPECT_EQ(h.attraction.destination("s"), nullptr);
  core::Event late = event("b/2", std::nullopt, "late");
  auto future = with_receipt(late);
  // Offered straight to the retired destination (as a racing publish could
  // be): it answers with a failure rather than never.
  auto receipt = late.receipt;
  auto shared = std::make_shared<const core::Event>(std::move(late));
  receipt->expect();
  asio::co_spawn(
      h.pool.executor(destination->home_shard()),
      [&h, destination, shared]() -> asio::awaitable<void> {
        h.router.deliver_local(destination->home_shard(), *destination, shared);
        co_return;
      },
      asio::use_future)
      .get();
  receipt->stored(false);
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(future.get().failure.has_value());
}

TEST(StreamRoutingTest, RoundTripsThroughTheConfigAndRefusesBadSettings) {
  storage::StreamConfig config;
  config.name = "s";
  StreamRouting routing;
  routing.attract = {"a/>", "b/*/c"};
  routing.topic_template = "x/{key}";
  routing.store_into(config);
  auto back = StreamRouting::of(config);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value().attract, routing.attract);
  EXPECT_EQ(back.value().topic_template, "x/{key}");
  EXPECT_EQ(back.value().effective_template("s").text(), "x/{key}");
  EXPECT_EQ(StreamRouting{}.effective_template("plain").text(), "plain");

  StreamRouting bad;
  bad.attract = {"a//b"};
  EXPECT_NE(bad.validate()->find("a//b"), std::string::npos);
  bad.attract = {"a/>", "a/>"};
  EXPECT_NE(bad.validate()->find("twice"), std::string::npos);
  bad.attract = {};
  bad.topic_template = "{nope}";
  EXPECT_NE(bad.validate()->find("topic_template"), std::string::npos);
  config.extra["attract"] = "not json";
  EXPECT_FALSE(StreamRouting::of(config).ok());
  config.extra["attract"] = "[1]";
  EXPECT_FALSE(StreamRouting::of(config).ok());
  // Empty settings leave the config's extra clean.
  StreamRouting{}.store_into(config);
  EXPECT_TRUE(config.extra.empty());
}

TEST(ReceiptTest, CompletesOnceAfterTheLastAnswerOrTheFirstFailure) {
  int calls = 0;
  std::optional<std::string> failure;
  std::size_t stored = 0;
  core::Receipt receipt([&](std::optional<std::string> f, std::size_t s) {
    ++calls;
    failure = std::move(f);
    stored = s;
  });
  receipt.expect();
  receipt.expect();
  receipt.stored();
  receipt.stored(false);  // the publisher's own
  EXPECT_EQ(calls, 0);
  receipt.stored();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(failure);
  EXPECT_EQ(stored, 2u);

  int failed_calls = 0;
  std::optional<std::string> why;
  core::Receipt failing([&](std::optional<std::string> f, std::size_t) {
    ++failed_calls;
    why = std::move(f);
  });
  failing.expect();
  failing.failed("disk full");
  failing.stored(false);
  EXPECT_EQ(failed_calls, 1);
  EXPECT_EQ(why, "disk full");
}

}  // namespace
}  // namespace skein::runtime
