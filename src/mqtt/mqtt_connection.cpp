// The MQTT protocol flows of one connection (mqtt_connection.hpp).
#include "mqtt/mqtt_connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "core/topic_names.hpp"
#include "mqtt/message.hpp"
#include "mqtt/retained_store.hpp"
#include "mqtt/session.hpp"
#include "mqtt/shared_groups.hpp"
#include "runtime/slab_pool.hpp"

namespace skein::mqtt {

namespace asio = boost::asio;

namespace {

bool is_v5(ProtocolVersion v) {
  return v == ProtocolVersion::v5;
}

std::string assign_client_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "skein-";
  std::uint64_t bits = random();
  for (int i = 0; i < 16; ++i, bits >>= 4) id.push_back(kHex[bits & 0xf]);
  return id;
}

// Writes one packet and closes: the answers given before a session exists.
asio::awaitable<void> answer_and_close(runtime::ByteStream& stream, Bytes bytes) {
  try {
    co_await stream.write(bytes);
  } catch (const std::exception&) {
  }
  stream.close();
}

// The bytes of a refusing CONNACK, built before the co_await that sends
// them (GCC 12 and temporaries in co_await expressions do not mix).
Bytes refusal(ProtocolVersion version, std::uint8_t v5_reason, std::uint8_t v311_code) {
  Connack c;
  c.reason_code = is_v5(version) ? v5_reason : v311_code;
  return encode_packet(c, version);
}

}  // namespace

// ------------------------------------------------------------------ handshake

asio::awaitable<void> serve_mqtt(MqttContext& context, unsigned shard,
                                 runtime::ByteStreamPtr stream) {
  count(context.counters.connections_total);
  const std::string peer = stream->peer();
  // The CONNECT must come within the connect timeout [MQTT-3.1.4 / 4.8? "reasonable time"].
  asio::steady_timer deadline(co_await asio::this_coro::executor);
  deadline.expires_after(context.settings.connect_timeout);
  runtime::ByteStream* raw = stream.get();
  bool timed_out = false;
  deadline.async_wait([raw, &timed_out](boost::system::error_code ec) {
    if (ec) return;
    timed_out = true;
    raw->close();
  });
  Bytes buffer;
  Frame frame;
  try {
    while (true) {
      frame = split_frame(buffer, context.settings.max_packet_size);
      if (frame.status != FrameStatus::incomplete) break;
      if (co_await stream->read_some(buffer, 0) == 0) break;
    }
  } catch (const std::exception&) {
    frame.status = FrameStatus::incomplete;
  }
  deadline.cancel();
  if (frame.status != FrameStatus::complete || timed_out) {
    if (timed_out) spdlog::debug("mqtt: {} sent no CONNECT in time", peer);
    stream->close();
    co_return;
  }
  // The first packet must be CONNECT [MQTT-3.1.0-1].
  if ((buffer[0] >> 4) != static_cast<std::uint8_t>(PacketType::connect)) {
    spdlog::info("mqtt: {} closed: MQTT-3.1.0-1: the first packet must be CONNECT", peer);
    count(context.counters.protocol_errors);
    stream->close();
    co_return;
  }
  Connect connect;
  const ByteView packet(buffer.data(), frame.size);
  if (auto error = decode(packet, connect)) {
    count(context.counters.protocol_errors);
    spdlog::info("mqtt: {} refused: {}", peer, error->message);
    // The level byte follows the fixed header and the protocol name "MQTT".
    const std::size_t level_at = frame.header_size + 6;
    const bool v5 = packet.size() > level_at && packet[level_at] == 5;
    const auto version = v5 ? ProtocolVersion::v5 : ProtocolVersion::v311;
    if (error->kind == ErrorKind::unsupported_protocol) {
      // 3.1.1 CONNACK 0x01 for an unknown level [MQTT-3.1.2-2]; v5 0x84.
      {
        Bytes answer = refusal(version, reason::unsupported_protocol_version,
                               reason::v311_unacceptable_protocol_version);
        co_await answer_and_close(*stream, std::move(answer));
      }
    } else if (v5) {
      {
        Bytes answer = refusal(version, error->reason_code(), 0);
        co_await answer_and_close(*stream, std::move(answer));
      }
    } else {
      stream->close();  // 3.1.1: close without CONNACK [MQTT-3.1.4-1]
    }
    co_return;
  }
  const ProtocolVersion version = connect.version;
  bool assigned = false;
  if (connect.client_id.empty()) {
    // 3.1.1 assigns an id only to a clean session [MQTT-3.1.3-7, -8].
    if (!is_v5(version) && !connect.clean_start) {
      {
        Bytes answer = refusal(version, 0, reason::v311_identifier_rejected);
        co_await answer_and_close(*stream, std::move(answer));
      }
      co_return;
    }
    connect.client_id = assign_client_id();
    assigned = true;
  }
  if (is_v5(version) && connect.properties.authentication_method) {
    {
      Bytes answer = refusal(version, 0x8C, 0);
      co_await answer_and_close(*stream, std::move(answer));
    }  // bad auth method
    co_return;
  }
  core::AuthFailure failure{};
  std::optional<std::string> password;
  if (connect.password) password.emplace(connect.password->begin(), connect.password->end());
  if (!context.authorizer.authenticate(connect.username, password, failure)) {
    const bool bad = failure == core::AuthFailure::bad_credentials;
    {
      Bytes answer =
          refusal(version, bad ? reason::bad_user_name_or_password : reason::not_authorized,
                  bad ? reason::v311_bad_user_name_or_password : reason::v311_not_authorized);
      co_await answer_and_close(*stream, std::move(answer));
    }
    co_return;
  }
  if (connect.will) {
    const bool bad_topic = check_mqtt_topic_name(connect.will->topic).has_value() ||
                           core::check_topic(connect.will->topic).has_value();
    if (bad_topic) {
      spdlog::info("mqtt: {} refused: will topic {} is not a valid topic", peer,
                   connect.will->topic);
      if (is_v5(version)) {
        Bytes answer = refusal(version, reason::topic_name_invalid, 0);
        co_await answer_and_close(*stream, std::move(answer));
      } else
        stream->close();
      co_return;
    }
  }
  Bytes unread(buffer.begin() + static_cast<std::ptrdiff_t>(frame.size), buffer.end());
  // Every connection of a client id is served on its session's shard, by a
  // coroutine of its own: this one ends here and its frame (the CONNECT,
  // the first read's buffer) goes with it.
  const unsigned home = context.shard_of(connect.client_id);
  if (home != shard)
    if (auto moved = stream->rehome(context.pool.executor(home))) stream = std::move(moved);
  asio::co_spawn(context.pool.executor(home),
                 MqttConnection::start(context, home, std::move(stream),
                                       std::make_unique<Connect>(std::move(connect)),
                                       std::move(unread), assigned),
                 asio::detached);
}

