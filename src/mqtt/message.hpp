// MQTT messages and mesh events, both ways, and the stored form of a message
// (sessions' queued messages and retained messages in internal streams).
//
// An MQTT PUBLISH becomes an event: topic, payload, QoS, retain, and the v5
// properties (user properties as headers, content type, payload format,
// expiry as an absolute time, response topic, correlation data). Back out,
// the event becomes a PUBLISH header whose payload is the event's own buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.hpp"
#include "mqtt/protocol/codec.hpp"

namespace skein::mqtt {

std::int64_t now_ms();

// The event of a PUBLISH received now (its topic already checked).
core::Event event_from_publish(Publish&& publish, std::int64_t now);

// The QoS an event was published with, as MQTT sees it.
inline std::uint8_t published_qos(const core::Event& event) {
  return std::max<std::uint8_t>(event.qos,
                                event.delivery == core::DeliveryClass::persistent ? 1 : 0);
}

// True once an event with a message expiry has expired.
inline bool expired(const core::Event& event, std::int64_t now) {
  return event.expires_at_ms && *event.expires_at_ms <= now;
}

// The PUBLISH (without payload) that delivers `event` to one subscriber.
Publish publish_for(const core::Event& event, QoS qos, bool retain, std::uint16_t packet_id,
                    const std::vector<std::uint32_t>& subscription_ids, ProtocolVersion version,
                    std::int64_t now);

// The stored form: a version byte, the timestamp, the expiry time, the
// packet id it was last sent with (0: not sent), then the message as a v5
// PUBLISH (whose decoder is fuzzed). `qos` and `retain`, when given,
// replace the event's own (a session stores a message as it will deliver it).
std::string encode_stored(const core::Event& event, std::optional<std::uint8_t> qos = std::nullopt,
                          std::optional<bool> retain = std::nullopt, std::uint16_t packet_id = 0);
// nullopt when the bytes are not a stored message; `packet_id`, when given,
// receives the packet id it was sent with.
std::optional<core::Event> decode_stored(std::string_view bytes,
                                         std::uint16_t* packet_id = nullptr);

}  // namespace skein::mqtt
