// v5 properties (spec 2.2.2): the property block of every v5 packet, with the
// table of which identifier each packet allows (table 2-4) and the value
// rules the spec states as protocol errors.
#include <string>

#include "mqtt/protocol/wire.hpp"

namespace skein::mqtt::wire {
namespace {

using enum PropertyContext;

constexpr std::uint16_t mask(std::initializer_list<PropertyContext> contexts) {
  std::uint16_t m = 0;
  for (auto c : contexts) m |= static_cast<std::uint16_t>(c);
  return m;
}

// Which packets may carry each identifier; 0 means unknown identifier.
std::uint16_t allowed_in(std::uint32_t id) {
  switch (id) {
    case property_id::payload_format_indicator:
    case property_id::message_expiry_interval:
    case property_id::content_type:
    case property_id::response_topic:
    case property_id::correlation_data:
      return mask({publish, will});
    case property_id::subscription_identifier:
      return mask({publish, subscribe});
    case property_id::session_expiry_interval:
      return mask({connect, connack, disconnect});
    case property_id::assigned_client_identifier:
    case property_id::server_keep_alive:
    case property_id::response_information:
    case property_id::maximum_qos:
    case property_id::retain_available:
    case property_id::wildcard_subscription_available:
    case property_id::subscription_identifier_available:
    case property_id::shared_subscription_available:
      return mask({connack});
    case property_id::authentication_method:
    case property_id::authentication_data:
      return mask({connect, connack, auth});
    case property_id::request_problem_information:
    case property_id::request_response_information:
      return mask({connect});
    case property_id::will_delay_interval:
      return mask({will});
    case property_id::server_reference:
      return mask({connack, disconnect});
    case property_id::reason_string:
      return mask({connack, publish_response, suback, unsuback, disconnect, auth});
    case property_id::receive_maximum:
    case property_id::topic_alias_maximum:
    case property_id::maximum_packet_size:
      return mask({connect, connack});
    case property_id::topic_alias:
      return mask({publish});
    case property_id::user_property:
      return 0xFFFF;
    default:
      return 0;
  }
}

std::string hex(std::uint32_t id) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string text = "0x";
  text += digits[(id >> 4) & 0xF];
  text += digits[id & 0xF];
  return text;
}

class PropertyReader {
 public:
  PropertyReader(Reader& reader, Properties& out) : r_(reader), out_(out) {}