// ----------------------------------------------------------------- connection

MqttConnection::MqttConnection(MqttContext& context, unsigned shard, runtime::ByteStreamPtr stream,
                               Connect&& connect, Bytes unread, bool assigned_id)
    : context_(context),
      stream_(std::move(stream)),
      shard_(shard),
      client_max_packet(connect.properties.maximum_packet_size.value_or(0)),
      keep_alive_(connect.keep_alive),
      version_(connect.version),
      assigned_id_(assigned_id) {
  if (!unread.empty()) in() = std::move(unread);
  if (connect.username && !connect.username->empty())
    principal_ = std::make_unique<core::Principal>(core::Principal{std::move(*connect.username)});
  if (connect.will) {
    Will& w = *connect.will;
    const std::uint32_t delay = w.properties.will_delay_interval.value_or(0);
    Publish p;
    p.topic = std::move(w.topic);
    p.payload = std::move(w.payload);
    p.qos = w.qos;
    p.retain = w.retain;
    p.properties = std::move(w.properties);
    p.properties.will_delay_interval.reset();
    will_ = std::make_unique<PendingWill>(PendingWill{event_from_publish(std::move(p), 0), delay});
  }
  count(context_.counters.connections_open);
  context_.connections[shard_]->set(*this, std::nullopt);
}

MqttConnection::~MqttConnection() {
  context_.counters.connections_open.fetch_sub(1, std::memory_order_relaxed);
}

MqttConnection::SessionRequest MqttConnection::session_request(const Connect& connect) {
  SessionRequest r;
  r.client_id = connect.client_id;
  r.clean_start = connect.clean_start;
  r.expiry = connect.properties.session_expiry_interval.value_or(0);
  r.receive_maximum = connect.properties.receive_maximum.value_or(65535);
  return r;
}

std::string MqttConnection::peer() const {
  return stream_ ? stream_->peer() : "?";
}

const core::Principal& MqttConnection::principal() const {
  static const core::Principal anonymous;
  return principal_ ? *principal_ : anonymous;
}

