// Kafka batch codecs (storage/compression.hpp): round trips for every codec, the
// framings other clients send (raw snappy blocks, concatenated gzip members, zstd
// frames without a content size), and hostile input (truncated, bit-flipped,
// garbage, decompression bombs) failing with an error that names the codec,
// never a crash. Frames no compress() call would write are built with the
// codec libraries directly.
#include "storage/compression.hpp"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <snappy.h>
#include <zstd.h>

#include <array>
#include <cstdint>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace skein::storage {
namespace {

using Bytes = std::vector<std::byte>;

constexpr std::size_t kMax = 8 << 20;
constexpr std::array kAllCodecs = {Codec::none, Codec::gzip, Codec::snappy, Codec::lz4,
                                   Codec::zstd};
constexpr std::array kCodecs = {Codec::gzip, Codec::snappy, Codec::lz4, Codec::zstd};
constexpr std::array<unsigned char, 8> kXerialMagic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

Bytes bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

Bytes concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// Alternating 4 KiB runs of record-like text (compressible) and random bytes
// (not), the way real batches mix repetitive keys and opaque payloads.
Bytes mixed_data(std::size_t n, unsigned seed = 7) {
  std::mt19937 rng(seed);
  const std::string text = "{\"user\":\"u-1042\",\"event\":\"page_view\",\"path\":\"/cart\"}\n";
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const bool random_run = (i / 4096) % 2 == 1;
    out[i] = random_run ? std::byte(rng() & 0xFF) : std::byte(text[i % text.size()]);
  }
  return out;
}

Bytes random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = std::byte(rng() & 0xFF);
  return out;
}

Bytes compressed(Codec codec, std::span<const std::byte> input) {
  auto r = compress(codec, input);
  if (!r) {
    ADD_FAILURE() << codec_name(codec) << ": " << r.error().message;
    return {};
  }
  return std::move(r.value());
}

// The failure compression.hpp promises: invalid_batch, naming the codec.
::testing::AssertionResult refused(Codec codec, const Result<Bytes>& r,
                                   std::string_view needle = "") {
  if (r.ok()) {
    return ::testing::AssertionFailure()
           << codec_name(codec) << " decoded " << r.value().size() << " bytes";
  }
  const std::string prefix = std::string(codec_name(codec)) + ": ";
  if (r.error().code != Errc::invalid_batch || r.error().message.rfind(prefix, 0) != 0 ||
      r.error().message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "code " << static_cast<int>(r.error().code) << ", message \"" << r.error().message
           << "\" (wanted \"" << prefix << "...\" with \"" << needle << "\")";
  }
  return ::testing::AssertionSuccess();
}

// Where xerial framing may be cut and still be valid framing: after the header
// and after each whole block.
std::set<std::size_t> xerial_boundaries(const Bytes& framed) {
  std::set<std::size_t> cuts = {16};
  std::size_t pos = 16;
  while (pos + 4 <= framed.size()) {
    std::uint32_t length = 0;
    for (int i = 0; i < 4; ++i)
      length = (length << 8) | std::to_integer<std::uint32_t>(framed[pos + i]);
    pos += 4 + length;
    cuts.insert(pos);
  }
  return cuts;
}

TEST(Compression, CodecNames) {
  EXPECT_EQ(codec_name(Codec::none), "none");
  EXPECT_EQ(codec_name(Codec::gzip), "gzip");
  EXPECT_EQ(codec_name(Codec::snappy), "snappy");
  EXPECT_EQ(codec_name(Codec::lz4), "lz4");
  EXPECT_EQ(codec_name(Codec::zstd), "zstd");
  EXPECT_EQ(codec_name(static_cast<Codec>(6)), "unknown");
}

TEST(Compression, CodecFromId) {
  for (int id = 0; id <= 4; ++id) {
    ASSERT_TRUE(codec_from_id(id).has_value()) << id;
    EXPECT_EQ(static_cast<int>(*codec_from_id(id)), id);
  }
  for (int id : {5, 6, 7, -1, 8, 255}) EXPECT_FALSE(codec_from_id(id).has_value()) << id;
  EXPECT_EQ(codec_from_id(2), Codec::snappy);
}

