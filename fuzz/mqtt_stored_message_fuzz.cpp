// libFuzzer target for the stored form of MQTT messages (mqtt/message.hpp),
// which the node reads back from __mqtt_sessions and __mqtt_retained at
// start: any bytes either decode or are refused, and whatever decodes
// encodes to bytes that decode to the same message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mqtt/message.hpp"

namespace {
void require(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::uint16_t packet_id = 0;
  auto event = skein::mqtt::decode_stored(input, &packet_id);
  if (!event) return 0;
  const std::string again =
      skein::mqtt::encode_stored(*event, std::nullopt, std::nullopt, packet_id);
  std::uint16_t packet_id_again = 0;
  auto back = skein::mqtt::decode_stored(again, &packet_id_again);
  require(packet_id_again == packet_id);
  require(back.has_value());
  require(back->topic == event->topic && back->payload == event->payload);
  require(back->qos == event->qos && back->retain == event->retain);
  require(back->expires_at_ms == event->expires_at_ms);
  require(back->timestamp_ms == event->timestamp_ms);
  require(back->headers.size() == event->headers.size());
  require(back->response_topic == event->response_topic);
  require(back->correlation_data == event->correlation_data);
  require(back->content_type == event->content_type);
  return 0;
}
