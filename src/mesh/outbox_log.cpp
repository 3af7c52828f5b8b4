// Outboxes in the `__mesh_outbox` stream (outbox_log.hpp).
#include "mesh/outbox_log.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "mesh/frame.hpp"
#include "runtime/record_fields.hpp"

namespace skein::mesh {

namespace asio = boost::asio;

OutboxLog::OutboxLog(runtime::ShardPool& pool, runtime::StreamService& streams, unsigned shard)
    : pool_(pool), log_(streams, kStream), shard_(shard) {}

// peer, a NUL, then the position big-endian: keys of one peer sort by position.
std::string OutboxLog::key(const std::string& peer, std::uint64_t position) {
  std::string k = peer;
  k.push_back('\0');
  runtime::put_field(k, position, 8);
  return k;
}

std::map<std::string, std::map<std::uint64_t, core::EventPtr>> OutboxLog::load() {
  std::map<std::string, std::map<std::uint64_t, std::string>> raw;
  log_.load([&](std::string_view key, std::optional<std::string_view> value) {
    const auto nul = key.find('\0');
    if (nul == std::string_view::npos || key.size() != nul + 9) return;
    std::string peer(key.substr(0, nul));
    runtime::FieldReader r{key.substr(nul + 1)};
    const std::uint64_t position = r.get(8);
    if (value) {
      raw[peer][position] = std::string(*value);
    } else if (auto it = raw.find(peer); it != raw.end()) {
      it->second.erase(position);
    }
  });
  std::map<std::string, std::map<std::uint64_t, core::EventPtr>> out;
  for (auto& [peer, events] : raw) {
    for (auto& [position, bytes] : events) {
      core::Event e;
      if (auto why = decode_event(bytes, e)) {
        spdlog::error("mesh: outbox event {} for {} does not decode ({}); skipped", position, peer,
                      *why);
        continue;
      }
      e.relayed = false;
      out[peer][position] = std::make_shared<const core::Event>(std::move(e));
    }
    if (!events.empty()) first_[peer] = trimmed_[peer] = events.begin()->first;
  }
  return out;
}

void OutboxLog::append(const std::string& peer, std::uint64_t position, const core::EventPtr& event,
                       std::function<void(bool)> done) {
  std::string value;
  encode_event(value, *event);
  records_.push_back(runtime::KeyedLog::record(key(peer, position), std::move(value)));
  if (!first_.contains(peer)) first_[peer] = trimmed_[peer] = position;
  waiting_.push_back(std::move(done));
  schedule();
}

void OutboxLog::trim(const std::string& peer, std::uint64_t next) {
  auto it = trimmed_.find(peer);
  if (it == trimmed_.end()) return;  // nothing of this peer was ever stored
  for (std::uint64_t p = it->second; p < next; ++p)
    records_.push_back(runtime::KeyedLog::record(key(peer, p), std::nullopt));
  if (next > it->second) it->second = next;
  schedule();
}

void OutboxLog::schedule() {
  if (writing_) return;
  writing_ = true;
  // Posted, so that everything the engine does in this turn joins the batch.
  asio::post(pool_.executor(shard_),
             [this] { asio::co_spawn(pool_.executor(shard_), drain(), asio::detached); });
}

asio::awaitable<void> OutboxLog::drain() {
  while (!records_.empty() || !waiting_.empty()) {
    std::vector<storage::RecordSpec> records;
    records.swap(records_);
    std::vector<std::function<void(bool)>> waiting;
    waiting.swap(waiting_);
    std::optional<storage::Error> error;
    if (!records.empty()) error = co_await log_.append(std::move(records));
    if (error) {
      ++failed_;
      spdlog::error("mesh: cannot store outbox events: {}", error->message);
    }
    for (auto& done : waiting)
      if (done) done(!error);
  }
  writing_ = false;
}

}  // namespace skein::mesh
