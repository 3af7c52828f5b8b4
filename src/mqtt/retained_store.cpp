// Retained messages in memory and in a compacted stream (retained_store.hpp).
#include "mqtt/retained_store.hpp"

#include <spdlog/spdlog.h>

#include "core/topic_names.hpp"
#include "mqtt/message.hpp"

namespace skein::mqtt {

void RetainedStore::load() {
  log_.load([this](std::string_view key, std::optional<std::string_view> value) {
    if (!value) {
      messages_.erase(std::string(key));
      return;
    }
    auto event = decode_stored(*value);
    if (!event) {
      spdlog::warn("mqtt: the retained message of {} is damaged; it is dropped", key);
      return;
    }
    event->retain = true;
    messages_[std::string(key)] = std::make_shared<const core::Event>(std::move(*event));
  });
}

boost::asio::awaitable<bool> RetainedStore::set(core::EventPtr event) {
  std::vector<storage::RecordSpec> records;
  if (event->payload.empty())
    records.push_back(runtime::KeyedLog::record(event->topic, std::nullopt));
  else
    records.push_back(runtime::KeyedLog::record(event->topic, encode_stored(*event)));
  auto error = co_await log_.append(std::move(records));
  if (error) {
    spdlog::error("mqtt: cannot store the retained message of {}: {}", event->topic,
                  error->message);
    co_return false;
  }
  std::lock_guard lock(mutex_);
  if (event->payload.empty())
    messages_.erase(event->topic);
  else
    messages_[event->topic] = std::move(event);
  co_return true;
}

std::vector<core::EventPtr> RetainedStore::matching(const std::vector<std::string>& filters,
                                                    std::int64_t now) const {
  std::vector<core::EventPtr> out;
  std::lock_guard lock(mutex_);
  for (const std::string& filter : filters) {
    // Topics matching the filter all start with its text before the first wildcard.
    const auto wildcard = filter.find_first_of("*>");
    const std::string_view prefix = std::string_view(filter).substr(
        0, wildcard == std::string::npos ? filter.size() : wildcard);
    for (auto it = messages_.lower_bound(prefix);
         it != messages_.end() && std::string_view(it->first).starts_with(prefix); ++it) {
      if (expired(*it->second, now) || !core::filter_matches(filter, it->first)) continue;
      out.push_back(it->second);  // the filters of one translation never overlap
    }
  }
  return out;
}

std::size_t RetainedStore::size() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

}  // namespace skein::mqtt
