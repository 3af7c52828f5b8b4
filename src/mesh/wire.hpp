// Primitive fields of the mesh link protocol (docs/mesh-protocol.md):
// unsigned LEB128 varints for counts, lengths and numbers, fixed big-endian
// integers where a field is patched or compared as bytes, and length-prefixed
// byte strings. The reader fails once and stays failed, so a decoder checks
// `ok()` at the end instead of after every field; nothing it reads is trusted
// (every length is checked against what is left).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skein::mesh {

class WireWriter {
 public:
  explicit WireWriter(std::string& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void fixed(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  // Signed values (timestamps) zig-zag encoded, so small negatives stay small.
  void svarint(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void bytes(std::string_view s) {
    varint(s.size());
    out_.append(s);
  }
  std::string& out() { return out_; }

 private:
  std::string& out_;
};

class WireReader {
 public:
  explicit WireReader(std::string_view in) : rest_(in) {}

  bool ok() const { return ok_; }
  bool done() const { return rest_.empty(); }
  std::size_t left() const { return rest_.size(); }
  // Marks the input bad (a decoder found a value out of range).
  void fail() { ok_ = false; }

  std::uint8_t u8() { return static_cast<std::uint8_t>(fixed(1)); }
  std::uint64_t fixed(int bytes) {
    if (!ok_ || rest_.size() < static_cast<std::size_t>(bytes)) return failed();
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(bytes);
    return v;
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!ok_ || rest_.empty()) return failed();
      const auto byte = static_cast<unsigned char>(rest_.front());
      rest_.remove_prefix(1);
      // The tenth byte may carry only the top bit of a 64-bit value.
      if (shift == 63 && byte > 1) return failed();
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    return failed();
  }
  std::int64_t svarint() {
    const std::uint64_t z = varint();
    return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }
  // A byte string of at most `max` bytes (longer: the input is bad).
  std::string_view bytes(std::size_t max = SIZE_MAX) {
    const std::uint64_t n = varint();
    if (!ok_ || n > rest_.size() || n > max) {
      failed();
      return {};
    }
    std::string_view s = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return s;
  }

 private:
  std::uint64_t failed() {
    ok_ = false;
    rest_ = {};
    return 0;
  }
  std::string_view rest_;
  bool ok_ = true;
};

}  // namespace skein::mesh
