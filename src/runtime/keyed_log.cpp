// Loading and appending a keyed table in a compacted stream (keyed_log.hpp).
#include "runtime/keyed_log.hpp"

#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "storage/compression.hpp"

namespace skein::runtime {

void KeyedLog::load(const Visit& visit) {
  if (!streams_.find(stream_)) {
    storage::StreamConfig config;
    config.name = stream_;
    config.cleanup_delete = false;
    config.cleanup_compact = true;
    config.segment_bytes = 100 * 1024 * 1024;
    if (auto created = streams_.create(config); !created)
      throw std::runtime_error(stream_ + ": " + created.error().message);
  }
  PartitionRef partition = streams_.partition(stream_, 0);
  storage::Partition& log = partition->log();  // the shards are not running yet
  std::int64_t offset = log.log_start_offset();
  std::vector<std::byte> bytes;
  while (offset < log.log_end_offset()) {
    auto range = log.read(offset, 1 << 20);
    if (!range) throw std::runtime_error(stream_ + ": " + range.error().message);
    if (!range.value()) break;
    const storage::FileRange& r = *range.value();
    bytes.resize(r.length);
    if (::pread(r.fd(), bytes.data(), r.length, static_cast<off_t>(r.position)) !=
        static_cast<ssize_t>(r.length))
      throw std::runtime_error(stream_ + ": short read");
    std::span<const std::byte> rest(bytes);
    std::int64_t last = offset;
    while (!rest.empty()) {
      auto check = storage::check_batch(rest, rest.size(), false);
      if (!check.header) throw std::runtime_error(stream_ + ": " + check.message);
      auto records = storage::decode_records(rest.first(check.header->total_bytes()));
      for (const auto& record : records.value_or(std::vector<storage::RecordView>{})) {
        if (!record.key) continue;
        visit(*record.key, record.value);
      }
      last = check.header->last_offset();
      rest = rest.subspan(check.header->total_bytes());
    }
    offset = last + 1;
  }
}

boost::asio::awaitable<std::optional<storage::Error>> KeyedLog::append(
    std::vector<storage::RecordSpec> records) {
  if (records.empty()) co_return std::nullopt;
  PartitionRef partition = streams_.partition(stream_, 0);
  if (!partition) co_return storage::Error{storage::Errc::not_found, "no stream " + stream_};
  std::vector<std::byte> batch = storage::build_batch(records);
  AppendResult result = co_await streams_.append(partition, std::move(batch), true);
  co_return result.error;
}

storage::RecordSpec KeyedLog::record(std::string key, std::optional<std::string> value) {
  storage::RecordSpec spec;
  spec.key = std::move(key);
  spec.value = std::move(value);
  spec.timestamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return spec;
}

}  // namespace skein::runtime
