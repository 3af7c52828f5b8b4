// CRC-32C (Castagnoli), the checksum of Kafka's v2 record batch (record_batch.hpp).
// Hand-written because Debian packages no C/C++ CRC-32C library, and because it runs
// over every byte appended to or recovered from a log. Reflected polynomial 0x82F63B78,
// initial value ~0, final xor ~0. The fastest way the CPU has is chosen once:
//
//   vpclmulqdq  AVX-512 carry-less multiplication folds 256 bytes a step into four
//               512-bit accumulators (about 55 GB/s on the 2-core EPYC of bench/);
//               the 256 bytes left are then reduced with the crc32 instruction
//   sse4.2      the crc32 instruction, on three blocks at once (about 28 GB/s)
//   tables      slice-by-8 over tables built at compile time
//
// Speed matters because Partition::append checks the CRC of every batch before it
// writes it: with one chain of crc32 instructions (latency 3 cycles, one started a
// cycle: a third of what the CPU allows, about 10 GB/s) the check cost 40% of an
// append of 1 MiB batches beside the kernel's copy into the page cache.
//
// The arithmetic: the register after data A then B is shift(register after A, |B|) ^
// (register from zero over B), where shift multiplies by x^(8|B|) mod P, a linear map on
// 32 bits. The sse4.2 way runs three chains over three adjacent blocks and joins them
// with that map (four lookups in a table built at compile time per block size). The
// vpclmulqdq way keeps 128-bit lanes of data not yet reduced: a lane H:L (H the first 8
// bytes) followed by D more bits is worth H * x^(64+D) + L * x^D, so multiplying H and L
// by those powers mod P (32-bit constants) gives at most 96 bits to xor into the lane D
// bits further on, with the same CRC; at the end, the CRC of the 256 bytes the
// accumulators hold, from a zero register, is the CRC of everything folded into them.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "storage/record_batch.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#define SKEIN_CRC32C_X86_64 1
#endif

namespace skein::storage {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

// tables[0] is the byte-wise table; tables[k][b] is the CRC of byte b followed by k zero
// bytes, so eight table lookups advance the CRC by eight bytes.
constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kPolynomial : 0u);
    t[0][b] = crc;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}

constexpr Tables kTables = make_tables();

