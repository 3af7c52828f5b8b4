// Converting between PUBLISH packets, events and their stored form (message.hpp).
#include "mqtt/message.hpp"

#include <chrono>
#include <cstring>

#include "core/utf8.hpp"

namespace skein::mqtt {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

core::Event event_from_publish(Publish&& publish, std::int64_t now) {
  core::Event event;
  event.topic = std::move(publish.topic);
  event.payload.assign(reinterpret_cast<const char*>(publish.payload.data()),
                       publish.payload.size());
  event.qos = static_cast<std::uint8_t>(publish.qos);
  event.retain = publish.retain;
  event.timestamp_ms = now;
  Properties& p = publish.properties;
  if (p.payload_format_indicator) event.utf8_payload = *p.payload_format_indicator == 1;
  if (p.message_expiry_interval)
    event.expires_at_ms = now + static_cast<std::int64_t>(*p.message_expiry_interval) * 1000;
  if (p.content_type) event.content_type = std::move(*p.content_type);
  if (p.response_topic) event.response_topic = std::move(*p.response_topic);
  if (p.correlation_data)
    event.correlation_data.emplace(p.correlation_data->begin(), p.correlation_data->end());
  event.headers.reserve(p.user_properties.size());
  for (UserProperty& u : p.user_properties)
    event.headers.push_back(core::Header{std::move(u.name), std::move(u.value)});
  if (publish.qos != QoS::at_most_once) event.delivery = core::DeliveryClass::persistent;
  return event;
}

Publish publish_for(const core::Event& event, QoS qos, bool retain, std::uint16_t packet_id,
                    const std::vector<std::uint32_t>& subscription_ids, ProtocolVersion version,
                    std::int64_t now) {
  Publish out;
  out.qos = qos;
  out.retain = retain;
  out.topic = event.topic;
  out.packet_id = qos == QoS::at_most_once ? 0 : packet_id;
  if (version != ProtocolVersion::v5) return out;
  Properties& p = out.properties;
  if (event.utf8_payload) p.payload_format_indicator = *event.utf8_payload ? 1 : 0;
  if (event.expires_at_ms) {
    // The remaining time, rounded up so that a live message never says 0.
    const std::int64_t left = (*event.expires_at_ms - now + 999) / 1000;
    p.message_expiry_interval = static_cast<std::uint32_t>(std::max<std::int64_t>(left, 1));
  }
  if (!event.content_type.empty() && core::is_valid_utf8(event.content_type))
    p.content_type = event.content_type;
  if (event.response_topic) p.response_topic = *event.response_topic;
  if (event.correlation_data)
    p.correlation_data.emplace(event.correlation_data->begin(), event.correlation_data->end());
  p.subscription_identifiers = subscription_ids;
  for (const core::Header& h : event.headers) {
    // Headers of other faces may be binary: MQTT user properties are UTF-8.
    if (core::is_valid_utf8(h.name) && core::is_valid_utf8(h.value) &&
        h.name.find('\0') == std::string::npos && h.value.find('\0') == std::string::npos &&
        h.name.size() <= 65535 && h.value.size() <= 65535)
      p.user_properties.push_back(UserProperty{h.name, h.value});
  }
  return out;
}

namespace {
void put_i64(std::string& out, std::int64_t value) {
  const auto v = static_cast<std::uint64_t>(value);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::int64_t get_i64(std::string_view bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return static_cast<std::int64_t>(v);
}
constexpr std::size_t kPrefix = 1 + 8 + 8 + 2;
constexpr char kVersion = 1;  // 0 had no packet id; never written outside tests
}  // namespace

std::string encode_stored(const core::Event& event, std::optional<std::uint8_t> qos_override,
                          std::optional<bool> retain_override, std::uint16_t packet_id) {
  std::string out;
  out.push_back(kVersion);
  put_i64(out, event.timestamp_ms);
  put_i64(out, event.expires_at_ms.value_or(-1));
  out.push_back(static_cast<char>(packet_id >> 8));
  out.push_back(static_cast<char>(packet_id & 0xff));
  const auto qos =
      static_cast<QoS>(std::min<std::uint8_t>(qos_override.value_or(published_qos(event)), 2));
  Publish header = publish_for(event, qos, retain_override.value_or(event.retain), 1, {},
                               ProtocolVersion::v5, 0);
  header.properties.message_expiry_interval.reset();  // kept absolute, in the prefix
  Bytes packet;
  const auto* payload = reinterpret_cast<const std::uint8_t*>(event.payload.data());
  encode_publish(header, ByteView(payload, event.payload.size()), ProtocolVersion::v5, packet);
  out.append(reinterpret_cast<const char*>(packet.data()), packet.size());
  return out;
}

std::optional<core::Event> decode_stored(std::string_view bytes, std::uint16_t* packet_id) {
  if (bytes.size() < kPrefix || bytes[0] != kVersion) return std::nullopt;
  const std::int64_t timestamp = get_i64(bytes.substr(1));
  const std::int64_t expires_at = get_i64(bytes.substr(9));
  if (packet_id)
    *packet_id = static_cast<std::uint16_t>((static_cast<unsigned char>(bytes[17]) << 8) |
                                            static_cast<unsigned char>(bytes[18]));
  ByteView packet(reinterpret_cast<const std::uint8_t*>(bytes.data()) + kPrefix,
                  bytes.size() - kPrefix);
  const Frame frame = split_frame(packet);
  if (frame.status != FrameStatus::complete || frame.size != packet.size()) return std::nullopt;
  Publish publish;
  if (decode(packet, ProtocolVersion::v5, publish)) return std::nullopt;
  // The expiry of a stored message is the prefix's absolute time alone (an
  // interval in the packet would be counted from an arbitrary timestamp).
  publish.properties.message_expiry_interval.reset();
  core::Event event = event_from_publish(std::move(publish), timestamp);
  if (expires_at >= 0) event.expires_at_ms = expires_at;
  return event;
}

}  // namespace skein::mqtt
