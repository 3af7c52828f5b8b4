// libFuzzer target for the batch codecs (storage/compression.hpp): the first byte
// picks the codec (modulo 5, so every byte picks one), the rest is decompressed
// under a 1 MiB limit. A failure must be an invalid_batch error naming the codec;
// a success must stay under the limit and survive compress -> decompress
// unchanged. Traps when either breaks.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "storage/compression.hpp"

namespace {

using skein::storage::Codec;

constexpr std::size_t kLimit = 1 << 20;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto codec = skein::storage::codec_from_id(data[0] % 5);
  require(codec.has_value());
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  const auto out = skein::storage::decompress(*codec, input, kLimit);
  if (!out) {
    const std::string prefix = std::string(skein::storage::codec_name(*codec)) + ": ";
    require(out.error().code == skein::storage::Errc::invalid_batch);
    require(out.error().message.rfind(prefix, 0) == 0);
    return 0;
  }
  require(out.value().size() <= kLimit);
  const auto packed = skein::storage::compress(*codec, out.value());
  require(packed.ok());
  const auto again = skein::storage::decompress(*codec, packed.value(), kLimit);
  require(again.ok() && again.value() == out.value());
  return 0;
}