const std::string& MqttConnection::client_id() const {
  static const std::string none;
  return session_ ? session_->client_id() : none;
}

asio::awaitable<bool> MqttConnection::start_session(SessionRequest request) {
  auto& registry = context_.sessions[shard_];
  const std::string& id = request.client_id;
  if (auto it = registry.find(id); it != registry.end() && it->second->connection())
    it->second->connection()->take_over();  // may end the old session
  std::shared_ptr<Session> session;
  bool present = false;
  if (auto it = registry.find(id); it != registry.end()) {
    if (request.clean_start)
      it->second->end();  // clean start discards it [MQTT-3.1.2-4 (v5: -4)]
    else {
      session = it->second;
      present = true;
    }
  }
  if (!session) {
    session =
        std::allocate_shared<Session>(runtime::SlabAllocator<Session>(), context_, shard_, id);
    // The key views the session's own id: a node left by another session
    // (none should be) must not keep a view into that one.
    registry.erase(id);
    registry.emplace(session->client_id(), session);
  }
  std::uint32_t expiry = 0;
  const std::uint32_t asked = request.expiry;
  if (is_v5(version_))
    expiry = std::min(asked, context_.settings.max_session_expiry);
  else if (!request.clean_start)
    expiry = context_.settings.max_session_expiry;
  const std::uint16_t max_keep_alive = context_.settings.max_keep_alive;
  bool keep_alive_changed = false;
  if (max_keep_alive != 0 && (keep_alive_ == 0 || keep_alive_ > max_keep_alive)) {
    keep_alive_ = max_keep_alive;
    keep_alive_changed = true;
  }

  Connack connack;
  connack.session_present = present;
  if (is_v5(version_)) {
    Properties& p = connack.properties;
    if (assigned_id_) p.assigned_client_identifier = id;
    if (expiry != asked) p.session_expiry_interval = expiry;
    p.receive_maximum = context_.settings.receive_maximum;
    p.maximum_packet_size = static_cast<std::uint32_t>(context_.settings.max_packet_size);
    p.topic_alias_maximum = context_.settings.topic_alias_maximum;
    if (keep_alive_changed) p.server_keep_alive = keep_alive_;
  }
  send(connack);
  session_ = session;
  attached_ = true;
  session->attach(this, version_, expiry, request.receive_maximum);
  co_return true;
}

asio::awaitable<void> MqttConnection::start(MqttContext& context, unsigned shard,
                                            runtime::ByteStreamPtr stream,
                                            std::unique_ptr<Connect> connect, Bytes unread,
                                            bool assigned_id) {
  SessionRequest request = session_request(*connect);
  auto connection = std::allocate_shared<MqttConnection>(
      runtime::SlabAllocator<MqttConnection>(), context, shard, std::move(stream),
      std::move(*connect), std::move(unread), assigned_id);
  connect.reset();
  co_await connection->start_session(std::move(request));
  connection->last_packet_ = std::chrono::steady_clock::now();
  connection->arm_keep_alive();
  co_await serve(std::move(connection));
}

asio::awaitable<void> MqttConnection::serve(std::shared_ptr<MqttConnection> self) {
  MqttConnection& c = *self;
  try {
    while (!c.closed_) {
      // Whole packets first: bytes may have come with the CONNECT.
      std::size_t used = 0;
      bool keep_going = true;
      while (keep_going && !c.closed_) {
        const Frame frame =
            split_frame(ByteView(c.in()).subspan(used), c.context_.settings.max_packet_size);
        if (frame.status == FrameStatus::incomplete) break;
        if (frame.status == FrameStatus::malformed) {
          keep_going = c.fail(reason::malformed_packet, "MQTT-1.5.5-1: bad remaining length");
          break;
        }
        if (frame.status == FrameStatus::too_large) {
          keep_going =
              c.fail(reason::packet_too_large,
                     "a packet of " + std::to_string(frame.header_size + frame.remaining_length) +
                         " bytes is over mqtt.max_packet_size");
          break;
        }
        c.last_packet_ = std::chrono::steady_clock::now();
        const ByteView packet = ByteView(c.in()).subspan(used, frame.size);
        // A handler may wait; the bytes read stay put meanwhile (only this
        // loop changes them, and the box is let go only when they are none).
        keep_going = co_await c.handle(packet);
        used += frame.size;
      }
      if (!keep_going || c.closed_) break;
      Bytes& in = c.in();
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(used));
      boost::system::error_code ec;
      if (c.stream_->read_available(in, 0, ec) > 0) continue;
      if (ec) break;  // closed by the peer, or failed
      // Nothing to read: wait without a coroutine or a buffer. An idle
      // connection is this wait, its connection and its session.
      c.release_buffers();
      // The wait holds the connection (as its listener) and nothing else.
      c.stream_->wait_readable(c.context_.pool.executor(c.shard_), std::move(self));
      co_return;
    }
  } catch (const std::exception& e) {
    spdlog::debug("mqtt: {} ({}): {}", c.peer(), c.client_id(), e.what());
  }
  c.finish();
}