TEST(Compression, UnknownCodecIsRefused) {
  const Bytes data = bytes_of("abc");
  const auto d = decompress(static_cast<Codec>(5), data, kMax);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::invalid_batch);
  EXPECT_EQ(d.error().message, "unknown compression codec 5");
  const auto c = compress(static_cast<Codec>(7), data);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Errc::invalid_batch);
}

TEST(Compression, RoundTripEmpty) {
  for (Codec codec : kAllCodecs) {
    SCOPED_TRACE(codec_name(codec));
    const Bytes packed = compressed(codec, {});
    if (codec != Codec::none) {
      EXPECT_FALSE(packed.empty());
    }
    const auto back = decompress(codec, packed, kMax);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_TRUE(back.value().empty());
  }
}

TEST(Compression, RoundTripSmall) {
  for (const std::string_view text :
       {"x", "hello, kafka", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    const Bytes data = bytes_of(text);
    for (Codec codec : kAllCodecs) {
      SCOPED_TRACE(std::string(codec_name(codec)) + " " + std::string(text));
      const auto back = decompress(codec, compressed(codec, data), kMax);
      ASSERT_TRUE(back.ok()) << back.error().message;
      EXPECT_EQ(back.value(), data);
    }
  }
}

TEST(Compression, RoundTripMixedMebibyte) {
  const Bytes data = mixed_data(1 << 20);
  for (Codec codec : kAllCodecs) {
    SCOPED_TRACE(codec_name(codec));
    const Bytes packed = compressed(codec, data);
    // Half the data is text, so every real codec must win something.
    if (codec != Codec::none) {
      EXPECT_LT(packed.size(), data.size() * 3 / 4);
    }
    const auto back = decompress(codec, packed, kMax);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back.value(), data);
  }
}

TEST(Compression, LimitIsInclusive) {
  const Bytes data = mixed_data(100'000);
  for (Codec codec : kAllCodecs) {
    SCOPED_TRACE(codec_name(codec));
    const Bytes packed = compressed(codec, data);
    const auto exact = decompress(codec, packed, data.size());
    ASSERT_TRUE(exact.ok()) << exact.error().message;
    EXPECT_EQ(exact.value(), data);
    EXPECT_TRUE(refused(codec, decompress(codec, packed, data.size() - 1), "limit"));
  }
}

TEST(Compression, SnappyWritesXerialFramingInSmallBlocks) {
  const Bytes data = mixed_data(1 << 20);
  const Bytes packed = compressed(Codec::snappy, data);
  ASSERT_GE(packed.size(), 16u);
  for (std::size_t i = 0; i < kXerialMagic.size(); ++i) {
    EXPECT_EQ(std::to_integer<unsigned char>(packed[i]), kXerialMagic[i]) << i;
  }
  // int32 version 1, int32 compatible version 1, as snappy-java writes them.
  const Bytes versions = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1},
                          std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}};
  EXPECT_EQ(Bytes(packed.begin() + 8, packed.begin() + 16), versions);
  // Every block is a raw snappy block of at most 32 KiB uncompressed.
  std::size_t pos = 16;
  std::size_t blocks = 0;
  std::size_t total = 0;
  while (pos < packed.size()) {
    ASSERT_LE(pos + 4, packed.size());
    std::uint32_t length = 0;
    for (int i = 0; i < 4; ++i)
      length = (length << 8) | std::to_integer<std::uint32_t>(packed[pos + i]);
    ASSERT_LE(pos + 4 + length, packed.size());
    std::size_t uncompressed = 0;
    ASSERT_TRUE(snappy::GetUncompressedLength(reinterpret_cast<const char*>(&packed[pos + 4]),
                                              length, &uncompressed));
    EXPECT_LE(uncompressed, 32u * 1024);
    total += uncompressed;
    ++blocks;
    pos += 4 + length;
  }
  EXPECT_EQ(blocks, 32u);
  EXPECT_EQ(total, data.size());
}

