// Committed offsets in an internal compacted stream (offset_store.hpp).
#include "kafka/offset_store.hpp"

#include <chrono>
#include <stdexcept>

#include "runtime/record_fields.hpp"

namespace skein::kafka {

namespace {

// Reads big-endian fields off the front of a view; `ok` turns false on overrun.
using Cursor = runtime::FieldReader;

std::vector<std::byte> bytes_of(const std::string& s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return std::vector<std::byte>(p, p + s.size());
}

std::string as_string(const std::vector<std::byte>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

}  // namespace

std::vector<std::byte> OffsetStore::encode_key(const Key& key) {
  std::string out;
  runtime::put_field(out, 0, 1);
  runtime::put_field(out, std::get<0>(key).size(), 2);
  out += std::get<0>(key);
  runtime::put_field(out, std::get<1>(key).size(), 2);
  out += std::get<1>(key);
  runtime::put_field(out, static_cast<std::uint32_t>(std::get<2>(key)), 4);
  return bytes_of(out);
}

std::optional<OffsetStore::Key> OffsetStore::decode_key(std::string_view bytes) {
  Cursor c{bytes};
  if (c.get(1) != 0) return std::nullopt;
  std::string group = c.text();
  std::string topic = c.text();
  const auto partition = static_cast<std::int32_t>(c.get(4));
  if (!c.ok || !c.rest.empty()) return std::nullopt;
  return Key{std::move(group), std::move(topic), partition};
}

std::vector<std::byte> OffsetStore::encode_value(const CommittedOffset& v) {
  std::string out;
  runtime::put_field(out, 0, 1);
  runtime::put_field(out, static_cast<std::uint64_t>(v.offset), 8);
  runtime::put_field(out, static_cast<std::uint32_t>(v.leader_epoch), 4);
  runtime::put_field(out, static_cast<std::uint64_t>(v.commit_time_ms), 8);
  runtime::put_field(out, v.metadata.size(), 2);
  out += v.metadata;
  return bytes_of(out);
}

std::optional<CommittedOffset> OffsetStore::decode_value(std::string_view bytes) {
  Cursor c{bytes};
  if (c.get(1) != 0) return std::nullopt;
  CommittedOffset v;
  v.offset = static_cast<std::int64_t>(c.get(8));
  v.leader_epoch = static_cast<std::int32_t>(c.get(4));
  v.commit_time_ms = static_cast<std::int64_t>(c.get(8));
  v.metadata = c.text();
  if (!c.ok) return std::nullopt;
  return v;
}

void OffsetStore::load() {
  log_.load([this](std::string_view key_bytes, std::optional<std::string_view> value_bytes) {
    auto key = decode_key(key_bytes);
    if (!key) return;
    auto value = value_bytes ? decode_value(*value_bytes) : std::nullopt;
    if (value)
      offsets_[*key] = std::move(*value);
    else
      offsets_.erase(*key);
  });
}

boost::asio::awaitable<std::optional<storage::Error>> OffsetStore::append(
    std::vector<storage::RecordSpec> records) {
  return log_.append(std::move(records));
}

boost::asio::awaitable<std::optional<storage::Error>> OffsetStore::commit(
    std::string group,
    std::vector<std::tuple<std::string, std::int32_t, CommittedOffset>> offsets) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::vector<storage::RecordSpec> records;
  for (const auto& [topic, partition, value] : offsets) {
    storage::RecordSpec spec;
    spec.key = as_string(encode_key(Key{group, topic, partition}));
    spec.value = as_string(encode_value(value));
    spec.timestamp = now;
    records.push_back(std::move(spec));
  }
  if (records.empty()) co_return std::nullopt;
  auto error = co_await append(std::move(records));
  if (error) co_return error;
  std::lock_guard lock(mutex_);
  for (const auto& [topic, partition, value] : offsets)
    offsets_[Key{group, topic, partition}] = value;
  co_return std::nullopt;
}

boost::asio::awaitable<std::optional<storage::Error>> OffsetStore::forget(std::string group) {
  std::vector<Key> keys;
  {
    std::lock_guard lock(mutex_);
    for (auto it = offsets_.lower_bound(Key{group, "", INT32_MIN});
         it != offsets_.end() && std::get<0>(it->first) == group; ++it)
      keys.push_back(it->first);
  }
  std::vector<storage::RecordSpec> tombstones;
  for (const Key& key : keys) {
    tombstones.push_back(runtime::KeyedLog::record(as_string(encode_key(key)), std::nullopt));
  }
  if (tombstones.empty()) co_return std::nullopt;
  auto error = co_await append(std::move(tombstones));
  if (error) co_return error;
  std::lock_guard lock(mutex_);
  for (const Key& key : keys) offsets_.erase(key);
  co_return std::nullopt;
}

std::optional<CommittedOffset> OffsetStore::fetch(const std::string& group,
                                                  const std::string& topic,
                                                  std::int32_t partition) const {
  std::lock_guard lock(mutex_);
  auto it = offsets_.find(Key{group, topic, partition});
  if (it == offsets_.end()) return std::nullopt;
  return it->second;
}

std::map<std::pair<std::string, std::int32_t>, CommittedOffset> OffsetStore::fetch_all(
    const std::string& group) const {
  std::lock_guard lock(mutex_);
  std::map<std::pair<std::string, std::int32_t>, CommittedOffset> out;
  for (auto it = offsets_.lower_bound(Key{group, "", INT32_MIN});
       it != offsets_.end() && std::get<0>(it->first) == group; ++it)
    out[{std::get<1>(it->first), std::get<2>(it->first)}] = it->second;
  return out;
}

bool OffsetStore::has_offsets(const std::string& group) const {
  std::lock_guard lock(mutex_);
  auto it = offsets_.lower_bound(Key{group, "", INT32_MIN});
  return it != offsets_.end() && std::get<0>(it->first) == group;
}

std::vector<std::string> OffsetStore::groups() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [key, value] : offsets_)
    if (out.empty() || out.back() != std::get<0>(key)) out.push_back(std::get<0>(key));
  return out;
}

}  // namespace skein::kafka
