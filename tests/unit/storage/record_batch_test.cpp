// Kafka v2 record batches (storage/record_batch.hpp): CRC-32C against known vectors and
// a bitwise reference, build -> check -> decode round trips, and every way a batch can
// be torn or corrupted being caught with the right error and never a crash.
#include "storage/record_batch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace skein::storage {
namespace {

constexpr std::size_t kMax = 1 << 20;
constexpr std::size_t kCrcAt = 17;
constexpr std::size_t kAttributesAt = 21;

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

// The textbook bit-at-a-time CRC-32C, to check the fast paths against.
std::uint32_t reference_crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) {
  crc = ~crc;
  for (std::byte b : data) {
    crc ^= std::to_integer<std::uint32_t>(b);
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
  }
  return ~crc;
}

void put_be32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) b[at + static_cast<std::size_t>(i)] = std::byte(v & 0xFF);
}

// Recomputes the CRC after a test has patched the covered bytes.
void fix_crc(std::vector<std::byte>& b) {
  put_be32(b, kCrcAt, crc32c(std::span<const std::byte>(b).subspan(kAttributesAt)));
}

void set_batch_length(std::vector<std::byte>& b) {
  put_be32(b, 8, static_cast<std::uint32_t>(b.size() - kBatchLengthPrefixBytes));
}

RecordSpec rec(std::optional<std::string> key, std::optional<std::string> value,
               std::int64_t ts = 1000) {
  RecordSpec r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.timestamp = ts;
  return r;
}

std::vector<std::byte> sample_batch() {
  return build_batch(
      {rec("k1", "v1", 1000), rec(std::nullopt, "v2", 1001), rec("k3", std::nullopt, 1002)});
}

std::vector<RecordView> round_trip(const std::vector<RecordSpec>& specs,
                                   std::vector<std::byte>& batch) {
  batch = build_batch(specs);
  const auto check = check_batch(batch, kMax);
  EXPECT_TRUE(check.header.has_value()) << check.message;
  auto records = decode_records(batch);
  EXPECT_TRUE(records.has_value());
  if (!records) return {};
  EXPECT_EQ(records->size(), specs.size());
  for (std::size_t i = 0; i < specs.size() && i < records->size(); ++i) {
    const auto& got = (*records)[i];
    EXPECT_EQ(got.offset, static_cast<std::int64_t>(i));
    EXPECT_EQ(got.timestamp, specs[i].timestamp);
    EXPECT_EQ(got.key.has_value(), specs[i].key.has_value());
    if (got.key && specs[i].key) {
      EXPECT_EQ(*got.key, *specs[i].key);
    }
    EXPECT_EQ(got.value.has_value(), specs[i].value.has_value());
    if (got.value && specs[i].value) {
      EXPECT_EQ(*got.value, *specs[i].value);
    }
    EXPECT_EQ(got.headers.size(), specs[i].headers.size());
    for (std::size_t h = 0; h < got.headers.size() && h < specs[i].headers.size(); ++h) {
      EXPECT_EQ(got.headers[h].first, specs[i].headers[h].first);
      EXPECT_EQ(got.headers[h].second, specs[i].headers[h].second);
    }
  }
  return std::move(*records);
}

// --- CRC-32C ---

TEST(Crc32c, KnownCheckValue) {
  EXPECT_EQ(crc32c(bytes_of("123456789")), 0xE3069283u);
}

TEST(Crc32c, Rfc3720Vectors) {
  std::vector<std::byte> data(32, std::byte{0});
  EXPECT_EQ(crc32c(data), 0x8A9136AAu);
  std::fill(data.begin(), data.end(), std::byte{0xFF});
  EXPECT_EQ(crc32c(data), 0x62A8AB43u);
  for (std::size_t i = 0; i < 32; ++i) data[i] = std::byte(i);
  EXPECT_EQ(crc32c(data), 0x46DD794Eu);
}