TEST(Compression, SnappyAcceptsRawBlocks) {
  for (const Bytes& data : {bytes_of("librdkafka may send a bare block"), mixed_data(300'000)}) {
    std::string raw;
    snappy::Compress(reinterpret_cast<const char*>(data.data()), data.size(), &raw);
    const auto back = decompress(Codec::snappy, bytes_of(raw), kMax);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back.value(), data);
  }
  // An empty raw block is the single byte 0 (its length preamble).
  std::string raw;
  snappy::Compress("", 0, &raw);
  const auto empty = decompress(Codec::snappy, bytes_of(raw), kMax);
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_TRUE(empty.value().empty());
}

TEST(Compression, SnappyHeaderOnlyIsEmpty) {
  const Bytes header = compressed(Codec::snappy, {});
  EXPECT_EQ(header.size(), 16u);
  const auto back = decompress(Codec::snappy, header, kMax);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back.value().empty());
}

TEST(Compression, SnappyRefusesNewerXerialVersions) {
  Bytes packed = compressed(Codec::snappy, bytes_of("version check"));
  packed[15] = std::byte{2};  // compatible version 2: a reader of version 1 cannot read it
  EXPECT_TRUE(refused(Codec::snappy, decompress(Codec::snappy, packed, kMax), "version 2"));
}

TEST(Compression, GzipAcceptsConcatenatedMembers) {
  const Bytes joined =
      concat(concat(compressed(Codec::gzip, bytes_of("hello ")), compressed(Codec::gzip, {})),
             compressed(Codec::gzip, bytes_of("world")));
  const auto back = decompress(Codec::gzip, joined, kMax);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), bytes_of("hello world"));
}

TEST(Compression, EveryCodecAcceptsConcatenatedStreams) {
  const Bytes a = mixed_data(70'000, 1);
  const Bytes b = mixed_data(50'000, 2);
  for (Codec codec : kCodecs) {
    SCOPED_TRACE(codec_name(codec));
    const auto back = decompress(codec, concat(compressed(codec, a), compressed(codec, b)), kMax);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back.value(), concat(a, b));
  }
}

TEST(Compression, TrailingGarbageIsRefused) {
  for (Codec codec : kCodecs) {
    SCOPED_TRACE(codec_name(codec));
    const Bytes packed = concat(compressed(codec, bytes_of("payload")), bytes_of("junk!"));
    EXPECT_TRUE(refused(codec, decompress(codec, packed, kMax)));
  }
}

TEST(Compression, Lz4RefusesLinkedBlocks) {
  const Bytes data = mixed_data(200'000);
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockMode = LZ4F_blockLinked;
  Bytes frame(LZ4F_compressFrameBound(data.size(), &prefs));
  const std::size_t n =
      LZ4F_compressFrame(frame.data(), frame.size(), data.data(), data.size(), &prefs);
  ASSERT_FALSE(LZ4F_isError(n));
  frame.resize(n);
  EXPECT_TRUE(refused(Codec::lz4, decompress(Codec::lz4, frame, kMax), "linked blocks"));
}

TEST(Compression, Lz4AcceptsOptionalFrameFields) {
  // Content size, content and block checksums, 4 MiB blocks: legal in the frame
  // format and read by Kafka, though the Java client writes none of them.
  const Bytes data = mixed_data(300'000);
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.blockSizeID = LZ4F_max4MB;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
  prefs.frameInfo.contentSize = data.size();
  Bytes frame(LZ4F_compressFrameBound(data.size(), &prefs));
  const std::size_t n =
      LZ4F_compressFrame(frame.data(), frame.size(), data.data(), data.size(), &prefs);
  ASSERT_FALSE(LZ4F_isError(n));
  frame.resize(n);
  const auto back = decompress(Codec::lz4, frame, kMax);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), data);
  // With the content checksum on, a flipped data bit no longer goes unnoticed.
  frame[frame.size() / 2] ^= std::byte{0x10};
  EXPECT_TRUE(refused(Codec::lz4, decompress(Codec::lz4, frame, kMax)));
}

// Streams `data` as zstd-jni's ZstdOutputStream does: the size is not known when
// the frame header is written, so the header has no content size.
Bytes zstd_streamed(const Bytes& data, int window_log = 0) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (window_log != 0) ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log);
  Bytes out(ZSTD_compressBound(data.size()) + 1024);
  ZSTD_outBuffer dst{out.data(), out.size(), 0};
  ZSTD_inBuffer src{data.data(), data.size(), 0};
  std::size_t rc = ZSTD_compressStream2(cctx, &dst, &src, ZSTD_e_continue);
  EXPECT_FALSE(ZSTD_isError(rc));
  ZSTD_inBuffer none{nullptr, 0, 0};
  do {
    rc = ZSTD_compressStream2(cctx, &dst, &none, ZSTD_e_end);
    EXPECT_FALSE(ZSTD_isError(rc));
  } while (rc != 0 && !ZSTD_isError(rc));
  ZSTD_freeCCtx(cctx);
  out.resize(dst.pos);
  return out;
}