void MqttConnection::on_readable(boost::system::error_code ec) {
  if (ec || closed_) {
    finish();
    return;
  }
  asio::co_spawn(context_.pool.executor(shard_), serve(shared_from_this()), asio::detached);
}

void MqttConnection::finish() {
  if (finished_) return;
  finished_ = true;
  if (attached_ && session_) {
    attached_ = false;
    std::optional<core::Event> will;
    if (send_will_ && !context_.draining.load()) will = will_event();
    session_->detach(std::move(will), will_ ? will_->delay : 0);
  }
  arm_keep_alive();  // no deadline once finished
  if (!writer_running_) {
    close();
    return;
  }
  // Let a final DISCONNECT go out, but not wait on a client that reads nothing.
  close_after_write_ = true;
  auto grace = std::make_shared<asio::steady_timer>(context_.pool.executor(shard_));
  grace->expires_after(std::chrono::seconds(2));
  grace->async_wait([weak = weak_from_this(), grace](boost::system::error_code) {
    if (auto self = weak.lock()) self->close();
  });
}

std::optional<core::Event> MqttConnection::will_event() const {
  if (!will_) return std::nullopt;
  core::Event event = will_->event;
  event.timestamp_ms = now_ms();
  if (event.expires_at_ms) *event.expires_at_ms += event.timestamp_ms;  // an interval until now
  event.publisher = session_ ? session_->id() : 0;
  return event;
}

void MqttConnection::request_stop() {
  send_will_ = false;
  if (is_v5(version_)) {
    Disconnect d;
    d.reason_code = 0x8B;  // server shutting down
    send(d);
  }
  close_after_write_ = true;
  if (!writer_running_) close();
}

void MqttConnection::take_over() {
  if (is_v5(version_)) {
    Disconnect d;
    d.reason_code = reason::session_taken_over;
    send(d);
  }
  close_after_write_ = true;
  if (attached_ && session_) {
    attached_ = false;
    session_->detach(will_event(), will_ ? will_->delay : 0);
  }
  if (!writer_running_) close();
}

// -------------------------------------------------------------------- packets

asio::awaitable<bool> MqttConnection::handle(ByteView bytes) {
  Packet packet;
  if (auto error = decode_packet(bytes, version_, packet)) {
    co_return fail(error->reason_code(), error->message);
  }
  switch (packet_type(packet)) {
    case PacketType::publish:
      co_return co_await on_publish(std::move(std::get<Publish>(packet)));
    case PacketType::puback:
      if (session_) session_->on_puback(std::get<Puback>(packet).packet_id);
      co_return true;
    case PacketType::pubrec: {
      const auto& p = std::get<Pubrec>(packet);
      if (session_) session_->on_pubrec(p.packet_id, p.reason_code);
      co_return true;
    }
    case PacketType::pubcomp:
      if (session_) session_->on_pubcomp(std::get<Pubcomp>(packet).packet_id);
      co_return true;
    case PacketType::pubrel: {
      const auto id = std::get<Pubrel>(packet).packet_id;
      // The PUBCOMP waits behind any acknowledgement still owed, to keep order.
      const bool known = session_ && session_->release(id);
      if (acks_.empty()) {
        Pubcomp c;
        c.packet_id = id;
        c.reason_code = known ? 0 : reason::packet_identifier_not_found;
        send(c);
      } else {
        acks_.push_back(
            PendingAck{next_ack_++,
                       PacketType::pubcomp,
                       id,
                       0,
                       static_cast<std::uint8_t>(known ? 0 : reason::packet_identifier_not_found),
                       {}});
      }
      co_return true;
    }
    case PacketType::subscribe:
      co_return co_await on_subscribe(std::move(std::get<Subscribe>(packet)));
    case PacketType::unsubscribe:
      co_return co_await on_unsubscribe(std::move(std::get<Unsubscribe>(packet)));
    case PacketType::pingreq:
      send(Pingresp{});
      co_return true;
    case PacketType::disconnect:
      co_return on_disconnect(std::get<Disconnect>(packet));
    case PacketType::connect:
      co_return fail(reason::protocol_error, "MQTT-3.1.0-2: a second CONNECT");
    case PacketType::auth:
      co_return fail(reason::protocol_error, "AUTH without an authentication method in CONNECT");
    default:
      co_return fail(reason::protocol_error,
                     std::string("a client may not send ") +
                         std::string(packet_type_name(packet_type(packet))));
  }
}

