// The frame splitter: where one MQTT packet ends in a byte stream (spec 2.1.4).
#include "mqtt/protocol/codec.hpp"

namespace skein::mqtt {

Frame split_frame(ByteView buffer, std::size_t max_packet_size) {
  Frame frame;
  if (buffer.empty()) return frame;
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (buffer.size() < i + 2) return frame;  // incomplete
    const std::uint8_t byte = buffer[i + 1];
    value |= std::uint32_t{byte & 0x7Fu} << (7 * i);
    if (byte & 0x80) continue;
    // A final zero byte after the first makes the encoding non-minimal [MQTT-1.5.5-1].
    if (i > 0 && byte == 0) {
      frame.status = FrameStatus::malformed;
      return frame;
    }
    frame.header_size = i + 2;
    frame.remaining_length = value;
    const std::size_t size = frame.header_size + value;
    // Decided as soon as the length is known, so a listener never buffers an
    // oversized packet before refusing it.
    if (size > max_packet_size) {
      frame.status = FrameStatus::too_large;
      return frame;
    }
    if (buffer.size() < size) return frame;
    frame.status = FrameStatus::complete;
    frame.size = size;
    return frame;
  }
  frame.status = FrameStatus::malformed;  // a fifth length byte
  return frame;
}

}  // namespace skein::mqtt
