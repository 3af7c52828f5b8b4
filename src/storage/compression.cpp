// Kafka's batch codecs (compression.hpp) over zlib, snappy, liblz4 and libzstd.
//
// gzip, lz4 and zstd do not say up front how much they will produce, so their
// decoders write into an OutputBuffer that doubles as needed but never beyond
// max_output_bytes + 1: holding one byte past the limit is how we learn that
// the data is too big, without ever decoding (or allocating) further. Snappy
// blocks state their uncompressed length first, so there the whole length is
// checked before anything is allocated.
#include "storage/compression.hpp"

#include <lz4frame.h>
#include <snappy.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

// zlib then declares next_in as pointing to const, so no const_cast is needed.
#define ZLIB_CONST
#include <zlib.h>

namespace skein::storage {
namespace {

using Bytes = std::vector<std::byte>;

// The first buffer a streaming decoder gets when the input gives no better guess.
constexpr std::size_t kFirstChunk = 16 * 1024;
// A limit beyond any real memory (SIZE_MAX, say) is clamped so that limit + 1
// and the doubling below cannot overflow.
constexpr std::size_t kLargestLimit = std::size_t{1} << 48;

// xerial/snappy-java framing: magic, int32 version, int32 compatible version.
constexpr std::array<unsigned char, 8> kXerialMagic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t kXerialHeaderBytes = 16;
constexpr std::uint32_t kXerialVersion = 1;  // the only one there is; readers of 1 read it
// snappy-java's default block size, which the Java client keeps.
constexpr std::size_t kXerialBlockBytes = 32 * 1024;

// An LZ4 frame starts with LZ4F_MAGICNUMBER (little-endian), then its FLG byte,
// whose bit 5 says "blocks are independent".
constexpr std::size_t kLz4FlgAt = 4;
constexpr unsigned kLz4BlockIndependence = 0x20;

// The largest zstd window a frame may ask for. The decoder keeps a buffer the
// size of the window when the frame omits its content size, so the window is
// memory: allow what the output limit needs, but at least 8 MiB, which covers
// the windows streaming producers declare whatever their content (the Java
// client's zstd-jni: 2 MiB at the default level 3, 8 MiB up to level 19), and
// at most zstd's own default cap, 128 MiB, which Kafka brokers use as well.
// Only levels 20-22 exceed 8 MiB; a limit that small refuses them. Pages of the
// window that are never written are never touched, so what memory the decoder
// really uses stays bounded by the output limit either way.
constexpr int kZstdWindowLogFloor = 23;
constexpr int kZstdWindowLogCeiling = 27;
// Magic numbers of the pre-1.0 zstd formats (v0.1 to v0.7). libzstd still
// decodes some of them, through older decoders that ignore the window limit;
// no Kafka client ever wrote them (Kafka took zstd up at 1.3), so they are refused.
constexpr std::uint32_t kZstdLegacyMagicFirst = 0xFD2FB51E;
constexpr std::uint32_t kZstdLegacyMagicLast = 0xFD2FB527;

std::string str(std::size_t n) {
  return std::to_string(n);
}

Error invalid(Codec codec, const std::string& what) {
  return Error{Errc::invalid_batch, std::string(codec_name(codec)) + ": " + what};
}

Error over_limit(Codec codec, std::size_t limit) {
  return invalid(codec, "decompressed data exceeds the limit of " + str(limit) + " bytes");
}

// A library call that fails on any input, valid or not: out of memory.
Error library_failure(Codec codec, const std::string& what) {
  return Error{Errc::io, std::string(codec_name(codec)) + ": " + what};
}

std::uint32_t load_le32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}

std::uint32_t load_be32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}

void store_be32(std::byte* p, std::uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<std::byte>(v & 0xFF);
}

const char* chars(const std::byte* p) {
  return reinterpret_cast<const char*>(p);
}
char* chars(std::byte* p) {
  return reinterpret_cast<char*>(p);
}

// Decoded bytes so far, in a buffer whose size never exceeds limit + 1.
class OutputBuffer {
 public:
  OutputBuffer(std::size_t limit, std::size_t expected)
      : limit_(std::min(limit, kLargestLimit)), cap_(limit_ + 1) {
    resize_buffer(std::min(std::max(expected, kFirstChunk), cap_));
  }

  std::byte* free_begin() { return bytes_.data() + size_; }
  std::size_t free_size() const { return bytes_.size() - size_; }
  void commit(std::size_t n) { size_ += n; }
  bool over_limit() const { return size_ > limit_; }

