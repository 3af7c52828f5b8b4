// Reader: bounds-checked Kafka primitives over a byte span (reader.hpp).
#include "kafka/protocol/reader.hpp"

#include <bit>
#include <cstring>
#include <limits>

namespace skein::kafka {

namespace {

// Strings are int16-length on the classic wire, and the Java client refuses
// longer compact strings as well, so both forms stop at the same bound.
constexpr std::int64_t kMaxStringBytes = std::numeric_limits<std::int16_t>::max();
constexpr std::int64_t kMaxBytesBytes = std::numeric_limits<std::int32_t>::max();

}  // namespace

bool Reader::take(std::size_t n) {
  if (!ok_ || bytes_.size() - position_ < n) {
    ok_ = false;
    return false;
  }
  return true;
}

std::uint64_t Reader::read_be(std::size_t n) {
  if (!take(n)) return 0;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    value = (value << 8) | std::to_integer<std::uint64_t>(bytes_[position_ + i]);
  }
  position_ += n;
  return value;
}

std::int8_t Reader::read_int8() {
  return static_cast<std::int8_t>(read_be(1));
}
bool Reader::read_bool() {
  return read_be(1) != 0;
}
std::int16_t Reader::read_int16() {
  return static_cast<std::int16_t>(read_be(2));
}
std::int32_t Reader::read_int32() {
  return static_cast<std::int32_t>(read_be(4));
}
std::int64_t Reader::read_int64() {
  return static_cast<std::int64_t>(read_be(8));
}
std::uint16_t Reader::read_uint16() {
  return static_cast<std::uint16_t>(read_be(2));
}
std::uint32_t Reader::read_uint32() {
  return static_cast<std::uint32_t>(read_be(4));
}
double Reader::read_float64() {
  return std::bit_cast<double>(read_be(8));
}

Uuid Reader::read_uuid() {
  Uuid id;
  if (!take(id.bytes.size())) return id;
  std::memcpy(id.bytes.data(), bytes_.data() + position_, id.bytes.size());
  position_ += id.bytes.size();
  return id;
}

std::uint32_t Reader::read_unsigned_varint() {
  // Seven bits a byte, least significant group first. A fifth byte may carry
  // only the top four bits: anything more would not fit 32 bits, and the Java
  // client refuses a sixth byte too.
  std::uint32_t value = 0;
  for (int i = 0; i < 5; ++i) {
    if (!take(1)) return 0;
    const auto b = std::to_integer<std::uint32_t>(bytes_[position_++]);
    if (i == 4 && b > 0x0F) break;
    value |= (b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) return value;
  }
  ok_ = false;
  return 0;
}

std::uint64_t Reader::read_unsigned_varlong() {
  std::uint64_t value = 0;
  for (int i = 0; i < 10; ++i) {
    if (!take(1)) return 0;
    const auto b = std::to_integer<std::uint64_t>(bytes_[position_++]);
    if (i == 9 && b > 0x01) break;
    value |= (b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) return value;
  }
  ok_ = false;
  return 0;
}

std::int32_t Reader::read_varint() {
  const std::uint32_t z = read_unsigned_varint();
  return static_cast<std::int32_t>((z >> 1) ^ (~(z & 1) + 1));
}

std::int64_t Reader::read_varlong() {
  const std::uint64_t z = read_unsigned_varlong();
  return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
}

std::span<const std::byte> Reader::read_span(std::size_t n) {
  if (!take(n)) return {};
  auto span = bytes_.subspan(position_, n);
  position_ += n;
  return span;
}

Reader Reader::sub_reader(std::size_t n) {
  Reader sub(read_span(n));
  if (!ok_) sub.fail();
  return sub;
}

std::int64_t Reader::read_length(bool compact, bool wide, std::int64_t max) {
  std::int64_t length = 0;
  if (compact) {
    length = static_cast<std::int64_t>(read_unsigned_varint()) - 1;
  } else {
    length = wide ? read_int32() : read_int16();
  }
  if (!ok_) return 0;
  if (length < -1 || length > max ||
      (length > 0 && static_cast<std::uint64_t>(length) > remaining())) {
    // Negative other than -1, over the type's bound, or longer than what is
    // left: checked here, before the caller allocates anything.
    ok_ = false;
    return 0;
  }
  return length;
}

std::optional<std::string_view> Reader::read_string_view(bool compact) {
  const std::int64_t length = read_length(compact, false, kMaxStringBytes);
  if (!ok_ || length < 0) return std::nullopt;
  auto span = read_span(static_cast<std::size_t>(length));
  return std::string_view(reinterpret_cast<const char*>(span.data()), span.size());
}

bool Reader::read_string(std::string& out, bool compact) {
  auto view = read_string_view(compact);
  if (!view) {
    ok_ = false;  // null where the field is not nullable
    return false;
  }
  out.assign(*view);
  return true;
}

bool Reader::read_nullable_string(std::optional<std::string>& out, bool compact) {
  auto view = read_string_view(compact);
  if (!ok_) return false;
  if (view) {
    out.emplace(*view);
  } else {
    out.reset();
  }
  return true;
}

bool Reader::read_bytes(std::vector<std::byte>& out, bool compact) {
  const std::int64_t length = read_length(compact, true, kMaxBytesBytes);
  if (!ok_ || length < 0) {
    ok_ = false;
    return false;
  }
  auto span = read_span(static_cast<std::size_t>(length));
  out.assign(span.begin(), span.end());
  return ok_;
}

bool Reader::read_nullable_bytes(std::optional<std::vector<std::byte>>& out, bool compact) {
  const std::int64_t length = read_length(compact, true, kMaxBytesBytes);
  if (!ok_) return false;
  if (length < 0) {
    out.reset();
    return true;
  }
  auto span = read_span(static_cast<std::size_t>(length));
  out.emplace(span.begin(), span.end());
  return ok_;
}

bool Reader::read_records(Records& out, bool compact, bool nullable) {
  const std::int64_t length = read_length(compact, true, kMaxBytesBytes);
  if (!ok_) return false;
  if (length < 0) {
    if (!nullable) {
      ok_ = false;
      return false;
    }
    out = Records();
    return true;
  }
  out = Records::view(read_span(static_cast<std::size_t>(length)));
  return ok_;
}

std::int32_t Reader::read_array_length(bool compact, std::size_t min_element_bytes) {
  std::int64_t count = 0;
  if (compact) {
    count = static_cast<std::int64_t>(read_unsigned_varint()) - 1;
  } else {
    count = read_int32();
  }
  if (!ok_) return 0;
  if (count == -1) return -1;
  if (min_element_bytes == 0) min_element_bytes = 1;
  if (count < -1 || count > std::numeric_limits<std::int32_t>::max() ||
      static_cast<std::uint64_t>(count) > remaining() / min_element_bytes) {
    ok_ = false;
    return 0;
  }
  return static_cast<std::int32_t>(count);
}

void Reader::skip_tagged_fields() {
  const std::uint32_t count = read_unsigned_varint();
  // Each field takes at least two bytes (tag, size), so a huge count fails
  // after the bytes run out rather than looping for long.
  for (std::uint32_t i = 0; i < count && ok_; ++i) {
    (void)read_unsigned_varint();  // tag
    skip(read_unsigned_varint());
  }
}

}  // namespace skein::kafka
