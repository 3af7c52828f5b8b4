// Kafka's murmur2 partitioner (core/kafka_partitioner.hpp): fixed vectors from
// Kafka's own test of Utils.murmur2, then a comparison with librdkafka's
// Java-compatible partitioner on fixed and random keys, partition counts and
// buffer alignments.
#include "core/kafka_partitioner.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace skein::core {
namespace {

// librdkafka's murmur2 partitioner. It reads only the key and the count (the
// topic handle and opaques are for other partitioners), so null handles do.
std::int32_t librdkafka_partition(std::string_view key, std::int32_t partitions) {
  return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partitions, nullptr,
                                          nullptr);
}

std::string random_bytes(std::mt19937& rng, std::size_t size) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(byte(rng));
  return out;
}

TEST(KafkaPartitioner, Murmur2MatchesKafkaVectors) {
  // Utils.murmur2 returns a signed int; these are those values' 32 bits.
  EXPECT_EQ(murmur2("21"), static_cast<std::uint32_t>(-973932308));
  EXPECT_EQ(murmur2("foobar"), static_cast<std::uint32_t>(-790332482));
  EXPECT_EQ(murmur2("a-little-bit-long-string"), static_cast<std::uint32_t>(-985981536));
  EXPECT_EQ(murmur2("a-little-bit-longer-string"), static_cast<std::uint32_t>(-1486304829));
  EXPECT_EQ(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            static_cast<std::uint32_t>(-58897971));
  EXPECT_EQ(murmur2("abc"), 479470107u);
}

TEST(KafkaPartitioner, SpanAndStringViewAgree) {
  const std::string key = "orders/created/us/1234";
  const auto bytes = std::as_bytes(std::span(key.data(), key.size()));
  EXPECT_EQ(murmur2(bytes), murmur2(key));
  EXPECT_EQ(murmur2(std::span<const std::byte>{}), murmur2(std::string_view{}));
}

TEST(KafkaPartitioner, FixedKeysMatchLibrdkafka) {
  const std::vector<std::string> keys = {
      "",
      "a",
      "ab",
      "abc",
      "abcd",
      "abcde",
      "21",
      "foobar",
      "user-42",
      "orders/created/us/1234",
      std::string("\0", 1),
      std::string("\0\0\0\0\0", 5),
      "\xFF\xFF\xFF\xFF",
      "\x80\x81\x82",
      "caf\xC3\xA9",
      std::string(1000, 'k'),
  };
  for (const std::string& key : keys) {
    for (const std::int32_t partitions : {1, 2, 3, 6, 12, 64, 100, 1000, INT32_MAX}) {
      EXPECT_EQ(partition_for_key(key, partitions), librdkafka_partition(key, partitions))
          << "key of " << key.size() << " bytes, " << partitions << " partitions";
    }
  }
}

TEST(KafkaPartitioner, RandomKeysMatchLibrdkafka) {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<std::size_t> length(0, 64);
  std::uniform_int_distribution<std::int32_t> count(1, 100);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = random_bytes(rng, length(rng));
    const std::int32_t partitions = count(rng);
    const std::int32_t ours = partition_for_key(key, partitions);
    ASSERT_EQ(ours, librdkafka_partition(key, partitions))
        << "case " << i << ": key of " << key.size() << " bytes, " << partitions << " partitions";
    ASSERT_GE(ours, 0);
    ASSERT_LT(ours, partitions);
    // With INT32_MAX partitions the partition is the masked hash itself (but
    // for one value in 2^31): this compares nearly all 31 bits.
    ASSERT_EQ(partition_for_key(key, INT32_MAX), librdkafka_partition(key, INT32_MAX));
  }
}

TEST(KafkaPartitioner, AlignmentDoesNotMatter) {
  // The same key at each offset of a buffer: the 4-byte blocks are read one
  // byte at a time, so misaligned keys hash alike (librdkafka has an unaligned
  // path of its own; it must agree too).
  std::mt19937 rng(7);
  const std::string key = random_bytes(rng, 37);
  const std::uint32_t expected = murmur2(key);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    const std::string buffer = std::string(offset, 'z') + key;
    const std::string_view shifted = std::string_view(buffer).substr(offset);
    EXPECT_EQ(murmur2(shifted), expected) << "offset " << offset;
    EXPECT_EQ(partition_for_key(shifted, INT32_MAX), librdkafka_partition(shifted, INT32_MAX));
  }
}

TEST(KafkaPartitioner, TopicPartitionIsTheKeyPartitionOfTheTopicName) {
  for (const std::string_view topic : {"a", "orders/created/us/1234", "sensors/eu/t1/temp"}) {
    for (const std::int32_t partitions : {1, 3, 16, 100}) {
      EXPECT_EQ(partition_for_topic(topic, partitions), partition_for_key(topic, partitions));
      EXPECT_EQ(partition_for_topic(topic, partitions), librdkafka_partition(topic, partitions));
    }
  }
}

TEST(KafkaPartitioner, OnePartitionAndNonPositiveCounts) {
  EXPECT_EQ(partition_for_key("anything", 1), 0);
  EXPECT_EQ(partition_for_key("anything", 0), 0);
  EXPECT_EQ(partition_for_key("anything", -3), 0);
  EXPECT_EQ(partition_for_topic("a/b", 0), 0);
}

TEST(KafkaPartitioner, SpreadsKeysOverPartitions) {
  // Not a property of Kafka's contract, but a broken hash (say, one that
  // ignores the tail) would show here.
  std::vector<int> hits(8, 0);
  for (int i = 0; i < 8000; ++i) ++hits[partition_for_key("key-" + std::to_string(i), 8)];
  for (const int h : hits) {
    EXPECT_GT(h, 800);
    EXPECT_LT(h, 1200);
  }
}

}  // namespace
}  // namespace skein::core
