// CRC-32C (Castagnoli), the checksum of Kafka's v2 record batch (record_batch.hpp).
// Hand-written because Debian packages no C/C++ CRC-32C library, and because it runs
// over every byte appended to or recovered from a log: SSE4.2's crc32 instruction when
// the CPU has it (checked once), else slice-by-8 over tables built at compile time.
// Reflected polynomial 0x82F63B78, initial value ~0, final xor ~0.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "storage/record_batch.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define SKEIN_CRC32C_X86 1
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

#if defined(SKEIN_CRC32C_X86)
__attribute__((target("sse4.2"))) std::uint32_t crc_sse42(const unsigned char* p, std::size_t n,
                                                          std::uint32_t state) {
#if defined(__x86_64__)
  std::uint64_t wide = state;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // little-endian load, as the reflected CRC wants
    wide = _mm_crc32_u64(wide, word);
    p += 8;
    n -= 8;
  }
  state = static_cast<std::uint32_t>(wide);
#endif
  while (n-- > 0) state = _mm_crc32_u8(state, *p++);
  return state;
}

bool have_sse42() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::uint32_t state = ~crc;
#if defined(SKEIN_CRC32C_X86)
  if (have_sse42()) return ~crc_sse42(p, bytes.size(), state);
#endif
  return ~crc_table(p, bytes.size(), state);
}

}  // namespace skein::storage