TEST(Crc32c, EmptyInputIsZeroAndKeepsAnEarlierValue) {
  EXPECT_EQ(crc32c({}), 0u);
  EXPECT_EQ(crc32c({}, 0xE3069283u), 0xE3069283u);
}

TEST(Crc32c, ContinuesAnEarlierResultAtEverySplit) {
  const auto data = bytes_of("The quick brown fox jumps over the lazy dog, twice over.");
  const std::uint32_t whole = crc32c(data);
  const std::span<const std::byte> all(data);
  for (std::size_t cut = 0; cut <= data.size(); ++cut) {
    EXPECT_EQ(crc32c(all.subspan(cut), crc32c(all.first(cut))), whole) << cut;
  }
}

TEST(Crc32c, MatchesBitwiseReferenceOnRandomLengthsAndAlignments) {
  std::mt19937_64 rng(42);
  std::vector<std::byte> data(5000);
  for (auto& b : data) b = std::byte(rng() & 0xFF);
  const std::span<const std::byte> all(data);
  for (int i = 0; i < 2000; ++i) {
    const std::size_t start = rng() % 16;
    const std::size_t len = i < 100 ? static_cast<std::size_t>(i) : rng() % (data.size() - 16);
    const std::uint32_t seed = (i % 3 == 0) ? 0u : static_cast<std::uint32_t>(rng());
    const auto piece = all.subspan(start, len);
    ASSERT_EQ(crc32c(piece, seed), reference_crc32c(piece, seed)) << start << "+" << len;
  }
}

// Every way the CPU has (the fastest is the one crc32c uses) against the reference,
// on short and long inputs: the sse4.2 way runs three interleaved blocks of 8 KiB, then
// of 256 bytes, the vpclmulqdq way folds 256 bytes a step from 512 bytes on, so lengths
// on and around those multiples, odd starts, and an odd 1 MiB.
TEST(Crc32c, EveryWayMatchesTheBitwiseReference) {
  using detail::Crc32cWay;
  std::mt19937_64 rng(7);
  std::vector<std::byte> data((1 << 20) + 80);
  for (auto& b : data) b = std::byte(rng() & 0xFF);
  const std::span<const std::byte> all(data);
  // Lengths on and around the block sizes, then random ones (1048653: 1 MiB + 77).
  std::vector<std::size_t> lengths = {0,     1,     7,     8,     255,   256,    511,    512,
                                      513,   767,   768,   769,   1535,  1536,   24575,  24576,
                                      24577, 25343, 25344, 50000, 99999, 100000, 1048653};
  for (int i = 0; i < 200; ++i) lengths.push_back(rng() % 70000);
  int ways_present = 0;
  for (Crc32cWay way : {Crc32cWay::tables, Crc32cWay::sse42, Crc32cWay::vpclmulqdq}) {
    if (!detail::crc32c_using(way, {})) continue;  // not on this CPU
    ++ways_present;
    for (std::size_t len : lengths) {
      for (std::size_t start : {0u, 3u}) {
        if (start + len > data.size()) continue;
        const auto piece = all.subspan(start, len);
        const std::uint32_t seed = static_cast<std::uint32_t>(rng());
        const std::uint32_t expected = reference_crc32c(piece, seed);
        ASSERT_EQ(detail::crc32c_using(way, piece, seed), expected)
            << "way " << static_cast<int>(way) << ", " << start << "+" << len;
        ASSERT_EQ(crc32c(piece, seed), expected) << start << "+" << len;
      }
    }
  }
  EXPECT_GE(ways_present, 1);
}

// --- build_batch ---