namespace {
// Property values a PUBLISH from a client may not carry (v5 3.3.2.3).
std::optional<std::string> check_publish_properties(const Properties& p) {
  if (!p.subscription_identifiers.empty())
    return "MQTT-3.3.4-6: a PUBLISH from a client carries a subscription identifier";
  if (p.payload_format_indicator && *p.payload_format_indicator > 1)
    return "payload format indicator " + std::to_string(*p.payload_format_indicator) +
           " is neither 0 nor 1";
  if (p.response_topic) {
    if (auto error = check_mqtt_topic_name(*p.response_topic))
      return "MQTT-3.3.2-14: the response topic is not a topic name: " + *error;
  }
  return std::nullopt;
}
}  // namespace

asio::awaitable<void> MqttConnection::acks_settled() {
  while (!acks_.empty() && !closed_) {
    asio::steady_timer wait(context_.pool.executor(shard_));
    acks_waiter_ = &wait;
    wait.expires_after(std::chrono::seconds(5));
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    acks_waiter_ = nullptr;
    if (!acks_.empty() && std::chrono::steady_clock::now() - last_packet_ > std::chrono::seconds(5))
      break;  // not settling: go on rather than hang
  }
}

asio::awaitable<bool> MqttConnection::on_publish(Publish publish) {
  count(context_.counters.received);
  const QoS qos = publish.qos;
  const std::uint16_t id = publish.packet_id;
  if (is_v5(version_)) {
    if (auto alias = publish.properties.topic_alias) {
      if (*alias == 0 || *alias > context_.settings.topic_alias_maximum)
        co_return fail(reason::topic_alias_invalid,
                       "MQTT-3.3.2-9: topic alias " + std::to_string(*alias) + " is out of range");
      if (!aliases_) aliases_ = std::make_unique<std::vector<std::string>>();
      std::vector<std::string>& aliases = *aliases_;
      if (aliases.size() <= *alias) aliases.resize(*alias + 1u);
      if (publish.topic.empty()) {
        if (aliases[*alias].empty())
          co_return fail(reason::protocol_error,
                         "topic alias " + std::to_string(*alias) + " was never set");
        publish.topic = aliases[*alias];
      } else {
        aliases[*alias] = publish.topic;
      }
      publish.properties.topic_alias.reset();
    } else if (publish.topic.empty()) {
      co_return fail(reason::protocol_error, "MQTT-3.3.4-? a PUBLISH without topic or alias");
    }
  }
  // Acknowledgements owed beyond our Receive Maximum [MQTT-3.3.4-7].
  if (is_v5(version_) && qos != QoS::at_most_once &&
      incoming_qos1_ + (session_ ? session_->incoming_pending() : 0) >=
          context_.settings.receive_maximum &&
      !(qos == QoS::exactly_once && session_ && session_->awaiting_pubrel(id))) {
    // The acknowledgements owed for the publishes before this one go first.
    co_await acks_settled();
    co_return fail(reason::receive_maximum_exceeded,
                   "more unacknowledged publishes than 'receive maximum'");
  }

  // A wildcard in a topic name breaks MQTT itself [MQTT-3.3.2-2]: the
  // connection closes. A topic MQTT allows but the mesh does not (an empty
  // level, over 250 bytes, '*' or '>') is refused, the connection kept.
  if (auto mqtt_error = check_mqtt_topic_name(publish.topic))
    co_return fail(is_v5(version_) ? reason::topic_name_invalid : 0, *mqtt_error);
  if (auto error = check_publish_properties(publish.properties))
    co_return fail(reason::protocol_error, *error);
  std::optional<std::string> bad_topic;
  if (auto e = core::check_topic(publish.topic)) bad_topic = e->message;
  if (bad_topic) {
    spdlog::debug("mqtt: {} ({}): invalid topic: {}", peer(), client_id(), *bad_topic);
    if (!is_v5(version_)) co_return fail(0, *bad_topic);
    if (qos == QoS::at_most_once) co_return fail(reason::topic_name_invalid, *bad_topic);
    if (qos == QoS::at_least_once) {
      Puback a;
      a.packet_id = id;
      a.reason_code = reason::topic_name_invalid;
      acks_.push_back(
          PendingAck{next_ack_++, PacketType::puback, id, 0, a.reason_code, *bad_topic});
    } else {
      acks_.push_back(PendingAck{next_ack_++, PacketType::pubrec, id, 0, reason::topic_name_invalid,
                                 *bad_topic});
    }
    flush_acks();
    co_return true;
  }
  if (!context_.authorizer.may_publish(principal(), publish.topic)) {
    if (!is_v5(version_)) co_return fail(0, "not authorized to publish to " + publish.topic);
    if (qos != QoS::at_most_once) {
      acks_.push_back(
          PendingAck{next_ack_++,
                     qos == QoS::at_least_once ? PacketType::puback : PacketType::pubrec,
                     id,
                     0,
                     reason::not_authorized,
                     {}});
      flush_acks();
    }
    co_return true;
  }
  if (publish.payload.size() > context_.max_event_bytes) {
    co_return fail(reason::packet_too_large, "a payload of " +
                                                 std::to_string(publish.payload.size()) +
                                                 " bytes is over the node's max event size");
  }
  // QoS 2 seen before and not released: acknowledge again, do not publish
  // again (method B, MQTT 4.3.3).
  if (qos == QoS::exactly_once && session_ && session_->awaiting_pubrel(id)) {
    acks_.push_back(PendingAck{next_ack_++, PacketType::pubrec, id, 0, 0, {}});
    flush_acks();
    co_return true;
  }
  const bool retain = publish.retain;
  core::Event event = event_from_publish(std::move(publish), now_ms());
  event.publisher = session_ ? session_->id() : 0;

  if (qos == QoS::at_most_once) {
    core::EventPtr stamped = context_.router.stamp(std::move(event));
    if (retain && !co_await context_.retained.set(stamped)) co_return true;
    context_.router.publish(shard_, stamped);
    co_return true;
  }

  const std::uint64_t sequence = next_ack_++;
  acks_.push_back(PendingAck{sequence,
                             qos == QoS::at_least_once ? PacketType::puback : PacketType::pubrec,
                             id,
                             qos == QoS::exactly_once ? 2 : 1,  // QoS 2: then the id's record
                             0,
                             {}});
  if (qos == QoS::at_least_once) ++incoming_qos1_;
  auto executor = co_await asio::this_coro::executor;
  std::weak_ptr<MqttConnection> weak = weak_from_this();
  event.receipt = std::make_shared<core::Receipt>(
      [weak, executor, sequence](std::optional<std::string> failure, std::size_t) {
        asio::post(executor, [weak, sequence, failure = std::move(failure)]() mutable {
          if (auto self = weak.lock()) self->ack_done(sequence, std::move(failure));
        });
      });
  core::EventPtr stamped = context_.router.stamp(std::move(event));
  // The id is held at once (a resent PUBLISH is not published again) and
  // recorded durably only after the message is stored wherever it must be
  // (ack_done): a crash in between makes a resend publish it again (at
  // least once) rather than lose it.
  if (qos == QoS::exactly_once) session_->hold_pubrel(id);
  if (retain && !co_await context_.retained.set(stamped)) {
    stamped->receipt->failed("the retained message could not be stored");
    co_return true;
  }
  const std::size_t matched = context_.router.publish(shard_, stamped);
  if (matched == 0 && is_v5(version_)) {
    for (auto& a : acks_)
      if (a.sequence == sequence) a.reason = reason::no_matching_subscribers;
  }
  stamped->receipt->stored(false);  // the publisher's own expectation
  co_return true;
}

