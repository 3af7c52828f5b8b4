// Creating and locking the data directory; the cluster id kept in it.
#include "runtime/data_directory.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

namespace skein::runtime {

namespace {
// Writes `text` and a new line to a temporary name, then renames it over
// `file`: a reader sees the old content or the new, never half.
void write_whole(const std::string& file, const std::string& text) {
  const std::string tmp = file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + ": " + std::strerror(errno));
}
}  // namespace

DataDirectory::DataDirectory(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  std::filesystem::create_directories(path_, ec);
  if (ec) throw std::runtime_error("data directory " + path_ + ": " + ec.message());
  const std::string lock_path = path_ + "/.lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0)
    throw std::runtime_error("data directory " + path_ + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (error == EWOULDBLOCK)
      throw std::runtime_error("data directory " + path_ + " is in use by another skein process");
    throw std::runtime_error("data directory " + path_ + ": " + std::strerror(error));
  }
}

DataDirectory::~DataDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string DataDirectory::cluster_id() const {
  const std::string file = path_ + "/cluster.id";
  {
    std::ifstream in(file);
    std::string id;
    if (in >> id && !id.empty()) return id;
  }
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device random;
  std::string id;
  for (int i = 0; i < 22; ++i) id += kAlphabet[random() % 64];  // 132 bits, as Kafka's 128
  write_whole(file, id);
  return id;
}

std::uint64_t DataDirectory::next_incarnation() const {
  const std::string file = path_ + "/incarnation";
  std::uint64_t last = 0;
  {
    std::ifstream in(file);
    in >> last;
  }
  const auto now =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  const std::uint64_t next = std::max(now, last + 1);
  write_whole(file, std::to_string(next));
  return next;
}

}  // namespace skein::runtime