TEST(BuildBatch, HeaderFieldsAsAClientWouldSendThem) {
  std::vector<RecordSpec> specs{rec("a", "1", 5000), rec("b", "2", 4000), rec("c", "3", 7000)};
  const auto batch = build_batch(specs, 77, 3, 12);
  const auto check = check_batch(batch, kMax);
  ASSERT_TRUE(check.header) << check.message;
  const auto& h = *check.header;
  EXPECT_EQ(h.base_offset, 0);
  EXPECT_EQ(h.total_bytes(), batch.size());
  EXPECT_EQ(h.leader_epoch, 0);
  EXPECT_EQ(h.magic, kMagicV2);
  EXPECT_EQ(h.attributes, 0);
  EXPECT_EQ(h.compression(), 0);
  EXPECT_EQ(h.last_offset_delta, 2);
  EXPECT_EQ(h.last_offset(), 2);
  EXPECT_EQ(h.base_timestamp, 5000);
  EXPECT_EQ(h.max_timestamp, 7000);
  EXPECT_EQ(h.producer_id, 77);
  EXPECT_EQ(h.producer_epoch, 3);
  EXPECT_EQ(h.base_sequence, 12);
  EXPECT_EQ(h.record_count, 3);
  EXPECT_EQ(h.crc, crc32c(std::span<const std::byte>(batch).subspan(kAttributesAt)));
}

TEST(BuildBatch, DefaultsHaveNoProducer) {
  const auto check = check_batch(sample_batch(), kMax);
  ASSERT_TRUE(check.header);
  EXPECT_EQ(check.header->producer_id, -1);
  EXPECT_EQ(check.header->producer_epoch, -1);
  EXPECT_EQ(check.header->base_sequence, -1);
}

TEST(BuildBatch, EmptyBatchIsAValidHeaderOnly) {
  const auto batch = build_batch({});
  EXPECT_EQ(batch.size(), kBatchHeaderBytes);
  const auto check = check_batch(batch, kMax);
  ASSERT_TRUE(check.header) << check.message;
  EXPECT_EQ(check.header->record_count, 0);
  EXPECT_EQ(check.header->base_timestamp, 0);
  const auto records = decode_records(batch);
  ASSERT_TRUE(records);
  EXPECT_TRUE(records->empty());
}

TEST(BuildBatch, KnownBytesForOneRecord) {
  const auto batch = build_batch({rec("k", "v", 0)});
  // length 8 (zigzag 16), attributes 0, tsDelta 0, offsetDelta 0, key 1 "k", value 1 "v",
  // no headers.
  const std::vector<std::byte> expected = {std::byte{16}, std::byte{0},   std::byte{0},
                                           std::byte{0},  std::byte{2},   std::byte{'k'},
                                           std::byte{2},  std::byte{'v'}, std::byte{0}};
  ASSERT_EQ(batch.size(), kBatchHeaderBytes + expected.size());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), batch.begin() + kBatchHeaderBytes));
  EXPECT_EQ(batch[8], std::byte{0});  // batchLength 58, big-endian
  EXPECT_EQ(batch[11], std::byte{58});
  EXPECT_EQ(batch[16], std::byte{2});
}

// --- round trips ---

TEST(RoundTrip, KeysAndValues) {
  std::vector<std::byte> batch;
  round_trip({rec("alpha", "one"), rec("beta", "two"), rec("gamma", "three")}, batch);
}

TEST(RoundTrip, NullKeyAndNullValue) {
  std::vector<std::byte> batch;
  const auto got = round_trip(
      {rec(std::nullopt, "v"), rec("k", std::nullopt), rec(std::nullopt, std::nullopt)}, batch);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_FALSE(got[0].key);
  EXPECT_FALSE(got[1].value);
  EXPECT_FALSE(got[2].key);
  EXPECT_FALSE(got[2].value);
}

TEST(RoundTrip, EmptyIsNotNull) {
  std::vector<std::byte> batch;
  const auto got = round_trip({rec("", "")}, batch);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(got[0].key && got[0].value);
  EXPECT_TRUE(got[0].key->empty());
  EXPECT_TRUE(got[0].value->empty());
}

TEST(RoundTrip, Headers) {
  auto r = rec("k", "v");
  r.headers = {{"content-type", "application/json"}, {"trace", ""}, {"", "no key name"}};
  auto plain = rec("k2", "v2");
  std::vector<std::byte> batch;
  round_trip({r, plain, r}, batch);
}