void MqttConnection::ack_done(std::uint64_t sequence, std::optional<std::string> failure) {
  for (PendingAck& a : acks_) {
    if (a.sequence != sequence) continue;
    if (failure && a.reason < 0x80) {
      a.reason = reason::unspecified_error;
      a.reason_text = "not stored: " + *failure;
    }
    --a.outstanding;
    if (a.type == PacketType::pubrec && a.outstanding == 1) {
      if (a.reason >= 0x80 || !session_) {
        a.outstanding = 0;
      } else {
        // Stored where it must be: now the id awaiting PUBREL, then PUBREC.
        std::weak_ptr<MqttConnection> weak = weak_from_this();
        session_->record_pubrel(a.packet_id, [weak, sequence] {
          if (auto self = weak.lock()) self->ack_done(sequence, std::nullopt);
        });
        return;
      }
    }
    break;
  }
  flush_acks();
}

void MqttConnection::flush_acks() {
  struct WhenEmpty {  // once every acknowledgement is out, a waiter (acks_settled) wakes
    MqttConnection& c;
    ~WhenEmpty() {
      if (!c.acks_.empty()) return;
      if (c.acks_waiter_) c.acks_waiter_->cancel();
    }
  } when_empty{*this};
  while (!acks_.empty() && acks_.front().outstanding <= 0) {
    PendingAck a = std::move(acks_.front());
    acks_.pop_front();
    if (a.reason >= 0x80 && !is_v5(version_) && a.type != PacketType::pubcomp) {
      // 3.1.1 cannot refuse a publish: close, and the client sends it again.
      spdlog::warn("mqtt: {} ({}): closing: {}", peer(), client_id(), a.reason_text);
      fail(0, a.reason_text);
      return;
    }
    Properties properties;
    if (!a.reason_text.empty() && is_v5(version_)) properties.reason_string = a.reason_text;
    // PUBACK, PUBREC and PUBCOMP share one layout.
    auto answer = [&](auto packet) {
      packet.packet_id = a.packet_id;
      packet.reason_code = a.reason;
      packet.properties = std::move(properties);
      send(packet);
    };
    if (a.type == PacketType::puback) {
      if (incoming_qos1_ > 0) --incoming_qos1_;
      answer(Puback{});
    } else if (a.type == PacketType::pubrec) {
      if (a.reason >= 0x80 && session_) session_->release(a.packet_id);
      answer(Pubrec{});
    } else {
      answer(Pubcomp{});
    }
  }
}

