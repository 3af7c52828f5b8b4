// Writer: Kafka primitives into a buffer plus file pieces (writer.hpp).
#include "kafka/protocol/writer.hpp"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <limits>
#include <utility>

namespace skein::kafka {

namespace {

constexpr std::size_t kMaxStringBytes = std::numeric_limits<std::int16_t>::max();
constexpr std::size_t kMaxBytesBytes = std::numeric_limits<std::int32_t>::max();

}  // namespace

void Writer::put_be(std::uint64_t value, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) {
    buffer_.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xFF));
  }
}

void Writer::write_float64(double value) {
  put_be(std::bit_cast<std::uint64_t>(value), 8);
}

void Writer::write_unsigned_varint(std::uint32_t value) {
  write_unsigned_varlong(value);
}

void Writer::write_unsigned_varlong(std::uint64_t value) {
  while (value >= 0x80) {
    buffer_.push_back(static_cast<std::byte>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  buffer_.push_back(static_cast<std::byte>(value));
}

void Writer::write_varint(std::int32_t value) {
  // Zigzag: 0, -1, 1, -2, ... become 0, 1, 2, 3, ... so small negative
  // numbers stay short. The shift of the unsigned value avoids shifting a
  // negative number.
  const auto u = static_cast<std::uint32_t>(value);
  write_unsigned_varint((u << 1) ^ (value < 0 ? 0xFFFFFFFFu : 0u));
}

void Writer::write_varlong(std::int64_t value) {
  const auto u = static_cast<std::uint64_t>(value);
  write_unsigned_varlong((u << 1) ^ (value < 0 ? ~std::uint64_t{0} : 0u));
}

void Writer::write_raw(std::span<const std::byte> bytes) {
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

void Writer::write_null_length(bool compact, bool wide) {
  if (compact) {
    write_unsigned_varint(0);
  } else if (wide) {
    write_int32(-1);
  } else {
    write_int16(-1);
  }
}

void Writer::write_string(std::string_view value, bool compact) {
  if (value.size() > kMaxStringBytes) {
    fail("string longer than 32767 bytes");
    value = value.substr(0, kMaxStringBytes);
  }
  if (compact) {
    write_unsigned_varint(static_cast<std::uint32_t>(value.size() + 1));
  } else {
    write_int16(static_cast<std::int16_t>(value.size()));
  }
  write_raw(std::as_bytes(std::span(value.data(), value.size())));
}

void Writer::write_nullable_string(const std::optional<std::string>& value, bool compact) {
  if (value) {
    write_string(*value, compact);
  } else {
    write_null_length(compact, false);
  }
}

void Writer::write_bytes(std::span<const std::byte> value, bool compact) {
  if (value.size() > kMaxBytesBytes) {
    fail("bytes longer than 2147483647");
    value = value.first(kMaxBytesBytes);
  }
  if (compact) {
    write_unsigned_varint(static_cast<std::uint32_t>(value.size() + 1));
  } else {
    write_int32(static_cast<std::int32_t>(value.size()));
  }
  write_raw(value);
}

void Writer::write_nullable_bytes(const std::optional<std::vector<std::byte>>& value,
                                  bool compact) {
  if (value) {
    write_bytes(*value, compact);
  } else {
    write_null_length(compact, true);
  }
}

void Writer::write_records(const Records& value, bool compact) {
  if (value.is_null()) {
    write_null_length(compact, true);
    return;
  }
  if (value.in_memory()) {
    write_bytes(value.bytes(), compact);
    return;
  }
  const std::size_t total = value.size();
  if (total > kMaxBytesBytes) {
    fail("records longer than 2147483647");
    return;
  }
  if (compact) {
    write_unsigned_varint(static_cast<std::uint32_t>(total + 1));
  } else {
    write_int32(static_cast<std::int32_t>(total));
  }
  for (const auto& range : value.file_ranges()) {
    if (range.length == 0) continue;  // nothing to send; keeps pieces non-empty
    splices_.push_back(Splice{buffer_.size(), range});
    file_bytes_ += range.length;
  }
}

void Writer::write_array_length(std::size_t count, bool compact) {
  if (count > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    fail("array longer than 2147483647");
    count = 0;
  }
  if (compact) {
    write_unsigned_varint(static_cast<std::uint32_t>(count + 1));
  } else {
    write_int32(static_cast<std::int32_t>(count));
  }
}

void Writer::append(Writer&& other) {
  const std::size_t base = buffer_.size();
  buffer_.insert(buffer_.end(), other.buffer_.begin(), other.buffer_.end());
  for (auto& splice : other.splices_) {
    splices_.push_back(Splice{base + splice.at, std::move(splice.range)});
  }
  file_bytes_ += other.file_bytes_;
  if (other.error_ != nullptr) fail(other.error_);
  other = Writer();
}

std::size_t Writer::reserve_int32() {
  const std::size_t at = buffer_.size();
  write_int32(0);
  return at;
}

void Writer::patch_int32(std::size_t at, std::int32_t value) {
  const auto u = static_cast<std::uint32_t>(value);
  for (std::size_t i = 0; i < 4; ++i) {
    buffer_[at + i] = static_cast<std::byte>((u >> (24 - 8 * i)) & 0xFF);
  }
}

std::vector<Writer::Piece> Writer::pieces() const {
  std::vector<Piece> out;
  out.reserve(2 * splices_.size() + 1);
  std::size_t from = 0;
  const std::span<const std::byte> all(buffer_);
  for (const auto& splice : splices_) {
    if (splice.at > from) out.push_back(Piece{all.subspan(from, splice.at - from), nullptr});
    out.push_back(Piece{{}, &splice.range});
    from = splice.at;
  }
  if (from < buffer_.size()) out.push_back(Piece{all.subspan(from), nullptr});
  return out;
}

std::optional<std::vector<std::byte>> Writer::flatten() const {
  std::vector<std::byte> out;
  out.reserve(size());
  for (const auto& piece : pieces()) {
    if (piece.file == nullptr) {
      out.insert(out.end(), piece.bytes.begin(), piece.bytes.end());
      continue;
    }
    const std::size_t start = out.size();
    out.resize(start + piece.file->length);
    std::size_t done = 0;
    while (done < piece.file->length) {
      const ssize_t n =
          ::pread(piece.file->fd(), out.data() + start + done, piece.file->length - done,
                  static_cast<off_t>(piece.file->position + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;  // an error, or the file is shorter than the range
      done += static_cast<std::size_t>(n);
    }
  }
  return out;
}

}  // namespace skein::kafka
