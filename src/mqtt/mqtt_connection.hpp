// MqttConnection: one MQTT client connection on its session's home shard,
// from CONNACK to close. It reads packets off its ByteStream, answers them
// (publishes go to the router, subscriptions to its Session), and writes
// through one buffer that a short-lived writer drains: an idle connection
// holds no buffer and no writer, only its pending read.
//
// serve_mqtt() takes a fresh connection on any shard, reads its CONNECT
// (within mqtt.connect_timeout_ms), and moves it to the home shard of its
// client id before the connection begins.
//
// QoS>0 publishes are acknowledged once their receipt says they are stored
// where they must be (attracting streams, persistent sessions), in the order
// they came [MQTT-4.6.0-2, -3]; the next packets are read meanwhile.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/authorizer.hpp"
#include "core/lazy_queue.hpp"
#include "mqtt/mqtt_context.hpp"
#include "mqtt/protocol/codec.hpp"
#include "runtime/byte_stream.hpp"
#include "runtime/deadline_wheel.hpp"

namespace skein::mqtt {

class Session;
struct Outgoing;

// Serves one accepted connection until it closes. Runs on `shard`.
boost::asio::awaitable<void> serve_mqtt(MqttContext& context, unsigned shard,
                                        runtime::ByteStreamPtr stream);

class MqttConnection final : public std::enable_shared_from_this<MqttConnection>,
                             public runtime::ReadinessListener,
                             public runtime::DeadlineWheel::Entry {
 public:
  // Keeps what it needs of `connect` (not the packet: an idle connection
  // should cost little).
  MqttConnection(MqttContext& context, unsigned shard, runtime::ByteStreamPtr stream,
                 Connect&& connect, Bytes unread, bool assigned_id);
  ~MqttConnection();

  // On `shard`: makes the connection there and serves it until it closes.
  static boost::asio::awaitable<void> start(MqttContext& context, unsigned shard,
                                            runtime::ByteStreamPtr stream,
                                            std::unique_ptr<Connect> connect, Bytes unread,
                                            bool assigned_id);

  // Node shutdown: v5 clients are told (DISCONNECT 0x8B); no will.
  void request_stop();
  // Another connection took the session over: DISCONNECT 0x8E, then the
  // will rules of an unexpected close. Detaches from the session at once.
  void take_over();

  // For the session. False when the client's maximum packet size refuses it.
  bool write_publish(const Outgoing& message, bool dup);
  void write_pubrel(std::uint16_t packet_id, std::uint8_t reason_code = 0);
  // More than the writer should take before the socket drains.
  bool backlogged() const { return out_size() + writing_ > kBacklog; }

  ProtocolVersion version() const { return version_; }

  // The shard's wheel reached the connection's keep-alive deadline: closes
  // it after one and a half keep-alive periods of silence, else tells when
  // to look again.
  static std::optional<std::chrono::steady_clock::time_point> on_keep_alive_deadline(
      runtime::DeadlineWheel::Entry& entry, std::chrono::steady_clock::time_point now);

  static constexpr std::size_t kBacklog = 256 * 1024;

 private:
  struct PendingAck {
    std::uint64_t sequence;
    PacketType type;  // puback or pubrec
    std::uint16_t packet_id;
    int outstanding;  // answers still awaited
    std::uint8_t reason = 0;
    std::string reason_text;
  };

  // Reads and answers packets while bytes are available, then leaves a
  // wait for more behind (on_readable serves again) and ends.
  static boost::asio::awaitable<void> serve(std::shared_ptr<MqttConnection> self);
  void on_readable(boost::system::error_code ec) override;
  // The connection is over: the session detaches (will rules), the stream
  // closes once a final DISCONNECT is written.
  void finish();
  // What CONNECT asked of the session; kept only until the session starts.
  struct SessionRequest {
    std::string client_id;
    bool clean_start = true;
    std::uint32_t expiry = 0;
    std::uint16_t receive_maximum = 65535;
  };
  static SessionRequest session_request(const Connect& connect);
  boost::asio::awaitable<bool> start_session(SessionRequest request);
  // For log lines (not kept: an idle connection should cost little).
  std::string peer() const;
  const std::string& client_id() const;
  const core::Principal& principal() const;
  // Handles one whole packet; false to close.
  boost::asio::awaitable<bool> handle(ByteView packet);
  boost::asio::awaitable<bool> on_publish(Publish publish);
  boost::asio::awaitable<bool> on_subscribe(Subscribe subscribe);
  boost::asio::awaitable<bool> on_unsubscribe(Unsubscribe unsubscribe);
  bool on_disconnect(const Disconnect& disconnect);

  void ack_done(std::uint64_t sequence, std::optional<std::string> failure);
  // Completes once every acknowledgement owed has been written.
  boost::asio::awaitable<void> acks_settled();
  void flush_acks();
  // v5: DISCONNECT with the reason; then close once written.
  bool fail(std::uint8_t reason_code, const std::string& why);
  void send(const Packet& packet);
  void kick();
  boost::asio::awaitable<void> write_loop();
  void close();
  Bytes& in();
  Bytes& out();
  std::size_t out_size() const { return buffers_ ? buffers_->out.size() : 0; }
  // Lets the buffers go when both are empty (an idle point).
  void release_buffers();
  // Lists the connection in its shard's wheel with its keep-alive deadline.
  void arm_keep_alive();
  std::optional<std::chrono::steady_clock::time_point> keep_alive_deadline() const;
  std::optional<core::Event> will_event() const;

  // Ordered by size, smallest last, so that an idle connection (a million
  // of them on a node) carries no padding.
  MqttContext& context_;
  runtime::ByteStreamPtr stream_;
  std::shared_ptr<Session> session_;
  // Bytes read and not yet handled, and bytes to write: boxed, and the box
  // let go whenever both are empty, so an idle connection holds neither.
  struct Buffers {
    Bytes in;
    Bytes out;
  };
  std::unique_ptr<Buffers> buffers_;
  std::chrono::steady_clock::time_point last_packet_;
  std::unique_ptr<core::Principal> principal_;  // null: anonymous
  struct PendingWill {
    core::Event event;
    std::uint32_t delay = 0;  // v5 will delay interval, seconds
  };
  std::unique_ptr<PendingWill> will_;  // null: no will
  // Incoming topic aliases, index = alias; made at the first alias.
  std::unique_ptr<std::vector<std::string>> aliases_;
  core::LazyQueue<PendingAck> acks_;  // allocates only while acks wait
  std::uint64_t next_ack_ = 1;
  boost::asio::steady_timer* acks_waiter_ = nullptr;  // while acks_settled() waits
  unsigned shard_;
  std::uint32_t client_max_packet = 0;  // 0: no limit
  std::uint32_t writing_ = 0;           // bytes being written now
  std::uint16_t keep_alive_ = 0;
  std::uint16_t incoming_qos1_ = 0;  // QoS 1 publishes not yet acknowledged
  ProtocolVersion version_;
  bool assigned_id_;
  bool writer_running_ = false;
  bool close_after_write_ = false;
  bool closed_ = false;
  bool finished_ = false;
  bool attached_ = false;  // the session still counts this connection as its own
  bool send_will_ = true;  // false after a normal DISCONNECT
};

}  // namespace skein::mqtt