  bool read(std::uint32_t id) {
    switch (id) {
      case property_id::payload_format_indicator:
        return once(out_.payload_format_indicator, id,
                    [&](auto& v) { return byte01(v, id, false); });
      case property_id::message_expiry_interval:
        return once(out_.message_expiry_interval, id,
                    [&](auto& v) { return r_.u32(v, "message expiry interval"); });
      case property_id::content_type:
        return once(out_.content_type, id, [&](auto& v) { return r_.utf8(v, "content type"); });
      case property_id::response_topic:
        return once(out_.response_topic, id, [&](auto& v) { return r_.utf8(v, "response topic"); });
      case property_id::correlation_data:
        return once(out_.correlation_data, id,
                    [&](auto& v) { return r_.binary(v, "correlation data"); });
      case property_id::subscription_identifier: {
        // PUBLISH may carry several (one per matching subscription); SUBSCRIBE one.
        if (r_.type() != PacketType::publish && !out_.subscription_identifiers.empty()) {
          return duplicate(id);
        }
        std::uint32_t value = 0;
        if (!r_.vbi(value, "subscription identifier")) return false;
        if (value == 0) {
          return r_.fail(ErrorKind::protocol_error, "MQTT-3.8.2-1: subscription identifier 0");
        }
        out_.subscription_identifiers.push_back(value);
        return true;
      }
      case property_id::session_expiry_interval:
        return once(out_.session_expiry_interval, id,
                    [&](auto& v) { return r_.u32(v, "session expiry interval"); });
      case property_id::assigned_client_identifier:
        return once(out_.assigned_client_identifier, id,
                    [&](auto& v) { return r_.utf8(v, "assigned client identifier"); });
      case property_id::server_keep_alive:
        return once(out_.server_keep_alive, id,
                    [&](auto& v) { return r_.u16(v, "server keep alive"); });
      case property_id::authentication_method:
        return once(out_.authentication_method, id,
                    [&](auto& v) { return r_.utf8(v, "authentication method"); });
      case property_id::authentication_data:
        return once(out_.authentication_data, id,
                    [&](auto& v) { return r_.binary(v, "authentication data"); });
      case property_id::request_problem_information:
        return once(out_.request_problem_information, id,
                    [&](auto& v) { return byte01(v, id, true); });
      case property_id::will_delay_interval:
        return once(out_.will_delay_interval, id,
                    [&](auto& v) { return r_.u32(v, "will delay interval"); });
      case property_id::request_response_information:
        return once(out_.request_response_information, id,
                    [&](auto& v) { return byte01(v, id, true); });
      case property_id::response_information:
        return once(out_.response_information, id,
                    [&](auto& v) { return r_.utf8(v, "response information"); });
      case property_id::server_reference:
        return once(out_.server_reference, id,
                    [&](auto& v) { return r_.utf8(v, "server reference"); });
      case property_id::reason_string:
        return once(out_.reason_string, id, [&](auto& v) { return r_.utf8(v, "reason string"); });
      case property_id::receive_maximum:
        return once(out_.receive_maximum, id,
                    [&](auto& v) { return nonzero16(v, "receive maximum"); });
      case property_id::topic_alias_maximum:
        return once(out_.topic_alias_maximum, id,
                    [&](auto& v) { return r_.u16(v, "topic alias maximum"); });
      case property_id::topic_alias:
        return once(out_.topic_alias, id, [&](auto& v) { return nonzero16(v, "topic alias"); });
      case property_id::maximum_qos:
        return once(out_.maximum_qos, id, [&](auto& v) { return byte01(v, id, true); });
      case property_id::retain_available:
        return once(out_.retain_available, id, [&](auto& v) { return byte01(v, id, true); });
      case property_id::user_property: {
        UserProperty pair;
        if (!r_.utf8(pair.name, "user property name") ||
            !r_.utf8(pair.value, "user property value")) {
          return false;
        }
        out_.user_properties.push_back(std::move(pair));
        return true;
      }
      case property_id::maximum_packet_size:
        return once(out_.maximum_packet_size, id, [&](auto& v) {
          if (!r_.u32(v, "maximum packet size")) return false;
          if (v == 0)
            return r_.fail(ErrorKind::protocol_error, "maximum packet size 0 (spec 3.1.2.11.4)");
          return true;
        });
      case property_id::wildcard_subscription_available:
        return once(out_.wildcard_subscription_available, id,
                    [&](auto& v) { return byte01(v, id, true); });
      case property_id::subscription_identifier_available:
        return once(out_.subscription_identifier_available, id,
                    [&](auto& v) { return byte01(v, id, true); });
      case property_id::shared_subscription_available:
        return once(out_.shared_subscription_available, id,
                    [&](auto& v) { return byte01(v, id, true); });
      default:
        return r_.fail(ErrorKind::malformed, "unknown property identifier " + hex(id));
    }
  }

 private:
  template <typename T, typename Read>
  bool once(std::optional<T>& slot, std::uint32_t id, Read read) {
    if (slot) return duplicate(id);
    T value{};
    if (!read(value)) return false;
    slot = std::move(value);
    return true;
  }

  bool duplicate(std::uint32_t id) {
    return r_.fail(ErrorKind::protocol_error, std::string(packet_type_name(r_.type())) +
                                                  ": property " + hex(id) +
                                                  " included more than once (spec 2.2.2.2)");
  }

  // A byte property whose only values are 0 and 1; `strict` when the spec
  // calls any other value a protocol error (the Payload Format Indicator's
  // other values are left to the receiver).
  bool byte01(std::uint8_t& value, std::uint32_t id, bool strict) {
    if (!r_.u8(value, "byte property")) return false;
    if (strict && value > 1) {
      return r_.fail(ErrorKind::protocol_error, "property " + hex(id) + " has value " +
                                                    std::to_string(value) + ", not 0 or 1");
    }
    return true;
  }

