// Reader: the primitive types of the Kafka protocol (the "Protocol Primitive
// Types" of the public protocol guide), read from a byte span that the caller
// keeps alive. All integers are big-endian.
//
//   fixed     int8 int16 int32 int64 uint16 uint32 float64 uuid(16 bytes) bool
//   varint    unsigned varint (LEB128, at most 5 bytes for 32 bits), and the
//             zigzag varint / varlong of record fields
//   classic   string: int16 length, -1 null; bytes and records: int32 length,
//             -1 null; array: int32 count, -1 null
//   compact   (flexible versions) the same with an unsigned varint N+1 in
//             place of the length, 0 meaning null
//   tagged    the tagged-field section ending every struct in flexible
//             versions: count, then (tag, size, value) each an unsigned varint
//
// Input is hostile. Every read is bounds-checked; the first failure sets a
// sticky flag, after which every read returns a zero value and nothing is
// consumed, so generated code can read a whole struct and test ok() once.
// Lengths and counts are checked against the bytes that remain before
// anything is allocated: a string or bytes field needs all of its bytes to be
// there, and an array of N elements needs N times the least size one element
// can take, so a five-byte frame cannot make us allocate gigabytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/protocol/records.hpp"
#include "kafka/protocol/types.hpp"

namespace skein::kafka {

class Reader {
 public:
  Reader() = default;
  explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  bool ok() const { return ok_; }
  // Marks the input malformed; every later read fails.
  void fail() { ok_ = false; }
  std::size_t position() const { return position_; }
  std::size_t remaining() const { return ok_ ? bytes_.size() - position_ : 0; }
  bool at_end() const { return ok_ && position_ == bytes_.size(); }
  // The bytes not read yet (empty once failed).
  std::span<const std::byte> rest() const {
    return ok_ ? bytes_.subspan(position_) : std::span<const std::byte>{};
  }

  std::int8_t read_int8();
  bool read_bool();  // any non-zero byte is true, as the Java client reads it
  std::int16_t read_int16();
  std::int32_t read_int32();
  std::int64_t read_int64();
  std::uint16_t read_uint16();
  std::uint32_t read_uint32();
  double read_float64();
  Uuid read_uuid();

  std::uint32_t read_unsigned_varint();
  std::int32_t read_varint();   // zigzag
  std::int64_t read_varlong();  // zigzag
  std::uint64_t read_unsigned_varlong();

  // The next n bytes, consumed; empty and failed when fewer remain.
  std::span<const std::byte> read_span(std::size_t n);
  void skip(std::size_t n) { (void)read_span(n); }
  // A reader over the next n bytes, which this one skips.
  Reader sub_reader(std::size_t n);

  // Strings. A null where the field is not nullable fails the reader.
  bool read_string(std::string& out, bool compact);
  bool read_nullable_string(std::optional<std::string>& out, bool compact);
  // The string's bytes without a copy; nullopt for null (or failure).
  std::optional<std::string_view> read_string_view(bool compact);

  // Bytes (a copy) and records (a view into the input).
  bool read_bytes(std::vector<std::byte>& out, bool compact);
  bool read_nullable_bytes(std::optional<std::vector<std::byte>>& out, bool compact);
  bool read_records(Records& out, bool compact, bool nullable);

  // An array's element count, -1 for null. Fails (and returns 0) when
  // `count * min_element_bytes` exceeds the bytes that remain; give the least
  // encoded size of one element, at least 1 (an element that can encode to
  // nothing still counts one byte here, which no real message relies on).
  std::int32_t read_array_length(bool compact, std::size_t min_element_bytes);

  // Reads a whole tagged-field section and discards every field.
  void skip_tagged_fields();

 private:
  // The length of a string, bytes or records value: -1 null, else checked
  // against the remaining bytes. Fails on a negative length other than -1,
  // and on a length over `max`.
  std::int64_t read_length(bool compact, bool wide, std::int64_t max);
  bool take(std::size_t n);
  std::uint64_t read_be(std::size_t n);

  std::span<const std::byte> bytes_;
  std::size_t position_ = 0;
  bool ok_ = true;
};

}  // namespace skein::kafka
