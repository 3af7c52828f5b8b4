// The MQTT packet codec (MQTT 3.1.1 and 5.0, OASIS): the frame splitter, the
// fifteen control packets as plain structs, v5 properties, and decode/encode
// for both protocol versions. Bytes only: no sockets, no coroutines.
//
// Use: split_frame() finds one whole packet at the front of a buffer; decode()
// (or decode_packet()) turns those bytes into a struct, checking the spec's
// normative statements; encode() appends the bytes of a struct. The protocol
// version comes from CONNECT and is passed to every later decode and encode.
// Whatever decode accepts, encode reproduces so that decode gives the same
// value back (decoding normalises: property order and the optional short forms
// of acknowledgements are not kept).
//
// Not checked here, left to the session layer: topic name/filter wildcard rules
// (see check_mqtt_topic_name / check_mqtt_topic_filter), reason code values,
// topic alias ranges against the negotiated maximum, packet order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace skein::mqtt {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// The protocol level byte of CONNECT.
enum class ProtocolVersion : std::uint8_t { v311 = 4, v5 = 5 };

enum class PacketType : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,  // v5 only; reserved in 3.1.1
};

std::string_view packet_type_name(PacketType type);

enum class QoS : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

// Largest remaining length a variable byte integer can carry (spec 1.5.5).
inline constexpr std::uint32_t kMaxRemainingLength = 268'435'455;
// Largest whole packet: one type byte, four length bytes, the remaining length.
inline constexpr std::size_t kMaxPacketSize = 1 + 4 + kMaxRemainingLength;

// What a refused packet broke. v5 answers malformed with reason code 0x81 and
// protocol_error with 0x82; a CONNECT with an unknown protocol name or level is
// answered with CONNACK 0x84 (v5) or return code 0x01 (3.1.1) [MQTT-3.1.2-2].
enum class ErrorKind : std::uint8_t { malformed, protocol_error, unsupported_protocol };

struct Error {
  ErrorKind kind;
  std::string message;  // names the normative statement: "MQTT-3.1.2-3: reserved flag ..."

  // The v5 reason code for DISCONNECT (or CONNACK): 0x81, 0x82 or 0x84.
  std::uint8_t reason_code() const;
  bool operator==(const Error&) const = default;
};

// ---------------------------------------------------------------- framing

enum class FrameStatus : std::uint8_t {
  complete,    // a whole packet is at the front of the buffer: `size` bytes
  incomplete,  // more bytes are needed
  malformed,   // the remaining length is not a valid variable byte integer
  too_large,   // the packet would exceed max_packet_size (known before it arrives)
};

struct Frame {
  FrameStatus status = FrameStatus::incomplete;
  std::size_t size = 0;         // complete: the whole packet, fixed header included
  std::size_t header_size = 0;  // complete / too_large: 1 + bytes of the remaining length
  std::uint32_t remaining_length = 0;
};

// Looks at the front of `buffer`. The remaining length must be a minimal
// variable byte integer of at most four bytes [MQTT-1.5.5-1]; the fixed
// header's first byte is not checked here (decode does that).
Frame split_frame(ByteView buffer, std::size_t max_packet_size = kMaxPacketSize);

// ------------------------------------------------------------- properties

struct UserProperty {
  std::string name;
  std::string value;
  bool operator==(const UserProperty&) const = default;
};