  bool nonzero16(std::uint16_t& value, const char* field) {
    if (!r_.u16(value, field)) return false;
    if (value == 0) {
      return r_.fail(
          ErrorKind::protocol_error,
          std::string(r_.type() == PacketType::publish ? "MQTT-3.3.2-8: " : "") + field + " 0");
    }
    return true;
  }

  Reader& r_;
  Properties& out_;
};

}  // namespace

bool read_properties(Reader& reader, PropertyContext context, Properties& out) {
  std::uint32_t length = 0;
  if (!reader.vbi(length, "property length")) return false;
  std::size_t previous_end = 0;
  if (!reader.limit(length, previous_end, "properties")) return false;
  PropertyReader properties(reader, out);
  while (reader.ok() && reader.remaining() > 0) {
    std::uint32_t id = 0;
    // The identifier is a variable byte integer, though all are one byte today.
    if (!reader.vbi(id, "property identifier")) break;
    if ((allowed_in(id) & static_cast<std::uint16_t>(context)) == 0) {
      // Spec 2.2.2.2: an identifier not valid for the packet is a malformed packet.
      reader.fail(ErrorKind::malformed, std::string(packet_type_name(reader.type())) +
                                            ": property " + hex(id) + " is not allowed here");
      break;
    }
    properties.read(id);
  }
  if (!reader.ok()) return false;
  reader.restore(previous_end);
  if (out.authentication_data && !out.authentication_method) {
    return reader.fail(ErrorKind::protocol_error,
                       "authentication data without an authentication method (spec 3.1.2.11.10)");
  }
  return true;
}

void write_properties(Bytes& out, const Properties& p) {
  Bytes body;
  auto u8 = [&](std::uint8_t id, const std::optional<std::uint8_t>& v) {
    if (v) put_u8(body, id), put_u8(body, *v);
  };
  auto u16 = [&](std::uint8_t id, const std::optional<std::uint16_t>& v) {
    if (v) put_u8(body, id), put_u16(body, *v);
  };
  auto u32 = [&](std::uint8_t id, const std::optional<std::uint32_t>& v) {
    if (v) put_u8(body, id), put_u32(body, *v);
  };
  auto str = [&](std::uint8_t id, const std::optional<std::string>& v) {
    if (v) put_u8(body, id), put_utf8(body, *v);
  };
  auto bin = [&](std::uint8_t id, const std::optional<Bytes>& v) {
    if (v) put_u8(body, id), put_binary(body, *v);
  };
  namespace id = property_id;
  u8(id::payload_format_indicator, p.payload_format_indicator);
  u32(id::message_expiry_interval, p.message_expiry_interval);
  str(id::content_type, p.content_type);
  str(id::response_topic, p.response_topic);
  bin(id::correlation_data, p.correlation_data);
  for (auto value : p.subscription_identifiers) {
    put_u8(body, id::subscription_identifier);
    put_vbi(body, value);
  }
  u32(id::session_expiry_interval, p.session_expiry_interval);
  str(id::assigned_client_identifier, p.assigned_client_identifier);
  u16(id::server_keep_alive, p.server_keep_alive);
  str(id::authentication_method, p.authentication_method);
  bin(id::authentication_data, p.authentication_data);
  u8(id::request_problem_information, p.request_problem_information);
  u32(id::will_delay_interval, p.will_delay_interval);
  u8(id::request_response_information, p.request_response_information);
  str(id::response_information, p.response_information);
  str(id::server_reference, p.server_reference);
  str(id::reason_string, p.reason_string);
  u16(id::receive_maximum, p.receive_maximum);
  u16(id::topic_alias_maximum, p.topic_alias_maximum);
  u16(id::topic_alias, p.topic_alias);
  u8(id::maximum_qos, p.maximum_qos);
  u8(id::retain_available, p.retain_available);
  for (const auto& pair : p.user_properties) {
    put_u8(body, id::user_property);
    put_utf8(body, pair.name);
    put_utf8(body, pair.value);
  }
  u32(id::maximum_packet_size, p.maximum_packet_size);
  u8(id::wildcard_subscription_available, p.wildcard_subscription_available);
  u8(id::subscription_identifier_available, p.subscription_identifier_available);
  u8(id::shared_subscription_available, p.shared_subscription_available);
  put_vbi(out, static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
}

}  // namespace skein::mqtt::wire
