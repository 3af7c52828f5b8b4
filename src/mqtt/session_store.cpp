// Persistent MQTT sessions in a compacted stream (session_store.hpp).
#include "mqtt/session_store.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "mqtt/message.hpp"
#include "runtime/record_fields.hpp"

namespace skein::mqtt {

namespace asio = boost::asio;

namespace {

using Cursor = runtime::FieldReader;

std::uint8_t options_byte(const Subscription& s) {
  return static_cast<std::uint8_t>(static_cast<std::uint8_t>(s.max_qos) | (s.no_local ? 0x04 : 0) |
                                   (s.retain_as_published ? 0x08 : 0) | (s.retain_handling << 4));
}

std::string child_key(char kind, const std::string& client_id) {
  std::string key(1, kind);
  key += client_id;
  key.push_back('\0');
  return key;
}

}  // namespace

SessionStore::SessionStore(runtime::ShardPool& pool, runtime::StreamService& streams)
    : pool_(pool), log_(streams, kStream), shards_(pool.size()) {}

storage::RecordSpec SessionStore::session_record(const StoredSession& s) {
  std::string value;
  runtime::put_field(value, 0, 1);  // version of this layout
  runtime::put_field(value, static_cast<std::uint8_t>(s.version), 1);
  runtime::put_field(value, s.expiry, 4);
  runtime::put_field(value, static_cast<std::uint64_t>(s.disconnected_at), 8);
  runtime::put_field(value, s.subscriptions.size(), 2);
  for (const StoredSubscription& sub : s.subscriptions) {
    runtime::put_field(value, sub.filter.size(), 2);
    value += sub.filter;
    runtime::put_field(value, options_byte(sub.options), 1);
    runtime::put_field(value, sub.identifier, 4);
  }
  return runtime::KeyedLog::record("S" + s.client_id, std::move(value));
}

storage::RecordSpec SessionStore::message_record(const std::string& client_id,
                                                 std::uint64_t sequence, const core::Event* event,
                                                 QoS qos, bool retain, std::uint16_t packet_id) {
  std::string key = child_key('M', client_id);
  runtime::put_field(key, sequence, 8);
  if (!event) return runtime::KeyedLog::record(std::move(key), std::nullopt);
  return runtime::KeyedLog::record(
      std::move(key), encode_stored(*event, static_cast<std::uint8_t>(qos), retain, packet_id));
}

storage::RecordSpec SessionStore::pubrel_record(const std::string& client_id,
                                                std::uint16_t packet_id, bool awaiting) {
  std::string key = child_key('I', client_id);
  runtime::put_field(key, packet_id, 2);
  if (!awaiting) return runtime::KeyedLog::record(std::move(key), std::nullopt);
  return runtime::KeyedLog::record(std::move(key), std::string());
}

storage::RecordSpec SessionStore::session_tombstone(const std::string& client_id) {
  return runtime::KeyedLog::record("S" + client_id, std::nullopt);
}

std::map<std::string, StoredSession> SessionStore::load() {
  std::map<std::string, StoredSession> sessions;
  log_.load([&](std::string_view key, std::optional<std::string_view> value) {
    if (key.empty()) return;
    const char kind = key[0];
    key.remove_prefix(1);
    if (kind == 'S') {
      std::string client(key);
      if (!value) {
        sessions.erase(client);
        return;
      }
      Cursor c{*value};
      if (c.get(1) != 0) return;
      StoredSession s;
      s.client_id = client;
      s.version = static_cast<ProtocolVersion>(c.get(1));
      s.expiry = static_cast<std::uint32_t>(c.get(4));
      s.disconnected_at = static_cast<std::int64_t>(c.get(8));
      const auto count = c.get(2);
      for (std::uint64_t i = 0; i < count && c.ok; ++i) {
        StoredSubscription sub;
        sub.filter = c.text();
        const auto options = static_cast<std::uint8_t>(c.get(1));
        sub.options.filter = sub.filter;
        sub.options.max_qos = static_cast<QoS>(options & 0x03);
        sub.options.no_local = options & 0x04;
        sub.options.retain_as_published = options & 0x08;
        sub.options.retain_handling = static_cast<std::uint8_t>((options >> 4) & 0x03);
        sub.identifier = static_cast<std::uint32_t>(c.get(4));
        s.subscriptions.push_back(std::move(sub));
      }
      if (!c.ok) {
        spdlog::warn("mqtt: a stored session of {} is damaged; it is ignored", client);
        return;
      }
      // A session record rewritten keeps the messages already read.
      auto& slot = sessions[client];
      s.messages = std::move(slot.messages);
      s.awaiting_pubrel = std::move(slot.awaiting_pubrel);
      slot = std::move(s);
      return;
    }
    const auto nul = key.find('\0');
    if (nul == std::string_view::npos) return;
    const std::string client(key.substr(0, nul));
    Cursor c{key.substr(nul + 1)};
    if (kind == 'M') {
      const auto sequence = c.get(8);
      if (!c.ok) return;
      auto found = sessions.find(client);
      if (!value) {
        if (found != sessions.end()) found->second.messages.erase(sequence);
        return;
      }
      std::uint16_t packet_id = 0;
      auto event = decode_stored(*value, &packet_id);
      if (!event) {
        spdlog::warn("mqtt: a stored message of {} is damaged; it is dropped", client);
        return;
      }
      sessions[client].messages[sequence] = StoredMessage{std::move(*event), packet_id};
    } else if (kind == 'I') {
      const auto id = static_cast<std::uint16_t>(c.get(2));
      if (!c.ok) return;
      if (value)
        sessions[client].awaiting_pubrel.insert(id);
      else if (auto found = sessions.find(client); found != sessions.end())
        found->second.awaiting_pubrel.erase(id);
    }
  });
  // Children whose session record was deleted (or never came) are leftovers.
  std::erase_if(sessions, [](const auto& entry) { return entry.second.client_id.empty(); });
  return sessions;
}

void SessionStore::write(unsigned shard, std::vector<storage::RecordSpec> records, Done done) {
  PerShard& s = shards_[shard];
  s.queue.push_back(Pending{std::move(records), std::move(done)});
  if (s.writing) return;
  s.writing = true;
  asio::co_spawn(pool_.executor(shard), drain(shard), asio::detached);
}

asio::awaitable<void> SessionStore::drain(unsigned shard) {
  PerShard& s = shards_[shard];
  while (!s.queue.empty()) {
    std::deque<Pending> batch;
    batch.swap(s.queue);
    std::vector<storage::RecordSpec> records;
    for (Pending& p : batch)
      for (auto& r : p.records) records.push_back(std::move(r));
    std::optional<storage::Error> error;
    if (!records.empty()) error = co_await log_.append(std::move(records));
    if (error) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("mqtt: cannot store session state: {}", error->message);
    }
    for (Pending& p : batch)
      if (p.done) p.done(!error);
  }
  s.writing = false;
}

asio::awaitable<void> SessionStore::flush(unsigned shard) {
  auto executor = co_await asio::this_coro::executor;
  struct Wait {
    explicit Wait(asio::any_io_executor e) : timer(e, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool done = false;
  };
  auto wait = std::make_shared<Wait>(executor);
  // `done` may run before the wait begins (the writer can start inline).
  write(shard, {}, [wait](bool) {
    wait->done = true;
    wait->timer.cancel();
  });
  if (!wait->done) co_await wait->timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace skein::mqtt
