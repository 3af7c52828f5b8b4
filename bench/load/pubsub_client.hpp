// One publish/subscribe connection of a load generator, to either Skein's
// MQTT face (MQTT 3.1.1 over TCP, packets built and read with the codec of
// src/mqtt/protocol) or nats-server (core NATS over TCP, nats_protocol.hpp),
// behind one interface: subscribe and learn when the broker confirmed it,
// publish with a count of what the broker has confirmed, and a callback per
// message received. Topics and filters are written in Skein's syntax and
// translated here (wire_topic, wire_filter).
//
// Everything of one client runs on its executor, which must be a strand (or
// an io_context that one thread runs): call its functions from coroutines on
// that executor. Once open() succeeded a reader runs in the background until
// the connection ends; it answers what the broker needs answered (PUBACK for
// a QoS 1 delivery, PONG for a NATS PING) by itself. A client must outlive
// its io_context's run(): close it, then let run() return.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net.hpp"

namespace skein::bench {

enum class Protocol { mqtt, nats };

struct BrokerUrl {
  Protocol protocol = Protocol::mqtt;
  Endpoint endpoint;
  std::string text;  // as given
};

// "mqtt://HOST:PORT" or "nats://HOST:PORT" (an IPv6 host in brackets); on
// failure nullopt and `error` says why.
std::optional<BrokerUrl> parse_broker_url(std::string_view text, std::string& error);

const char* protocol_name(Protocol protocol);

// A Skein topic or filter (checked with core/topic_names.hpp) in the
// protocol's syntax, or why it has none. MQTT keeps the levels and writes a
// `*` level as `+` and a last `>` as `#`; NATS separates the levels with `.`
// and keeps `*` and `>`. Neither has Skein's prefix wildcard (`ab*`), and a
// NATS level may hold no `.` nor white space.
struct WireName {
  std::string name;
  std::string error;  // empty when `name` is good
};
WireName wire_topic(Protocol protocol, std::string_view topic);
WireName wire_filter(Protocol protocol, std::string_view filter);

// CLOCK_MONOTONIC in nanoseconds: the one clock of every process on the
// machine, whatever network namespace it runs in.
std::int64_t monotonic_ns();

class PubSubClient {
 public:
  using Clock = std::chrono::steady_clock;
  // A message: its topic as the protocol wrote it, its payload, and when the
  // read that brought it completed (monotonic_ns()).
  using OnMessage =
      std::function<void(std::string_view topic, std::string_view payload, std::int64_t at_ns)>;

  // `qos` is 0 or 1 (MQTT; NATS has only 0), for publishing and subscribing.
  PubSubClient(boost::asio::any_io_executor executor, BrokerUrl url, int qos,
               std::string client_id);
  PubSubClient(const PubSubClient&) = delete;
  PubSubClient& operator=(const PubSubClient&) = delete;

  // TCP connect with Nagle off, then CONNECT / CONNACK (MQTT, clean session)
  // or INFO, CONNECT, PING / PONG (NATS); then the reader starts. Error text,
  // or "".
  boost::asio::awaitable<std::string> open();

  // Called for every message received; set it before subscribing.
  void on_message(OnMessage handler) { on_message_ = std::move(handler); }

  // Queues SUBSCRIBE (MQTT) or SUB then PING (NATS) to `wire_filter` and
  // starts writing it; returns monotonic_ns() of that moment.
  std::int64_t subscribe(std::string_view wire_filter);
  void unsubscribe(std::string_view wire_filter);
  // Every subscribe so far is confirmed: SUBACK (MQTT), or the PONG that
  // answers the PING after the SUB (NATS): the broker has it in force.
  bool subscribed() const;
  // When the confirmation of the last subscribe arrived (monotonic_ns()).
  std::int64_t subscribed_at_ns() const { return subscribed_at_ns_; }

