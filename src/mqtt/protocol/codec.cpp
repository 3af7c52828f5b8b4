// Decode and encode of the fifteen MQTT control packets (spec chapter 3 of
// both MQTT 3.1.1 and MQTT 5.0), checking the normative statements that the
// bytes alone can break.
#include "mqtt/protocol/codec.hpp"

#include <algorithm>
#include <string>

#include "mqtt/protocol/wire.hpp"

namespace skein::mqtt {

using wire::cite;
using wire::PropertyContext;
using wire::Reader;

std::string_view packet_type_name(PacketType type) {
  static constexpr std::string_view names[] = {"reserved",  "CONNECT",  "CONNACK",     "PUBLISH",
                                               "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
                                               "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                               "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};
  const auto index = static_cast<std::size_t>(type);
  return index < 16 ? names[index] : "unknown";
}

std::uint8_t Error::reason_code() const {
  switch (kind) {
    case ErrorKind::malformed:
      return reason::malformed_packet;
    case ErrorKind::protocol_error:
      return reason::protocol_error;
    case ErrorKind::unsupported_protocol:
      return reason::unsupported_protocol_version;
  }
  return reason::malformed_packet;
}

PacketType packet_type(const Packet& packet) {
  return static_cast<PacketType>(packet.index() + 1);
}

namespace {

Error malformed(std::string message) {
  return Error{ErrorKind::malformed, std::move(message)};
}

// The fixed-header flags each type must carry (spec table 2-2); PUBLISH's are
// its own DUP/QoS/RETAIN and are checked by its decoder.
std::uint8_t required_flags(PacketType type) {
  switch (type) {
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
      return 0b0010;
    default:
      return 0;
  }
}

// Checks the fixed header of `packet` and returns the reader over the rest.
// `flags` receives the low nibble of the first byte.
std::optional<Error> open(ByteView packet, ProtocolVersion version, PacketType type,
                          std::uint8_t& flags, ByteView& body) {
  if (packet.empty()) return malformed(std::string(packet_type_name(type)) + ": empty packet");
  if ((packet[0] >> 4) != static_cast<std::uint8_t>(type)) {
    return malformed(std::string(packet_type_name(type)) + ": the first byte names packet type " +
                     std::to_string(packet[0] >> 4));
  }
  const Frame frame = split_frame(packet);
  if (frame.status == FrameStatus::malformed) {
    return malformed("MQTT-1.5.5-1: remaining length is not a valid variable byte integer");
  }
  if (frame.status != FrameStatus::complete) {
    return malformed(std::string(packet_type_name(type)) +
                     ": remaining length runs past the end of the packet");
  }
  if (frame.size != packet.size()) {
    return malformed(std::string(packet_type_name(type)) + ": " +
                     std::to_string(packet.size() - frame.size) +
                     " bytes after the remaining length's end");
  }
  flags = packet[0] & 0x0F;
  if (type != PacketType::publish && flags != required_flags(type)) {
    return malformed(std::string(cite(version, "MQTT-2.1.3-1", "MQTT-2.2.2-1")) +
                     ": reserved flags of " + std::string(packet_type_name(type)) + " are " +
                     std::to_string(flags));
  }
  body = packet.subspan(frame.header_size);
  return std::nullopt;
}

std::optional<Error> finish(Reader& reader) {
  reader.expect_end();
  return reader.error;
}

bool packet_id(Reader& r, std::uint16_t& out) {
  if (!r.u16(out, "packet identifier")) return false;
  if (out == 0) {
    return r.fail(ErrorKind::protocol_error,
                  std::string(cite(r.version(), "MQTT-2.2.1-3", "MQTT-2.3.1-1")) + ": " +
                      std::string(packet_type_name(r.type())) + " packet identifier is 0");
  }
  return true;
}

bool is_v5(ProtocolVersion version) {
  return version == ProtocolVersion::v5;
}

// Room for `more` bytes after what `out` holds, growing it geometrically:
// packets are appended one after another to a connection's output, and an
// exact reserve per packet would copy everything already there each time.
void make_room(Bytes& out, std::size_t more) {
  const std::size_t need = out.size() + more;
  if (need > out.capacity()) out.reserve(std::max(need, 2 * out.capacity()));
}

void write_header(Bytes& out, PacketType type, std::uint8_t flags, const Bytes& body) {
  make_room(out, 5 + body.size());
  wire::put_u8(out, static_cast<std::uint8_t>((static_cast<std::uint8_t>(type) << 4) | flags));
  wire::put_vbi(out, static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
}

// PUBACK, PUBREC, PUBREL, PUBCOMP (spec 3.4 .. 3.7).
template <PacketType kType>
std::optional<Error> decode_response(ByteView packet, ProtocolVersion version,
                                     PublishResponse<kType>& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, kType, flags, body)) return error;
  Reader r(body, version, kType);
  packet_id(r, out.packet_id);
  // v5: the reason code may be left out when it is 0 and there are no
  // properties, and the property length when there are none (3.4.2.1).
  if (is_v5(version) && r.ok() && r.remaining() > 0) {
    r.u8(out.reason_code, "reason code");
    if (r.ok() && r.remaining() > 0) {
      wire::read_properties(r, PropertyContext::publish_response, out.properties);
    }
  }
  return finish(r);
}

template <PacketType kType>
void encode_response(const PublishResponse<kType>& packet, ProtocolVersion version, Bytes& out) {
  Bytes body;
  wire::put_u16(body, packet.packet_id);
  if (is_v5(version) && (packet.reason_code != 0 || !packet.properties.empty())) {
    wire::put_u8(body, packet.reason_code);
    if (!packet.properties.empty()) wire::write_properties(body, packet.properties);
  }
  write_header(out, kType, required_flags(kType), body);
}

}  // namespace

