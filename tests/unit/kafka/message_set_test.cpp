// Message sets (kafka/protocol/message_set.hpp): magic 0 and 1 sets, plain and
// in gzip, snappy and lz4 wrappers, converted to one v2 batch; v2 batches
// (plain, compressed, LogAppendTime, control) converted down to magic 0 and 1;
// hostile sets failing with a message, never a crash. The sets are written
// here by hand from the protocol guide's "Messagesets" layout, with zlib's
// CRC-32, and the sets the code writes are read back by the same hand, so the
// code is checked against an encoding of its own.
#include "kafka/protocol/message_set.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "storage/compression.hpp"
#include "storage/record_batch.hpp"

namespace skein::kafka {
namespace {

using Bytes = std::vector<std::byte>;
using storage::Codec;
using storage::RecordSpec;
using testing::HasSubstr;

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr MessageSetLimits kLimits{};
constexpr std::size_t kAttributesAt = 21;  // of a v2 batch (record_batch.hpp)
constexpr std::size_t kBatchLengthAt = 8;
constexpr std::size_t kCrcAt = 17;

// ---- writing message sets by hand ----------------------------------------

void put(Bytes& out, std::uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) out.push_back(std::byte((v >> (8 * i)) & 0xFF));
}

void put_bytes(Bytes& out, const std::optional<std::string>& field) {
  if (!field) {
    put(out, 0xFFFFFFFFu, 4);
    return;
  }
  put(out, field->size(), 4);
  for (char c : *field) out.push_back(std::byte(static_cast<unsigned char>(c)));
}

std::uint32_t zlib_crc(std::span<const std::byte> bytes) {
  return static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0),
                                          reinterpret_cast<const Bytef*>(bytes.data()),
                                          static_cast<uInt>(bytes.size())));
}

struct Msg {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int8_t magic = 1;
  std::int8_t attributes = 0;
  std::int64_t timestamp = -1;  // magic 1 only
  std::int64_t offset = 0;
};

// Magic..end: what the CRC covers.
Bytes content(const Msg& m) {
  Bytes out;
  put(out, static_cast<std::uint8_t>(m.magic), 1);
  put(out, static_cast<std::uint8_t>(m.attributes), 1);
  if (m.magic == 1) put(out, static_cast<std::uint64_t>(m.timestamp), 8);
  put_bytes(out, m.key);
  put_bytes(out, m.value);
  return out;
}

