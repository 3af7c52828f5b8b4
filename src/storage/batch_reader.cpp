// Sequential batch reading with a refilled buffer (batch_reader.hpp).
#include "storage/batch_reader.hpp"

#include <algorithm>
#include <cstring>

#include "storage/file_io.hpp"

namespace skein::storage {

namespace {
constexpr std::size_t kReadChunk = 1024 * 1024;
}

BatchReader::BatchReader(int fd, std::uint64_t size, std::size_t max_batch_bytes, std::string what)
    : fd_(fd), size_(size), max_batch_bytes_(max_batch_bytes), what_(std::move(what)) {}

Result<std::optional<BatchRead>> BatchReader::next() {
  const std::uint64_t position = buffer_position_ + begin_;
  if (position >= size_) return std::optional<BatchRead>{};
  // Make sure the buffer holds `want` unread bytes (or all that is left).
  auto fill = [&](std::size_t want) -> Status {
    if (end_ - begin_ >= want) return Ok{};
    if (end_ > begin_) std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    buffer_position_ += begin_;
    end_ -= begin_;
    begin_ = 0;
    const std::uint64_t left = size_ - buffer_position_;
    const auto target =
        static_cast<std::size_t>(std::min<std::uint64_t>(left, std::max(want, kReadChunk)));
    if (buffer_.size() < target) buffer_.resize(target);
    while (end_ < target) {
      auto got = read_at(fd_, std::span(buffer_).subspan(end_, target - end_),
                         buffer_position_ + end_, what_);
      if (!got) return got.error();
      if (got.value() == 0) break;  // the file is shorter than its snapshot size
      end_ += got.value();
    }
    return Ok{};
  };
  if (auto filled = fill(kBatchHeaderBytes); !filled) return filled.error();
  auto unread = std::span<const std::byte>(buffer_).subspan(begin_, end_ - begin_);
  BatchCheck check = check_batch(unread, max_batch_bytes_, /*verify_crc=*/false);
  if (check.error == BatchError::truncated && unread.size() >= kBatchLengthPrefixBytes &&
      !check.header) {
    // The batch continues past the buffer: read the rest of it (its length was
    // checked against the limit before it was reported as truncated).
    const std::uint32_t length =
        static_cast<std::uint32_t>((std::to_integer<std::uint32_t>(unread[8]) << 24) |
                                   (std::to_integer<std::uint32_t>(unread[9]) << 16) |
                                   (std::to_integer<std::uint32_t>(unread[10]) << 8) |
                                   std::to_integer<std::uint32_t>(unread[11]));
    if (auto filled = fill(kBatchLengthPrefixBytes + length); !filled) return filled.error();
    unread = std::span<const std::byte>(buffer_).subspan(begin_, end_ - begin_);
  }
  check = check_batch(unread, max_batch_bytes_, /*verify_crc=*/true);
  if (!check.header)
    return Error{Errc::corrupt, "corrupt batch in " + what_ + " at position " +
                                    std::to_string(position) + ": " + check.message};
  const std::size_t total = check.header->total_bytes();
  BatchRead read{*check.header, unread.first(total), position};
  begin_ += total;
  return std::optional<BatchRead>(read);
}

}  // namespace skein::storage
