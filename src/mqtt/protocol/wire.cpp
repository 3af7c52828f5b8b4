// MQTT primitive types (spec 1.5): big-endian integers, variable byte
// integers, length-prefixed UTF-8 strings and binary data.
#include "mqtt/protocol/wire.hpp"

#include "core/utf8.hpp"

namespace skein::mqtt::wire {

bool Reader::fail(ErrorKind kind, std::string message) {
  if (!error) error = Error{kind, std::move(message)};
  return false;
}

bool Reader::past_end(const char* field) {
  return fail(ErrorKind::malformed, std::string(packet_type_name(type_)) + ": " + field +
                                        " runs past the end of the packet");
}

bool Reader::expect_end() {
  if (!ok()) return false;
  if (pos_ != end_) {
    return fail(ErrorKind::malformed, std::string(packet_type_name(type_)) + ": " +
                                          std::to_string(end_ - pos_) +
                                          " unexpected bytes after the last field");
  }
  return true;
}

bool Reader::u8(std::uint8_t& out, const char* field) {
  if (!ok()) return false;
  if (remaining() < 1) return past_end(field);
  out = data_[pos_++];
  return true;
}

bool Reader::u16(std::uint16_t& out, const char* field) {
  if (!ok()) return false;
  if (remaining() < 2) return past_end(field);
  out = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
  pos_ += 2;
  return true;
}

bool Reader::u32(std::uint32_t& out, const char* field) {
  if (!ok()) return false;
  if (remaining() < 4) return past_end(field);
  out = (std::uint32_t{data_[pos_]} << 24) | (std::uint32_t{data_[pos_ + 1]} << 16) |
        (std::uint32_t{data_[pos_ + 2]} << 8) | std::uint32_t{data_[pos_ + 3]};
  pos_ += 4;
  return true;
}

bool Reader::vbi(std::uint32_t& out, const char* field) {
  if (!ok()) return false;
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    if (remaining() < 1) return past_end(field);
    const std::uint8_t byte = data_[pos_++];
    value |= std::uint32_t{byte & 0x7Fu} << (7 * i);
    if ((byte & 0x80) == 0) {
      // A last byte of zero after the first means a shorter encoding existed.
      if (i > 0 && byte == 0) {
        return fail(ErrorKind::malformed, std::string("MQTT-1.5.5-1: ") + field +
                                              " is not a minimal variable byte integer");
      }
      out = value;
      return true;
    }
  }
  return fail(ErrorKind::malformed,
              std::string("MQTT-1.5.5-1: ") + field + " is a variable byte integer over 4 bytes");
}

bool Reader::utf8(std::string& out, const char* field) {
  std::uint16_t length = 0;
  if (!u16(length, field)) return false;
  if (remaining() < length) return past_end(field);
  out.assign(reinterpret_cast<const char*>(data_.data() + pos_), length);
  pos_ += length;
  if (!core::is_valid_utf8(out)) {
    return fail(ErrorKind::malformed, std::string(cite(version_, "MQTT-1.5.4-1", "MQTT-1.5.3-1")) +
                                          ": " + field + " is not well-formed UTF-8");
  }
  if (out.find('\0') != std::string::npos) {
    return fail(ErrorKind::malformed, std::string(cite(version_, "MQTT-1.5.4-2", "MQTT-1.5.3-2")) +
                                          ": " + field + " contains U+0000");
  }
  return true;
}

bool Reader::binary(Bytes& out, const char* field) {
  std::uint16_t length = 0;
  if (!u16(length, field)) return false;
  if (remaining() < length) return past_end(field);
  out.assign(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
             data_.begin() + static_cast<std::ptrdiff_t>(pos_ + length));
  pos_ += length;
  return true;
}

void Reader::rest(Bytes& out) {
  out.assign(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
             data_.begin() + static_cast<std::ptrdiff_t>(end_));
  pos_ = end_;
}

bool Reader::limit(std::size_t length, std::size_t& previous_end, const char* field) {
  if (!ok()) return false;
  if (remaining() < length) return past_end(field);
  previous_end = end_;
  end_ = pos_ + length;
  return true;
}

void put_u8(Bytes& out, std::uint8_t value) {
  out.push_back(value);
}

void put_u16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void put_u32(Bytes& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void put_vbi(Bytes& out, std::uint32_t value) {
  do {
    std::uint8_t byte = value & 0x7F;
    value >>= 7;
    if (value != 0) byte |= 0x80;
    out.push_back(byte);
  } while (value != 0);
}

std::size_t vbi_size(std::uint32_t value) {
  std::size_t size = 1;
  while (value >= 128) {
    value >>= 7;
    ++size;
  }
  return size;
}

void put_utf8(Bytes& out, std::string_view value) {
  put_u16(out, static_cast<std::uint16_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
}

void put_binary(Bytes& out, ByteView value) {
  put_u16(out, static_cast<std::uint16_t>(value.size()));
  out.insert(out.end(), value.begin(), value.end());
}

}  // namespace skein::mqtt::wire
