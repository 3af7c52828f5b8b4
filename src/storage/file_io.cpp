// pread/pwrite loops and errno mapping.
#include "storage/file_io.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace skein::storage {

Error system_error(int error_number, const std::string& what) {
  Errc code = Errc::io;
  if (error_number == ENOSPC || error_number == EDQUOT) code = Errc::no_space;
  if (error_number == EACCES || error_number == EPERM || error_number == EROFS)
    code = Errc::permission;
  return Error{code, what + ": " + std::strerror(error_number)};
}

Status write_at(int fd, std::span<const std::byte> bytes, std::uint64_t position,
                const std::string& what) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(position + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return system_error(errno, what);
    }
    done += static_cast<std::size_t>(n);
  }
  return Ok{};
}

Result<std::size_t> read_at(int fd, std::span<std::byte> bytes, std::uint64_t position,
                            const std::string& what) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(position + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return system_error(errno, what);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Status copy_range(int from, std::uint64_t from_position, int to, std::uint64_t to_position,
                  std::uint64_t length, const std::string& what) {
  std::uint64_t done = 0;
  while (done < length) {
    auto in = static_cast<off_t>(from_position + done);
    auto out = static_cast<off_t>(to_position + done);
    const ssize_t n = ::copy_file_range(from, &in, to, &out, length - done, 0);
    if (n > 0) {
      done += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return Error{Errc::io, what + ": the source ends early"};
    if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
      return system_error(errno, what);
    break;  // not supported between these files: copy through a buffer
  }
  std::vector<std::byte> buffer(std::min<std::uint64_t>(length - done, 1024 * 1024));
  while (done < length) {
    const auto chunk =
        static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length - done));
    auto got = read_at(from, std::span(buffer).first(chunk), from_position + done, what);
    if (!got) return got.error();
    if (got.value() != chunk) return Error{Errc::io, what + ": the source ends early"};
    if (auto s = write_at(to, std::span(buffer).first(chunk), to_position + done, what); !s)
      return s;
    done += chunk;
  }
  return Ok{};
}

}  // namespace skein::storage
