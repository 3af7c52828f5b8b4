// Whole-buffer positional reads, writes and copies over file descriptors,
// retrying on EINTR and short transfers, reporting failures as storage errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "storage/storage_error.hpp"

namespace skein::storage {

// Writes all of `bytes` at `position`. `what` names the file in errors.
Status write_at(int fd, std::span<const std::byte> bytes, std::uint64_t position,
                const std::string& what);

// Reads up to bytes.size() at `position`; returns how many (fewer only at EOF).
Result<std::size_t> read_at(int fd, std::span<std::byte> bytes, std::uint64_t position,
                            const std::string& what);

// Copies `length` bytes from `from` at `from_position` to `to` at
// `to_position`, in the kernel where it can (copy_file_range), else through a
// buffer. `what` names the files in errors.
Status copy_range(int from, std::uint64_t from_position, int to, std::uint64_t to_position,
                  std::uint64_t length, const std::string& what);

}  // namespace skein::storage