// offset | size | crc | content; the size and CRC right unless overridden.
Bytes entry(std::int64_t offset, const Bytes& body, std::optional<std::int32_t> size = {},
            std::optional<std::uint32_t> crc = {}) {
  Bytes out;
  put(out, static_cast<std::uint64_t>(offset), 8);
  put(out, static_cast<std::uint32_t>(size.value_or(static_cast<std::int32_t>(body.size() + 4))),
      4);
  put(out, crc.value_or(zlib_crc(body)), 4);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes message_set(const std::vector<Msg>& messages) {
  Bytes out;
  for (const Msg& m : messages) {
    const Bytes e = entry(m.offset, content(m));
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string as_string(const Bytes& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

Bytes compressed(Codec codec, const Bytes& data) {
  auto packed = storage::compress(codec, data);
  EXPECT_TRUE(packed.ok());
  return packed.ok() ? packed.value() : Bytes{};
}

// A wrapper of `magic` holding `inner`, compressed with `codec`: inner offsets
// relative from magic 1 on, absolute before; the wrapper has the last one.
Msg wrapper(Codec codec, std::int8_t magic, std::vector<Msg> inner, std::int64_t base = 0) {
  for (std::size_t i = 0; i < inner.size(); ++i) {
    inner[i].magic = magic;
    inner[i].offset = (magic == 0 ? base : 0) + static_cast<std::int64_t>(i);
  }
  Msg w;
  w.magic = magic;
  w.attributes = static_cast<std::int8_t>(codec);
  w.timestamp = 5;
  w.offset = base + static_cast<std::int64_t>(inner.size()) - 1;
  w.value = as_string(compressed(codec, message_set(inner)));
  return w;
}

Msg msg(std::optional<std::string> key, std::optional<std::string> value, std::int8_t magic = 1,
        std::int64_t timestamp = -1) {
  return Msg{std::move(key), std::move(value), magic, 0, timestamp};
}

// ---- reading results ------------------------------------------------------

struct Converted {
  storage::BatchHeader header;
  std::vector<storage::RecordView> records;
  Bytes batch;  // the views point here
};

// message_set_to_batch, expected to succeed with a batch whose CRC checks.
std::optional<Converted> to_batch(const Bytes& set, const MessageSetLimits& limits = kLimits) {
  auto result = message_set_to_batch(set, kNow, limits);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << "unexpected error: " << *error;
    return std::nullopt;
  }
  Converted out;
  out.batch = std::move(std::get<Bytes>(result));
  const auto check = storage::check_batch(out.batch, out.batch.size(), true);
  EXPECT_TRUE(check.header.has_value()) << check.message;
  if (!check.header) return std::nullopt;
  EXPECT_EQ(check.header->total_bytes(), out.batch.size());
  out.header = *check.header;
  auto records = storage::decode_records(out.batch);
  EXPECT_TRUE(records.has_value());
  if (!records) return std::nullopt;
  out.records = std::move(*records);
  return out;
}

// message_set_to_batch, expected to fail with a message.
std::string to_batch_error(const Bytes& set, const MessageSetLimits& limits = kLimits) {
  auto result = message_set_to_batch(set, kNow, limits);
  const auto* error = std::get_if<std::string>(&result);
  EXPECT_NE(error, nullptr) << "a batch was built";
  if (!error) return "(no error)";
  EXPECT_FALSE(error->empty());
  return *error;
}

std::optional<std::string> opt(const std::optional<std::string_view>& v) {
  return v ? std::optional<std::string>(*v) : std::nullopt;
}

// The key and value of each record, and its offset 0..n-1.
void expect_records(const Converted& got, const std::vector<Msg>& want) {
  ASSERT_EQ(got.records.size(), want.size());
  EXPECT_EQ(got.header.record_count, static_cast<std::int32_t>(want.size()));
  EXPECT_EQ(got.header.base_offset, 0);
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got.records[i].offset, static_cast<std::int64_t>(i));
    EXPECT_EQ(opt(got.records[i].key), want[i].key) << "record " << i;
    EXPECT_EQ(opt(got.records[i].value), want[i].value) << "record " << i;
    EXPECT_TRUE(got.records[i].headers.empty());
  }
}

// One message of a set the code wrote, read back by hand.
struct ReadMsg {
  std::int64_t offset = 0;
  std::int8_t magic = 0;
  std::int8_t attributes = 0;
  std::int64_t timestamp = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
};

std::uint64_t get(std::span<const std::byte> b, std::size_t at, int width) {
  std::uint64_t v = 0;
  for (int i = 0; i < width; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(b[at + i]);
  return v;
}

std::optional<std::string> get_field(std::span<const std::byte> b, std::size_t& at) {
  const auto length = static_cast<std::int32_t>(get(b, at, 4));
  at += 4;
  if (length == -1) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(b.data() + at), static_cast<std::size_t>(length));
  at += static_cast<std::size_t>(length);
  return s;
}

// Every message, each checked: size exact, CRC-32 right.
std::vector<ReadMsg> read_set(std::span<const std::byte> set) {
  std::vector<ReadMsg> out;
  std::size_t at = 0;
  while (at < set.size()) {
    ReadMsg m;
    m.offset = static_cast<std::int64_t>(get(set, at, 8));
    const auto size = static_cast<std::size_t>(get(set, at + 8, 4));
    const std::size_t body = at + 12;
    EXPECT_LE(body + size, set.size());
    if (body + size > set.size()) break;
    const auto crc = static_cast<std::uint32_t>(get(set, body, 4));
    EXPECT_EQ(crc, zlib_crc(set.subspan(body + 4, size - 4))) << "message at " << m.offset;
    std::size_t p = body + 4;
    m.magic = static_cast<std::int8_t>(get(set, p++, 1));
    m.attributes = static_cast<std::int8_t>(get(set, p++, 1));
    if (m.magic == 1) {
      m.timestamp = static_cast<std::int64_t>(get(set, p, 8));
      p += 8;
    }
    m.key = get_field(set, p);
    m.value = get_field(set, p);
    EXPECT_EQ(p, body + size) << "message at " << m.offset << " has bytes after its value";
    out.push_back(std::move(m));
    at = body + size;
  }
  return out;
}

// batches_to_message_set, expected to succeed.
Bytes down(const Bytes& batches, std::int8_t magic, std::int64_t from = 0) {
  auto result = batches_to_message_set(batches, magic, from, kLimits);
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << "unexpected error: " << *error;
    return {};
  }
  return std::get<Bytes>(std::move(result));
}