// ---------------------------------------------------------------- CONNECT

std::optional<Error> decode(ByteView packet, Connect& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  // The version is not known yet: reserved-flag errors cite the v5 statement.
  if (auto error = open(packet, ProtocolVersion::v5, PacketType::connect, flags, body))
    return error;
  {
    // Protocol name and level first, to know which version to read the rest as.
    Reader head(body, ProtocolVersion::v5, PacketType::connect);
    std::string name;
    std::uint8_t level = 0;
    if (!head.utf8(name, "protocol name") || !head.u8(level, "protocol level")) return head.error;
    if (name != "MQTT") {
      return Error{ErrorKind::unsupported_protocol,
                   "MQTT-3.1.2-1: protocol name is \"" + name + "\", not \"MQTT\""};
    }
    if (level != 4 && level != 5) {
      return Error{ErrorKind::unsupported_protocol,
                   "MQTT-3.1.2-2: unsupported protocol level " + std::to_string(level)};
    }
    out.version = static_cast<ProtocolVersion>(level);
  }
  const ProtocolVersion version = out.version;
  Reader r(body.subspan(7), version, PacketType::connect);
  std::uint8_t connect_flags = 0;
  if (!r.u8(connect_flags, "connect flags")) return r.error;
  if (connect_flags & 0x01) return malformed("MQTT-3.1.2-3: reserved flag in CONNECT set");
  out.clean_start = (connect_flags & 0x02) != 0;
  const bool will_flag = connect_flags & 0x04;
  const std::uint8_t will_qos = (connect_flags >> 3) & 0x03;
  const bool will_retain = connect_flags & 0x20;
  const bool password_flag = connect_flags & 0x40;
  const bool username_flag = connect_flags & 0x80;
  if (!will_flag && will_qos != 0) {
    return malformed(std::string(cite(version, "MQTT-3.1.2-11", "MQTT-3.1.2-13")) +
                     ": will QoS set without the will flag");
  }
  if (will_qos == 3) {
    return malformed(std::string(cite(version, "MQTT-3.1.2-12", "MQTT-3.1.2-14")) + ": will QoS 3");
  }
  if (!will_flag && will_retain) {
    return malformed(std::string(cite(version, "MQTT-3.1.2-13", "MQTT-3.1.2-15")) +
                     ": will retain set without the will flag");
  }
  if (!is_v5(version) && password_flag && !username_flag) {
    return malformed("MQTT-3.1.2-22: password flag set without the user name flag");
  }
  r.u16(out.keep_alive, "keep alive");
  if (is_v5(version)) wire::read_properties(r, PropertyContext::connect, out.properties);
  r.utf8(out.client_id, "client identifier");
  if (will_flag) {
    Will will;
    will.qos = static_cast<QoS>(will_qos);
    will.retain = will_retain;
    if (is_v5(version)) wire::read_properties(r, PropertyContext::will, will.properties);
    r.utf8(will.topic, "will topic");
    r.binary(will.payload, "will payload");
    out.will = std::move(will);
  }
  if (username_flag) {
    std::string username;
    r.utf8(username, "user name");
    out.username = std::move(username);
  }
  if (password_flag) {
    Bytes password;
    r.binary(password, "password");
    out.password = std::move(password);
  }
  return finish(r);
}

