// Big-endian fields of the internal tables' records (consumer offsets, MQTT
// sessions): an appender, and a reader that fails once on overrun and stays
// failed, so a decoder checks `ok` once at the end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skein::runtime {

inline void put_field(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

struct FieldReader {
  std::string_view rest;
  bool ok = true;

  std::uint64_t get(int bytes) {
    if (rest.size() < static_cast<std::size_t>(bytes)) {
      ok = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(rest[i]);
    rest.remove_prefix(bytes);
    return v;
  }
  // A string after its two-byte length.
  std::string text() {
    const auto n = get(2);
    if (!ok || rest.size() < n) {
      ok = false;
      return {};
    }
    std::string s(rest.substr(0, n));
    rest.remove_prefix(n);
    return s;
  }
};

}  // namespace skein::runtime