std::string down_error(const Bytes& batches, std::int8_t magic = 1) {
  auto result = batches_to_message_set(batches, magic, 0, kLimits);
  const auto* error = std::get_if<std::string>(&result);
  EXPECT_NE(error, nullptr) << "a message set was built";
  if (!error) return "(no error)";
  EXPECT_FALSE(error->empty());
  return *error;
}

// ---- v2 batches for the way down -------------------------------------------

RecordSpec rec(std::optional<std::string> key, std::optional<std::string> value, std::int64_t ts) {
  RecordSpec r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.timestamp = ts;
  return r;
}

void put_at(Bytes& b, std::size_t at, std::uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i, v >>= 8) b[at + static_cast<std::size_t>(i)] = std::byte(v);
}

void fix_crc(Bytes& batch) {
  put_at(batch, kCrcAt, storage::crc32c(std::span<const std::byte>(batch).subspan(kAttributesAt)),
         4);
}

void or_attributes(Bytes& batch, std::uint16_t bits) {
  put_at(batch, kAttributesAt, get(batch, kAttributesAt, 2) | bits, 2);
  fix_crc(batch);
}

// build_batch's batch with its records section compressed: attributes bits
// 0-2, batchLength and the CRC rewritten.
Bytes compress_batch(const Bytes& plain, Codec codec) {
  Bytes out(plain.begin(), plain.begin() + storage::kBatchHeaderBytes);
  const Bytes section(plain.begin() + storage::kBatchHeaderBytes, plain.end());
  const Bytes packed = compressed(codec, section);
  out.insert(out.end(), packed.begin(), packed.end());
  put_at(out, kBatchLengthAt, out.size() - storage::kBatchLengthPrefixBytes, 4);
  or_attributes(out, static_cast<std::uint16_t>(codec));
  return out;
}

// Three batches at base offsets 0, 3 and 10: records 0-2, 3-4, 10-12.
Bytes three_batches(std::optional<Codec> codec = {}) {
  Bytes a = storage::build_batch(
      {rec("k0", "v0", 1000), rec(std::nullopt, "v1", 1001), rec("k2", std::nullopt, 1002)});
  Bytes b = storage::build_batch({rec("k3", "v3", 2000), rec("", "", 1990)});
  Bytes c = storage::build_batch(
      {rec("k10", "v10", 3000), rec("k11", "v11", 3001), rec("k12", "v12", 3002)});
  storage::set_base_offset(b, 3);
  storage::set_base_offset(c, 10);
  if (codec) b = compress_batch(b, *codec);
  return cat(cat(a, b), c);
}

struct Want {
  std::int64_t offset;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t timestamp;
};

const std::vector<Want> kThree = {{0, "k0", "v0", 1000},
                                  {1, std::nullopt, "v1", 1001},
                                  {2, "k2", std::nullopt, 1002},
                                  {3, "k3", "v3", 2000},
                                  {4, "", "", 1990},
                                  {10, "k10", "v10", 3000},
                                  {11, "k11", "v11", 3001},
                                  {12, "k12", "v12", 3002}};

void expect_down(const std::vector<ReadMsg>& got, const std::vector<Want>& want,
                 std::int8_t magic) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].offset, want[i].offset);
    EXPECT_EQ(got[i].magic, magic);
    EXPECT_EQ(got[i].attributes, 0);
    EXPECT_EQ(got[i].key, want[i].key) << "offset " << want[i].offset;
    EXPECT_EQ(got[i].value, want[i].value) << "offset " << want[i].offset;
    if (magic == 1) {
      EXPECT_EQ(got[i].timestamp, want[i].timestamp);
    }
  }
}