void encode(const Connect& packet, Bytes& out) {
  const bool v5 = is_v5(packet.version);
  Bytes body;
  wire::put_utf8(body, "MQTT");
  wire::put_u8(body, static_cast<std::uint8_t>(packet.version));
  std::uint8_t flags = packet.clean_start ? 0x02 : 0;
  if (packet.will) {
    flags |= 0x04 | static_cast<std::uint8_t>(static_cast<std::uint8_t>(packet.will->qos) << 3);
    if (packet.will->retain) flags |= 0x20;
  }
  if (packet.password) flags |= 0x40;
  if (packet.username) flags |= 0x80;
  wire::put_u8(body, flags);
  wire::put_u16(body, packet.keep_alive);
  if (v5) wire::write_properties(body, packet.properties);
  wire::put_utf8(body, packet.client_id);
  if (packet.will) {
    if (v5) wire::write_properties(body, packet.will->properties);
    wire::put_utf8(body, packet.will->topic);
    wire::put_binary(body, packet.will->payload);
  }
  if (packet.username) wire::put_utf8(body, *packet.username);
  if (packet.password) wire::put_binary(body, *packet.password);
  write_header(out, PacketType::connect, 0, body);
}

// ---------------------------------------------------------------- CONNACK

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Connack& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, PacketType::connack, flags, body)) return error;
  Reader r(body, version, PacketType::connack);
  std::uint8_t ack_flags = 0;
  if (!r.u8(ack_flags, "connect acknowledge flags")) return r.error;
  if (ack_flags & 0xFE) {
    return malformed(std::string(cite(version, "MQTT-3.2.2-1", "MQTT-3.2.2-1")) +
                     ": reserved bits of the connect acknowledge flags set");
  }
  out.session_present = ack_flags & 0x01;
  r.u8(out.reason_code, "reason code");
  if (is_v5(version)) wire::read_properties(r, PropertyContext::connack, out.properties);
  return finish(r);
}

void encode(const Connack& packet, ProtocolVersion version, Bytes& out) {
  Bytes body;
  wire::put_u8(body, packet.session_present ? 1 : 0);
  wire::put_u8(body, packet.reason_code);
  if (is_v5(version)) wire::write_properties(body, packet.properties);
  write_header(out, PacketType::connack, 0, body);
}

// ---------------------------------------------------------------- PUBLISH

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Publish& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, PacketType::publish, flags, body)) return error;
  out.dup = flags & 0x08;
  const std::uint8_t qos = (flags >> 1) & 0x03;
  out.retain = flags & 0x01;
  if (qos == 3) return malformed("MQTT-3.3.1-4: PUBLISH with QoS 3");
  if (out.dup && qos == 0) {
    return Error{ErrorKind::protocol_error, "MQTT-3.3.1-2: DUP flag set on a QoS 0 PUBLISH"};
  }
  out.qos = static_cast<QoS>(qos);
  Reader r(body, version, PacketType::publish);
  r.utf8(out.topic, "topic name");
  if (qos > 0) packet_id(r, out.packet_id);
  if (is_v5(version)) wire::read_properties(r, PropertyContext::publish, out.properties);
  if (!r.ok()) return r.error;
  r.rest(out.payload);
  return std::nullopt;
}

void encode(const Publish& packet, ProtocolVersion version, Bytes& out) {
  encode_publish(packet, packet.payload, version, out);
}

