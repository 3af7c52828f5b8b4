// TempDir: a fresh directory under /tmp for one test, removed with everything
// in it when the test ends. Shared by the storage tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace skein::storage {

class TempDir {
 public:
  explicit TempDir(std::string_view name) {
    std::string pattern = "/tmp/skein-" + std::string(name) + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("mkdtemp " + pattern + " failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace skein::storage