// ---- message set -> batch ----------------------------------------------------

TEST(MessageSetToBatch, MagicZeroGetsNowAsLogAppendTime) {
  const std::vector<Msg> set = {msg("k1", "v1", 0), msg(std::nullopt, "v2", 0),
                                msg("k3", std::nullopt, 0), msg("", "", 0)};
  const auto got = to_batch(message_set(set));
  ASSERT_TRUE(got);
  expect_records(*got, set);
  EXPECT_TRUE(got->header.log_append_time());
  EXPECT_EQ(got->header.max_timestamp, kNow);
  EXPECT_EQ(got->header.compression(), 0);
  EXPECT_EQ(got->header.last_offset_delta, 3);
  for (const auto& r : got->records) EXPECT_EQ(r.timestamp, kNow);
}

TEST(MessageSetToBatch, MagicOneKeepsTheProducersTimestamps) {
  const std::vector<Msg> set = {msg("k1", "v1", 1, 1000), msg(std::nullopt, "v2", 1, 3000),
                                msg("k3", std::nullopt, 1, 2000), msg("k4", "v4", 1, -1)};
  const auto got = to_batch(message_set(set));
  ASSERT_TRUE(got);
  expect_records(*got, set);
  EXPECT_FALSE(got->header.log_append_time());
  EXPECT_EQ(got->records[0].timestamp, 1000);
  EXPECT_EQ(got->records[1].timestamp, 3000);
  EXPECT_EQ(got->records[2].timestamp, 2000);
  EXPECT_EQ(got->records[3].timestamp, kNow);  // -1: left to the broker
  EXPECT_EQ(got->header.max_timestamp, kNow);
}

TEST(MessageSetToBatch, MixedMagicsAreCreateTime) {
  const std::vector<Msg> set = {msg("a", "1", 0), msg("b", "2", 1, 1234)};
  const auto got = to_batch(message_set(set));
  ASSERT_TRUE(got);
  expect_records(*got, set);
  EXPECT_FALSE(got->header.log_append_time());
  EXPECT_EQ(got->records[0].timestamp, kNow);
  EXPECT_EQ(got->records[1].timestamp, 1234);
}

TEST(MessageSetToBatch, ProducerOffsetsAreIgnored) {
  std::vector<Msg> set = {msg("a", "1"), msg("b", "2"), msg("c", "3")};
  set[0].offset = 77;
  set[1].offset = -5;
  set[2].offset = 77;
  const auto got = to_batch(message_set(set));
  ASSERT_TRUE(got);
  expect_records(*got, set);
}