TEST(RoundTrip, NullHeaderValueReadsAsEmpty) {
  auto batch = build_batch({rec("k", "v", 0)});
  // Append one header by hand: count 1, key "h", value length -1 (zigzag 1).
  batch.back() = std::byte{2};  // header count 1
  batch.insert(batch.end(), {std::byte{2}, std::byte{'h'}, std::byte{1}});
  batch[kBatchHeaderBytes] = std::byte{22};  // record length 11
  set_batch_length(batch);
  fix_crc(batch);
  ASSERT_TRUE(check_batch(batch, kMax).header);
  const auto records = decode_records(batch);
  ASSERT_TRUE(records);
  ASSERT_EQ((*records)[0].headers.size(), 1u);
  EXPECT_EQ((*records)[0].headers[0].first, "h");
  EXPECT_EQ((*records)[0].headers[0].second, "");
}

TEST(RoundTrip, Unicode) {
  auto r = rec("caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80 emoji \xe2\x82\xac");
  r.headers = {{"\xc3\xbc", "\xe2\x9c\x93"}};
  std::vector<std::byte> batch;
  round_trip({r, rec(std::string("nul\0inside", 10), std::string(3, '\0'))}, batch);
}

TEST(RoundTrip, LargeValues) {
  std::string big(100 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  std::vector<std::byte> batch;
  round_trip({rec("big", big), rec(std::string(300, 'k'), "small"), rec("big2", big)}, batch);
  EXPECT_GT(batch.size(), 200u * 1024);
}

TEST(RoundTrip, TimestampsAreRelativeToTheFirstRecord) {
  std::vector<std::byte> batch;
  round_trip({rec("a", "1", 1'700'000'000'000), rec("b", "2", 1'600'000'000'000),
              rec("c", "3", 1'800'000'000'000), rec("d", "4", -5)},
             batch);
  const auto h = *check_batch(batch, kMax).header;
  EXPECT_EQ(h.base_timestamp, 1'700'000'000'000);
  EXPECT_EQ(h.max_timestamp, 1'800'000'000'000);
}

TEST(RoundTrip, ExtremeTimestamps) {
  std::vector<std::byte> batch;
  round_trip({rec("a", "1", INT64_MIN), rec("b", "2", INT64_MAX), rec("c", "3", 0)}, batch);
}

TEST(RoundTrip, ThousandRecords) {
  std::vector<RecordSpec> specs;
  for (int i = 0; i < 1000; ++i) {
    specs.push_back(
        rec("key-" + std::to_string(i), std::string(static_cast<std::size_t>(i), 'v'), 1000 + i));
  }
  std::vector<std::byte> batch;
  const auto got = round_trip(specs, batch);
  EXPECT_EQ(check_batch(batch, kMax).header->last_offset_delta, 999);
  ASSERT_EQ(got.size(), 1000u);
  EXPECT_EQ(got.back().offset, 999);
}

// --- set_base_offset ---

TEST(SetBaseOffset, KeepsTheCrcAndShiftsOffsets) {
  auto batch = sample_batch();
  const auto before = *check_batch(batch, kMax).header;
  set_base_offset(batch, 1'234'567'890'123);
  const auto check = check_batch(batch, kMax);
  ASSERT_TRUE(check.header) << check.message;
  EXPECT_EQ(check.header->crc, before.crc);
  EXPECT_EQ(check.header->base_offset, 1'234'567'890'123);
  EXPECT_EQ(check.header->last_offset(), 1'234'567'890'125);
  const auto records = decode_records(batch);
  ASSERT_TRUE(records);
  EXPECT_EQ((*records)[0].offset, 1'234'567'890'123);
  EXPECT_EQ((*records)[2].offset, 1'234'567'890'125);
}

// --- check_batch ---

TEST(CheckBatch, ReadsTheFirstOfSeveralBatches) {
  auto first = sample_batch();
  auto second = build_batch({rec("x", "y")});
  set_base_offset(second, 3);
  const std::size_t first_size = first.size();
  first.insert(first.end(), second.begin(), second.end());
  const auto a = check_batch(first, kMax);
  ASSERT_TRUE(a.header);
  EXPECT_EQ(a.header->total_bytes(), first_size);
  const auto rest = std::span<const std::byte>(first).subspan(first_size);
  const auto b = check_batch(rest, kMax);
  ASSERT_TRUE(b.header);
  EXPECT_EQ(b.header->base_offset, 3);
  const auto records = decode_records(rest);
  ASSERT_TRUE(records);
  EXPECT_EQ((*records)[0].offset, 3);
}

TEST(CheckBatch, EveryByteFlipUnderTheCrcIsCaught) {
  const auto good = sample_batch();
  for (std::size_t at = kAttributesAt; at < good.size(); ++at) {
    for (std::byte mask : {std::byte{0x01}, std::byte{0x80}, std::byte{0xFF}}) {
      auto bad = good;
      bad[at] ^= mask;
      const auto check = check_batch(bad, kMax);
      ASSERT_FALSE(check.header) << at;
      EXPECT_EQ(check.error, BatchError::bad_crc) << at;
    }
  }
}

TEST(CheckBatch, FlippedStoredCrcIsCaught) {
  const auto good = sample_batch();
  for (std::size_t at = kCrcAt; at < kAttributesAt; ++at) {
    auto bad = good;
    bad[at] ^= std::byte{0x10};
    EXPECT_EQ(check_batch(bad, kMax).error, BatchError::bad_crc);
  }
}

TEST(CheckBatch, CrcMessageNamesBothValues) {
  auto bad = sample_batch();
  bad.back() ^= std::byte{1};
  const auto check = check_batch(bad, kMax);
  const std::uint32_t computed = crc32c(std::span<const std::byte>(bad).subspan(kAttributesAt));
  char expected[80];
  std::snprintf(expected, sizeof expected, "CRC-32C 0x%08x does not match the stored 0x%08x",
                computed, check_batch(sample_batch(), kMax).header->crc);
  EXPECT_EQ(check.message, expected);
}

TEST(CheckBatch, WithoutVerificationAFlippedPayloadPasses) {
  auto bad = sample_batch();
  bad.back() ^= std::byte{1};
  EXPECT_TRUE(check_batch(bad, kMax, false).header);
}

TEST(CheckBatch, LeaderEpochIsOutsideTheCrc) {
  auto batch = sample_batch();
  batch[12] = std::byte{0x7F};
  const auto check = check_batch(batch, kMax);
  ASSERT_TRUE(check.header) << check.message;
  EXPECT_EQ(check.header->leader_epoch >> 24, 0x7F);
}

TEST(CheckBatch, EveryTruncationIsTruncated) {
  const auto good = sample_batch();
  for (std::size_t n = 0; n < good.size(); ++n) {
    // A copy of exactly n bytes, so ASan sees any read past the end.
    const std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<long>(n));
    for (bool verify : {true, false}) {
      const auto check = check_batch(cut, kMax, verify);
      ASSERT_FALSE(check.header) << n;
      EXPECT_EQ(check.error, BatchError::truncated) << n << ": " << check.message;
      EXPECT_FALSE(check.message.empty());
    }
    EXPECT_FALSE(decode_records(cut)) << n;
  }
}

