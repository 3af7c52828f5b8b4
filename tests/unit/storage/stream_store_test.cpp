// StreamStore and StreamConfig: the catalog survives reopening, names follow
// Kafka's rule, settings by Kafka name are checked, partitions only grow, a
// removal a crash interrupted is finished on open.
#include "storage/stream_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.hpp"

namespace skein::storage {
namespace {

namespace fs = std::filesystem;

class StreamStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<StreamStore> open() {
    auto store = StreamStore::open(temp_.path());
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store.value()) : nullptr;
  }
  TempDir temp_{"streams"};
};

TEST_F(StreamStoreTest, CreatedStreamsSurviveReopening) {
  auto store = open();
  StreamConfig orders;
  orders.name = "us-orders";
  orders.partitions = 3;
  ASSERT_TRUE(orders.set_kafka_config("cleanup.policy", "compact").ok());
  ASSERT_TRUE(orders.set_kafka_config("retention.ms", "-1").ok());
  orders.extra["attract"] = "orders/*/us/>";
  ASSERT_TRUE(store->create(orders).ok());
  for (int p = 0; p < 3; ++p)
    EXPECT_TRUE(fs::is_directory(store->partition_directory("us-orders", p)));

  store = open();
  const StreamConfig* found = store->find("us-orders");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->partitions, 3);
  EXPECT_TRUE(found->cleanup_compact);
  EXPECT_FALSE(found->cleanup_delete);
  EXPECT_EQ(found->retention_ms, -1);
  EXPECT_EQ(found->extra.at("attract"), "orders/*/us/>");
  EXPECT_EQ(found->kafka_configs(), orders.kafka_configs());
  EXPECT_EQ(store->list().size(), 1u);
}

TEST_F(StreamStoreTest, RefusesDuplicatesBadNamesAndShrinking) {
  auto store = open();
  StreamConfig c;
  c.name = "a";
  ASSERT_TRUE(store->create(c).ok());
  EXPECT_EQ(store->create(c).error().code, Errc::exists);
  for (const char* bad : {"", ".", "..", "has space", "slash/no", "tilde~"}) {
    StreamConfig b;
    b.name = bad;
    auto created = store->create(b);
    ASSERT_FALSE(created.ok()) << bad;
    EXPECT_EQ(created.error().code, Errc::invalid_config);
  }
  StreamConfig long_name;
  long_name.name = std::string(250, 'x');
  EXPECT_FALSE(store->create(long_name).ok());
  long_name.name = std::string(249, 'x');
  EXPECT_TRUE(store->create(long_name).ok());

  c.partitions = 4;
  ASSERT_TRUE(store->update(c).ok());
  EXPECT_TRUE(fs::is_directory(store->partition_directory("a", 3)));
  c.partitions = 2;
  auto shrink = store->update(c);
  ASSERT_FALSE(shrink.ok());
  EXPECT_NE(shrink.error().message.find("cannot be reduced"), std::string::npos);
  c.partitions = 0;
  EXPECT_FALSE(store->update(c).ok());
}

TEST_F(StreamStoreTest, KafkaSettingsAreCheckedAndReset) {
  StreamConfig c;
  c.name = "s";
  EXPECT_TRUE(c.set_kafka_config("retention.bytes", "1048576").ok());
  EXPECT_EQ(c.retention_bytes, 1048576);
  EXPECT_TRUE(c.set_kafka_config("fsync.policy", "always").ok());
  EXPECT_EQ(c.fsync, FsyncPolicy::always);
  auto bad = c.set_kafka_config("retention.ms", "soon");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("retention.ms"), std::string::npos);
  EXPECT_FALSE(c.set_kafka_config("segment.bytes", "5000000000").ok());
  EXPECT_FALSE(c.set_kafka_config("cleanup.policy", "shred").ok());
  EXPECT_EQ(c.set_kafka_config("no.such.thing", "1").error().code, Errc::invalid_config);
  ASSERT_TRUE(c.reset_kafka_config("retention.bytes").ok());
  EXPECT_EQ(c.retention_bytes, -1);
  const PartitionOptions o = c.partition_options();
  EXPECT_EQ(o.segment.max_batch_bytes, c.max_message_bytes);
  EXPECT_EQ(o.retention_bytes, -1);
}

TEST_F(StreamStoreTest, RemoveDeletesDataAndAnInterruptedRemovalIsFinished) {
  auto store = open();
  StreamConfig c;
  c.name = "gone";
  c.partitions = 2;
  ASSERT_TRUE(store->create(c).ok());
  ASSERT_TRUE(store->remove("gone").ok());
  EXPECT_EQ(store->find("gone"), nullptr);
  EXPECT_FALSE(fs::exists(temp_.path() + "/streams/gone"));
  EXPECT_EQ(store->remove("gone").error().code, Errc::not_found);

  // A crash after the rename aside: the directory is removed on open.
  ASSERT_TRUE(store->create(c).ok());
  fs::rename(temp_.path() + "/streams/gone", temp_.path() + "/streams/gone~deleted");
  store = open();
  EXPECT_EQ(store->find("gone"), nullptr);
  EXPECT_FALSE(fs::exists(temp_.path() + "/streams/gone~deleted"));
  // A corrupt config is refused with the file named, not skipped.
  ASSERT_TRUE(store->create(c).ok());
  std::ofstream(temp_.path() + "/streams/gone/config.json") << "{not json";
  auto reopened = StreamStore::open(temp_.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.error().message.find("config.json"), std::string::npos);
}

}  // namespace
}  // namespace skein::storage
