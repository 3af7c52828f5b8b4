// StreamService on real shards: partitions spread over shards and are used
// from any shard; appends complete (at once, or once durable), reads return
// what was appended, a long poll wakes on an append and ends at its deadline,
// the catalog and data survive a restart, removal deletes.
#include "runtime/stream_service.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <set>

#include "../storage/temp_dir.hpp"

namespace skein::runtime {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using storage::StreamConfig;

struct Harness {
  explicit Harness(const std::string& dir) : service(pool, {dir, 3600s}) {
    service.open();
    pool.start();
    service.start();
  }
  ~Harness() {
    pool.stop();
    service.close();
  }
  // Runs a coroutine on `shard` and waits for its result.
  template <class T>
  T on(unsigned shard, asio::awaitable<T> work) {
    return asio::co_spawn(pool.executor(shard), std::move(work), asio::use_future).get();
  }
  void on(unsigned shard, asio::awaitable<void> work) {
    asio::co_spawn(pool.executor(shard), std::move(work), asio::use_future).get();
  }

  ShardPool pool{2};
  StreamService service;
};

std::vector<std::byte> batch_of(const std::string& value) {
  return storage::build_batch({{std::nullopt, value, {}, 1000}});
}

std::string value_at(const storage::FileRange& range) {
  std::vector<std::byte> bytes(range.length);
  EXPECT_EQ(::pread(range.fd(), bytes.data(), bytes.size(), static_cast<off_t>(range.position)),
            static_cast<ssize_t>(bytes.size()));
  auto header = storage::check_batch(bytes, bytes.size(), false).header;
  EXPECT_TRUE(header.has_value());
  auto records = storage::decode_records(std::span(bytes).first(header->total_bytes()));
  EXPECT_TRUE(records && !records->empty());
  return records && !records->empty() ? std::string(records->front().value.value_or("")) : "";
}

TEST(StreamServiceTest, AppendsAndReadsFromAnyShardAndSurvivesRestart) {
  storage::TempDir dir("streams-service");
  {
    Harness h(dir.path());
    StreamConfig config;
    config.name = "orders";
    config.partitions = 4;
    config.fsync = storage::FsyncPolicy::always;
    ASSERT_TRUE(h.service.create(config).ok());
    EXPECT_EQ(h.service.create(config).error().code, storage::Errc::exists);
    std::set<unsigned> shards;
    for (int p = 0; p < 4; ++p) shards.insert(h.service.partition("orders", p)->shard());
    EXPECT_EQ(shards.size(), 2u) << "partitions spread over both shards";
    EXPECT_EQ(h.service.partition("orders", 4), nullptr);
    EXPECT_EQ(h.service.partition("nope", 0), nullptr);

    for (int i = 0; i < 10; ++i) {
      auto p = h.service.partition("orders", i % 4);
      // From the shard that does not own it, half the time.
      const unsigned from = static_cast<unsigned>(i) % 2;
      AppendResult r = h.on(from, h.service.append(p, batch_of("v" + std::to_string(i)), true));
      ASSERT_FALSE(r.error) << r.error->message;
      EXPECT_EQ(r.base_offset, i / 4);
      EXPECT_GE(p->group_commit().durable_end(), r.base_offset + 1) << "acked before durable";
    }
    auto p1 = h.service.partition("orders", 1);
    EXPECT_EQ(p1->log_end(), 3);
    ReadResult read = h.on(0, h.service.read(p1, 1, 1 << 20));
    ASSERT_FALSE(read.error);
    ASSERT_TRUE(read.range);
    EXPECT_EQ(value_at(*read.range), "v5");
    EXPECT_EQ(read.log_end, 3);
    ReadResult beyond = h.on(1, h.service.read(p1, 7, 1 << 20));
    ASSERT_TRUE(beyond.error);
    EXPECT_EQ(beyond.error->code, storage::Errc::out_of_range);
  }
  Harness again(dir.path());
  ASSERT_TRUE(again.service.find("orders").has_value());
  EXPECT_EQ(again.service.find("orders")->fsync, storage::FsyncPolicy::always);
  EXPECT_EQ(again.service.partition("orders", 1)->log_end(), 3);
  ReadResult read = again.on(1, again.service.read(again.service.partition("orders", 2), 1, 100));
  ASSERT_TRUE(read.range);
  EXPECT_EQ(value_at(*read.range), "v6");
}

TEST(StreamServiceTest, LongPollWakesOnAppendAndEndsAtItsDeadline) {
  storage::TempDir dir("streams-poll");
  Harness h(dir.path());
  StreamConfig config;
  config.name = "poll";
  config.partitions = 2;
  ASSERT_TRUE(h.service.create(config).ok());
  auto p0 = h.service.partition("poll", 0), p1 = h.service.partition("poll", 1);

  // Nothing comes: the wait lasts until its deadline.
  const auto start = std::chrono::steady_clock::now();
  h.on(0, h.service.wait_for_data({{p0, 0}, {p1, 0}}, start + 200ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);

  // An append to either partition ends a 30 s wait early.
  auto waiting = asio::co_spawn(
      h.pool.executor(0),
      h.service.wait_for_data({{p0, 0}, {p1, 0}}, std::chrono::steady_clock::now() + 30s),
      asio::use_future);
  AppendResult r = h.on(1, h.service.append(p1, batch_of("wake"), false));
  ASSERT_FALSE(r.error);
  EXPECT_EQ(waiting.wait_for(10s), std::future_status::ready);

  // Data already there when the wait starts: it returns at once.
  const auto before = std::chrono::steady_clock::now();
  h.on(0, h.service.wait_for_data({{p1, 0}}, before + 30s));
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
}

TEST(StreamServiceTest, InvalidBatchesAreRefusedAndRemovalDeletes) {
  storage::TempDir dir("streams-remove");
  Harness h(dir.path());
  StreamConfig config;
  config.name = "tmp";
  ASSERT_TRUE(h.service.create(config).ok());
  auto p = h.service.partition("tmp", 0);
  auto bad = batch_of("x");
  bad.back() ^= std::byte{1};  // breaks the CRC
  AppendResult r = h.on(0, h.service.append(p, bad, true));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code, storage::Errc::invalid_batch);
  EXPECT_EQ(p->log_end(), 0);

  ASSERT_TRUE(h.service.remove("tmp").ok());
  EXPECT_FALSE(h.service.find("tmp"));
  EXPECT_EQ(h.service.partition("tmp", 0), nullptr);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/streams/tmp"));
  EXPECT_EQ(h.service.remove("tmp").error().code, storage::Errc::not_found);
}

TEST(StreamServiceTest, GrowingPartitionsAndHousekeepingCompacts) {
  storage::TempDir dir("streams-grow");
  Harness h(dir.path());
  StreamConfig config;
  config.name = "kv";
  ASSERT_TRUE(config.set_kafka_config("cleanup.policy", "compact").ok());
  ASSERT_TRUE(config.set_kafka_config("segment.bytes", "1024").ok());
  ASSERT_TRUE(h.service.create(config).ok());
  auto p = h.service.partition("kv", 0);
  for (int i = 0; i < 100; ++i) {
    auto batch =
        storage::build_batch({{std::string("same-key"), "v" + std::to_string(i), {}, 1000}});
    ASSERT_FALSE(h.on(0, h.service.append(p, batch, false)).error);
  }
  const std::uint64_t before = p->size_bytes();
  h.on(0, h.service.housekeep_now());
  EXPECT_LT(p->size_bytes(), before / 2);

  config.partitions = 3;
  ASSERT_TRUE(h.service.update(config).ok());
  EXPECT_NE(h.service.partition("kv", 2), nullptr);
  EXPECT_EQ(h.service.find("kv")->partitions, 3);
}

}  // namespace
}  // namespace skein::runtime