TEST(CheckBatch, TruncationMessageNamesTheSizes) {
  const auto good = sample_batch();
  const std::vector<std::byte> cut(good.begin(), good.begin() + 70);
  EXPECT_EQ(check_batch(cut, kMax).message, "only 70 of the " + std::to_string(good.size()) +
                                                " bytes batchLength announces are present");
}

TEST(CheckBatch, BadMagic) {
  for (int magic : {0, 1, 3, -1}) {
    auto bad = sample_batch();
    bad[16] = static_cast<std::byte>(magic);
    const auto check = check_batch(bad, kMax);
    ASSERT_FALSE(check.header);
    EXPECT_EQ(check.error, BatchError::bad_magic);
    EXPECT_EQ(check.message, "magic " + std::to_string(magic) + ": only v2 batches are accepted");
  }
}

TEST(CheckBatch, BatchLengthBelowTheMinimum) {
  for (std::int32_t length : {0, 12, 48, -1, INT32_MIN}) {
    auto bad = sample_batch();
    put_be32(bad, 8, static_cast<std::uint32_t>(length));
    const auto check = check_batch(bad, kMax);
    ASSERT_FALSE(check.header);
    EXPECT_EQ(check.error, BatchError::bad_length) << length;
    EXPECT_EQ(check.message, "batchLength " + std::to_string(length) + " is below the minimum 49");
  }
}

