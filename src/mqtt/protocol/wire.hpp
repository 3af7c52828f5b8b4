// MQTT data representation (spec 1.5): the reader and writer of the codec's
// primitive types, and the v5 property block. Internal to mqtt/protocol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "mqtt/protocol/codec.hpp"

namespace skein::mqtt::wire {

// Picks the statement number of the packet's version: the two specs number
// the same rule differently (reserved flags are MQTT-2.1.3-1 in v5 and
// MQTT-2.2.2-1 in 3.1.1).
inline const char* cite(ProtocolVersion version, const char* v5, const char* v311) {
  return version == ProtocolVersion::v5 ? v5 : v311;
}

// Reads the variable header and payload of one packet. The first failure is
// kept in `error`; every later read fails, so callers may check once at the end
// of a group of reads.
class Reader {
 public:
  Reader(ByteView data, ProtocolVersion version, PacketType type)
      : data_(data), end_(data.size()), version_(version), type_(type) {}

  ProtocolVersion version() const { return version_; }
  PacketType type() const { return type_; }
  std::size_t remaining() const { return end_ - pos_; }
  bool ok() const { return !error.has_value(); }

  bool u8(std::uint8_t& out, const char* field);
  bool u16(std::uint16_t& out, const char* field);
  bool u32(std::uint32_t& out, const char* field);
  bool vbi(std::uint32_t& out, const char* field);
  bool utf8(std::string& out, const char* field);  // validated [MQTT-1.5.4-1/2]
  bool binary(Bytes& out, const char* field);
  // The rest of the packet (a PUBLISH payload).
  void rest(Bytes& out);

  // Narrows the reader to the next `length` bytes; returns the previous end
  // for restore(). Fails when fewer bytes remain.
  bool limit(std::size_t length, std::size_t& previous_end, const char* field);
  void restore(std::size_t previous_end) { end_ = previous_end; }

  bool fail(ErrorKind kind, std::string message);
  bool past_end(const char* field);
  // Fails unless every byte was consumed.
  bool expect_end();

  std::optional<Error> error;

 private:
  ByteView data_;
  std::size_t pos_ = 0;
  std::size_t end_;
  ProtocolVersion version_;
  PacketType type_;
};

void put_u8(Bytes& out, std::uint8_t value);
void put_u16(Bytes& out, std::uint16_t value);
void put_u32(Bytes& out, std::uint32_t value);
void put_vbi(Bytes& out, std::uint32_t value);
void put_utf8(Bytes& out, std::string_view value);
void put_binary(Bytes& out, ByteView value);
std::size_t vbi_size(std::uint32_t value);

// Where a property block sits, for the table of allowed identifiers.
enum class PropertyContext : std::uint16_t {
  connect = 1 << 0,
  connack = 1 << 1,
  publish = 1 << 2,
  will = 1 << 3,
  publish_response = 1 << 4,  // PUBACK, PUBREC, PUBREL, PUBCOMP
  subscribe = 1 << 5,
  suback = 1 << 6,
  unsubscribe = 1 << 7,
  unsuback = 1 << 8,
  disconnect = 1 << 9,
  auth = 1 << 10,
};

// Reads a property length and the properties it covers (v5 only).
bool read_properties(Reader& reader, PropertyContext context, Properties& out);
// Appends the property length and the properties, in identifier order.
void write_properties(Bytes& out, const Properties& properties);

}  // namespace skein::mqtt::wire
