// Byte helpers for the Kafka codec tests: hex text to bytes and back, and
// encoding a message or a frame into one flat buffer.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/protocol/writer.hpp"

namespace skein::kafka::test {

// "00 12 ab" (spaces, newlines and '|' ignored) to bytes.
inline std::vector<std::byte> hex(std::string_view text) {
  std::vector<std::byte> out;
  int high = -1;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '|') continue;
    const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                              : -1;
    EXPECT_GE(v, 0) << "bad hex character '" << c << "'";
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::byte>(high * 16 + v));
      high = -1;
    }
  }
  EXPECT_EQ(high, -1) << "odd number of hex digits";
  return out;
}

inline std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0) out += ' ';
    const auto b = std::to_integer<unsigned>(bytes[i]);
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

inline std::vector<std::byte> text_bytes(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

// The writer's whole output (file pieces read back).
inline std::vector<std::byte> flat(const Writer& writer) {
  auto bytes = writer.flatten();
  EXPECT_TRUE(bytes.has_value());
  return bytes.value_or(std::vector<std::byte>{});
}

template <class Message>
std::vector<std::byte> encoded(const Message& message, std::int16_t version) {
  Writer writer;
  message.encode(writer, version);
  EXPECT_TRUE(writer.ok()) << (writer.error() ? writer.error() : "");
  return flat(writer);
}

}  // namespace skein::kafka::test
