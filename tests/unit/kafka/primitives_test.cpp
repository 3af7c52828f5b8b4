// The Kafka primitives (kafka/protocol/reader.hpp, writer.hpp): exact bytes of
// every type at its boundaries, varints against the protocol guide's examples,
// classic against compact forms, null against empty, the sticky failure flag,
// and hostile lengths that must fail before anything large is allocated (the
// test binary counts the largest allocation made while a probe is active).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "kafka/protocol/apis.hpp"
#include "kafka/protocol/reader.hpp"
#include "kafka/protocol/writer.hpp"
#include "test_bytes.hpp"

// The largest single allocation made while an AllocationProbe lives on this
// thread. Replacing the global operator new is allowed once per program; only
// this file does it in kafka_test.
namespace {
thread_local bool g_probe_active = false;
thread_local std::size_t g_largest_allocation = 0;
}  // namespace

// GCC at -O3 sees free() meet a pointer from operator new once the two are
// inlined together; here they are one malloc-based pair by construction.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  if (g_probe_active && n > g_largest_allocation) g_largest_allocation = n;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace skein::kafka {
namespace {

using test::hex;
using test::to_hex;

struct AllocationProbe {
  AllocationProbe() {
    g_largest_allocation = 0;
    g_probe_active = true;
  }
  ~AllocationProbe() { g_probe_active = false; }
  std::size_t largest() const { return g_largest_allocation; }
};

template <class F>
std::string written(F&& f) {
  Writer w;
  f(w);
  EXPECT_TRUE(w.ok());
  return to_hex(w.memory());
}

TEST(KafkaPrimitives, FixedWidthIntegersAreBigEndian) {
  EXPECT_EQ(written([](Writer& w) { w.write_int8(-128); }), "80");
  EXPECT_EQ(written([](Writer& w) { w.write_int16(0x0102); }), "01 02");
  EXPECT_EQ(written([](Writer& w) { w.write_int16(-1); }), "ff ff");
  EXPECT_EQ(written([](Writer& w) { w.write_int32(std::numeric_limits<std::int32_t>::min()); }),
            "80 00 00 00");
  EXPECT_EQ(written([](Writer& w) { w.write_int64(0x0102030405060708); }),
            "01 02 03 04 05 06 07 08");
  EXPECT_EQ(written([](Writer& w) { w.write_uint16(0xFFFE); }), "ff fe");
  EXPECT_EQ(written([](Writer& w) { w.write_uint32(0xDEADBEEF); }), "de ad be ef");
  EXPECT_EQ(written([](Writer& w) { w.write_bool(true); }), "01");
  EXPECT_EQ(written([](Writer& w) { w.write_float64(1.0); }), "3f f0 00 00 00 00 00 00");

  const auto bytes =
      hex("7f | 80 00 | ff ff ff ff | 7f ff ff ff ff ff ff ff | ff ff | 00 00 00 01");
  Reader r(bytes);
  EXPECT_EQ(r.read_int8(), 127);
  EXPECT_EQ(r.read_int16(), std::numeric_limits<std::int16_t>::min());
  EXPECT_EQ(r.read_int32(), -1);
  EXPECT_EQ(r.read_int64(), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(r.read_uint16(), 0xFFFF);
  EXPECT_EQ(r.read_uint32(), 1u);
  EXPECT_TRUE(r.at_end());
}

TEST(KafkaPrimitives, BoolFloatAndUuidRoundTrip) {
  Writer w;
  w.write_float64(-0.0);
  w.write_float64(std::numeric_limits<double>::infinity());
  w.write_float64(1.0 / 3.0);
  Uuid id;
  for (std::size_t i = 0; i < 16; ++i) id.bytes[i] = static_cast<std::byte>(0xF0 + i);
  w.write_uuid(id);
  const auto bytes = hex("02");  // any non-zero byte is true
  Reader b(bytes);
  EXPECT_TRUE(b.read_bool());

  Reader r(w.memory());
  const double negative_zero = r.read_float64();
  EXPECT_EQ(negative_zero, 0.0);
  EXPECT_TRUE(std::signbit(negative_zero));
  EXPECT_EQ(r.read_float64(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.read_float64(), 1.0 / 3.0);
  EXPECT_EQ(r.read_uuid(), id);
  EXPECT_TRUE(r.at_end());
  EXPECT_TRUE(Uuid{}.is_zero());
  EXPECT_FALSE(id.is_zero());
}

TEST(KafkaPrimitives, TruncatedReadsFailAndStayFailed) {
  const auto bytes = hex("00 01 02");
  Reader r(bytes);
  EXPECT_EQ(r.read_int16(), 1);
  EXPECT_EQ(r.read_int32(), 0);  // only one byte left
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  // Sticky: even a read that would fit fails now, and consumes nothing.
  EXPECT_EQ(r.read_int8(), 0);
  EXPECT_EQ(r.position(), 2u);
  EXPECT_TRUE(r.rest().empty());

  Reader empty(std::span<const std::byte>{});
  EXPECT_EQ(empty.read_uuid(), Uuid{});
  EXPECT_FALSE(empty.ok());
}

TEST(KafkaPrimitives, UnsignedVarintsMatchTheSpec) {
  // LEB128: seven bits a byte, least significant first (protocol guide, and
  // the protobuf encoding it refers to: 300 is ac 02).
  EXPECT_EQ(written([](Writer& w) { w.write_unsigned_varint(0); }), "00");
  EXPECT_EQ(written([](Writer& w) { w.write_unsigned_varint(127); }), "7f");
  EXPECT_EQ(written([](Writer& w) { w.write_unsigned_varint(128); }), "80 01");
  EXPECT_EQ(written([](Writer& w) { w.write_unsigned_varint(300); }), "ac 02");
  EXPECT_EQ(written([](Writer& w) { w.write_unsigned_varint(16383); }), "ff 7f");
  EXPECT_EQ(written([](Writer& w) { w.write_unsigned_varint(16384); }), "80 80 01");
  EXPECT_EQ(written([](Writer& w) { w.write_unsigned_varint(0xFFFFFFFF); }), "ff ff ff ff 0f");

  for (std::uint32_t v :
       {0u, 1u, 127u, 128u, 255u, 300u, 65535u, 0x0FFFFFFFu, 0x10000000u, 0xFFFFFFFFu}) {
    Writer w;
    w.write_unsigned_varint(v);
    Reader r(w.memory());
    EXPECT_EQ(r.read_unsigned_varint(), v);
    EXPECT_TRUE(r.at_end());
  }
}

TEST(KafkaPrimitives, MalformedVarintsFail) {
  // A sixth byte, a fifth byte with bits beyond 32, and a varint cut short.
  for (const char* text : {"80 80 80 80 80 01", "ff ff ff ff 1f", "ff ff", "80"}) {
    const auto bytes = hex(text);
    Reader r(bytes);
    (void)r.read_unsigned_varint();
    EXPECT_FALSE(r.ok()) << text;
  }
  // Non-canonical but within five bytes: accepted, as the Java client does.
  const auto padded = hex("80 00");
  Reader r(padded);
  EXPECT_EQ(r.read_unsigned_varint(), 0u);
  EXPECT_TRUE(r.at_end());

  const auto long_varlong = hex("ff ff ff ff ff ff ff ff ff 02");
  Reader l(long_varlong);
  (void)l.read_unsigned_varlong();
  EXPECT_FALSE(l.ok());
}

TEST(KafkaPrimitives, ZigzagVarintsAndVarlongs) {
  EXPECT_EQ(written([](Writer& w) { w.write_varint(0); }), "00");
  EXPECT_EQ(written([](Writer& w) { w.write_varint(-1); }), "01");
  EXPECT_EQ(written([](Writer& w) { w.write_varint(1); }), "02");
  EXPECT_EQ(written([](Writer& w) { w.write_varint(-2); }), "03");
  EXPECT_EQ(written([](Writer& w) { w.write_varint(-64); }), "7f");
  EXPECT_EQ(written([](Writer& w) { w.write_varint(64); }), "80 01");
  EXPECT_EQ(written([](Writer& w) { w.write_varint(std::numeric_limits<std::int32_t>::max()); }),
            "fe ff ff ff 0f");
  EXPECT_EQ(written([](Writer& w) { w.write_varint(std::numeric_limits<std::int32_t>::min()); }),
            "ff ff ff ff 0f");
  EXPECT_EQ(written([](Writer& w) { w.write_varlong(std::numeric_limits<std::int64_t>::min()); }),
            "ff ff ff ff ff ff ff ff ff 01");

  for (std::int32_t v :
       {0, 1, -1, 63, -64, 64, -65, 1 << 20, -(1 << 20), std::numeric_limits<std::int32_t>::max(),
        std::numeric_limits<std::int32_t>::min()}) {
    Writer w;
    w.write_varint(v);
    Reader r(w.memory());
    EXPECT_EQ(r.read_varint(), v);
    EXPECT_TRUE(r.at_end());
  }
  for (std::int64_t v :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1} << 40, -(std::int64_t{1} << 40),
        std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    Writer w;
    w.write_varlong(v);
    Reader r(w.memory());
    EXPECT_EQ(r.read_varlong(), v);
    EXPECT_TRUE(r.at_end());
  }
}

TEST(KafkaPrimitives, ClassicAndCompactStrings) {
  EXPECT_EQ(written([](Writer& w) { w.write_string("abc", false); }), "00 03 61 62 63");
  EXPECT_EQ(written([](Writer& w) { w.write_string("abc", true); }), "04 61 62 63");
  EXPECT_EQ(written([](Writer& w) { w.write_string("", false); }), "00 00");
  EXPECT_EQ(written([](Writer& w) { w.write_string("", true); }), "01");
  EXPECT_EQ(written([](Writer& w) { w.write_nullable_string(std::nullopt, false); }), "ff ff");
  EXPECT_EQ(written([](Writer& w) { w.write_nullable_string(std::nullopt, true); }), "00");

  // Null and empty stay apart through a round trip, in both forms.
  for (bool compact : {false, true}) {
    Writer w;
    w.write_nullable_string(std::nullopt, compact);
    w.write_nullable_string(std::string(), compact);
    w.write_nullable_string(std::string("x"), compact);
    Reader r(w.memory());
    std::optional<std::string> a, b, c;
    EXPECT_TRUE(r.read_nullable_string(a, compact));
    EXPECT_TRUE(r.read_nullable_string(b, compact));
    EXPECT_TRUE(r.read_nullable_string(c, compact));
    EXPECT_EQ(a, std::nullopt);
    EXPECT_EQ(b, std::string());
    EXPECT_EQ(c, std::string("x"));
    EXPECT_TRUE(r.at_end());
  }
}

TEST(KafkaPrimitives, BadStringsFail) {
  struct Case {
    const char* bytes;
    bool compact;
  };
  for (const Case& c : {
           Case{"ff ff", false},        // null where a string is required
           Case{"00", true},            // compact null, likewise
           Case{"ff fe", false},        // length -2
           Case{"00 05 61 62", false},  // longer than what remains
           Case{"06 61 62", true},      // likewise, compact
           Case{"81 80 02 61", true},   // compact length 32768: over the int16 bound
       }) {
    const auto bytes = hex(c.bytes);
    Reader r(bytes);
    std::string out;
    EXPECT_FALSE(r.read_string(out, c.compact)) << c.bytes;
    EXPECT_FALSE(r.ok()) << c.bytes;
  }
  Writer w;
  w.write_string(std::string(32768, 'x'), false);
  EXPECT_FALSE(w.ok());
}

TEST(KafkaPrimitives, BytesAndRecords) {
  const std::vector<std::byte> payload = hex("de ad");
  EXPECT_EQ(written([&](Writer& w) { w.write_bytes(payload, false); }), "00 00 00 02 de ad");
  EXPECT_EQ(written([&](Writer& w) { w.write_bytes(payload, true); }), "03 de ad");
  EXPECT_EQ(written([](Writer& w) { w.write_nullable_bytes(std::nullopt, false); }), "ff ff ff ff");
  EXPECT_EQ(written([](Writer& w) { w.write_records(Records(), true); }), "00");
  EXPECT_EQ(written([](Writer& w) { w.write_records(Records(), false); }), "ff ff ff ff");

  const auto bytes = hex("00 00 00 02 de ad | ff ff ff ff | 03 be ef");
  Reader r(bytes);
  std::vector<std::byte> out;
  EXPECT_TRUE(r.read_bytes(out, false));
  EXPECT_EQ(out, payload);
  Records null_records;
  EXPECT_TRUE(r.read_records(null_records, false, true));
  EXPECT_TRUE(null_records.is_null());
  Records view;
  EXPECT_TRUE(r.read_records(view, true, true));
  ASSERT_TRUE(view.in_memory());
  // A view into the input, not a copy.
  EXPECT_EQ(view.bytes().data(), bytes.data() + 11);
  EXPECT_EQ(view.size(), 2u);

  const auto null_bytes = hex("ff ff ff ff");
  Reader n(null_bytes);
  Records not_nullable;
  EXPECT_FALSE(n.read_records(not_nullable, false, false));
}

TEST(KafkaPrimitives, ArrayLengths) {
  EXPECT_EQ(written([](Writer& w) { w.write_array_length(3, false); }), "00 00 00 03");
  EXPECT_EQ(written([](Writer& w) { w.write_array_length(3, true); }), "04");
  EXPECT_EQ(written([](Writer& w) { w.write_null_array(false); }), "ff ff ff ff");
  EXPECT_EQ(written([](Writer& w) { w.write_null_array(true); }), "00");

  const auto bytes = hex("ff ff ff ff | 00 | 00 00 00 02 00 00 00 01 00 00 00 02");
  Reader r(bytes);
  EXPECT_EQ(r.read_array_length(false, 4), -1);
  EXPECT_EQ(r.read_array_length(true, 4), -1);
  EXPECT_EQ(r.read_array_length(false, 4), 2);
  EXPECT_TRUE(r.ok());

  const auto negative = hex("ff ff ff fe");
  Reader n(negative);
  (void)n.read_array_length(false, 1);
  EXPECT_FALSE(n.ok());
}

TEST(KafkaPrimitives, HostileLengthsFailBeforeAllocating) {
  // Each claims far more than the few bytes that follow.
  struct Case {
    const char* name;
    std::vector<std::byte> bytes;
    bool (*read)(Reader&);
  };
  const std::vector<Case> cases = {
      {"array of 2^31-1 int32", hex("7f ff ff ff 00 00 00 01"),
       [](Reader& r) { return r.read_array_length(false, 4) >= 0 && r.ok(); }},
      {"compact array of 2^32-2", hex("ff ff ff ff 0f 00"),
       [](Reader& r) { return r.read_array_length(true, 1) >= 0 && r.ok(); }},
      {"string of 32767", hex("7f ff 61 62"),
       [](Reader& r) {
         std::string s;
         return r.read_string(s, false);
       }},
      {"bytes of 2^31-1", hex("7f ff ff ff 00"),
       [](Reader& r) {
         std::vector<std::byte> b;
         return r.read_bytes(b, false);
       }},
      {"compact bytes of 2^31", hex("81 80 80 80 08 00"),
       [](Reader& r) {
         std::optional<std::vector<std::byte>> b;
         return r.read_nullable_bytes(b, true);
       }},
  };
  for (const auto& c : cases) {
    Reader r(c.bytes);
    AllocationProbe probe;
    EXPECT_FALSE(c.read(r)) << c.name;
    EXPECT_LT(probe.largest(), 64u) << c.name;
  }
}

TEST(KafkaPrimitives, HostileMessagesFailBeforeAllocating) {
  // Whole request bodies whose counts promise millions of elements.
  struct Case {
    std::int16_t key;
    std::int16_t version;
    const char* bytes;
  };
  for (const Case& c : {
           // Metadata v1: 2^31-1 topics.
           Case{3, 1, "7f ff ff ff 00 01 61"},
           // Metadata v9 (compact): 2^32-2 topics.
           Case{3, 9, "ff ff ff ff 0f 02 61 00"},
           // Produce v3: null transactional id, acks, timeout, 100 million topics.
           Case{0, 3, "ff ff 00 01 00 00 75 30 05 f5 e1 00 00 01 74"},
           // Fetch v4: 2^31-1 topics after the fixed fields.
           Case{1, 4, "ff ff ff ff 00 00 01 f4 00 00 00 01 00 10 00 00 00 7f ff ff ff"},
           // DescribeGroups v0: 2^30 group names.
           Case{15, 0, "40 00 00 00 00 01 61"},
           // JoinGroup v0: a protocol whose metadata claims 2 GiB.
           Case{11, 0, "00 01 67 00 00 75 30 00 00 00 01 63 00 00 00 01 00 01 72 7f ff ff ff 00"},
       }) {
    const auto bytes = hex(c.bytes);
    Reader r(bytes);
    AnyRequest request;
    AllocationProbe probe;
    EXPECT_FALSE(decode_request(c.key, c.version, r, request)) << c.bytes;
    EXPECT_LT(probe.largest(), 1024u) << c.bytes;
  }
}

TEST(KafkaPrimitives, TaggedFieldSections) {
  // Two unknown fields: tag 5 with 2 bytes, tag 300 with 0 bytes.
  const auto bytes = hex("02 05 02 aa bb ac 02 00 | 7e");
  Reader r(bytes);
  r.skip_tagged_fields();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.read_int8(), 0x7e);

  for (const char* bad : {"01 05 03 aa bb",  // a size past the end
                          "ff ff ff ff 0f",  // 2^32-1 fields, no bytes
                          "01 05"}) {        // a field cut short
    const auto b = hex(bad);
    Reader t(b);
    t.skip_tagged_fields();
    EXPECT_FALSE(t.ok()) << bad;
  }
}

TEST(KafkaPrimitives, SubReadersAreBounded) {
  const auto bytes = hex("01 02 03 04");
  Reader r(bytes);
  Reader sub = r.sub_reader(2);
  EXPECT_EQ(sub.read_int16(), 0x0102);
  EXPECT_EQ(sub.read_int8(), 0);  // past the sub-reader's end, not into the parent's bytes
  EXPECT_FALSE(sub.ok());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.read_int16(), 0x0304);

  Reader short_reader(bytes);
  Reader too_long = short_reader.sub_reader(5);
  EXPECT_FALSE(too_long.ok());
  EXPECT_FALSE(short_reader.ok());
}

TEST(KafkaPrimitives, WriterKeepsTheFirstError) {
  Writer w;
  EXPECT_TRUE(w.ok());
  w.fail("first");
  w.fail("second");
  EXPECT_FALSE(w.ok());
  EXPECT_STREQ(w.error(), "first");

  Writer other;
  other.fail("from the appended writer");
  Writer target;
  target.write_int8(1);
  target.append(std::move(other));
  EXPECT_STREQ(target.error(), "from the appended writer");
}

TEST(KafkaPrimitives, PatchedLengthPrefix) {
  Writer w;
  w.write_int8(9);
  const std::size_t at = w.reserve_int32();
  w.write_int16(7);
  w.patch_int32(at, static_cast<std::int32_t>(w.size() - at - 4));
  EXPECT_EQ(to_hex(w.memory()), "09 00 00 00 02 00 07");
}

}  // namespace
}  // namespace skein::kafka