TEST(MessageSetToBatch, LargeValuesCarryOver) {
  const std::vector<Msg> set = {msg("big", std::string(200'000, 'x'), 1, 10),
                                msg(std::nullopt, std::string(1, '\0'), 1, 11)};
  const auto got = to_batch(message_set(set));
  ASSERT_TRUE(got);
  expect_records(*got, set);
}

class CompressedWrapper : public testing::TestWithParam<std::tuple<Codec, int>> {};

TEST_P(CompressedWrapper, InnerMessagesBecomeRecords) {
  const auto [codec, magic_int] = GetParam();
  const auto magic = static_cast<std::int8_t>(magic_int);
  const std::vector<Msg> inner = {msg("k1", "v1", magic, 100), msg(std::nullopt, "v2", magic, 300),
                                  msg("k3", std::nullopt, magic, 200)};
  const auto got = to_batch(message_set({wrapper(codec, magic, inner)}));
  ASSERT_TRUE(got);
  expect_records(*got, inner);
  EXPECT_EQ(got->header.compression(), 0);  // the batch built is uncompressed
  EXPECT_EQ(got->header.log_append_time(), magic == 0);
  if (magic == 1) {
    EXPECT_EQ(got->records[0].timestamp, 100);
    EXPECT_EQ(got->records[1].timestamp, 300);
    EXPECT_EQ(got->records[2].timestamp, 200);
    EXPECT_EQ(got->header.max_timestamp, 300);
  } else {
    EXPECT_EQ(got->header.max_timestamp, kNow);
  }
}

TEST_P(CompressedWrapper, MixedWithPlainMessagesInOrder) {
  const auto [codec, magic_int] = GetParam();
  const auto magic = static_cast<std::int8_t>(magic_int);
  std::vector<Msg> inner;
  // Over 64 KiB of inner messages: several snappy and lz4 blocks.
  for (int i = 0; i < 300; ++i) {
    inner.push_back(
        msg("key-" + std::to_string(i), std::string(400, char('a' + i % 26)), magic, 1000 + i));
  }
  const Msg first = msg("first", "1", magic, 1);
  const Msg last = msg("last", "2", magic, 2);
  const Bytes set = message_set({first, wrapper(codec, magic, inner, 1), last});
  const auto got = to_batch(set);
  ASSERT_TRUE(got);
  std::vector<Msg> want = {first};
  want.insert(want.end(), inner.begin(), inner.end());
  want.push_back(last);
  expect_records(*got, want);
}

INSTANTIATE_TEST_SUITE_P(CodecsAndMagics, CompressedWrapper,
                         testing::Combine(testing::Values(Codec::gzip, Codec::snappy, Codec::lz4),
                                          testing::Values(0, 1)),
                         [](const auto& info) {
                           return std::string(storage::codec_name(std::get<0>(info.param))) +
                                  "_magic" + std::to_string(std::get<1>(info.param));
                         });

// ---- message set -> batch: errors ----------------------------------------------

TEST(MessageSetToBatchErrors, BadCrc) {
  const Bytes body = content(msg("k", "v"));
  EXPECT_THAT(to_batch_error(entry(0, body, {}, zlib_crc(body) ^ 1)), HasSubstr("CRC"));
  // A flipped bit in the value, the CRC left as it was.
  Bytes set = message_set({msg("k", "value")});
  set.back() ^= std::byte{0x20};
  EXPECT_THAT(to_batch_error(set), HasSubstr("CRC"));
}

TEST(MessageSetToBatchErrors, MagicTwoAndFiveInAMessage) {
  for (std::int8_t magic : {2, 5, -1}) {
    // Laid out as magic 0 (no timestamp), the CRC right.
    Bytes body = content(msg("k", "v", 0));
    body[0] = std::byte(static_cast<std::uint8_t>(magic));
    EXPECT_THAT(to_batch_error(entry(0, body)), HasSubstr("magic")) << int{magic};
    // Laid out as magic 1.
    body = content(msg("k", "v", 1, 10));
    body[0] = std::byte(static_cast<std::uint8_t>(magic));
    EXPECT_THAT(to_batch_error(entry(0, body)), HasSubstr("magic")) << int{magic};
  }
}

TEST(MessageSetToBatchErrors, TruncatedEntryHeader) {
  const Bytes one = message_set({msg("k", "v")});
  for (std::size_t n = 1; n < 12; ++n) {
    to_batch_error(Bytes(one.begin(), one.begin() + static_cast<std::ptrdiff_t>(n)));
    // And after a whole message.
    to_batch_error(cat(one, Bytes(one.begin(), one.begin() + static_cast<std::ptrdiff_t>(n))));
  }
}

TEST(MessageSetToBatchErrors, SizeBelowTheMinimum) {
  // 14: crc, magic, attributes and two lengths; 13 is one short.
  const Bytes body = content(msg(std::nullopt, std::nullopt, 0));
  ASSERT_EQ(body.size() + 4, 14u);
  EXPECT_TRUE(to_batch(entry(0, body)));
  for (std::int32_t size : {13, 4, 0, -1, std::numeric_limits<std::int32_t>::min()}) {
    Bytes bad = entry(0, body, size);
    EXPECT_THAT(to_batch_error(bad), HasSubstr("size")) << size;
  }
}

TEST(MessageSetToBatchErrors, SizePastTheEnd) {
  const Bytes body = content(msg("k", "v"));
  const auto size = static_cast<std::int32_t>(body.size() + 4);
  EXPECT_THAT(to_batch_error(entry(0, body, size + 1)), HasSubstr("past"));
  EXPECT_THAT(to_batch_error(entry(0, body, std::numeric_limits<std::int32_t>::max())),
              HasSubstr("past"));
  // A whole message, then one cut short.
  const Bytes set = message_set({msg("a", "b"), msg("c", "d")});
  to_batch_error(Bytes(set.begin(), set.end() - 1));
}

TEST(MessageSetToBatchErrors, KeyOrValueLengthPastTheEnd) {
  // key length 100 with 1 byte of key: the CRC right, the size right.
  Bytes body = content(msg("k", "v", 0));
  body[5] = std::byte{100};
  EXPECT_FALSE(to_batch_error(entry(0, body)).empty());
  // A value length past the end.
  body = content(msg("k", "v", 1, 7));
  body[body.size() - 2] = std::byte{9};
  EXPECT_FALSE(to_batch_error(entry(0, body)).empty());
  // A key length below -1.
  body = content(msg("k", "v", 0));
  body[2] = body[3] = body[4] = std::byte{0xFF};
  body[5] = std::byte{0xFE};
  EXPECT_FALSE(to_batch_error(entry(0, body)).empty());
  // Magic 1 too short to hold a timestamp.
  body = {std::byte{1},    std::byte{0},    std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF},
          std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}};
  EXPECT_FALSE(to_batch_error(entry(0, body)).empty());
}