// Every v5 property (spec 2.2.2.2, table 2-4), by identifier. A property is
// present when its optional is set or its vector is non-empty. Decode refuses
// identifiers the packet does not allow (malformed) and repeats of those that
// may appear once (protocol error); user properties keep their order.
struct Properties {
  std::optional<std::uint8_t> payload_format_indicator;           // 0x01 byte
  std::optional<std::uint32_t> message_expiry_interval;           // 0x02 four-byte
  std::optional<std::string> content_type;                        // 0x03 UTF-8
  std::optional<std::string> response_topic;                      // 0x08 UTF-8
  std::optional<Bytes> correlation_data;                          // 0x09 binary
  std::vector<std::uint32_t> subscription_identifiers;            // 0x0B VBI, 1..268435455
  std::optional<std::uint32_t> session_expiry_interval;           // 0x11 four-byte
  std::optional<std::string> assigned_client_identifier;          // 0x12 UTF-8
  std::optional<std::uint16_t> server_keep_alive;                 // 0x13 two-byte
  std::optional<std::string> authentication_method;               // 0x15 UTF-8
  std::optional<Bytes> authentication_data;                       // 0x16 binary
  std::optional<std::uint8_t> request_problem_information;        // 0x17 byte, 0/1
  std::optional<std::uint32_t> will_delay_interval;               // 0x18 four-byte
  std::optional<std::uint8_t> request_response_information;       // 0x19 byte, 0/1
  std::optional<std::string> response_information;                // 0x1A UTF-8
  std::optional<std::string> server_reference;                    // 0x1C UTF-8
  std::optional<std::string> reason_string;                       // 0x1F UTF-8
  std::optional<std::uint16_t> receive_maximum;                   // 0x21 two-byte, > 0
  std::optional<std::uint16_t> topic_alias_maximum;               // 0x22 two-byte
  std::optional<std::uint16_t> topic_alias;                       // 0x23 two-byte, > 0
  std::optional<std::uint8_t> maximum_qos;                        // 0x24 byte, 0/1
  std::optional<std::uint8_t> retain_available;                   // 0x25 byte, 0/1
  std::vector<UserProperty> user_properties;                      // 0x26 string pair
  std::optional<std::uint32_t> maximum_packet_size;               // 0x27 four-byte, > 0
  std::optional<std::uint8_t> wildcard_subscription_available;    // 0x28 byte, 0/1
  std::optional<std::uint8_t> subscription_identifier_available;  // 0x29 byte, 0/1
  std::optional<std::uint8_t> shared_subscription_available;      // 0x2A byte, 0/1

  bool empty() const { return *this == Properties{}; }
  bool operator==(const Properties&) const = default;
};

// Property identifiers (spec table 2-4).
namespace property_id {
inline constexpr std::uint8_t payload_format_indicator = 0x01;
inline constexpr std::uint8_t message_expiry_interval = 0x02;
inline constexpr std::uint8_t content_type = 0x03;
inline constexpr std::uint8_t response_topic = 0x08;
inline constexpr std::uint8_t correlation_data = 0x09;
inline constexpr std::uint8_t subscription_identifier = 0x0B;
inline constexpr std::uint8_t session_expiry_interval = 0x11;
inline constexpr std::uint8_t assigned_client_identifier = 0x12;
inline constexpr std::uint8_t server_keep_alive = 0x13;
inline constexpr std::uint8_t authentication_method = 0x15;
inline constexpr std::uint8_t authentication_data = 0x16;
inline constexpr std::uint8_t request_problem_information = 0x17;
inline constexpr std::uint8_t will_delay_interval = 0x18;
inline constexpr std::uint8_t request_response_information = 0x19;
inline constexpr std::uint8_t response_information = 0x1A;
inline constexpr std::uint8_t server_reference = 0x1C;
inline constexpr std::uint8_t reason_string = 0x1F;
inline constexpr std::uint8_t receive_maximum = 0x21;
inline constexpr std::uint8_t topic_alias_maximum = 0x22;
inline constexpr std::uint8_t topic_alias = 0x23;
inline constexpr std::uint8_t maximum_qos = 0x24;
inline constexpr std::uint8_t retain_available = 0x25;
inline constexpr std::uint8_t user_property = 0x26;
inline constexpr std::uint8_t maximum_packet_size = 0x27;
inline constexpr std::uint8_t wildcard_subscription_available = 0x28;
inline constexpr std::uint8_t subscription_identifier_available = 0x29;
inline constexpr std::uint8_t shared_subscription_available = 0x2A;
}  // namespace property_id

