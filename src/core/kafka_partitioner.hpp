// Kafka's default partitioner for keyed records, as the Java client (and
// librdkafka's "murmur2" partitioner) computes it, so that a record produced to
// Skein without a partition lands where a Kafka producer would have put it, and
// Skein's own ingress (DESIGN.md §1: streams partition by key, by topic when
// keyless) agrees with the clients.
//
//   partition = (murmur2(key bytes) & 0x7fffffff) % partitions
//
// murmur2 is the 32-bit MurmurHash2 with Kafka's constants: seed 0x9747b28c,
// m 0x5bd1e995, r 24, the input read as little-endian 4-byte blocks whatever the
// machine's byte order. The mask (not abs()) makes the hash non-negative, as
// Kafka's Utils.toPositive does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace skein::core {

// Kafka's murmur2 of `data`. Java returns it as a signed int; this is the same
// 32 bits, unsigned.
std::uint32_t murmur2(std::span<const std::byte> data);
std::uint32_t murmur2(std::string_view data);

// The partition Kafka's default partitioner picks for a record with key `key`
// (an empty key is a key: it hashes like any other; a null key has no partition
// here). `partitions` must be positive; 0 is returned when it is not.
std::int32_t partition_for_key(std::string_view key, std::int32_t partitions);

// The partition of a keyless event published under `topic`. Skein partitions
// keyless events by topic so that the events of one topic keep their order in
// one partition. It uses the key partitioner on the topic's bytes: a keyless
// event lands where a keyed record whose key is the topic name would, so a
// Kafka client that wants to predict it can (Kafka itself spreads keyless
// records over partitions instead, which would lose the per-topic order).
std::int32_t partition_for_topic(std::string_view topic, std::int32_t partitions);

}  // namespace skein::core