TEST(MessageSetToBatchErrors, TrailingBytesAfterTheValue) {
  for (std::int8_t magic : {0, 1}) {
    Bytes body = content(msg("k", "v", magic, 1));
    body.push_back(std::byte{0});
    body.push_back(std::byte{0});
    EXPECT_THAT(to_batch_error(entry(0, body)), HasSubstr("after")) << int{magic};
  }
}

TEST(MessageSetToBatchErrors, EmptySet) {
  to_batch_error({});
}

TEST(MessageSetToBatchErrors, NestedCompressedWrapper) {
  for (std::int8_t magic : {0, 1}) {
    const Msg inner = wrapper(Codec::gzip, magic, {msg("k", "v", magic, 1)});
    EXPECT_THAT(to_batch_error(message_set({wrapper(Codec::gzip, magic, {inner})})),
                HasSubstr("inside"));
  }
}

TEST(MessageSetToBatchErrors, CompressedWrapperWithNullValue) {
  Msg w = msg("k", std::nullopt);
  w.attributes = 1;
  EXPECT_THAT(to_batch_error(message_set({w})), HasSubstr("null"));
}

TEST(MessageSetToBatchErrors, ZstdAndUnknownCodecs) {
  const Bytes inner = message_set({msg("k", "v", 1, 1)});
  Msg w = msg(std::nullopt, as_string(compressed(Codec::zstd, inner)), 1, 1);
  w.attributes = 4;
  EXPECT_THAT(to_batch_error(message_set({w})), HasSubstr("codec"));
  for (std::int8_t codec : {5, 6, 7}) {
    w.attributes = codec;
    EXPECT_THAT(to_batch_error(message_set({w})), HasSubstr("codec")) << int{codec};
  }
}

TEST(MessageSetToBatchErrors, GarbageInAWrapper) {
  Msg w = msg(std::nullopt, "definitely not gzip");
  w.attributes = 1;
  to_batch_error(message_set({w}));
  // A wrapper around bytes that are not a message set.
  w = msg(std::nullopt, as_string(compressed(Codec::lz4, Bytes(40, std::byte{7}))));
  w.attributes = 3;
  to_batch_error(message_set({w}));
  // A bad inner message: its CRC, then its magic.
  Msg inner_bad = wrapper(Codec::snappy, 1, {msg("k", "v")});
  Bytes inner = message_set({msg("k", "v", 1, 1)});
  inner[12] ^= std::byte{1};
  inner_bad.value = as_string(compressed(Codec::snappy, inner));
  EXPECT_THAT(to_batch_error(message_set({inner_bad})), HasSubstr("inner"));
}