  // Makes room for more output; false once the buffer has reached limit + 1.
  bool grow() {
    if (bytes_.size() >= cap_) return false;
    resize_buffer(std::min(bytes_.size() * 2, cap_));
    return true;
  }

  Bytes take() && {
    bytes_.resize(size_);
    return std::move(bytes_);
  }

 private:
  // reserve() first: resize() alone may round the capacity up to twice the
  // request, past the limit.
  void resize_buffer(std::size_t n) {
    bytes_.reserve(n);
    bytes_.resize(n);
  }

  std::size_t limit_;
  std::size_t cap_;
  Bytes bytes_;
  std::size_t size_ = 0;
};

// A first guess at the output size of `input_bytes` of compressed data.
std::size_t guess_output(std::size_t input_bytes) {
  return input_bytes > kLargestLimit / 4 ? kLargestLimit : input_bytes * 4;
}

// ---------------------------------------------------------------- gzip

// Gives zlib the next stretch of `in` once it has used the last one
// (avail_in is 32 bits, so a large input goes in several).
void feed_input(z_stream& zs, std::span<const std::byte> in, std::size_t& handed) {
  if (zs.avail_in != 0 || handed >= in.size()) return;
  const auto n = std::min<std::size_t>(in.size() - handed, UINT_MAX);
  zs.next_in = reinterpret_cast<const Bytef*>(in.data() + handed);
  zs.avail_in = static_cast<uInt>(n);
  handed += n;
}

Result<Bytes> gzip_decompress(std::span<const std::byte> in, std::size_t limit) {
  z_stream zs{};
  // 16 + MAX_WBITS: a gzip wrapper (header, CRC-32, length), not zlib's.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return library_failure(Codec::gzip, "inflateInit2 failed");
  }
  const std::unique_ptr<z_stream, decltype(&inflateEnd)> end(&zs, &inflateEnd);
  OutputBuffer out(limit, guess_output(in.size()));
  std::size_t handed = 0;  // input bytes given to zlib so far (avail_in is 32 bits)
  std::size_t member = 1;
  for (;;) {
    feed_input(zs, in, handed);
    if (out.free_size() == 0 && !out.grow()) return over_limit(Codec::gzip, limit);
    const auto room = std::min<std::size_t>(out.free_size(), UINT_MAX);
    zs.next_out = reinterpret_cast<Bytef*>(out.free_begin());
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.commit(room - zs.avail_out);
    if (out.over_limit()) return over_limit(Codec::gzip, limit);
    const bool input_done = zs.avail_in == 0 && handed == in.size();
    switch (rc) {
      case Z_STREAM_END:
        if (input_done) return std::move(out).take();
        // More input after a member's trailer is another member: gzip(1) and
        // Java's GZIPInputStream read concatenated members as one stream.
        inflateReset(&zs);
        ++member;
        break;
      case Z_OK:
        break;
      case Z_BUF_ERROR:  // no progress possible: out of input, or of room (grown above)
        if (input_done) return invalid(Codec::gzip, "input ends inside member " + str(member));
        break;
      case Z_MEM_ERROR:
        return library_failure(Codec::gzip, "inflate ran out of memory");
      default:  // Z_DATA_ERROR (bad header, data, CRC or length), Z_NEED_DICT
        return invalid(Codec::gzip,
                       "corrupt member " + str(member) + ": " +
                           (zs.msg != nullptr ? zs.msg : "error " + std::to_string(rc)));
    }
  }
}

Result<Bytes> gzip_compress(std::span<const std::byte> in) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return library_failure(Codec::gzip, "deflateInit2 failed");
  }
  const std::unique_ptr<z_stream, decltype(&deflateEnd)> end(&zs, &deflateEnd);
  // deflateBound() counts the gzip wrapper too, so one pass normally fits; the
  // loop still grows the buffer rather than trust that.
  Bytes out(deflateBound(&zs, in.size()));
  std::size_t handed = 0;
  std::size_t written = 0;
  for (;;) {
    feed_input(zs, in, handed);
    if (written == out.size()) out.resize(out.size() * 2 + 64);
    const auto room = std::min<std::size_t>(out.size() - written, UINT_MAX);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + written);
    zs.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&zs, handed == in.size() ? Z_FINISH : Z_NO_FLUSH);
    written += room - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return library_failure(Codec::gzip, "deflate failed: error " + std::to_string(rc));
    }
  }
  out.resize(written);
  return out;
}

// ---------------------------------------------------------------- snappy

