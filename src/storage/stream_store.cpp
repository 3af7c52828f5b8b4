// The stream catalog on disk (stream_store.hpp).
#include "storage/stream_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "storage/file_io.hpp"

namespace skein::storage {

namespace fs = std::filesystem;

namespace {

// `~` cannot appear in a stream name, so no stream is ever called this.
constexpr std::string_view kDeletedSuffix = "~deleted";

Status sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return system_error(errno, "open " + path);
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (synced != 0) return system_error(error, "fsync " + path);
  return Ok{};
}

Status io_error(const std::string& what, const std::error_code& ec) {
  return Error{ec == std::errc::no_space_on_device ? Errc::no_space : Errc::io,
               what + ": " + ec.message()};
}

}  // namespace

Result<std::unique_ptr<StreamStore>> StreamStore::open(const std::string& data_directory) {
  const std::string root = data_directory + "/streams";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return io_error("create " + root, ec).error();
  std::unique_ptr<StreamStore> store(new StreamStore(root));
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(kDeletedSuffix)) {  // a removal a crash interrupted
      fs::remove_all(entry.path(), ec);
      if (ec) return io_error("remove " + entry.path().string(), ec).error();
      continue;
    }
    if (!entry.is_directory()) continue;
    const std::string file = entry.path().string() + "/config.json";
    std::ifstream in(file);
    if (!in) continue;  // a directory the store did not make (or a create cut short)
    std::stringstream text;
    text << in.rdbuf();
    auto config = StreamConfig::from_json(text.str());
    if (!config) return Error{Errc::corrupt, file + ": " + config.error().message};
    if (config.value().name != name)
      return Error{Errc::corrupt, file + ": names stream " + config.value().name};
    store->streams_.emplace(name, std::move(config.value()));
  }
  if (ec) return io_error("list " + root, ec).error();
  return store;
}

std::vector<StreamConfig> StreamStore::list() const {
  std::vector<StreamConfig> out;
  for (const auto& [name, config] : streams_) out.push_back(config);
  return out;
}

const StreamConfig* StreamStore::find(std::string_view name) const {
  auto it = streams_.find(name);
  return it == streams_.end() ? nullptr : &it->second;
}

std::string StreamStore::partition_directory(std::string_view name, std::int32_t partition) const {
  return root_ + "/" + std::string(name) + "/" + std::to_string(partition);
}

Status StreamStore::make_partition_directories(const StreamConfig& config, std::int32_t from) {
  for (std::int32_t p = from; p < config.partitions; ++p) {
    std::error_code ec;
    fs::create_directories(partition_directory(config.name, p), ec);
    if (ec) return io_error("create " + partition_directory(config.name, p), ec);
  }
  return Ok{};
}

Status StreamStore::write_config(const StreamConfig& config) {
  const std::string dir = root_ + "/" + config.name;
  const std::string tmp = dir + "/config.json.tmp", file = dir + "/config.json";
  const std::string text = config.to_json();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return system_error(errno, "create " + tmp);
  Status written = write_at(fd, std::as_bytes(std::span(text)), 0, tmp);
  if (written && ::fsync(fd) != 0) written = system_error(errno, "fsync " + tmp);
  ::close(fd);
  if (!written) return written;
  if (::rename(tmp.c_str(), file.c_str()) != 0) return system_error(errno, "rename " + tmp);
  return sync_path(dir, O_RDONLY | O_DIRECTORY);
}

Status StreamStore::create(const StreamConfig& config) {
  if (auto s = config.validate(); !s) return s;
  if (streams_.count(config.name) != 0)
    return Error{Errc::exists, "stream " + config.name + " exists already"};
  // Partitions first, config last: the config's presence is what makes the
  // stream exist, so a crash in between leaves a directory open() ignores.
  if (auto s = make_partition_directories(config, 0); !s) return s;
  if (auto s = write_config(config); !s) return s;
  if (auto s = sync_path(root_, O_RDONLY | O_DIRECTORY); !s) return s;
  streams_.emplace(config.name, config);
  return Ok{};
}

Status StreamStore::update(const StreamConfig& config) {
  if (auto s = config.validate(); !s) return s;
  auto it = streams_.find(config.name);
  if (it == streams_.end()) return Error{Errc::not_found, "no stream " + config.name};
  if (config.partitions < it->second.partitions)
    return Error{Errc::invalid_config,
                 "stream " + config.name + " has " + std::to_string(it->second.partitions) +
                     " partitions; they cannot be reduced to " + std::to_string(config.partitions)};
  if (auto s = make_partition_directories(config, it->second.partitions); !s) return s;
  if (auto s = write_config(config); !s) return s;
  it->second = config;
  return Ok{};
}

Status StreamStore::remove(std::string_view name) {
  auto it = streams_.find(name);
  if (it == streams_.end()) return Error{Errc::not_found, "no stream " + std::string(name)};
  const std::string dir = root_ + "/" + std::string(name);
  const std::string aside = dir + std::string(kDeletedSuffix);
  std::error_code ec;
  fs::remove_all(aside, ec);  // an earlier stream of the same name, half removed
  if (::rename(dir.c_str(), aside.c_str()) != 0) return system_error(errno, "rename " + dir);
  if (auto s = sync_path(root_, O_RDONLY | O_DIRECTORY); !s) return s;
  streams_.erase(it);
  fs::remove_all(aside, ec);
  if (ec) return io_error("remove " + aside, ec);
  return Ok{};
}

}  // namespace skein::storage