TEST(MessageSetToBatchErrors, PayloadOverMaxBatchBytes) {
  const MessageSetLimits limits{.max_batch_bytes = 1000};
  EXPECT_TRUE(to_batch(message_set({msg("k", std::string(900, 'x'))}), limits));
  to_batch_error(message_set({msg("k", std::string(1001, 'x'))}), limits);
  to_batch_error(message_set({msg("k", std::string(600, 'x')), msg("k", std::string(600, 'x'))}),
                 limits);
  // Under the limit in key and value bytes, over it once built.
  to_batch_error(message_set(std::vector<Msg>(200, msg("k", "v"))), limits);
  // Inside a wrapper.
  to_batch_error(message_set({wrapper(Codec::gzip, 1, {msg("k", std::string(5000, 'x'))})}),
                 limits);
}

TEST(MessageSetToBatchErrors, DecompressionBombStopsAtTheLimit) {
  const Bytes zeros(50u << 20, std::byte{0});
  Msg w = msg(std::nullopt, as_string(compressed(Codec::gzip, zeros)));
  w.attributes = 1;
  const MessageSetLimits limits{.max_batch_bytes = 1 << 20, .max_decompressed_bytes = 1 << 20};
  EXPECT_FALSE(to_batch_error(message_set({w}), limits).empty());
}

// A wrapper around an empty message set is refused, as Kafka refuses it
// ("compressed record set with no inner records"): a batch of no records
// must not reach the log.
TEST(MessageSetToBatchErrors, WrapperWithNoInnerMessages) {
  for (Codec codec : {Codec::gzip, Codec::snappy, Codec::lz4}) {
    to_batch_error(message_set({wrapper(codec, 1, {})}));
  }
}