TEST(Compression, ZstdWithoutContentSize) {
  const Bytes data = mixed_data(500'000);
  const Bytes frame = zstd_streamed(data);
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  const auto back = decompress(Codec::zstd, frame, kMax);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), data);
  EXPECT_TRUE(refused(Codec::zstd, decompress(Codec::zstd, frame, data.size() - 1), "limit"));
}

TEST(Compression, ZstdWindowFollowsTheLimit) {
  // A 32 MiB window (level 21 and up declare such) is past the 8 MiB granted to
  // any limit, so a 1 MiB limit refuses it and a 64 MiB limit takes it.
  const Bytes data = bytes_of("small content, large declared window");
  const Bytes frame = zstd_streamed(data, 25);
  EXPECT_TRUE(refused(Codec::zstd, decompress(Codec::zstd, frame, 1 << 20), "window"));
  const auto back = decompress(Codec::zstd, frame, 64 << 20);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), data);
  // 8 MiB is granted whatever the limit: the Java client at level 19 declares it.
  const auto small_limit = decompress(Codec::zstd, zstd_streamed(data, 23), 64);
  ASSERT_TRUE(small_limit.ok()) << small_limit.error().message;
  EXPECT_EQ(small_limit.value(), data);
}

TEST(Compression, ZstdRefusesLegacyFrames) {
  // The v0.7 magic number, then what could be a v0.7 frame header.
  Bytes legacy = {std::byte{0x27}, std::byte{0xB5}, std::byte{0x2F}, std::byte{0xFD}};
  legacy.resize(64, std::byte{0});
  EXPECT_TRUE(refused(Codec::zstd, decompress(Codec::zstd, legacy, kMax), "legacy"));
  // Also as a second frame.
  const Bytes second = concat(compressed(Codec::zstd, bytes_of("first")), legacy);
  EXPECT_TRUE(
      refused(Codec::zstd, decompress(Codec::zstd, second, kMax), "frame 2 is in a legacy"));
}

TEST(Compression, EmptyInputIsRefused) {
  for (Codec codec : kCodecs) EXPECT_TRUE(refused(codec, decompress(codec, {}, kMax), "empty"));
}

TEST(Compression, TruncatedInputIsRefused) {
  for (const std::size_t size : {3'000u, 150'000u}) {
    const Bytes data = mixed_data(size);
    for (Codec codec : kCodecs) {
      SCOPED_TRACE(std::string(codec_name(codec)) + " of " + std::to_string(size));
      const Bytes packed = compressed(codec, data);
      // xerial framing has no end mark: a cut between blocks is valid framing
      // of fewer records (which the batch's CRC then catches).
      const std::set<std::size_t> valid_cuts =
          codec == Codec::snappy ? xerial_boundaries(packed) : std::set<std::size_t>{};
      const std::size_t step = packed.size() > 5'000 ? 97 : 1;
      for (std::size_t cut = 1; cut < packed.size(); cut += step) {
        if (valid_cuts.contains(cut)) continue;
        const Bytes part(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(cut));
        ASSERT_TRUE(refused(codec, decompress(codec, part, kMax))) << "cut at " << cut;
      }
      const Bytes last(packed.begin(), packed.end() - 1);
      EXPECT_TRUE(refused(codec, decompress(codec, last, kMax)));
    }
  }
}