// A few reason codes (v5 spec 2.4) and 3.1.1 CONNACK return codes.
namespace reason {
inline constexpr std::uint8_t success = 0x00;
inline constexpr std::uint8_t granted_qos_1 = 0x01;
inline constexpr std::uint8_t granted_qos_2 = 0x02;
inline constexpr std::uint8_t disconnect_with_will = 0x04;
inline constexpr std::uint8_t no_matching_subscribers = 0x10;
inline constexpr std::uint8_t no_subscription_existed = 0x11;
inline constexpr std::uint8_t continue_authentication = 0x18;
inline constexpr std::uint8_t re_authenticate = 0x19;
inline constexpr std::uint8_t unspecified_error = 0x80;
inline constexpr std::uint8_t malformed_packet = 0x81;
inline constexpr std::uint8_t protocol_error = 0x82;
inline constexpr std::uint8_t implementation_specific_error = 0x83;
inline constexpr std::uint8_t unsupported_protocol_version = 0x84;
inline constexpr std::uint8_t client_identifier_not_valid = 0x85;
inline constexpr std::uint8_t bad_user_name_or_password = 0x86;
inline constexpr std::uint8_t not_authorized = 0x87;
inline constexpr std::uint8_t server_unavailable = 0x88;
inline constexpr std::uint8_t server_busy = 0x89;
inline constexpr std::uint8_t session_taken_over = 0x8E;
inline constexpr std::uint8_t topic_filter_invalid = 0x8F;
inline constexpr std::uint8_t topic_name_invalid = 0x90;
inline constexpr std::uint8_t packet_identifier_in_use = 0x91;
inline constexpr std::uint8_t packet_identifier_not_found = 0x92;
inline constexpr std::uint8_t receive_maximum_exceeded = 0x93;
inline constexpr std::uint8_t topic_alias_invalid = 0x94;
inline constexpr std::uint8_t packet_too_large = 0x95;
inline constexpr std::uint8_t quota_exceeded = 0x97;
inline constexpr std::uint8_t payload_format_invalid = 0x99;
inline constexpr std::uint8_t qos_not_supported = 0x9B;
inline constexpr std::uint8_t shared_subscriptions_not_supported = 0x9E;
inline constexpr std::uint8_t subscription_identifiers_not_supported = 0xA1;
inline constexpr std::uint8_t wildcard_subscriptions_not_supported = 0xA2;
// 3.1.1 CONNACK return codes (spec 3.2.2.3) and SUBACK failure (3.9.3).
inline constexpr std::uint8_t v311_unacceptable_protocol_version = 0x01;
inline constexpr std::uint8_t v311_identifier_rejected = 0x02;
inline constexpr std::uint8_t v311_server_unavailable = 0x03;
inline constexpr std::uint8_t v311_bad_user_name_or_password = 0x04;
inline constexpr std::uint8_t v311_not_authorized = 0x05;
inline constexpr std::uint8_t v311_subscribe_failure = 0x80;
}  // namespace reason

// ---------------------------------------------------------------- packets
// `properties` fields are v5 only: decode leaves them empty for 3.1.1 and
// encode ignores them. So do reason codes that 3.1.1 packets lack.

struct Will {
  std::string topic;
  Bytes payload;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  Properties properties;  // v5 will properties
  bool operator==(const Will&) const = default;
};

