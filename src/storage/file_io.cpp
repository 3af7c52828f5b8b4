// pread/pwrite loops and errno mapping.
#include "storage/file_io.hpp"

#include <unistd.h>

#include <cstring>

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

}  // namespace skein::storage
