// SessionStore: MQTT sessions that outlive their connection (session expiry
// > 0, or clean session 0 in 3.1.1) kept in the internal compacted stream
// `__mqtt_sessions` (DESIGN.md §4), so that their subscriptions, queued QoS>0
// messages and the QoS 2 packet ids they await PUBREL for survive disconnects
// and node restarts.
//
// Keys (ours; only this class reads them):
//   'S' client-id                      the session: version, expiry, subscriptions
//   'M' client-id 0x00 u64 sequence    a queued QoS>0 message (message.hpp's stored form)
//   'I' client-id 0x00 u16 packet-id   an inbound QoS 2 message awaiting PUBREL
// A null value deletes the key. Client ids hold no NUL [MQTT-1.5.4-2], so the
// 0x00 ends them.
//
// Writes are queued per shard and appended by one writer per shard in
// batches, in the order given: a message's record always precedes its
// deletion in the log.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/event.hpp"
#include "mqtt/protocol/codec.hpp"
#include "runtime/keyed_log.hpp"
#include "runtime/shard_pool.hpp"

namespace skein::mqtt {

struct StoredSubscription {
  std::string filter;  // as the client gave it, "$share/g/..." included
  Subscription options;
  std::uint32_t identifier = 0;  // 0: none
};

struct StoredMessage {
  core::Event event;
  std::uint16_t packet_id = 0;  // the id it was sent with; 0: not sent yet
};

struct StoredSession {
  std::string client_id;
  ProtocolVersion version = ProtocolVersion::v5;
  std::uint32_t expiry = 0;           // seconds; 0xFFFFFFFF never
  std::int64_t disconnected_at = -1;  // epoch ms; -1 while connected
  std::vector<StoredSubscription> subscriptions;
  std::map<std::uint64_t, StoredMessage> messages;  // by sequence
  std::set<std::uint16_t> awaiting_pubrel;
};

class SessionStore {
 public:
  static constexpr const char* kStream = "__mqtt_sessions";

  SessionStore(runtime::ShardPool& pool, runtime::StreamService& streams);

  // Creates the stream when missing and reads every stored session. Call
  // after StreamService::open and before the shards run.
  std::map<std::string, StoredSession> load();

  // Records for one change. A session record carries no messages.
  static storage::RecordSpec session_record(const StoredSession& session);
  // A queued message as it will be delivered (its QoS and retain flag for
  // this session); a null event deletes it.
  static storage::RecordSpec message_record(const std::string& client_id, std::uint64_t sequence,
                                            const core::Event* event, QoS qos = QoS::at_most_once,
                                            bool retain = false, std::uint16_t packet_id = 0);
  static storage::RecordSpec pubrel_record(const std::string& client_id, std::uint16_t packet_id,
                                           bool awaiting);  // false: delete
  static storage::RecordSpec session_tombstone(const std::string& client_id);

  // On shard `shard`: appends the records after every record given before on
  // this shard; `done(ok)` runs there once they are durable (or failed).
  using Done = std::function<void(bool ok)>;
  void write(unsigned shard, std::vector<storage::RecordSpec> records, Done done = {});

  // Completes once every write queued on `shard` so far is done.
  boost::asio::awaitable<void> flush(unsigned shard);

  std::uint64_t failed_writes() const { return failed_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    std::vector<storage::RecordSpec> records;
    Done done;
  };
  struct PerShard {
    std::deque<Pending> queue;
    bool writing = false;
  };
  boost::asio::awaitable<void> drain(unsigned shard);

  runtime::ShardPool& pool_;
  runtime::KeyedLog log_;
  std::vector<PerShard> shards_;
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace skein::mqtt
