// DataDirectory: the node's data directory, created if missing and locked for
// the life of the process (flock on <dir>/.lock) so that two nodes never
// share one by mistake.
#pragma once

#include <cstdint>
#include <string>

namespace skein::runtime {

class DataDirectory {
 public:
  // Throws std::runtime_error saying why when the directory cannot be
  // created, or is locked by another process.
  explicit DataDirectory(std::string path);
  ~DataDirectory();
  DataDirectory(const DataDirectory&) = delete;
  DataDirectory& operator=(const DataDirectory&) = delete;

  const std::string& path() const { return path_; }

  // This node's cluster id (what Kafka clients see): 16 random bytes in
  // base64url, made once and kept in <dir>/cluster.id.
  std::string cluster_id() const;

  // This start's incarnation (core::Origin): the time in microseconds, or
  // one more than the last start's if the clock went back, kept in
  // <dir>/incarnation, so that every start of the node has a higher one.
  std::uint64_t next_incarnation() const;

 private:
  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace skein::runtime