  // Queues one message (QoS 1 takes a packet id). send() writes.
  void publish(std::string_view wire_topic, std::string_view payload);
  // Queues PINGREQ (MQTT) or PING (NATS): the broker answers it once it has
  // handled everything sent before it, so its answer confirms those messages.
  void ping();
  // Starts writing what is queued, unless a write is in flight (whose end
  // writes the rest).
  void send();

  std::uint64_t published() const { return published_; }
  // Published, not yet confirmed: QoS 1 by PUBACK, QoS 0 and NATS by the
  // answer to a ping() made after it.
  std::uint64_t unconfirmed() const;
  std::uint64_t pings() const { return pings_; }
  std::uint64_t pongs() const { return pongs_; }
  bool pings_answered() const { return pongs_ == pings_; }
  // Bytes queued or being written.
  std::size_t queued_bytes() const { return out_.size() + writing_.size(); }

  // Waits until something happens on this connection (a read, the end of a
  // write, an error, close) or `until`, whichever is first.
  boost::asio::awaitable<void> wait(Clock::time_point until);

  // Ends the connection: gracefully when `graceful` (MQTT DISCONNECT after
  // what is queued), else at once. Safe from any thread: it runs on the
  // client's executor. What fails after it is not an error.
  void close(bool graceful);

  bool open_done() const { return opened_.load(); }
  bool failed() const { return failed_.load(); }
  // Closed, by close() or by a failure (safe from any thread).
  bool closed() const { return closed_.load(std::memory_order_relaxed); }
  // Why it failed, after the URL; read it from the client's executor, or once
  // run() is over.
  const std::string& error() const { return error_; }
  const BrokerUrl& url() const { return url_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }

 private:
  boost::asio::awaitable<std::string> open_mqtt();
  boost::asio::awaitable<std::string> open_nats();
  boost::asio::awaitable<void> read_loop();
  // Handles the whole packets / protocol items at the front of `data`;
  // returns the bytes used.
  std::size_t handle_mqtt(std::string_view data, std::int64_t at_ns);
  std::size_t handle_nats(std::string_view data, std::int64_t at_ns);
  void on_pong(std::int64_t at_ns);
  std::uint16_t take_packet_id(std::uint8_t use);
  void append(std::string_view bytes);
  void fail(std::string why);
  void close_now();
  void notify();

  boost::asio::any_io_executor executor_;
  BrokerUrl url_;
  int qos_;
  std::string client_id_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::streambuf in_;
  std::vector<std::uint8_t> out_, writing_;
  bool write_in_flight_ = false;
  bool close_after_write_ = false;
  std::atomic<bool> closed_{false};
  std::atomic<bool> opened_{false};
  std::atomic<bool> failed_{false};
  std::string error_;
  std::vector<boost::asio::steady_timer*> waiters_;
  OnMessage on_message_;

  std::uint64_t published_ = 0, acked_ = 0, confirmed_ = 0;
  std::uint64_t pings_ = 0, pongs_ = 0;
  std::deque<std::uint64_t> ping_marks_;  // published_ at each unanswered ping
  std::uint64_t subscribes_ = 0, subscribes_confirmed_ = 0;
  std::uint64_t subscribe_pings_ = 0;  // NATS: the PING after the last SUB
  std::int64_t subscribed_at_ns_ = 0;

  // MQTT: packet ids in use (1: PUBLISH, 2: SUBSCRIBE, 3: UNSUBSCRIBE).
  std::vector<std::uint8_t> ids_;
  std::uint16_t next_id_ = 0;
  // The last PUBLISH's head (fixed header, topic, packet id) or NATS PUB
  // line, kept while topic and size stay the same.
  std::string head_topic_;
  std::size_t head_size_ = 0;
  std::vector<std::uint8_t> head_;
  std::size_t id_at_ = 0;
  // NATS: the sid of each filter subscribed.
  std::map<std::string, std::uint64_t, std::less<>> sids_;
  std::uint64_t next_sid_ = 0;
};

}  // namespace skein::bench