// `state` is the running (un-inverted) register.
std::uint32_t crc_table(const unsigned char* p, std::size_t n, std::uint32_t state) {
  while (n >= 8) {
    const std::uint32_t lo =
        state ^ (static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                 static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24);
    state = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
            kTables[4][lo >> 24] ^ kTables[3][p[4]] ^ kTables[2][p[5]] ^ kTables[1][p[6]] ^
            kTables[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) state = (state >> 8) ^ kTables[0][(state ^ *p++) & 0xFF];
  return state;
}

#if defined(SKEIN_CRC32C_X86_64)

// A linear map on the 32-bit register, as the images of its 32 unit vectors. The
// register holds a polynomial of degree < 32 reflected: bit 31 - d is the coefficient
// of x^d.
using Matrix = std::array<std::uint32_t, 32>;

constexpr std::uint32_t apply(const Matrix& m, std::uint32_t v) {
  std::uint32_t out = 0;
  for (int i = 0; v != 0; ++i, v >>= 1)
    if (v & 1u) out ^= m[static_cast<std::size_t>(i)];
  return out;
}

constexpr Matrix compose(const Matrix& outer, const Matrix& inner) {
  Matrix m{};
  for (std::size_t i = 0; i < 32; ++i) m[i] = apply(outer, inner[i]);
  return m;
}

// Multiplication by x^bits mod P: the register advanced over `bits` zero bits.
constexpr Matrix times_x_to_the(std::uint64_t bits) {
  Matrix power{};  // times x: state -> (state >> 1) ^ (state & 1 ? polynomial : 0)
  power[0] = kPolynomial;
  for (std::size_t i = 1; i < 32; ++i) power[i] = 1u << (i - 1);
  Matrix result{};
  for (std::size_t i = 0; i < 32; ++i) result[i] = 1u << i;
  for (; bits != 0; bits >>= 1, power = compose(power, power))
    if (bits & 1u) result = compose(power, result);
  return result;
}

// shift[k][b] is the register b << 8k advanced over `bytes` zero bytes.
using Shift = std::array<std::array<std::uint32_t, 256>, 4>;

constexpr Shift make_shift(std::size_t bytes) {
  const Matrix m = times_x_to_the(8 * static_cast<std::uint64_t>(bytes));
  Shift t{};
  for (std::size_t k = 0; k < 4; ++k)
    for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = apply(m, b << (8 * k));
  return t;
}

inline std::uint32_t shift(const Shift& t, std::uint32_t state) {
  return t[0][state & 0xFF] ^ t[1][(state >> 8) & 0xFF] ^ t[2][(state >> 16) & 0xFF] ^
         t[3][state >> 24];
}

// Three chains of this many bytes each for long inputs, of the short size for the rest.
constexpr std::size_t kLongBlock = 8192;
constexpr std::size_t kShortBlock = 256;
constexpr Shift kShiftLong = make_shift(kLongBlock);
constexpr Shift kShiftShort = make_shift(kShortBlock);

// Consumes whole runs of three `block`-byte blocks from p/n: three independent chains
// over three adjacent blocks, joined by shifting.
__attribute__((target("sse4.2"))) std::uint32_t crc_sse42_three_way(const unsigned char*& p,
                                                                    std::size_t& n,
                                                                    std::uint32_t state,
                                                                    std::size_t block,
                                                                    const Shift& shift_table) {
  while (n >= 3 * block) {
    std::uint64_t c0 = state, c1 = 0, c2 = 0;
    for (std::size_t i = 0; i < block; i += 8) {
      std::uint64_t w0, w1, w2;
      std::memcpy(&w0, p + i, 8);
      std::memcpy(&w1, p + block + i, 8);
      std::memcpy(&w2, p + 2 * block + i, 8);
      c0 = _mm_crc32_u64(c0, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    state = shift(shift_table, static_cast<std::uint32_t>(c0)) ^ static_cast<std::uint32_t>(c1);
    state = shift(shift_table, state) ^ static_cast<std::uint32_t>(c2);
    p += 3 * block;
    n -= 3 * block;
  }
  return state;
}

__attribute__((target("sse4.2"))) std::uint32_t crc_sse42(const unsigned char* p, std::size_t n,
                                                          std::uint32_t state) {
  state = crc_sse42_three_way(p, n, state, kLongBlock, kShiftLong);
  state = crc_sse42_three_way(p, n, state, kShortBlock, kShiftShort);
  std::uint64_t wide = state;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // little-endian load, as the reflected CRC wants
    wide = _mm_crc32_u64(wide, word);
    p += 8;
    n -= 8;
  }
  state = static_cast<std::uint32_t>(wide);
  while (n-- > 0) state = _mm_crc32_u8(state, *p++);
  return state;
}

// A 32-bit constant x^bits mod P placed for carry-less multiplication by a 64-bit lane
// half: reflected in the upper 32 bits (the product of two reflected values comes out
// one degree short, which the constant's power accounts for).
constexpr std::uint64_t fold_constant(std::uint64_t bits) {
  return static_cast<std::uint64_t>(apply(times_x_to_the(bits), 0x80000000u)) << 32;
}

// Folding distance: four 512-bit accumulators, 2048 bits.
constexpr std::uint64_t kFoldBits = 2048;
constexpr std::uint64_t kFoldFirstHalf = fold_constant(64 + kFoldBits - 1);
constexpr std::uint64_t kFoldSecondHalf = fold_constant(kFoldBits - 1);

__attribute__((target("avx512f,vpclmulqdq,sse4.2"))) std::uint32_t crc_vpclmulqdq(
    const unsigned char* p, std::size_t n, std::uint32_t state) {
  if (n >= 512) {
    const __m512i k = _mm512_set_epi64(
        static_cast<long long>(kFoldSecondHalf), static_cast<long long>(kFoldFirstHalf),
        static_cast<long long>(kFoldSecondHalf), static_cast<long long>(kFoldFirstHalf),
        static_cast<long long>(kFoldSecondHalf), static_cast<long long>(kFoldFirstHalf),
        static_cast<long long>(kFoldSecondHalf), static_cast<long long>(kFoldFirstHalf));
    __m512i x0 = _mm512_loadu_si512(p);
    __m512i x1 = _mm512_loadu_si512(p + 64);
    __m512i x2 = _mm512_loadu_si512(p + 128);
    __m512i x3 = _mm512_loadu_si512(p + 192);
    // The register so far is worth its xor into the first 32 bits of data.
    x0 = _mm512_xor_si512(x0, _mm512_zextsi128_si512(_mm_cvtsi32_si128(static_cast<int>(state))));
    p += 256;
    n -= 256;
    while (n >= 256) {
      // x = H * k_first ^ L * k_second ^ the data 256 bytes on (0x96: three-way xor).
      x0 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x0, k, 0x00),
                                     _mm512_clmulepi64_epi128(x0, k, 0x11), _mm512_loadu_si512(p),
                                     0x96);
      x1 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x1, k, 0x00),
                                     _mm512_clmulepi64_epi128(x1, k, 0x11),
                                     _mm512_loadu_si512(p + 64), 0x96);
      x2 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x2, k, 0x00),
                                     _mm512_clmulepi64_epi128(x2, k, 0x11),
                                     _mm512_loadu_si512(p + 128), 0x96);
      x3 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x3, k, 0x00),
                                     _mm512_clmulepi64_epi128(x3, k, 0x11),
                                     _mm512_loadu_si512(p + 192), 0x96);
      p += 256;
      n -= 256;
    }
    alignas(64) unsigned char pending[256];
    _mm512_store_si512(pending, x0);
    _mm512_store_si512(pending + 64, x1);
    _mm512_store_si512(pending + 128, x2);
    _mm512_store_si512(pending + 192, x3);
    state = crc_sse42(pending, sizeof pending, 0);
  }
  return crc_sse42(p, n, state);
}

bool have_sse42() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}

bool have_vpclmulqdq() {  // with AVX-512 (the checks include the OS saving its registers)
  static const bool have = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("vpclmulqdq");
  return have;
}
#endif

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::uint32_t state = ~crc;
#if defined(SKEIN_CRC32C_X86_64)
  if (have_vpclmulqdq()) return ~crc_vpclmulqdq(p, bytes.size(), state);
  if (have_sse42()) return ~crc_sse42(p, bytes.size(), state);
#endif
  return ~crc_table(p, bytes.size(), state);
}

namespace detail {

std::optional<std::uint32_t> crc32c_using(Crc32cWay way, std::span<const std::byte> bytes,
                                          std::uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::uint32_t state = ~crc;
  switch (way) {
    case Crc32cWay::tables:
      return ~crc_table(p, bytes.size(), state);
#if defined(SKEIN_CRC32C_X86_64)
    case Crc32cWay::sse42:
      if (!have_sse42()) return std::nullopt;
      return ~crc_sse42(p, bytes.size(), state);
    case Crc32cWay::vpclmulqdq:
      if (!have_vpclmulqdq()) return std::nullopt;
      return ~crc_vpclmulqdq(p, bytes.size(), state);
#else
    default:
      return std::nullopt;
#endif
  }
  return std::nullopt;
}

}  // namespace detail

}  // namespace skein::storage
