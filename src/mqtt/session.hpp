// Session: the state of one MQTT client id (MQTT 4.1), on its home shard,
// with or without a connection attached. It is the router's destination for
// the client's subscriptions: events are offered to it, matched against its
// subscriptions (QoS, no local, retain as published, subscription ids), and
// queued; while a connection is attached, it sends them within the in-flight
// window and tracks each QoS>0 message until acknowledged; offline, it keeps
// QoS>0 messages (bounded) for the next connection.
//
// A session that outlives its connection (expiry > 0) keeps its
// subscriptions and its QoS>0 messages durably (session_store.hpp): a QoS>0
// message is acknowledged to its publisher only once stored here, and
// deleted from the store once the client acknowledged it (PUBACK, or PUBREC
// for QoS 2, after which only a PUBREL is owed).
//
// Every session counts as a persistent destination for the router's
// receipts and answers each one: "stored" when it keeps the message durably,
// "does not count" otherwise. (A fixed answer keeps the receipt's count
// right while the session's expiry changes between connections.)
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/destination.hpp"
#include "core/lazy_queue.hpp"
#include "mqtt/mqtt_context.hpp"
#include "mqtt/protocol/codec.hpp"
#include "mqtt/session_store.hpp"

namespace skein::mqtt {

class MqttConnection;

struct SessionSubscription {
  Subscription options;              // options.filter: as the client gave it
  std::uint32_t identifier = 0;      // 0: none
  std::vector<std::string> filters;  // the Skein filters it translates to
  std::string share;                 // "$share/g/...": the group key, else empty
};

// Checks an MQTT subscription's filter ("$share/g/f" included) and fills
// `out` (options, Skein filters, share); the reason when it is refused.
std::optional<std::string> translate_subscription(const Subscription& options,
                                                  SessionSubscription& out);

// A message on its way to the client.
struct Outgoing {
  core::EventPtr event;
  QoS qos = QoS::at_most_once;
  bool retain = false;
  std::vector<std::uint32_t> identifiers;
  std::uint16_t packet_id = 0;  // once sent (QoS>0)
  bool released = false;        // QoS 2: PUBREC came, PUBREL sent
  std::uint64_t stored = 0;     // its sequence in the session store; 0: not stored
  std::string share;            // delivered through this shared subscription
};

class Session final : public core::Destination {
 public:
  Session(MqttContext& context, unsigned shard, std::string client_id);
  ~Session() override;

  bool persistent() const override { return true; }

  const std::string& client_id() const { return client_id_; }
  unsigned shard() const { return home_shard(); }
  // Unique on this node for the session's life; events carry it for no-local.
  std::uint64_t id() const { return id_; }

  // --- connection life
  void attach(MqttConnection* connection, ProtocolVersion version, std::uint32_t expiry,
              std::uint16_t client_receive_maximum);
  // The connection is gone. Ends the session when its expiry is 0, else
  // starts the expiry timer; `will` (with its delay) is published per
  // MQTT-3.1.2-8 / v5 3.1.3.2.2.
  void detach(std::optional<core::Event> will, std::uint32_t will_delay);
  MqttConnection* connection() const { return connection_; }
  std::uint32_t expiry() const { return expiry_; }
  void set_expiry(std::uint32_t expiry);
  // Ends the session now: subscriptions removed, stored state deleted, a
  // pending will published. The session leaves its registry.
  void end();
  bool ended() const { return ended_; }
  bool stored() const { return expiry_ > 0; }

  // --- subscriptions (the caller checked and translated the filters)
  // Adds or replaces; true when it replaced one with the same filter.
  boost::asio::awaitable<bool> subscribe(SessionSubscription subscription);
  boost::asio::awaitable<bool> unsubscribe(std::string filter);
  // By filter (as the client gave it), in filter order.
  const std::vector<SessionSubscription>& subscriptions() const { return subs_; }
  // Queues the retained messages for a new subscription and sends what it can.
  void send_retained(const SessionSubscription& subscription, bool existed);