TEST(CheckBatch, BatchLengthOverTheLimit) {
  const auto batch = sample_batch();
  EXPECT_TRUE(check_batch(batch, batch.size()).header);  // exactly at the limit
  const auto check = check_batch(batch, batch.size() - 1);
  ASSERT_FALSE(check.header);
  EXPECT_EQ(check.error, BatchError::bad_length);
  auto huge = batch;
  put_be32(huge, 8, 0x7FFFFFFF);
  EXPECT_EQ(check_batch(huge, kMax).error, BatchError::bad_length);
  // With a limit beyond it, a huge length is a torn tail, not garbage.
  EXPECT_EQ(check_batch(huge, SIZE_MAX).error, BatchError::truncated);
  EXPECT_EQ(check_batch(batch, 0).error, BatchError::bad_length);
}

TEST(CheckBatch, NegativeRecordCount) {
  auto bad = sample_batch();
  put_be32(bad, 57, static_cast<std::uint32_t>(-1));
  fix_crc(bad);
  const auto check = check_batch(bad, kMax);
  EXPECT_EQ(check.error, BatchError::bad_records);
  EXPECT_EQ(check.message, "recordCount -1 is negative");
}

TEST(CheckBatch, NegativeLastOffsetDelta) {
  auto bad = sample_batch();
  put_be32(bad, 23, static_cast<std::uint32_t>(-2));
  fix_crc(bad);
  const auto check = check_batch(bad, kMax);
  EXPECT_EQ(check.error, BatchError::bad_records);
  EXPECT_EQ(check.message, "lastOffsetDelta -2 is negative");
}

TEST(CheckBatch, MoreRecordsThanTheOffsetDeltaAllows) {
  auto bad = sample_batch();
  put_be32(bad, 23, 1);  // three records, last delta 1
  fix_crc(bad);
  const auto check = check_batch(bad, kMax);
  EXPECT_EQ(check.error, BatchError::bad_records);
  EXPECT_EQ(check.message, "recordCount 3 exceeds lastOffsetDelta 1 + 1");
}

TEST(CheckBatch, LastOffsetMustNotOverflow) {
  auto batch = sample_batch();
  set_base_offset(batch, INT64_MAX - 2);
  EXPECT_TRUE(check_batch(batch, kMax).header);
  set_base_offset(batch, INT64_MAX - 1);
  EXPECT_EQ(check_batch(batch, kMax).error, BatchError::bad_records);
}

// A compacted batch keeps lastOffsetDelta while dropping records in the middle.
TEST(CheckBatch, CompactedBatchWithFewerRecordsThanDeltas) {
  auto batch = build_batch({rec("a", "1"), rec("b", "2"), rec("c", "3")});
  // Records here are short, so each length is a one-byte varint (zigzag doubled).
  const std::size_t first = kBatchHeaderBytes;
  const std::size_t second = first + 1 + std::to_integer<std::size_t>(batch[first]) / 2;
  const std::size_t third = second + 1 + std::to_integer<std::size_t>(batch[second]) / 2;
  batch.erase(batch.begin() + static_cast<long>(second), batch.begin() + static_cast<long>(third));
  put_be32(batch, 57, 2);
  set_batch_length(batch);
  fix_crc(batch);
  const auto check = check_batch(batch, kMax);
  ASSERT_TRUE(check.header) << check.message;
  EXPECT_EQ(check.header->last_offset_delta, 2);
  const auto records = decode_records(batch);
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].offset, 0);
  EXPECT_EQ((*records)[1].offset, 2);
  EXPECT_EQ(*(*records)[1].key, "c");
}