TEST(Compression, BitFlipsNeverCrash) {
  // Only gzip checks its data (CRC-32 and length in each member's trailer); the
  // Java client writes lz4 and zstd without checksums and snappy has none, so a
  // flipped literal there decodes to different bytes, which the batch's CRC-32C
  // is there to catch. What every codec must do is fail or stay in bounds.
  const Bytes data = mixed_data(6'000);
  constexpr std::size_t kLimit = 64 * 1024;
  for (Codec codec : kCodecs) {
    SCOPED_TRACE(codec_name(codec));
    const Bytes packed = compressed(codec, data);
    std::size_t refusals = 0;
    for (std::size_t i = 0; i < packed.size(); ++i) {
      Bytes flipped = packed;
      flipped[i] ^= std::byte(1u << (i % 8));
      const auto r = decompress(codec, flipped, kLimit);
      if (r.ok()) {
        EXPECT_LE(r.value().size(), kLimit);
        // gzip's header holds MTIME (4-7), XFL (8) and OS (9), which no one checks.
        if (codec == Codec::gzip) {
          EXPECT_TRUE(i >= 4 && i < 10) << "flip at " << i;
        }
        // The magic bytes (and lz4's FLG byte) always matter.
        EXPECT_GE(i, codec == Codec::lz4 ? 5u : 4u) << "flip at " << i;
      } else {
        ++refusals;
        EXPECT_TRUE(refused(codec, r)) << "flip at " << i;
      }
    }
    EXPECT_GT(refusals, 0u);
  }
}

TEST(Compression, GarbageIsRefused) {
  // (A single 0 byte is not on the list: it is a valid raw snappy block, of nothing.)
  const std::vector<Bytes> garbage = {
      bytes_of("plain text, compressed by no one"),
      bytes_of(std::string(1, '\x07')),
      bytes_of(std::string(64, '\xff')),
      random_bytes(1000, 1),
      random_bytes(70'000, 2),
  };
  for (Codec codec : kCodecs) {
    SCOPED_TRACE(codec_name(codec));
    for (const Bytes& g : garbage) EXPECT_TRUE(refused(codec, decompress(codec, g, kMax)));
    // Another codec's valid output is garbage too.
    for (Codec other : kCodecs) {
      if (other == codec) continue;
      const Bytes packed = compressed(other, mixed_data(5'000));
      EXPECT_TRUE(refused(codec, decompress(codec, packed, kMax))) << codec_name(other);
    }
  }
}

TEST(Compression, BombsStopAtTheLimit) {
  const Bytes zeros(4 << 20);
  constexpr std::size_t kLimit = 256 * 1024;
  for (Codec codec : kCodecs) {
    SCOPED_TRACE(codec_name(codec));
    const Bytes bomb = compressed(codec, zeros);
    EXPECT_LT(bomb.size(), kLimit);  // a small input that expands 16-fold past the limit
    EXPECT_TRUE(refused(codec, decompress(codec, bomb, kLimit), "limit"));
  }
  EXPECT_TRUE(refused(Codec::zstd, decompress(Codec::zstd, zstd_streamed(zeros), kLimit), "limit"));
  // none: the input is the output.
  EXPECT_TRUE(refused(Codec::none, decompress(Codec::none, zeros, kLimit), "limit"));
}

TEST(Compression, DeclaredSizesOverTheLimitAreRefusedUpFront) {
  // A raw snappy block whose length preamble claims 4 GiB - 1, and nothing else.
  const Bytes raw = {std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                     std::byte{0x0f}};
  EXPECT_TRUE(refused(Codec::snappy, decompress(Codec::snappy, raw, kMax), "limit"));
  // The same block inside xerial framing.
  Bytes framed = compressed(Codec::snappy, {});
  const Bytes length = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{5}};
  framed = concat(concat(framed, length), raw);
  EXPECT_TRUE(refused(Codec::snappy, decompress(Codec::snappy, framed, kMax), "limit"));
  // A zstd frame of 1 MiB checked against a 1 KiB limit.
  const Bytes frame = compressed(Codec::zstd, Bytes(1 << 20));
  EXPECT_TRUE(refused(Codec::zstd, decompress(Codec::zstd, frame, 1024), "declares"));
}

}  // namespace
}  // namespace skein::storage