asio::awaitable<bool> MqttConnection::on_subscribe(Subscribe subscribe) {
  Suback suback;
  suback.packet_id = subscribe.packet_id;
  const std::uint32_t identifier = subscribe.properties.subscription_identifiers.empty()
                                       ? 0
                                       : subscribe.properties.subscription_identifiers.front();
  std::vector<std::pair<SessionSubscription, bool>> granted;
  for (Subscription& s : subscribe.subscriptions) {
    const std::uint8_t refused =
        is_v5(version_) ? reason::topic_filter_invalid : reason::v311_subscribe_failure;
    SessionSubscription sub;
    // No local on a shared subscription is a protocol error [MQTT-3.8.3-4].
    if (s.no_local && s.filter.starts_with("$share/"))
      co_return fail(reason::protocol_error, "MQTT-3.8.3-4: no local on a shared subscription");
    if (auto error = translate_subscription(s, sub)) {
      spdlog::debug("mqtt: {}: {}", peer(), *error);
      suback.reason_codes.push_back(refused);
      continue;
    }
    sub.identifier = identifier;
    if (!context_.authorizer.may_subscribe(principal(), s.filter)) {
      suback.reason_codes.push_back(is_v5(version_) ? reason::not_authorized
                                                    : reason::v311_subscribe_failure);
      continue;
    }
    const bool existed = co_await session_->subscribe(sub);
    suback.reason_codes.push_back(static_cast<std::uint8_t>(s.max_qos));
    granted.emplace_back(std::move(sub), existed);
  }
  send(suback);
  // Retained messages follow the SUBACK [MQTT-3.3.1-6 (v5 -9)].
  for (auto& [sub, existed] : granted) session_->send_retained(sub, existed);
  co_return true;
}

asio::awaitable<bool> MqttConnection::on_unsubscribe(Unsubscribe unsubscribe) {
  Unsuback unsuback;
  unsuback.packet_id = unsubscribe.packet_id;
  for (std::string& filter : unsubscribe.filters) {
    const bool existed = co_await session_->unsubscribe(filter);
    unsuback.reason_codes.push_back(existed ? reason::success : reason::no_subscription_existed);
  }
  send(unsuback);
  co_return true;
}

bool MqttConnection::on_disconnect(const Disconnect& disconnect) {
  // v5 0x04: disconnect, but send the will [MQTT-3.14.4-3 otherwise].
  send_will_ = is_v5(version_) && disconnect.reason_code == reason::disconnect_with_will;
  if (auto expiry = disconnect.properties.session_expiry_interval) {
    if (session_ && session_->expiry() == 0 && *expiry != 0) {
      send_will_ = true;  // a protocol error closes as if unexpectedly
      return fail(reason::protocol_error,
                  "MQTT-3.14.2-2: session expiry set on DISCONNECT after 0 on CONNECT");
    }
    if (session_) session_->set_expiry(std::min(*expiry, context_.settings.max_session_expiry));
  }
  return false;
}

