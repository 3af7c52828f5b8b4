// Reads the record batches of a stretch of a log file in order, a large
// buffer at a time rather than one pread per batch: what compaction uses to
// go through whole segments. Each batch's length and CRC are checked; a
// stretch that is not whole, valid batches is an error naming the position.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "storage/record_batch.hpp"
#include "storage/storage_error.hpp"

namespace skein::storage {

struct BatchRead {
  BatchHeader header;
  std::span<const std::byte> bytes;  // the whole batch; valid until the next call
  std::uint64_t position = 0;        // in the file
};

class BatchReader {
 public:
  // Batches in [0, size) of `fd`; `what` names the file in errors.
  BatchReader(int fd, std::uint64_t size, std::size_t max_batch_bytes, std::string what);

  // The next batch, nullopt after the last.
  Result<std::optional<BatchRead>> next();

 private:
  int fd_;
  std::uint64_t size_;
  std::size_t max_batch_bytes_;
  std::string what_;
  std::vector<std::byte> buffer_;
  std::uint64_t buffer_position_ = 0;  // file position of buffer_[0]
  std::size_t begin_ = 0, end_ = 0;    // unread bytes are buffer_[begin_, end_)
};

}  // namespace skein::storage
