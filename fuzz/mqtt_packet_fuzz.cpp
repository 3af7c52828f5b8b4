// libFuzzer target for the MQTT codec (mqtt/protocol): the first input byte
// picks the protocol version (odd: 5.0, even: 3.1.1), the rest is offered to
// the frame splitter and, when it frames a whole packet, to decode_packet.
// Whatever decodes must encode to bytes that frame to their full length and
// decode to the same value, and encoding that value again must give the same
// bytes (the first encoding is the fixed point: decoding normalises property
// order and the optional short forms, so the input itself is not compared).
#include <cstddef>
#include <cstdint>
#include <span>

#include "mqtt/protocol/codec.hpp"

namespace {

using namespace skein::mqtt;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto version = (data[0] & 1) ? ProtocolVersion::v5 : ProtocolVersion::v311;
  const ByteView input(data + 1, size - 1);

  const Frame frame = split_frame(input, 1 << 20);
  if (frame.status == FrameStatus::complete) {
    require(frame.size <= input.size() && frame.header_size >= 2);
  }
  // Decode the input whole (decode refuses bytes past the frame) as well.
  Packet packet;
  if (decode_packet(input, version, packet)) return 0;
  require(frame.status == FrameStatus::complete && frame.size == input.size());

  // A CONNECT carries its own version; later packets use the caller's.
  const ProtocolVersion encode_version =
      std::holds_alternative<Connect>(packet) ? std::get<Connect>(packet).version : version;
  const Bytes first = encode_packet(packet, encode_version);
  const Frame again = split_frame(first);
  require(again.status == FrameStatus::complete && again.size == first.size());
  Packet second;
  require(!decode_packet(first, encode_version, second));
  require(second == packet);
  require(encode_packet(second, encode_version) == first);
  return 0;
}