bool xerial_magic_at(std::span<const std::byte> in, std::size_t pos) {
  if (in.size() - pos < kXerialMagic.size()) return false;
  for (std::size_t i = 0; i < kXerialMagic.size(); ++i) {
    if (std::to_integer<unsigned char>(in[pos + i]) != kXerialMagic[i]) return false;
  }
  return true;
}

Result<Bytes> snappy_raw_decompress(std::span<const std::byte> in, std::size_t limit) {
  std::size_t length = 0;
  if (!snappy::GetUncompressedLength(chars(in.data()), in.size(), &length)) {
    return invalid(Codec::snappy,
                   "neither xerial-framed nor a raw snappy block (bad length preamble)");
  }
  if (length > limit) {
    return invalid(Codec::snappy, "raw block declares " + str(length) +
                                      " bytes, over the limit of " + str(limit) + " bytes");
  }
  Bytes out(length);
  if (!snappy::RawUncompress(chars(in.data()), in.size(), chars(out.data()))) {
    return invalid(Codec::snappy, "corrupt raw snappy block");
  }
  return out;
}

// Walks xerial framing, calling visit(block, at, uncompressed_length) for each
// block; a later header (snappy-java reads concatenated streams) is skipped.
template <typename Visit>
std::optional<Error> walk_xerial(std::span<const std::byte> in, Visit&& visit) {
  std::size_t pos = 0;
  while (pos < in.size()) {
    const std::size_t left = in.size() - pos;
    if (xerial_magic_at(in, pos)) {
      if (left < kXerialHeaderBytes) {
        return invalid(Codec::snappy, "truncated xerial header at byte " + str(pos));
      }
      const std::uint32_t compatible = load_be32(in.data() + pos + 12);
      if (compatible > kXerialVersion) {
        return invalid(Codec::snappy, "xerial header at byte " + str(pos) +
                                          " needs reader version " + str(compatible));
      }
      pos += kXerialHeaderBytes;
      continue;
    }
    if (left < 4) return invalid(Codec::snappy, "truncated block length at byte " + str(pos));
    const std::uint32_t length = load_be32(in.data() + pos);
    // snappy-java reads the length as a Java int: 0 or negative is no block.
    if (length == 0 || length > static_cast<std::uint32_t>(INT32_MAX)) {
      return invalid(Codec::snappy, "bad block length " + str(length) + " at byte " + str(pos));
    }
    if (length > left - 4) {
      return invalid(Codec::snappy, "truncated block at byte " + str(pos) + ": " + str(length) +
                                        " bytes announced, " + str(left - 4) + " left");
    }
    const auto block = in.subspan(pos + 4, length);
    std::size_t uncompressed = 0;
    if (!snappy::GetUncompressedLength(chars(block.data()), block.size(), &uncompressed)) {
      return invalid(Codec::snappy, "corrupt block at byte " + str(pos));
    }
    if (auto error = visit(block, pos, uncompressed)) return error;
    pos += 4 + length;
  }
  return std::nullopt;
}

Result<Bytes> snappy_decompress(std::span<const std::byte> in, std::size_t limit) {
  if (!xerial_magic_at(in, 0)) return snappy_raw_decompress(in, limit);
  // First pass: add up what the blocks declare, so that a bomb is refused
  // before anything is allocated and the output is allocated once.
  std::size_t total = 0;
  auto error = walk_xerial(in, [&](auto, std::size_t, std::size_t n) -> std::optional<Error> {
    if (n > limit - total) return over_limit(Codec::snappy, limit);
    total += n;
    return std::nullopt;
  });
  if (error) return *error;
  Bytes out(total);
  std::size_t filled = 0;
  error = walk_xerial(
      in,
      [&](std::span<const std::byte> block, std::size_t at, std::size_t n) -> std::optional<Error> {
        // RawUncompress writes exactly the declared n bytes, or fails.
        if (!snappy::RawUncompress(chars(block.data()), block.size(), chars(out.data() + filled))) {
          return invalid(Codec::snappy, "corrupt block at byte " + str(at));
        }
        filled += n;
        return std::nullopt;
      });
  if (error) return *error;
  return out;
}