// Messages with a null key and value still count the least a record takes
// towards max_batch_bytes, and one decompression budget covers all wrappers,
// so a few hundred KB of gzip cannot cost gigabytes: the read stops once the
// batch being built is certain to be over the limit, in the first wrapper.
TEST(MessageSetToBatchErrors, EmptyMessagesStopAtTheBatchLimit) {
  const std::vector<Msg> nulls(40'000, msg(std::nullopt, std::nullopt, 0));
  const Msg w = wrapper(Codec::gzip, 0, nulls);
  const MessageSetLimits limits{.max_batch_bytes = 64 << 10, .max_decompressed_bytes = 2 << 20};
  const std::string error = to_batch_error(message_set(std::vector<Msg>(8, w)), limits);
  EXPECT_THAT(error, HasSubstr("message 0: inner message"));
}

// ---- is_message_set ---------------------------------------------------------

TEST(IsMessageSet, OldMagicsYesV2AndShortInputNo) {
  EXPECT_TRUE(is_message_set(message_set({msg("k", "v", 0)})));
  EXPECT_TRUE(is_message_set(message_set({msg("k", "v", 1, 5)})));
  EXPECT_TRUE(is_message_set(message_set({wrapper(Codec::gzip, 1, {msg("k", "v")})})));
  EXPECT_FALSE(is_message_set(storage::build_batch({rec("k", "v", 1)})));
  EXPECT_FALSE(is_message_set(three_batches(Codec::lz4)));
  const Bytes set = message_set({msg("k", "v", 0)});
  for (std::size_t n = 0; n <= 16; ++n) {
    EXPECT_FALSE(is_message_set(std::span(set).first(n))) << n;
  }
  EXPECT_TRUE(is_message_set(std::span(set).first(17)));
}

// ---- batches -> message set -----------------------------------------------------

TEST(BatchesToMessageSet, MagicZeroAndOneWithAbsoluteOffsets) {
  const Bytes batches = three_batches();
  for (std::int8_t magic : {0, 1}) {
    const Bytes set = down(batches, magic);
    EXPECT_TRUE(is_message_set(set));
    expect_down(read_set(set), kThree, magic);
  }
}

TEST(BatchesToMessageSet, FromOffsetSkipsEarlierRecords) {
  const Bytes batches = three_batches();
  for (std::int8_t magic : {0, 1}) {
    expect_down(read_set(down(batches, magic, 4)),
                std::vector<Want>(kThree.begin() + 4, kThree.end()), magic);
    expect_down(read_set(down(batches, magic, 5)),
                std::vector<Want>(kThree.begin() + 5, kThree.end()), magic);
    expect_down(read_set(down(batches, magic, 11)),
                std::vector<Want>(kThree.begin() + 6, kThree.end()), magic);
    EXPECT_TRUE(down(batches, magic, 13).empty());
  }
  EXPECT_TRUE(down({}, 1).empty());
}

TEST(BatchesToMessageSet, LogAppendTimeBatch) {
  Bytes batch = storage::build_batch({rec("a", "1", 10), rec("b", "2", 20)});
  storage::set_log_append_time(batch, kNow);
  ASSERT_TRUE(storage::check_batch(batch, batch.size(), true).header);
  const auto one = read_set(down(batch, 1));
  ASSERT_EQ(one.size(), 2u);
  for (const auto& m : one) {
    EXPECT_EQ(m.attributes, 0x8);
    EXPECT_EQ(m.timestamp, kNow);
  }
  const auto zero = read_set(down(batch, 0));
  ASSERT_EQ(zero.size(), 2u);
  for (const auto& m : zero) EXPECT_EQ(m.attributes, 0);
}

class CompressedBatch : public testing::TestWithParam<Codec> {};

TEST_P(CompressedBatch, ConvertsLikeAPlainOne) {
  const Bytes batches = three_batches(GetParam());
  ASSERT_TRUE(storage::check_batch(batches, batches.size(), true).header);
  for (std::int8_t magic : {0, 1}) {
    expect_down(read_set(down(batches, magic)), kThree, magic);
    expect_down(read_set(down(batches, magic, 4)),
                std::vector<Want>(kThree.begin() + 4, kThree.end()), magic);
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressedBatch,
                         testing::Values(Codec::gzip, Codec::snappy, Codec::lz4, Codec::zstd),
                         [](const auto& info) {
                           return std::string(storage::codec_name(info.param));
                         });

TEST(BatchesToMessageSet, ControlBatchesAreLeftOut) {
  Bytes control = storage::build_batch({rec(std::string("\0\0\0\0", 4), "marker", 50)}, 7, 0);
  storage::set_base_offset(control, 13);
  or_attributes(control, 0x30);  // transactional, control
  const Bytes batches = cat(three_batches(), control);
  expect_down(read_set(down(batches, 1)), kThree, 1);
}

TEST(BatchesToMessageSet, CorruptStoredBatches) {
  const Bytes good = three_batches();
  // Truncated: in the header, in the records.
  down_error(Bytes(good.begin(), good.begin() + 30));
  down_error(Bytes(good.begin(), good.end() - 1));
  // A magic that is not 2.
  Bytes bad = good;
  bad[16] = std::byte{1};
  down_error(bad);
  // recordCount one short of the records there: they do not fill the batch.
  bad = storage::build_batch({rec("a", "1", 1), rec("b", "2", 2)});
  put_at(bad, 57, 1, 4);
  fix_crc(bad);
  down_error(bad, 0);
  // A record's length cut inside its bytes.
  bad = storage::build_batch({rec("a", "1", 1)});
  bad[storage::kBatchHeaderBytes] = std::byte{0x7E};
  down_error(bad);
  // Compressed garbage, and an unassigned codec.
  bad = storage::build_batch({rec("a", "1", 1)});
  or_attributes(bad, 1);
  down_error(bad);
  bad = storage::build_batch({rec("a", "1", 1)});
  or_attributes(bad, 6);
  EXPECT_THAT(down_error(bad), HasSubstr("codec"));
}

TEST(BatchesToMessageSet, RoundTripKeepsKeysAndValues) {
  const Bytes batches = three_batches(Codec::snappy);
  for (std::int8_t magic : {0, 1}) {
    const Bytes set = down(batches, magic);
    const auto got = to_batch(set);
    ASSERT_TRUE(got);
    ASSERT_EQ(got->records.size(), kThree.size());
    for (std::size_t i = 0; i < kThree.size(); ++i) {
      EXPECT_EQ(opt(got->records[i].key), kThree[i].key);
      EXPECT_EQ(opt(got->records[i].value), kThree[i].value);
      EXPECT_EQ(got->records[i].timestamp, magic == 1 ? kThree[i].timestamp : kNow);
    }
    EXPECT_EQ(got->header.log_append_time(), magic == 0);
  }
}

}  // namespace
}  // namespace skein::kafka
