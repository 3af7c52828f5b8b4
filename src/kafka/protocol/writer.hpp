// Writer: the Kafka primitives of reader.hpp, written big-endian into a
// growing buffer, plus file pieces for zero-copy record data.
//
// A Fetch response carries record batches that live in log segment files. The
// writer does not read them: a `records` value made of storage::FileRanges
// becomes file pieces between the in-memory bytes, and the output is the
// sequence of pieces
//
//   bytes[0, a) | file range 1 | bytes[a, b) | file range 2 | bytes[b, end)
//
// which the connection sends in order (writev for bytes, sendfile for files;
// flatten() reads everything into one buffer where sendfile cannot be used,
// such as TLS). size() counts file bytes too, so a length prefix written
// before a file piece is right.
//
// Some values cannot be written: a string over 32767 bytes, a null where the
// version does not allow one, or a field set to something other than its
// default in a version that lacks it and that the protocol does not mark
// "ignorable" (the Java client throws UnsupportedVersionException there).
// The writer then records the first such error and carries on; callers check
// ok() once the message is written and must not send the output if it is
// false, since the bytes would not say what the caller meant.
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
#include "storage/segment.hpp"

namespace skein::kafka {

class Writer {
 public:
  // One piece of output: in-memory bytes, or (file != nullptr) a file range.
  struct Piece {
    std::span<const std::byte> bytes;
    const storage::FileRange* file = nullptr;
  };

  bool ok() const { return error_ == nullptr; }
  // What went wrong first, e.g. "ProduceRequest.transactional_id: not in this
  // version"; nullptr when ok().
  const char* error() const { return error_; }
  // Records an error (the first one is kept).
  void fail(const char* what) {
    if (error_ == nullptr) error_ = what;
  }

  void write_int8(std::int8_t value) { put_be(static_cast<std::uint8_t>(value), 1); }
  void write_bool(bool value) { put_be(value ? 1 : 0, 1); }
  void write_int16(std::int16_t value) { put_be(static_cast<std::uint16_t>(value), 2); }
  void write_int32(std::int32_t value) { put_be(static_cast<std::uint32_t>(value), 4); }
  void write_int64(std::int64_t value) { put_be(static_cast<std::uint64_t>(value), 8); }
  void write_uint16(std::uint16_t value) { put_be(value, 2); }
  void write_uint32(std::uint32_t value) { put_be(value, 4); }
  void write_float64(double value);
  void write_uuid(const Uuid& value) { write_raw(value.bytes); }

  void write_unsigned_varint(std::uint32_t value);
  void write_unsigned_varlong(std::uint64_t value);
  void write_varint(std::int32_t value);   // zigzag
  void write_varlong(std::int64_t value);  // zigzag

  void write_raw(std::span<const std::byte> bytes);

  void write_string(std::string_view value, bool compact);
  void write_nullable_string(const std::optional<std::string>& value, bool compact);
  void write_bytes(std::span<const std::byte> value, bool compact);
  void write_nullable_bytes(const std::optional<std::vector<std::byte>>& value, bool compact);
  // In-memory records are copied; file ranges become file pieces.
  void write_records(const Records& value, bool compact);
  void write_array_length(std::size_t count, bool compact);
  void write_null_array(bool compact) { write_null_length(compact, true); }

  // Appends everything another writer holds (its file pieces included) and
  // its error, if any.
  void append(Writer&& other);

  // Four placeholder bytes, to be set by patch_int32 once what follows is
  // known (a frame's size prefix). Returns where they are.
  std::size_t reserve_int32();
  void patch_int32(std::size_t at, std::int32_t value);

  // Total output bytes, file pieces included.
  std::size_t size() const { return buffer_.size() + file_bytes_; }
  bool has_files() const { return !splices_.empty(); }
  // The in-memory bytes alone: the whole output when !has_files().
  std::span<const std::byte> memory() const { return buffer_; }
  // The output in order. Views into this writer, valid until it changes.
  std::vector<Piece> pieces() const;
  // The whole output in one buffer, file pieces read with pread; nullopt when
  // a file cannot be read in full.
  std::optional<std::vector<std::byte>> flatten() const;

 private:
  // A file range to be sent after the first `at` bytes of buffer_.
  struct Splice {
    std::size_t at;
    storage::FileRange range;
  };

  void put_be(std::uint64_t value, std::size_t n);
  void write_null_length(bool compact, bool wide);

  std::vector<std::byte> buffer_;
  std::vector<Splice> splices_;
  std::size_t file_bytes_ = 0;
  const char* error_ = nullptr;
};

}  // namespace skein::kafka