Result<Bytes> snappy_compress(std::span<const std::byte> in) {
  const std::size_t blocks = (in.size() + kXerialBlockBytes - 1) / kXerialBlockBytes;
  Bytes out(kXerialHeaderBytes +
            blocks * (4 + snappy::MaxCompressedLength(std::min(in.size(), kXerialBlockBytes))));
  for (std::size_t i = 0; i < kXerialMagic.size(); ++i) out[i] = std::byte{kXerialMagic[i]};
  store_be32(out.data() + 8, kXerialVersion);
  store_be32(out.data() + 12, kXerialVersion);
  std::size_t written = kXerialHeaderBytes;
  for (std::size_t pos = 0; pos < in.size(); pos += kXerialBlockBytes) {
    const std::size_t n = std::min(kXerialBlockBytes, in.size() - pos);
    std::size_t length = 0;
    snappy::RawCompress(chars(in.data() + pos), n, chars(out.data() + written + 4), &length);
    store_be32(out.data() + written, static_cast<std::uint32_t>(length));
    written += 4 + length;
  }
  out.resize(written);
  return out;
}

// ---------------------------------------------------------------- lz4

struct Lz4Free {
  void operator()(LZ4F_dctx* ctx) const { LZ4F_freeDecompressionContext(ctx); }
};

Result<Bytes> lz4_decompress(std::span<const std::byte> in, std::size_t limit) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    return library_failure(Codec::lz4, "cannot create a decompression context");
  }
  const std::unique_ptr<LZ4F_dctx, Lz4Free> ctx(raw);
  OutputBuffer out(limit, guess_output(in.size()));
  std::size_t pos = 0;
  std::size_t frame = 1;
  bool frame_start = true;
  for (;;) {
    if (frame_start) {
      // Kafka's reader (KafkaLZ4BlockInputStream) refuses linked blocks, so
      // accepting them would store batches no Java consumer can read. (A
      // skippable frame has another magic and no FLG; liblz4 checks the rest.)
      if (in.size() - pos > kLz4FlgAt && load_le32(in.data() + pos) == LZ4F_MAGICNUMBER &&
          (std::to_integer<unsigned>(in[pos + kLz4FlgAt]) & kLz4BlockIndependence) == 0) {
        return invalid(Codec::lz4, "frame " + str(frame) +
                                       " has linked blocks; Kafka accepts only independent ones");
      }
      frame_start = false;
    }
    if (out.free_size() == 0 && !out.grow()) return over_limit(Codec::lz4, limit);
    std::size_t produced = out.free_size();
    std::size_t consumed = in.size() - pos;
    const std::size_t hint = LZ4F_decompress(ctx.get(), out.free_begin(), &produced,
                                             in.data() + pos, &consumed, nullptr);
    if (LZ4F_isError(hint)) {
      return invalid(Codec::lz4, "corrupt frame " + str(frame) + ": " + LZ4F_getErrorName(hint));
    }
    pos += consumed;
    out.commit(produced);
    if (out.over_limit()) return over_limit(Codec::lz4, limit);
    if (hint == 0) {  // a frame ended exactly at `pos`
      if (pos == in.size()) return std::move(out).take();
      // Another frame follows; librdkafka reads on the same way.
      ++frame;
      frame_start = true;
    } else if (consumed == 0 && produced == 0) {
      // There was room for output, so liblz4 is waiting for input that is not there.
      return invalid(Codec::lz4, "input ends inside frame " + str(frame));
    }
  }
}

Result<Bytes> lz4_compress(std::span<const std::byte> in) {
  // As the Java client writes it: independent 64 KiB blocks, no checksums (the
  // batch CRC covers the bytes), no content size.
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  Bytes out(LZ4F_compressFrameBound(in.size(), &prefs));
  const std::size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) {
    return library_failure(Codec::lz4, std::string("compression failed: ") + LZ4F_getErrorName(n));
  }
  out.resize(n);
  return out;
}

// ---------------------------------------------------------------- zstd

struct ZstdFree {
  void operator()(ZSTD_DCtx* ctx) const { ZSTD_freeDCtx(ctx); }
};

int zstd_window_log_max(std::size_t limit) {
  const int needed = limit <= 1 ? 0 : static_cast<int>(std::bit_width(limit - 1));
  return std::clamp(needed, kZstdWindowLogFloor, kZstdWindowLogCeiling);
}