void encode_publish(const Publish& packet, ByteView payload, ProtocolVersion version, Bytes& out) {
  Bytes properties;
  if (is_v5(version)) wire::write_properties(properties, packet.properties);
  const std::size_t length = 2 + packet.topic.size() + (packet.qos != QoS::at_most_once ? 2 : 0) +
                             properties.size() + payload.size();
  const auto flags = static_cast<std::uint8_t>((packet.dup ? 0x08 : 0) |
                                               (static_cast<std::uint8_t>(packet.qos) << 1) |
                                               (packet.retain ? 0x01 : 0));
  make_room(out, 5 + length);
  out.push_back(
      static_cast<std::uint8_t>((static_cast<std::uint8_t>(PacketType::publish) << 4) | flags));
  wire::put_vbi(out, static_cast<std::uint32_t>(length));
  wire::put_utf8(out, packet.topic);
  if (packet.qos != QoS::at_most_once) wire::put_u16(out, packet.packet_id);
  out.insert(out.end(), properties.begin(), properties.end());
  out.insert(out.end(), payload.begin(), payload.end());
}

// ------------------------------------------------ PUBACK, PUBREC, PUBREL, PUBCOMP

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Puback& out) {
  return decode_response(packet, version, out);
}
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pubrec& out) {
  return decode_response(packet, version, out);
}
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pubrel& out) {
  return decode_response(packet, version, out);
}
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pubcomp& out) {
  return decode_response(packet, version, out);
}
void encode(const Puback& packet, ProtocolVersion version, Bytes& out) {
  encode_response(packet, version, out);
}
void encode(const Pubrec& packet, ProtocolVersion version, Bytes& out) {
  encode_response(packet, version, out);
}
void encode(const Pubrel& packet, ProtocolVersion version, Bytes& out) {
  encode_response(packet, version, out);
}
void encode(const Pubcomp& packet, ProtocolVersion version, Bytes& out) {
  encode_response(packet, version, out);
}

// -------------------------------------------------------------- SUBSCRIBE

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Subscribe& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, PacketType::subscribe, flags, body)) return error;
  Reader r(body, version, PacketType::subscribe);
  packet_id(r, out.packet_id);
  if (is_v5(version)) wire::read_properties(r, PropertyContext::subscribe, out.properties);
  while (r.ok() && r.remaining() > 0) {
    Subscription sub;
    std::uint8_t options = 0;
    if (!r.utf8(sub.filter, "topic filter") || !r.u8(options, "subscription options")) break;
    const std::uint8_t reserved = is_v5(version) ? 0xC0 : 0xFC;
    if (options & reserved) {
      return malformed(std::string(cite(version, "MQTT-3.8.3-5", "MQTT-3.8.3-4")) +
                       ": reserved bits of the subscription options set");
    }
    if ((options & 0x03) == 3) {
      return Error{is_v5(version) ? ErrorKind::protocol_error : ErrorKind::malformed,
                   std::string(cite(version, "MQTT-3.8.3-5", "MQTT-3.8.3-4")) +
                       ": subscription with maximum QoS 3"};
    }
    sub.max_qos = static_cast<QoS>(options & 0x03);
    sub.no_local = options & 0x04;
    sub.retain_as_published = options & 0x08;
    sub.retain_handling = (options >> 4) & 0x03;
    if (sub.retain_handling == 3) {
      return Error{ErrorKind::protocol_error, "SUBSCRIBE: retain handling 3 (spec 3.8.3.1)"};
    }
    if (sub.no_local && sub.filter.starts_with("$share/")) {
      return Error{ErrorKind::protocol_error,
                   "MQTT-3.8.3-4: no local set on a shared subscription"};
    }
    out.subscriptions.push_back(std::move(sub));
  }
  if (r.ok() && out.subscriptions.empty()) {
    return Error{is_v5(version) ? ErrorKind::protocol_error : ErrorKind::malformed,
                 std::string(cite(version, "MQTT-3.8.3-2", "MQTT-3.8.3-3")) +
                     ": SUBSCRIBE with no topic filter"};
  }
  return finish(r);
}

void encode(const Subscribe& packet, ProtocolVersion version, Bytes& out) {
  Bytes body;
  wire::put_u16(body, packet.packet_id);
  const bool v5 = is_v5(version);
  if (v5) wire::write_properties(body, packet.properties);
  for (const auto& sub : packet.subscriptions) {
    wire::put_utf8(body, sub.filter);
    auto options = static_cast<std::uint8_t>(sub.max_qos);
    if (v5) {
      options |= static_cast<std::uint8_t>((sub.no_local ? 0x04 : 0) |
                                           (sub.retain_as_published ? 0x08 : 0) |
                                           ((sub.retain_handling & 0x03) << 4));
    }
    wire::put_u8(body, options);
  }
  write_header(out, PacketType::subscribe, 0b0010, body);
}