struct Connect {
  ProtocolVersion version = ProtocolVersion::v5;  // from the protocol level byte
  bool clean_start = true;                        // "clean session" in 3.1.1
  std::uint16_t keep_alive = 0;
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<Bytes> password;  // 3.1.1: only with a username [MQTT-3.1.2-22]
  Properties properties;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  std::uint8_t reason_code = 0;  // v5 reason code, or 3.1.1 return code
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  bool dup = false;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  std::string topic;            // may be empty in v5 when a topic alias is used
  std::uint16_t packet_id = 0;  // 0 and absent on the wire when qos is 0
  Properties properties;
  Bytes payload;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one layout (spec 3.4 .. 3.7).
template <PacketType kType>
struct PublishResponse {
  static constexpr PacketType type = kType;
  std::uint16_t packet_id = 0;
  std::uint8_t reason_code = 0;  // v5
  Properties properties;
  bool operator==(const PublishResponse&) const = default;
};
using Puback = PublishResponse<PacketType::puback>;
using Pubrec = PublishResponse<PacketType::pubrec>;
using Pubrel = PublishResponse<PacketType::pubrel>;
using Pubcomp = PublishResponse<PacketType::pubcomp>;

struct Subscription {
  std::string filter;
  QoS max_qos = QoS::at_most_once;
  bool no_local = false;             // v5
  bool retain_as_published = false;  // v5
  std::uint8_t retain_handling = 0;  // v5: 0, 1 or 2
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<Subscription> subscriptions;  // at least one [MQTT-3.8.3-3 (3.1.1) / -2 (v5)]
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<std::uint8_t> reason_codes;  // one per subscription (3.1.1: return codes)
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<std::string> filters;  // at least one [MQTT-3.10.3-2]
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  Properties properties;
  std::vector<std::uint8_t> reason_codes;  // v5 only: 3.1.1 UNSUBACK has no payload
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  std::uint8_t reason_code = 0;  // v5
  Properties properties;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {  // v5 only
  std::uint8_t reason_code = 0;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType packet_type(const Packet& packet);

// ----------------------------------------------------------------- decode
// Each takes one whole packet (fixed header included, as split_frame found it)
// and returns nullopt on success, leaving `out` filled; on failure `out` is
// unspecified. For CONNECT the version comes from the packet itself.

std::optional<Error> decode(ByteView packet, Connect& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Connack& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Publish& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Puback& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pubrec& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pubrel& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pubcomp& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Subscribe& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Suback& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Unsubscribe& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Unsuback& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pingreq& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Pingresp& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Disconnect& out);
std::optional<Error> decode(ByteView packet, ProtocolVersion version, Auth& out);

// Any packet, by the type in its first byte. A CONNECT ignores `version`.
std::optional<Error> decode_packet(ByteView packet, ProtocolVersion version, Packet& out);

// ----------------------------------------------------------------- encode
// Appends the whole packet to `out`. Preconditions (not checked): strings and
// binary fields fit in 65,535 bytes, the packet in kMaxRemainingLength, and
// the value is one decode would accept (e.g. packet_id != 0 where required,
// only the properties the packet allows); otherwise the bytes are refused by
// decode. A CONNECT is encoded at its own `version`.

void encode(const Connect& packet, Bytes& out);
void encode(const Connack& packet, ProtocolVersion version, Bytes& out);
void encode(const Publish& packet, ProtocolVersion version, Bytes& out);
// A PUBLISH whose payload lives elsewhere (an event's buffer, shared by every
// subscriber): `packet.payload` is ignored, `payload` is sent.
void encode_publish(const Publish& packet, ByteView payload, ProtocolVersion version, Bytes& out);
void encode(const Puback& packet, ProtocolVersion version, Bytes& out);
void encode(const Pubrec& packet, ProtocolVersion version, Bytes& out);
void encode(const Pubrel& packet, ProtocolVersion version, Bytes& out);
void encode(const Pubcomp& packet, ProtocolVersion version, Bytes& out);
void encode(const Subscribe& packet, ProtocolVersion version, Bytes& out);
void encode(const Suback& packet, ProtocolVersion version, Bytes& out);
void encode(const Unsubscribe& packet, ProtocolVersion version, Bytes& out);
void encode(const Unsuback& packet, ProtocolVersion version, Bytes& out);
void encode(const Pingreq& packet, ProtocolVersion version, Bytes& out);
void encode(const Pingresp& packet, ProtocolVersion version, Bytes& out);
void encode(const Disconnect& packet, ProtocolVersion version, Bytes& out);
void encode(const Auth& packet, ProtocolVersion version, Bytes& out);

void encode_packet(const Packet& packet, ProtocolVersion version, Bytes& out);
Bytes encode_packet(const Packet& packet, ProtocolVersion version);

// ----------------------------------------------------------------- topics
// MQTT's own rules (spec 4.7), for the session layer: nullopt when valid,
// otherwise a message naming the statement. A topic name is 1..65535 bytes
// with no '+' or '#' [MQTT-4.7.3-1, MQTT-3.3.2-2]; a filter is non-empty,
// '+' fills a whole level [MQTT-4.7.1-2] and '#' is a whole last level
// [MQTT-4.7.1-1]. UTF-8 well-formedness is already checked by decode.
// For Skein's own filters use core::from_mqtt_filter (core/topic_names.hpp).
std::optional<std::string> check_mqtt_topic_name(std::string_view topic);
std::optional<std::string> check_mqtt_topic_filter(std::string_view filter);

}  // namespace skein::mqtt
