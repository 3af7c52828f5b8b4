// Helpers shared by the MQTT codec tests: byte literals and decode shortcuts.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "mqtt/protocol/codec.hpp"

namespace skein::mqtt::test {

inline Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

inline Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// Decodes any packet; fails the test with the error message on refusal.
inline Packet must_decode(const Bytes& packet, ProtocolVersion version) {
  Packet out;
  auto error = decode_packet(packet, version, out);
  EXPECT_FALSE(error.has_value()) << (error ? error->message : "");
  return out;
}

// The error decode gives, or a default Error{} with an empty message if none.
inline Error refusal(const Bytes& packet, ProtocolVersion version) {
  Packet out;
  auto error = decode_packet(packet, version, out);
  EXPECT_TRUE(error.has_value()) << "accepted a packet that should be refused";
  return error.value_or(Error{});
}

}  // namespace skein::mqtt::test