bool MqttConnection::fail(std::uint8_t reason_code, const std::string& why) {
  count(context_.counters.protocol_errors);
  spdlog::info("mqtt: {} ({}) closed: {}", peer(), client_id(), why);
  if (is_v5(version_) && reason_code >= 0x80) {
    Disconnect d;
    d.reason_code = reason_code;
    if (why.size() < 1024) d.properties.reason_string = why;
    send(d);
    close_after_write_ = true;
  }
  return false;
}

// --------------------------------------------------------------------- output

bool MqttConnection::write_publish(const Outgoing& message, bool dup) {
  if (closed_) return true;
  const core::Event& event = *message.event;
  Publish header = publish_for(event, message.qos, message.retain, message.packet_id,
                               message.identifiers, version_, now_ms());
  header.dup = dup;
  Bytes& out = this->out();
  const std::size_t before = out.size();
  const auto* payload = reinterpret_cast<const std::uint8_t*>(event.payload.data());
  encode_publish(header, ByteView(payload, event.payload.size()), version_, out);
  if (client_max_packet != 0 && out.size() - before > client_max_packet) {
    out.resize(before);
    count(context_.counters.dropped_too_large);
    return false;
  }
  count(context_.counters.sent);
  kick();
  return true;
}

void MqttConnection::write_pubrel(std::uint16_t packet_id, std::uint8_t reason_code) {
  Pubrel p;
  p.packet_id = packet_id;
  p.reason_code = reason_code;
  send(p);
}

void MqttConnection::send(const Packet& packet) {
  if (closed_) return;
  encode_packet(packet, version_, out());
  kick();
}

void MqttConnection::kick() {
  if (writer_running_ || out_size() == 0 || closed_) return;
  writer_running_ = true;
  asio::co_spawn(context_.pool.executor(shard_), write_loop(), asio::detached);
}

asio::awaitable<void> MqttConnection::write_loop() {
  auto self = shared_from_this();
  Bytes writing;
  try {
    while (out_size() > 0 && !closed_) {
      writing.swap(out());
      writing_ = static_cast<std::uint32_t>(writing.size());
      co_await stream_->write(writing);
      writing_ = 0;
      writing.clear();
      if (out_size() == 0 && session_ && attached_) session_->send_ready();
    }
  } catch (const std::exception& e) {
    spdlog::debug("mqtt: {} write failed: {}", peer(), e.what());
    closed_ = true;
  }
  writing_ = 0;
  writer_running_ = false;
  release_buffers();
  if (close_after_write_ || closed_) close();
}

Bytes& MqttConnection::in() {
  if (!buffers_) buffers_ = std::make_unique<Buffers>();
  return buffers_->in;
}

Bytes& MqttConnection::out() {
  if (!buffers_) buffers_ = std::make_unique<Buffers>();
  return buffers_->out;
}

void MqttConnection::release_buffers() {
  if (buffers_ && buffers_->in.empty() && buffers_->out.empty()) buffers_.reset();
}

void MqttConnection::close() {
  if (stream_) stream_->close();
  closed_ = true;
}

std::optional<std::chrono::steady_clock::time_point> MqttConnection::keep_alive_deadline() const {
  if (keep_alive_ == 0 || finished_) return std::nullopt;
  // The server closes after one and a half keep alive periods of silence [MQTT-3.1.2-24 (v5 -22)].
  return last_packet_ + std::chrono::milliseconds(keep_alive_ * 1500);
}

void MqttConnection::arm_keep_alive() {
  context_.connections[shard_]->set(*this, keep_alive_deadline());
}

std::optional<std::chrono::steady_clock::time_point> MqttConnection::on_keep_alive_deadline(
    runtime::DeadlineWheel::Entry& entry, std::chrono::steady_clock::time_point now) {
  auto& self = static_cast<MqttConnection&>(entry);
  if (self.closed_) return std::nullopt;
  const auto deadline = self.keep_alive_deadline();
  if (deadline && now < *deadline) return deadline;
  if (!deadline) {
    self.arm_keep_alive();  // listed without a deadline
    return std::nullopt;
  }
  self.fail(0x8D, "keep alive timeout");  // v5: Keep Alive timeout
  if (!self.writer_running_) self.close();
  return std::nullopt;
}

}  // namespace skein::mqtt
