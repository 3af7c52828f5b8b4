// The MQTT frame splitter (mqtt/protocol/codec.hpp split_frame): remaining
// length boundaries from spec table 1.5.5, non-minimal and over-long
// encodings, byte-by-byte arrival, and the maximum packet size.
#include <gtest/gtest.h>

#include "mqtt_test_util.hpp"

namespace skein::mqtt {
namespace {

using test::bytes;

TEST(MqttFrame, EmptyBufferNeedsMore) {
  EXPECT_EQ(split_frame({}).status, FrameStatus::incomplete);
  EXPECT_EQ(split_frame(bytes({0xC0})).status, FrameStatus::incomplete);
}

TEST(MqttFrame, PingreqIsTwoBytes) {
  const Bytes buffer = bytes({0xC0, 0x00, 0xD0, 0x00});  // two packets back to back
  const Frame frame = split_frame(buffer);
  EXPECT_EQ(frame.status, FrameStatus::complete);
  EXPECT_EQ(frame.size, 2u);
  EXPECT_EQ(frame.header_size, 2u);
  EXPECT_EQ(frame.remaining_length, 0u);
}

// Spec 1.5.5: the boundaries of 1, 2, 3 and 4 byte encodings.
TEST(MqttFrame, RemainingLengthBoundaries) {
  struct Case {
    Bytes header;
    std::uint32_t value;
  };
  const Case cases[] = {
      {bytes({0x30, 0x00}), 0},
      {bytes({0x30, 0x7F}), 127},
      {bytes({0x30, 0x80, 0x01}), 128},
      {bytes({0x30, 0xFF, 0x7F}), 16'383},
      {bytes({0x30, 0x80, 0x80, 0x01}), 16'384},
      {bytes({0x30, 0xFF, 0xFF, 0x7F}), 2'097'151},
      {bytes({0x30, 0x80, 0x80, 0x80, 0x01}), 2'097'152},
      {bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}), 268'435'455},
  };
  for (const auto& c : cases) {
    const Frame frame = split_frame(c.header);
    EXPECT_EQ(frame.header_size, c.header.size());
    EXPECT_EQ(frame.remaining_length, c.value);
    EXPECT_EQ(frame.status, c.value == 0 ? FrameStatus::complete : FrameStatus::incomplete);
  }
}

TEST(MqttFrame, NonMinimalLengthIsMalformed) {
  EXPECT_EQ(split_frame(bytes({0x30, 0x80, 0x00})).status, FrameStatus::malformed);
  EXPECT_EQ(split_frame(bytes({0x30, 0xFF, 0x80, 0x00})).status, FrameStatus::malformed);
  EXPECT_EQ(split_frame(bytes({0x30, 0x80, 0x80, 0x80, 0x00})).status, FrameStatus::malformed);
}

TEST(MqttFrame, FifthLengthByteIsMalformed) {
  EXPECT_EQ(split_frame(bytes({0x30, 0x80, 0x80, 0x80, 0x80, 0x01})).status,
            FrameStatus::malformed);
  // Decided as soon as the fourth byte says "continue", without the fifth.
  EXPECT_EQ(split_frame(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF})).status, FrameStatus::malformed);
}

TEST(MqttFrame, ByteByByte) {
  Bytes packet = bytes({0x30, 0x82, 0x01});  // PUBLISH, remaining length 130
  packet.resize(3 + 130, 0x41);
  for (std::size_t n = 0; n < packet.size(); ++n) {
    const Frame frame = split_frame(ByteView(packet).first(n));
    EXPECT_EQ(frame.status, FrameStatus::incomplete) << n;
  }
  const Frame frame = split_frame(packet);
  EXPECT_EQ(frame.status, FrameStatus::complete);
  EXPECT_EQ(frame.size, packet.size());
  EXPECT_EQ(frame.header_size, 3u);
}

TEST(MqttFrame, MaximumPacketSize) {
  Bytes packet = bytes({0x30, 0x08});
  packet.resize(10, 0);
  EXPECT_EQ(split_frame(packet, 10).status, FrameStatus::complete);
  EXPECT_EQ(split_frame(packet, 9).status, FrameStatus::too_large);
  // Known from the header alone, before the body arrives.
  EXPECT_EQ(split_frame(bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F}), 1'000'000).status,
            FrameStatus::too_large);
  EXPECT_EQ(split_frame(bytes({0x30, 0x08}), 9).status, FrameStatus::too_large);
}

}  // namespace
}  // namespace skein::mqtt