// ----------------------------------------------------------------- SUBACK

// The reason codes that fill the rest of a SUBACK or UNSUBACK, a byte each.
static void read_reason_codes(Reader& r, std::vector<std::uint8_t>& codes) {
  while (r.ok() && r.remaining() > 0) {
    std::uint8_t code = 0;
    r.u8(code, "reason code");
    codes.push_back(code);
  }
}

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Suback& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, PacketType::suback, flags, body)) return error;
  Reader r(body, version, PacketType::suback);
  packet_id(r, out.packet_id);
  if (is_v5(version)) wire::read_properties(r, PropertyContext::suback, out.properties);
  read_reason_codes(r, out.reason_codes);
  return finish(r);
}

void encode(const Suback& packet, ProtocolVersion version, Bytes& out) {
  Bytes body;
  wire::put_u16(body, packet.packet_id);
  if (is_v5(version)) wire::write_properties(body, packet.properties);
  body.insert(body.end(), packet.reason_codes.begin(), packet.reason_codes.end());
  write_header(out, PacketType::suback, 0, body);
}

// ------------------------------------------------------------ UNSUBSCRIBE

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Unsubscribe& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, PacketType::unsubscribe, flags, body)) return error;
  Reader r(body, version, PacketType::unsubscribe);
  packet_id(r, out.packet_id);
  if (is_v5(version)) wire::read_properties(r, PropertyContext::unsubscribe, out.properties);
  while (r.ok() && r.remaining() > 0) {
    std::string filter;
    if (!r.utf8(filter, "topic filter")) break;
    out.filters.push_back(std::move(filter));
  }
  if (r.ok() && out.filters.empty()) {
    return Error{is_v5(version) ? ErrorKind::protocol_error : ErrorKind::malformed,
                 "MQTT-3.10.3-2: UNSUBSCRIBE with no topic filter"};
  }
  return finish(r);
}

void encode(const Unsubscribe& packet, ProtocolVersion version, Bytes& out) {
  Bytes body;
  wire::put_u16(body, packet.packet_id);
  if (is_v5(version)) wire::write_properties(body, packet.properties);
  for (const auto& filter : packet.filters) wire::put_utf8(body, filter);
  write_header(out, PacketType::unsubscribe, 0b0010, body);
}

// --------------------------------------------------------------- UNSUBACK

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Unsuback& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, PacketType::unsuback, flags, body)) return error;
  Reader r(body, version, PacketType::unsuback);
  packet_id(r, out.packet_id);
  if (is_v5(version)) {
    wire::read_properties(r, PropertyContext::unsuback, out.properties);
    read_reason_codes(r, out.reason_codes);
  }
  return finish(r);
}

void encode(const Unsuback& packet, ProtocolVersion version, Bytes& out) {
  Bytes body;
  wire::put_u16(body, packet.packet_id);
  if (is_v5(version)) {
    wire::write_properties(body, packet.properties);
    body.insert(body.end(), packet.reason_codes.begin(), packet.reason_codes.end());
  }
  write_header(out, PacketType::unsuback, 0, body);
}

// ------------------------------------------------------ PINGREQ, PINGRESP

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pingreq& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, PacketType::pingreq, flags, body)) return error;
  Reader r(body, version, PacketType::pingreq);
  return finish(r);
}

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pingresp& out) {
  out = {};
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, PacketType::pingresp, flags, body)) return error;
  Reader r(body, version, PacketType::pingresp);
  return finish(r);
}

void encode(const Pingreq&, ProtocolVersion, Bytes& out) {
  write_header(out, PacketType::pingreq, 0, {});
}
void encode(const Pingresp&, ProtocolVersion, Bytes& out) {
  write_header(out, PacketType::pingresp, 0, {});
}

// ------------------------------------------------------- DISCONNECT, AUTH
// Both (v5) may stop after the reason code or leave out everything when the
// reason code is 0 and there are no properties (3.14.2.1, 3.15.2.1).