  // --- outgoing flow (from the attached connection)
  void on_puback(std::uint16_t packet_id);
  void on_pubrec(std::uint16_t packet_id, std::uint8_t reason_code);
  void on_pubcomp(std::uint16_t packet_id);
  // Sends queued messages while the window and the connection allow.
  void send_ready();
  // A shared subscription's group chose this session for `event`.
  // `answer`: whether this session answers the event's receipt (false for
  // a message handed back by another member, which answered it).
  void offer_shared(core::EventPtr event, const std::string& share, bool answer);
  // Readable from any shard (the shared groups prefer connected members).
  bool online() const { return online_.load(std::memory_order_relaxed); }

  // --- incoming QoS 2 (MQTT 4.3.3 method B): the ids awaiting PUBREL
  bool awaiting_pubrel(std::uint16_t packet_id) const;
  // Holds the id in memory from the PUBLISH on; then records it durably (a
  // stored session) once the message is stored: `done` runs after that.
  void hold_pubrel(std::uint16_t packet_id);
  void record_pubrel(std::uint16_t packet_id, std::function<void()> done);
  // PUBREL came: false when the id was unknown.
  bool release(std::uint16_t packet_id);
  std::size_t incoming_pending() const { return pubrel_.size(); }

  // Restores what a stored session held (node start): state, messages and
  // subscriptions; then it waits offline for its client, expiring on time.
  boost::asio::awaitable<void> restore(StoredSession stored);
  StoredSession snapshot() const;  // the session record's fields, without messages

 protected:
  void wake() override;

 private:
  // What a session has only while no connection is attached: a stored
  // session's expiry, a delayed will. Boxed: a connected device has none.
  struct Offline {
    std::int64_t disconnected_at = -1;
    // Each made only when needed: a million offline sessions mostly have
    // an expiry timer and nothing else.
    std::unique_ptr<boost::asio::steady_timer> expiry_timer;
    std::unique_ptr<boost::asio::steady_timer> will_timer;
    std::unique_ptr<core::Event> pending_will;
  };
  Offline& offline();
  std::vector<SessionSubscription>::iterator find_subscription(const std::string& filter);

  struct Match {
    bool matched = false;
    QoS qos = QoS::at_most_once;
    bool retain = false;
    std::vector<std::uint32_t> identifiers;
  };
  Match match(const core::Event& event) const;
  void drain();
  // Queues one message; adds its store record to `records` and its receipt
  // to `receipts` when it must be stored first.
  void enqueue(core::EventPtr event, QoS qos, bool retain, std::vector<std::uint32_t> ids,
               std::string share, std::vector<storage::RecordSpec>& records,
               std::vector<std::shared_ptr<core::Receipt>>& receipts, bool answer = true);
  void store(std::vector<storage::RecordSpec> records,
             std::vector<std::shared_ptr<core::Receipt>> receipts);
  void forget(const Outgoing& message, std::vector<storage::RecordSpec>& records);
  std::uint16_t next_packet_id();
  std::size_t window() const;
  boost::asio::awaitable<void> sync_router_filters();
  void write_session_record();
  void publish_will();             // the pending one, if any
  void publish(core::Event will);  // now
  void hand_back_shared();

  // Largest first, the small ones packed last: no padding in a million.
  MqttContext& context_;
  std::string client_id_;
  std::uint64_t id_;
  MqttConnection* connection_ = nullptr;
  // Sorted vectors, not trees: a device has one or two of each, and an idle
  // session should cost little (tree headers are 48 bytes each).
  std::vector<SessionSubscription> subs_;    // by options.filter
  std::vector<std::string> router_filters_;  // the (filter, this) pairs in the router
  core::LazyQueue<Outgoing> inflight_;       // sent, unacknowledged, in send order
  core::LazyQueue<Outgoing> queued_;         // not sent yet
  std::vector<std::uint16_t> pubrel_;        // sorted
  std::uint64_t next_store_sequence_ = 1;
  std::unique_ptr<Offline> offline_;  // while no connection is attached (not always then)
  std::uint32_t expiry_ = 0;
  std::uint16_t client_receive_maximum_ = 65535;
  std::uint16_t last_packet_id_ = 0;
  ProtocolVersion version_ = ProtocolVersion::v5;
  std::atomic<bool> online_{false};
  bool ended_ = false;
  bool written_ = false;  // it has records in the session store
  bool drain_posted_ = false;
};

}  // namespace skein::mqtt
