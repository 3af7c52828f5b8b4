// The value of a `records` field (Produce request, Fetch response): the bytes
// of zero or more record batches, or null. On the wire it is length-prefixed
// like `bytes`; what differs is where the bytes live:
//
//   null     length -1 (0 in compact form): what Kafka sends for "no records"
//   view     bytes inside a buffer the caller keeps alive; decoding always
//            gives a view into the request frame, so a produced batch reaches
//            the log without a copy
//   owned    bytes the value holds itself (built in memory)
//   files    ranges of log segment files, sent with sendfile by the
//            connection: the Writer keeps them as file pieces, not bytes
//
// Equality compares content for the two in-memory forms (a view equals an
// owned copy of the same bytes) and identity (file, position, length) for
// file ranges, which are never read to be compared.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "storage/segment.hpp"

namespace skein::kafka {

class Records {
 public:
  Records() = default;  // null

  static Records view(std::span<const std::byte> bytes);
  static Records owned(std::vector<std::byte> bytes);
  static Records files(std::vector<storage::FileRange> ranges);

  bool is_null() const { return kind_ == Kind::null; }
  bool in_memory() const { return kind_ == Kind::view || kind_ == Kind::owned; }
  bool in_files() const { return kind_ == Kind::files; }

  // Bytes on the wire after the length prefix (the sum of the ranges for files).
  std::size_t size() const;
  // The in-memory bytes; empty for null and for file ranges.
  std::span<const std::byte> bytes() const;
  // The file ranges; empty unless in_files().
  const std::vector<storage::FileRange>& file_ranges() const { return files_; }

  bool operator==(const Records& other) const;

 private:
  enum class Kind : unsigned char { null, view, owned, files };
  Kind kind_ = Kind::null;
  std::span<const std::byte> view_;
  std::vector<std::byte> owned_;
  std::vector<storage::FileRange> files_;
};

}  // namespace skein::kafka
