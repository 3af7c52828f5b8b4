// Kafka's murmur2 partitioner (kafka_partitioner.hpp). Written from the
// algorithm's description; the unit test checks it against librdkafka.
#include "core/kafka_partitioner.hpp"

namespace skein::core {
namespace {

constexpr std::uint32_t kSeed = 0x9747b28c;
constexpr std::uint32_t kM = 0x5bd1e995;
constexpr int kR = 24;

std::uint32_t byte_at(std::span<const std::byte> data, std::size_t i) {
  return std::to_integer<std::uint32_t>(data[i]);
}

}  // namespace

std::uint32_t murmur2(std::span<const std::byte> data) {
  const std::size_t n = data.size();
  // Kafka mixes the length in as a 32-bit int: only its low 32 bits count.
  std::uint32_t h = kSeed ^ static_cast<std::uint32_t>(n);
  const std::size_t blocks_end = n & ~std::size_t{3};
  for (std::size_t i = 0; i < blocks_end; i += 4) {
    // Little-endian assembly by hand, so the result does not depend on the host.
    std::uint32_t k = byte_at(data, i) | byte_at(data, i + 1) << 8 | byte_at(data, i + 2) << 16 |
                      byte_at(data, i + 3) << 24;
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  // The 1..3 trailing bytes, highest first, then one multiply.
  switch (n & 3) {
    case 3:
      h ^= byte_at(data, blocks_end + 2) << 16;
      [[fallthrough]];
    case 2:
      h ^= byte_at(data, blocks_end + 1) << 8;
      [[fallthrough]];
    case 1:
      h ^= byte_at(data, blocks_end);
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return h;
}

std::uint32_t murmur2(std::string_view data) {
  return murmur2(std::as_bytes(std::span(data.data(), data.size())));
}

std::int32_t partition_for_key(std::string_view key, std::int32_t partitions) {
  if (partitions <= 0) return 0;
  const std::uint32_t positive = murmur2(key) & 0x7fffffff;
  return static_cast<std::int32_t>(positive % static_cast<std::uint32_t>(partitions));
}

std::int32_t partition_for_topic(std::string_view topic, std::int32_t partitions) {
  return partition_for_key(topic, partitions);
}

}  // namespace skein::core