// --- decode_records ---

TEST(DecodeRecords, RefusesCompressedBatches) {
  for (int codec = 1; codec <= 4; ++codec) {
    auto batch = sample_batch();
    batch[22] = static_cast<std::byte>(codec);
    fix_crc(batch);
    const auto check = check_batch(batch, kMax);
    ASSERT_TRUE(check.header);
    EXPECT_EQ(check.header->compression(), codec);
    EXPECT_FALSE(decode_records(batch));
  }
}

TEST(DecodeRecords, RefusesACorruptVarintUnderAValidCrc) {
  auto batch = build_batch({rec("k", "v", 0)});
  // The key length sits at byte 65: make it an unterminated varint, then a huge one.
  batch[65] = std::byte{0xFF};
  fix_crc(batch);
  ASSERT_TRUE(check_batch(batch, kMax).header);
  EXPECT_FALSE(decode_records(batch));
  batch[65] = std::byte{0x7E};  // 63: past the record
  fix_crc(batch);
  EXPECT_FALSE(decode_records(batch));
  batch[65] = std::byte{0x05};  // -3: negative and not -1
  fix_crc(batch);
  EXPECT_FALSE(decode_records(batch));
}

TEST(DecodeRecords, RefusesARecordLengthThatDisagreesWithItsFields) {
  for (int delta : {-2, 2}) {
    auto batch = build_batch({rec("k", "v", 0), rec("k", "v", 0)});
    batch[kBatchHeaderBytes] = static_cast<std::byte>(16 + delta);
    fix_crc(batch);
    EXPECT_FALSE(decode_records(batch)) << delta;
  }
}

TEST(DecodeRecords, RefusesTrailingBytesAndMissingRecords) {
  auto batch = sample_batch();
  batch.push_back(std::byte{0});
  set_batch_length(batch);
  fix_crc(batch);
  ASSERT_TRUE(check_batch(batch, kMax).header);
  EXPECT_FALSE(decode_records(batch));

  auto fewer = sample_batch();
  put_be32(fewer, 57, 2);  // claims two, holds three
  fix_crc(fewer);
  EXPECT_FALSE(decode_records(fewer));
}

TEST(DecodeRecords, RefusesOffsetDeltasOutOfOrderOrRange) {
  auto batch = build_batch({rec("a", "1", 0), rec("b", "2", 0)});
  const std::size_t second = kBatchHeaderBytes + 1 + 8;  // each record here is 8 bytes
  ASSERT_EQ(batch[second], std::byte{16});
  batch[second + 3] = std::byte{0};  // second record's offset delta 0, repeating the first
  fix_crc(batch);
  EXPECT_FALSE(decode_records(batch));
  batch[second + 3] = std::byte{4};  // delta 2, beyond lastOffsetDelta 1
  fix_crc(batch);
  EXPECT_FALSE(decode_records(batch));
}

TEST(DecodeRecords, SurvivesEveryByteValueAtEveryPositionUnderAValidCrc) {
  const auto good = build_batch({rec("key", "value", 5), rec(std::nullopt, "v", 6)});
  for (std::size_t at = kBatchHeaderBytes; at < good.size(); ++at) {
    for (int v = 0; v < 256; ++v) {
      auto batch = good;
      batch[at] = static_cast<std::byte>(v);
      fix_crc(batch);
      const auto records = decode_records(batch);
      if (records) {
        EXPECT_EQ(records->size(), 2u);
      }
    }
  }
}

}  // namespace
}  // namespace skein::storage
