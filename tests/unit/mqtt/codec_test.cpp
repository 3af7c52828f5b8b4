// The MQTT packet codec (mqtt/protocol/codec.hpp): round trips of every
// packet for both versions, every truncation of those packets, and each
// normative statement decode enforces, with the malformed / protocol error
// split that picks the v5 reason code.
#include <gtest/gtest.h>

#include "mqtt_test_util.hpp"
#include "samples.hpp"

namespace skein::mqtt {
namespace {

using test::bytes;
using test::must_decode;
using test::refusal;
using test::text;
constexpr auto v311 = ProtocolVersion::v311;
constexpr auto v5 = ProtocolVersion::v5;

class MqttRoundTrip : public ::testing::TestWithParam<ProtocolVersion> {};

TEST_P(MqttRoundTrip, EveryPacket) {
  const auto version = GetParam();
  for (const auto& packet : test::samples(version)) {
    SCOPED_TRACE(packet_type_name(packet_type(packet)));
    const Bytes wire = encode_packet(packet, version);
    const Frame frame = split_frame(wire);
    ASSERT_EQ(frame.status, FrameStatus::complete);
    ASSERT_EQ(frame.size, wire.size());
    EXPECT_EQ(must_decode(wire, version), packet);
  }
}

// Every prefix of a valid packet is refused; so is every shortened body under
// a remaining length that matches it, unless the spec makes the rest optional
// (then the shorter packet must itself round-trip).
TEST_P(MqttRoundTrip, EveryTruncation) {
  const auto version = GetParam();
  for (const auto& packet : test::samples(version)) {
    SCOPED_TRACE(packet_type_name(packet_type(packet)));
    const Bytes wire = encode_packet(packet, version);
    const std::size_t header = split_frame(wire).header_size;
    for (std::size_t n = 0; n < wire.size(); ++n) {
      Packet out;
      EXPECT_TRUE(decode_packet(ByteView(wire).first(n), version, out).has_value()) << n;
    }
    for (std::size_t body = 0; body + header < wire.size(); ++body) {
      Bytes cut{wire[0]};
      Bytes length;
      // A one-byte length stands in for the real one: bodies here are small
      // unless the sample is large, then the two-byte form.
      if (body < 128) {
        cut.push_back(static_cast<std::uint8_t>(body));
      } else {
        cut.push_back(static_cast<std::uint8_t>(0x80 | (body & 0x7F)));
        cut.push_back(static_cast<std::uint8_t>(body >> 7));
      }
      cut.insert(cut.end(), wire.begin() + static_cast<std::ptrdiff_t>(header),
                 wire.begin() + static_cast<std::ptrdiff_t>(header + body));
      Packet out;
      if (!decode_packet(cut, version, out)) {
        EXPECT_NE(out, packet) << body;
        EXPECT_EQ(must_decode(encode_packet(out, version), version), out) << body;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, MqttRoundTrip, ::testing::Values(v311, v5),
                         [](const auto& info) {
                           return info.param == v5 ? std::string("v5") : std::string("v311");
                         });

void expect_refused(const Bytes& wire, ProtocolVersion version, ErrorKind kind,
                    std::string_view statement) {
  const Error error = refusal(wire, version);
  EXPECT_EQ(error.kind, kind) << error.message;
  EXPECT_NE(error.message.find(statement), std::string::npos) << error.message;
}

TEST(MqttValidation, ReservedFixedHeaderFlags) {
  expect_refused(bytes({0x60, 0x02, 0x00, 0x01}), v5, ErrorKind::malformed, "MQTT-2.1.3-1");
  expect_refused(bytes({0x60, 0x02, 0x00, 0x01}), v311, ErrorKind::malformed, "MQTT-2.2.2-1");
  expect_refused(bytes({0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}), v311, ErrorKind::malformed,
                 "MQTT-2.2.2-1");
  expect_refused(bytes({0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}), v311, ErrorKind::malformed,
                 "MQTT-2.2.2-1");
  expect_refused(bytes({0x21, 0x02, 0x00, 0x00}), v311, ErrorKind::malformed, "MQTT-2.2.2-1");
  expect_refused(bytes({0xC1, 0x00}), v5, ErrorKind::malformed, "MQTT-2.1.3-1");
  expect_refused(bytes({0xE8, 0x00}), v5, ErrorKind::malformed, "MQTT-2.1.3-1");
  expect_refused(bytes({0x00, 0x00}), v5, ErrorKind::malformed, "type 0 is reserved");
  expect_refused(bytes({0xF0, 0x00}), v311, ErrorKind::malformed, "reserved in MQTT 3.1.1");
}

TEST(MqttValidation, PublishFlags) {
  expect_refused(bytes({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}), v311, ErrorKind::malformed,
                 "MQTT-3.3.1-4");
  expect_refused(bytes({0x38, 0x03, 0x00, 0x01, 't'}), v311, ErrorKind::protocol_error,
                 "MQTT-3.3.1-2");
}

TEST(MqttValidation, PacketIdentifierZero) {
  expect_refused(bytes({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}), v311, ErrorKind::protocol_error,
                 "MQTT-2.3.1-1");
  expect_refused(bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x00, 0x00}), v5,
                 ErrorKind::protocol_error, "MQTT-2.2.1-3");
  expect_refused(bytes({0x40, 0x02, 0x00, 0x00}), v5, ErrorKind::protocol_error, "MQTT-2.2.1-3");
  expect_refused(bytes({0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}), v311,
                 ErrorKind::protocol_error, "MQTT-2.3.1-1");
  expect_refused(bytes({0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a'}), v311, ErrorKind::protocol_error,
                 "MQTT-2.3.1-1");
  expect_refused(bytes({0x90, 0x03, 0x00, 0x00, 0x00}), v311, ErrorKind::protocol_error,
                 "MQTT-2.3.1-1");
}

TEST(MqttValidation, Utf8Strings) {
  // Overlong NUL, a UTF-16 surrogate (U+D800), a bare continuation byte, U+0000.
  expect_refused(bytes({0x30, 0x04, 0x00, 0x02, 0xC0, 0x80}), v311, ErrorKind::malformed,
                 "MQTT-1.5.3-1");
  expect_refused(bytes({0x30, 0x06, 0x00, 0x03, 0xED, 0xA0, 0x80, 0x00}), v5, ErrorKind::malformed,
                 "MQTT-1.5.4-1");
  expect_refused(bytes({0x30, 0x03, 0x00, 0x01, 0x80}), v311, ErrorKind::malformed, "MQTT-1.5.3-1");
  expect_refused(bytes({0x30, 0x05, 0x00, 0x02, 'a', 0x00, 0x00}), v5, ErrorKind::malformed,
                 "MQTT-1.5.4-2");
  expect_refused(bytes({0x30, 0x04, 0x00, 0x02, 'a', 0x00}), v311, ErrorKind::malformed,
                 "MQTT-1.5.3-2");
  // U+FEFF is a character like any other [MQTT-1.5.4-3].
  auto packet = must_decode(bytes({0x30, 0x05, 0x00, 0x03, 0xEF, 0xBB, 0xBF}), v311);
  EXPECT_EQ(std::get<Publish>(packet).topic, "\xEF\xBB\xBF");
}

TEST(MqttValidation, Subscribe) {
  expect_refused(bytes({0x82, 0x02, 0x00, 0x01}), v311, ErrorKind::malformed, "MQTT-3.8.3-3");
  expect_refused(bytes({0x82, 0x03, 0x00, 0x01, 0x00}), v5, ErrorKind::protocol_error,
                 "MQTT-3.8.3-2");
  expect_refused(bytes({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04}), v311, ErrorKind::malformed,
                 "MQTT-3.8.3-4");
  expect_refused(bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40}), v5,
                 ErrorKind::malformed, "MQTT-3.8.3-5");
  expect_refused(bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03}), v5,
                 ErrorKind::protocol_error, "QoS 3");
  expect_refused(bytes({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30}), v5,
                 ErrorKind::protocol_error, "retain handling 3");
  Bytes shared = bytes({0x82, 0x0F, 0x00, 0x01, 0x00, 0x00, 0x09});
  for (char c : std::string_view("$share/g/")) shared.push_back(static_cast<std::uint8_t>(c));
  shared.push_back(0x04);  // no local
  expect_refused(shared, v5, ErrorKind::protocol_error, "MQTT-3.8.3-4");
  // Missing options byte after the filter: a length past the end.
  expect_refused(bytes({0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}), v311, ErrorKind::malformed,
                 "past the end");
}

TEST(MqttValidation, Unsubscribe) {
  expect_refused(bytes({0xA2, 0x02, 0x00, 0x01}), v311, ErrorKind::malformed, "MQTT-3.10.3-2");
  expect_refused(bytes({0xA2, 0x03, 0x00, 0x01, 0x00}), v5, ErrorKind::protocol_error,
                 "MQTT-3.10.3-2");
}

// A packet of one-byte remaining length around `body`. Built byte by byte:
// GCC 12 at -O3 reports a false array-bounds overlap for insert() here.
Bytes frame_of(std::uint8_t first, const Bytes& body) {
  Bytes packet{first, static_cast<std::uint8_t>(body.size())};
  for (std::uint8_t b : body) packet.push_back(b);
  return packet;
}

Bytes connect_with(std::string_view name, std::uint8_t level, std::uint8_t flags) {
  Bytes body;
  body.push_back(0);
  body.push_back(static_cast<std::uint8_t>(name.size()));
  body.insert(body.end(), name.begin(), name.end());
  body.push_back(level);
  body.push_back(flags);
  body.push_back(0);
  body.push_back(60);
  if (level == 5) body.push_back(0);  // property length
  for (int v : std::initializer_list<int>{0x00, 0x01, 'c'})
    body.push_back(static_cast<std::uint8_t>(v));
  return frame_of(0x10, body);
}

TEST(MqttValidation, ConnectHeader) {
  EXPECT_EQ(std::get<Connect>(must_decode(connect_with("MQTT", 4, 0x02), v5)).version, v311);
  EXPECT_EQ(std::get<Connect>(must_decode(connect_with("MQTT", 5, 0x02), v311)).version, v5);
  const Error name = refusal(connect_with("MQIsdp", 3, 0x02), v5);
  EXPECT_EQ(name.kind, ErrorKind::unsupported_protocol);
  EXPECT_NE(name.message.find("MQTT-3.1.2-1"), std::string::npos);
  EXPECT_EQ(name.reason_code(), 0x84);
  const Error level = refusal(connect_with("MQTT", 6, 0x02), v5);
  EXPECT_EQ(level.kind, ErrorKind::unsupported_protocol);
  EXPECT_NE(level.message.find("MQTT-3.1.2-2"), std::string::npos);
  expect_refused(connect_with("MQTT", 4, 0x03), v311, ErrorKind::malformed, "MQTT-3.1.2-3");
  expect_refused(connect_with("MQTT", 5, 0x01), v5, ErrorKind::malformed, "MQTT-3.1.2-3");
}

TEST(MqttValidation, ConnectWillFlags) {
  expect_refused(connect_with("MQTT", 4, 0x08), v311, ErrorKind::malformed, "MQTT-3.1.2-13");
  expect_refused(connect_with("MQTT", 5, 0x10), v5, ErrorKind::malformed, "MQTT-3.1.2-11");
  expect_refused(connect_with("MQTT", 4, 0x1C), v311, ErrorKind::malformed, "MQTT-3.1.2-14");
  expect_refused(connect_with("MQTT", 5, 0x1C), v5, ErrorKind::malformed, "MQTT-3.1.2-12");
  expect_refused(connect_with("MQTT", 4, 0x20), v311, ErrorKind::malformed, "MQTT-3.1.2-15");
  expect_refused(connect_with("MQTT", 5, 0x20), v5, ErrorKind::malformed, "MQTT-3.1.2-13");
  // Will flag set but no will topic/payload follow: past the end.
  expect_refused(connect_with("MQTT", 4, 0x04), v311, ErrorKind::malformed, "past the end");
}

TEST(MqttValidation, ConnectCredentials) {
  expect_refused(connect_with("MQTT", 4, 0x40), v311, ErrorKind::malformed, "MQTT-3.1.2-22");
  // v5 accepts a password alone; here it is missing, so the bytes run out.
  expect_refused(connect_with("MQTT", 5, 0x40), v5, ErrorKind::malformed, "password");
  expect_refused(connect_with("MQTT", 4, 0x80), v311, ErrorKind::malformed, "user name");
}

TEST(MqttValidation, TrailingBytes) {
  expect_refused(bytes({0xC0, 0x01, 0x00}), v311, ErrorKind::malformed, "unexpected bytes");
  expect_refused(bytes({0xE0, 0x01, 0x00}), v311, ErrorKind::malformed, "unexpected bytes");
  expect_refused(bytes({0x20, 0x03, 0x00, 0x00, 0x00}), v311, ErrorKind::malformed,
                 "unexpected bytes");
  expect_refused(bytes({0xB0, 0x03, 0x00, 0x01, 0x00}), v311, ErrorKind::malformed,
                 "unexpected bytes");
  expect_refused(bytes({0x40, 0x03, 0x00, 0x01, 0x00}), v311, ErrorKind::malformed,
                 "unexpected bytes");
  // Bytes after the packet the remaining length describes.
  expect_refused(bytes({0xC0, 0x00, 0x00}), v311, ErrorKind::malformed, "after the remaining");
  expect_refused(bytes({0x20, 0x02, 0x02, 0x00}), v5, ErrorKind::malformed, "MQTT-3.2.2-1");
}

TEST(MqttValidation, LengthsPastTheEnd) {
  expect_refused(bytes({0x30, 0x03, 0x00, 0x05, 'a'}), v311, ErrorKind::malformed,
                 "topic name runs past the end");
  expect_refused(bytes({0x30, 0x05, 0x00, 0x01, 't', 0x05, 0x01}), v5, ErrorKind::malformed,
                 "properties runs past the end");
  expect_refused(bytes({0x30, 0x80, 0x00}), v311, ErrorKind::malformed, "MQTT-1.5.5-1");
}

// Property helpers: a v5 PUBLISH (QoS 0, topic "t") or CONNACK with the given
// property block.
Bytes publish_with(std::initializer_list<int> property_block) {
  Bytes body = bytes({0x00, 0x01, 't', static_cast<int>(property_block.size())});
  for (int v : property_block) body.push_back(static_cast<std::uint8_t>(v));
  return frame_of(0x30, body);
}

Bytes connack_with(std::initializer_list<int> property_block) {
  Bytes packet{0x20, static_cast<std::uint8_t>(3 + property_block.size()), 0x00, 0x00,
               static_cast<std::uint8_t>(property_block.size())};
  for (int v : property_block) packet.push_back(static_cast<std::uint8_t>(v));
  return packet;
}

TEST(MqttProperties, DuplicatesAreProtocolErrors) {
  expect_refused(publish_with({0x23, 0x00, 0x01, 0x23, 0x00, 0x02}), v5, ErrorKind::protocol_error,
                 "more than once");
  expect_refused(connack_with({0x24, 0x00, 0x24, 0x01}), v5, ErrorKind::protocol_error,
                 "more than once");
  // User properties and PUBLISH subscription identifiers may repeat.
  auto ok = must_decode(publish_with({0x0B, 0x01, 0x0B, 0x02, 0x26, 0x00, 0x00, 0x00, 0x00, 0x26,
                                      0x00, 0x00, 0x00, 0x00}),
                        v5);
  EXPECT_EQ(std::get<Publish>(ok).properties.subscription_identifiers,
            (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(std::get<Publish>(ok).properties.user_properties.size(), 2u);
  // SUBSCRIBE allows one subscription identifier.
  expect_refused(
      bytes({0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 'a', 0x00}), v5,
      ErrorKind::protocol_error, "more than once");
}

TEST(MqttProperties, NotAllowedOrUnknownIsMalformed) {
  expect_refused(publish_with({0x11, 0x00, 0x00, 0x00, 0x01}), v5, ErrorKind::malformed,
                 "not allowed");
  expect_refused(connack_with({0x23, 0x00, 0x01}), v5, ErrorKind::malformed, "not allowed");
  expect_refused(publish_with({0x7F, 0x00}), v5, ErrorKind::malformed, "not allowed");
  expect_refused(bytes({0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x23, 0x00}), v5, ErrorKind::malformed,
                 "not allowed");
  // Non-minimal variable byte integers inside the block.
  expect_refused(publish_with({0x0B, 0x81, 0x00}), v5, ErrorKind::malformed, "MQTT-1.5.5-1");
  expect_refused(publish_with({0x8B, 0x00, 0x01}), v5, ErrorKind::malformed, "MQTT-1.5.5-1");
}

TEST(MqttProperties, ValueRules) {
  expect_refused(publish_with({0x0B, 0x00}), v5, ErrorKind::protocol_error, "identifier 0");
  expect_refused(publish_with({0x23, 0x00, 0x00}), v5, ErrorKind::protocol_error, "MQTT-3.3.2-8");
  expect_refused(connack_with({0x21, 0x00, 0x00}), v5, ErrorKind::protocol_error,
                 "receive maximum 0");
  expect_refused(connack_with({0x27, 0x00, 0x00, 0x00, 0x00}), v5, ErrorKind::protocol_error,
                 "maximum packet size 0");
  expect_refused(connack_with({0x24, 0x02}), v5, ErrorKind::protocol_error, "not 0 or 1");
  expect_refused(connack_with({0x16, 0x00, 0x00}), v5, ErrorKind::protocol_error,
                 "authentication data without");
  expect_refused(publish_with({0x03, 0x00, 0x01, 0xFF}), v5, ErrorKind::malformed, "content type");
  expect_refused(publish_with({0x02, 0x00, 0x00}), v5, ErrorKind::malformed,
                 "message expiry interval runs past the end");
}

TEST(MqttProperties, ReasonCodesOfErrors) {
  EXPECT_EQ((Error{ErrorKind::malformed, ""}.reason_code()), 0x81);
  EXPECT_EQ((Error{ErrorKind::protocol_error, ""}.reason_code()), 0x82);
}

TEST(MqttTopics, Names) {
  EXPECT_FALSE(check_mqtt_topic_name("a/b/c"));
  EXPECT_FALSE(check_mqtt_topic_name("/"));
  EXPECT_NE(check_mqtt_topic_name("")->find("MQTT-4.7.3-1"), std::string::npos);
  EXPECT_NE(check_mqtt_topic_name("a/+")->find("MQTT-3.3.2-2"), std::string::npos);
  EXPECT_NE(check_mqtt_topic_name("a/#")->find("MQTT-3.3.2-2"), std::string::npos);
}

TEST(MqttTopics, Filters) {
  for (std::string_view ok : {"#", "+", "a/#", "+/+/c", "/+", "a//b", "$share/g/#"}) {
    EXPECT_FALSE(check_mqtt_topic_filter(ok)) << ok;
  }
  EXPECT_NE(check_mqtt_topic_filter("a/#/b")->find("MQTT-4.7.1-1"), std::string::npos);
  EXPECT_NE(check_mqtt_topic_filter("a#")->find("MQTT-4.7.1-1"), std::string::npos);
  EXPECT_NE(check_mqtt_topic_filter("a+/b")->find("MQTT-4.7.1-2"), std::string::npos);
  EXPECT_NE(check_mqtt_topic_filter("")->find("MQTT-4.7.3-1"), std::string::npos);
}

}  // namespace
}  // namespace skein::mqtt