Result<Bytes> zstd_decompress(std::span<const std::byte> in, std::size_t limit) {
  // The first frame may say how much it holds: refuse a bomb without decoding,
  // and otherwise size the buffer exactly.
  std::size_t expected = guess_output(in.size());
  const unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
    if (declared > limit) {
      return invalid(Codec::zstd, "frame declares " + std::to_string(declared) +
                                      " bytes, over the limit of " + str(limit) + " bytes");
    }
    expected = static_cast<std::size_t>(declared);
  }
  const std::unique_ptr<ZSTD_DCtx, ZstdFree> ctx(ZSTD_createDCtx());
  if (!ctx) return library_failure(Codec::zstd, "cannot create a decompression context");
  const int window_log = zstd_window_log_max(limit);
  if (ZSTD_isError(ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, window_log))) {
    return library_failure(Codec::zstd, "cannot set the window limit");
  }
  OutputBuffer out(limit, expected);
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  std::size_t frame = 1;
  bool frame_start = true;
  for (;;) {
    if (frame_start) {
      if (src.size - src.pos >= 4) {
        const std::uint32_t magic = load_le32(in.data() + src.pos);
        if (magic >= kZstdLegacyMagicFirst && magic <= kZstdLegacyMagicLast) {
          return invalid(Codec::zstd, "frame " + str(frame) + " is in a legacy (pre-1.0) format");
        }
      }
      frame_start = false;
    }
    if (out.free_size() == 0 && !out.grow()) return over_limit(Codec::zstd, limit);
    ZSTD_outBuffer dst{out.free_begin(), out.free_size(), 0};
    const std::size_t before = src.pos;
    const std::size_t rc = ZSTD_decompressStream(ctx.get(), &dst, &src);
    if (ZSTD_isError(rc)) {
      if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge) {
        return invalid(Codec::zstd, "frame needs a window over 2^" + std::to_string(window_log) +
                                        " bytes, the most allowed for a limit of " + str(limit) +
                                        " bytes");
      }
      return invalid(Codec::zstd, "corrupt frame " + str(frame) + ": " + ZSTD_getErrorName(rc));
    }
    out.commit(dst.pos);
    if (out.over_limit()) return over_limit(Codec::zstd, limit);
    if (rc == 0) {  // a frame is complete and flushed
      if (src.pos == src.size) return std::move(out).take();
      ++frame;  // and another one follows, as ZSTD_decompress() would read it
      frame_start = true;
    } else if (src.pos == before && dst.pos == 0) {
      // There was room for output, so zstd is waiting for input that is not there.
      return invalid(Codec::zstd, "input ends inside frame " + str(frame));
    }
  }
}

Result<Bytes> zstd_compress(std::span<const std::byte> in) {
  Bytes out(ZSTD_compressBound(in.size()));
  const std::size_t n =
      ZSTD_compress(out.data(), out.size(), in.data(), in.size(), ZSTD_CLEVEL_DEFAULT);
  if (ZSTD_isError(n)) {
    return library_failure(Codec::zstd, std::string("compression failed: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

bool known(Codec codec) {
  return codec_from_id(static_cast<int>(codec)).has_value();
}

Error unknown_codec(Codec codec) {
  return Error{Errc::invalid_batch,
               "unknown compression codec " + std::to_string(static_cast<int>(codec))};
}

}  // namespace

std::string_view codec_name(Codec codec) {
  switch (codec) {
    case Codec::none:
      return "none";
    case Codec::gzip:
      return "gzip";
    case Codec::snappy:
      return "snappy";
    case Codec::lz4:
      return "lz4";
    case Codec::zstd:
      return "zstd";
  }
  return "unknown";
}

std::optional<Codec> codec_from_id(int id) {
  if (id < static_cast<int>(Codec::none) || id > static_cast<int>(Codec::zstd)) {
    return std::nullopt;
  }
  return static_cast<Codec>(id);
}

Result<std::vector<std::byte>> decompress(Codec codec, std::span<const std::byte> input,
                                          std::size_t max_output_bytes) {
  if (!known(codec)) return unknown_codec(codec);
  if (codec == Codec::none) {
    if (input.size() > max_output_bytes) return over_limit(codec, max_output_bytes);
    return Bytes(input.begin(), input.end());
  }
  // Every codec wraps even empty data in something (a header at least).
  if (input.empty()) return invalid(codec, "empty input");
  switch (codec) {
    case Codec::gzip:
      return gzip_decompress(input, max_output_bytes);
    case Codec::snappy:
      return snappy_decompress(input, max_output_bytes);
    case Codec::lz4:
      return lz4_decompress(input, max_output_bytes);
    case Codec::zstd:
      return zstd_decompress(input, max_output_bytes);
    case Codec::none:
      break;
  }
  return unknown_codec(codec);
}

Result<std::vector<std::byte>> compress(Codec codec, std::span<const std::byte> input) {
  switch (codec) {
    case Codec::none:
      return Bytes(input.begin(), input.end());
    case Codec::gzip:
      return gzip_compress(input);
    case Codec::snappy:
      return snappy_compress(input);
    case Codec::lz4:
      return lz4_compress(input);
    case Codec::zstd:
      return zstd_compress(input);
  }
  return unknown_codec(codec);
}

}  // namespace skein::storage