namespace {

std::optional<Error> decode_reason_and_properties(ByteView packet, ProtocolVersion version,
                                                  PacketType type, PropertyContext context,
                                                  std::uint8_t& reason_code,
                                                  Properties& properties) {
  std::uint8_t flags = 0;
  ByteView body;
  if (auto error = open(packet, version, type, flags, body)) return error;
  Reader r(body, version, type);
  if (is_v5(version) && r.remaining() > 0) {
    r.u8(reason_code, "reason code");
    if (r.ok() && r.remaining() > 0) wire::read_properties(r, context, properties);
  }
  return finish(r);
}

void encode_reason_and_properties(PacketType type, std::uint8_t reason_code,
                                  const Properties& properties, ProtocolVersion version,
                                  Bytes& out) {
  Bytes body;
  if (is_v5(version) && (reason_code != 0 || !properties.empty())) {
    wire::put_u8(body, reason_code);
    if (!properties.empty()) wire::write_properties(body, properties);
  }
  write_header(out, type, 0, body);
}

}  // namespace

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Disconnect& out) {
  out = {};
  return decode_reason_and_properties(packet, version, PacketType::disconnect,
                                      PropertyContext::disconnect, out.reason_code, out.properties);
}

void encode(const Disconnect& packet, ProtocolVersion version, Bytes& out) {
  encode_reason_and_properties(PacketType::disconnect, packet.reason_code, packet.properties,
                               version, out);
}

std::optional<Error> decode(ByteView packet, ProtocolVersion version, Auth& out) {
  out = {};
  if (!is_v5(version)) {
    return malformed("MQTT-2.2.2-1: packet type 15 is reserved in MQTT 3.1.1");
  }
  return decode_reason_and_properties(packet, version, PacketType::auth, PropertyContext::auth,
                                      out.reason_code, out.properties);
}

void encode(const Auth& packet, ProtocolVersion version, Bytes& out) {
  encode_reason_and_properties(PacketType::auth, packet.reason_code, packet.properties, version,
                               out);
}

// -------------------------------------------------------------- any packet

std::optional<Error> decode_packet(ByteView packet, ProtocolVersion version, Packet& out) {
  if (packet.empty()) return malformed("empty packet");
  const auto type = static_cast<PacketType>(packet[0] >> 4);
  auto as = [&]<typename T>(T value) -> std::optional<Error> {
    std::optional<Error> error;
    if constexpr (std::is_same_v<T, Connect>) {
      error = decode(packet, value);
    } else {
      error = decode(packet, version, value);
    }
    if (!error) out = std::move(value);
    return error;
  };
  switch (type) {
    case PacketType::connect:
      return as(Connect{});
    case PacketType::connack:
      return as(Connack{});
    case PacketType::publish:
      return as(Publish{});
    case PacketType::puback:
      return as(Puback{});
    case PacketType::pubrec:
      return as(Pubrec{});
    case PacketType::pubrel:
      return as(Pubrel{});
    case PacketType::pubcomp:
      return as(Pubcomp{});
    case PacketType::subscribe:
      return as(Subscribe{});
    case PacketType::suback:
      return as(Suback{});
    case PacketType::unsubscribe:
      return as(Unsubscribe{});
    case PacketType::unsuback:
      return as(Unsuback{});
    case PacketType::pingreq:
      return as(Pingreq{});
    case PacketType::pingresp:
      return as(Pingresp{});
    case PacketType::disconnect:
      return as(Disconnect{});
    case PacketType::auth:
      return as(Auth{});
  }
  return malformed(std::string(cite(version, "MQTT-2.1.3-1", "MQTT-2.2.2-1")) +
                   ": packet type 0 is reserved");
}

void encode_packet(const Packet& packet, ProtocolVersion version, Bytes& out) {
  std::visit(
      [&]<typename T>(const T& value) {
        if constexpr (std::is_same_v<T, Connect>) {
          encode(value, out);
        } else {
          encode(value, version, out);
        }
      },
      packet);
}

Bytes encode_packet(const Packet& packet, ProtocolVersion version) {
  Bytes out;
  encode_packet(packet, version, out);
  return out;
}

}  // namespace skein::mqtt
