// The MQTT / NATS publish-subscribe client of the load generators
// (pubsub_client.hpp): URL parsing, topic translation, and the connection.
#include "pubsub_client.hpp"

#include <time.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <exception>

#include "core/topic_names.hpp"
#include "mqtt/protocol/codec.hpp"
#include "nats_protocol.hpp"

namespace skein::bench {

namespace {

namespace asio = boost::asio;
namespace mqtt = skein::mqtt;
using asio::as_tuple;
using asio::use_awaitable;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::uint16_t kKeepAliveS = 3600;  // runs are bounded far below this
constexpr mqtt::ProtocolVersion kVersion = mqtt::ProtocolVersion::v311;
constexpr std::uint8_t kPublishId = 1, kSubscribeId = 2, kUnsubscribeId = 3;

std::uint16_t be16(const char* p) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(p[0]) << 8 |
                                    static_cast<std::uint8_t>(p[1]));
}

bool nats_safe_level(std::string_view level) {
  return level.find_first_of(". \t\r\n") == std::string_view::npos;
}

}  // namespace

std::optional<BrokerUrl> parse_broker_url(std::string_view text, std::string& error) {
  BrokerUrl url;
  url.text = std::string(text);
  std::string_view rest = text;
  if (rest.starts_with("mqtt://")) {
    url.protocol = Protocol::mqtt;
    rest.remove_prefix(7);
  } else if (rest.starts_with("nats://")) {
    url.protocol = Protocol::nats;
    rest.remove_prefix(7);
  } else {
    error = "\"" + std::string(text) + "\" is neither mqtt://HOST:PORT nor nats://HOST:PORT";
    return std::nullopt;
  }
  auto endpoint = parse_endpoint(rest);
  if (!endpoint) {
    error = "\"" + std::string(text) + "\" has no HOST:PORT";
    return std::nullopt;
  }
  auto& host = endpoint->host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  url.endpoint = std::move(*endpoint);
  return url;
}

const char* protocol_name(Protocol protocol) {
  return protocol == Protocol::mqtt ? "mqtt" : "nats";
}

WireName wire_topic(Protocol protocol, std::string_view topic) {
  WireName out;
  if (auto error = core::check_topic(topic)) {
    out.error = error->message;
    return out;
  }
  if (protocol == Protocol::mqtt) {
    out.name = std::string(topic);
    return out;
  }
  for (const auto level : core::split_levels(topic)) {
    if (!nats_safe_level(level)) {
      out.error = "topic level \"" + std::string(level) +
                  "\" holds '.' or white space: no NATS subject has it as one token";
      return out;
    }
    if (!out.name.empty()) out.name += '.';
    out.name += level;
  }
  return out;
}

WireName wire_filter(Protocol protocol, std::string_view filter) {
  WireName out;
  if (auto error = core::check_filter(filter)) {
    out.error = error->message;
    return out;
  }
  const char separator = protocol == Protocol::mqtt ? '/' : '.';
  bool first = true;
  for (const auto level : core::split_levels(filter)) {
    if (level != "*" && level.find('*') != std::string_view::npos) {
      out.error = "filter level \"" + std::string(level) +
                  "\": " + (protocol == Protocol::mqtt ? "MQTT" : "NATS") +
                  " has no prefix wildcard";
      return out;
    }
    if (protocol == Protocol::nats && !nats_safe_level(level)) {
      out.error = "filter level \"" + std::string(level) +
                  "\" holds '.' or white space: no NATS subject has it as one token";
      return out;
    }
    if (!first) out.name += separator;
    first = false;
    if (protocol == Protocol::mqtt && level == "*") {
      out.name += '+';
    } else if (protocol == Protocol::mqtt && level == ">") {
      out.name += '#';
    } else {
      out.name += level;
    }
  }
  return out;
}

std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

PubSubClient::PubSubClient(asio::any_io_executor executor, BrokerUrl url, int qos,
                           std::string client_id)
    : executor_(std::move(executor)),
      url_(std::move(url)),
      qos_(qos),
      client_id_(std::move(client_id)),
      socket_(executor_) {
  if (url_.protocol == Protocol::mqtt) ids_.assign(65536, 0);
}

asio::awaitable<std::string> PubSubClient::open() {
  if (closed_) co_return "closed before it opened";
  // (Not a conditional expression: GCC 12 miscompiles co_await in one.)
  std::string error;
  if (url_.protocol == Protocol::mqtt) {
    error = co_await open_mqtt();
  } else {
    error = co_await open_nats();
  }
  if (closed_) {  // closed meanwhile: whatever came of it, the connection is over
    boost::system::error_code ec;
    socket_.close(ec);
    co_return "closed while opening";
  }
  if (!error.empty()) {
    fail(error);
    co_return url_.text + ": " + error;
  }
  opened_.store(true);
  asio::co_spawn(executor_, read_loop(), [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      fail(std::string("reader: ") + x.what());
    }
  });
  co_return std::string();
}

asio::awaitable<std::string> PubSubClient::open_mqtt() {
  if (auto error = co_await connect(socket_, url_.endpoint); !error.empty()) co_return error;
  mqtt::Connect c;
  c.version = kVersion;
  c.clean_start = true;
  c.keep_alive = kKeepAliveS;
  c.client_id = client_id_;
  mqtt::Bytes hello;
  mqtt::encode(c, hello);
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(hello), as_tuple(use_awaitable));
  if (ec) co_return "write CONNECT: " + ec.message();
  for (;;) {
    const auto data = in_.data();
    const mqtt::ByteView bytes(static_cast<const std::uint8_t*>(data.data()), data.size());
    const mqtt::Frame frame = mqtt::split_frame(bytes);
    if (frame.status == mqtt::FrameStatus::complete) {
      mqtt::Packet packet;
      if (auto error = mqtt::decode_packet(bytes.first(frame.size), kVersion, packet)) {
        co_return "bad answer to CONNECT: " + error->message;
      }
      const auto* connack = std::get_if<mqtt::Connack>(&packet);
      if (!connack) {
        co_return "expected CONNACK, got " +
            std::string(mqtt::packet_type_name(mqtt::packet_type(packet)));
      }
      if (connack->reason_code != 0) {
        co_return "CONNACK refused the connection: return code " +
            std::to_string(connack->reason_code);
      }
      in_.consume(frame.size);
      co_return std::string();
    }
    if (frame.status != mqtt::FrameStatus::incomplete) co_return "malformed answer to CONNECT";
    auto [rec, m] =
        co_await socket_.async_read_some(in_.prepare(kReadChunk), as_tuple(use_awaitable));
    if (rec) {
      co_return rec == asio::error::eof ? std::string("the broker closed the connection")
                                        : "read CONNACK: " + rec.message();
    }
    in_.commit(m);
  }
}

asio::awaitable<std::string> PubSubClient::open_nats() {
  if (auto error = co_await connect(socket_, url_.endpoint); !error.empty()) co_return error;
  std::string line;
  if (auto error = co_await nats_read_line(socket_, in_, line); !error.empty()) co_return error;
  if (!line.starts_with("INFO")) co_return "expected INFO, got: " + line;
  // The PONG proves CONNECT was accepted (a refusal comes as -ERR first).
  const std::string hello = nats_connect_line(client_id_) + "PING\r\n";
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(hello), as_tuple(use_awaitable));
  if (ec) co_return "write CONNECT: " + ec.message();
  co_return co_await nats_await_pong(socket_, in_);
}

asio::awaitable<void> PubSubClient::read_loop() {
  for (;;) {
    // What open() left, or the last read's partial packet, comes first.
    const auto data = in_.data();
    const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    if (!bytes.empty()) {
      const std::int64_t at = monotonic_ns();
      const std::size_t used =
          url_.protocol == Protocol::mqtt ? handle_mqtt(bytes, at) : handle_nats(bytes, at);
      in_.consume(used);
      send();  // PUBACKs, PONGs
      notify();
    }
    if (closed_ || failed()) co_return;
    auto [ec, n] =
        co_await socket_.async_read_some(in_.prepare(kReadChunk), as_tuple(use_awaitable));
    if (ec) {
      fail(ec == asio::error::eof ? std::string("the broker closed the connection")
                                  : "read: " + ec.message());
      co_return;
    }
    in_.commit(n);
  }
}

std::size_t PubSubClient::handle_mqtt(std::string_view data, std::int64_t at_ns) {
  std::size_t used = 0;
  while (used < data.size() && !closed_) {
    const std::string_view rest = data.substr(used);
    const mqtt::ByteView bytes(reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size());
    const mqtt::Frame frame = mqtt::split_frame(bytes);
    if (frame.status == mqtt::FrameStatus::incomplete) break;
    if (frame.status != mqtt::FrameStatus::complete) {
      fail("malformed packet length from the broker");
      break;
    }
    used += frame.size;
    const auto type = static_cast<mqtt::PacketType>(static_cast<std::uint8_t>(rest[0]) >> 4);
    const std::string_view body = rest.substr(frame.header_size, frame.size - frame.header_size);
    // PUBLISH and PUBACK, the packets of the hot path, are read in place.
    if (type == mqtt::PacketType::publish) {
      const int qos = (static_cast<std::uint8_t>(rest[0]) >> 1) & 3;
      if (body.size() < 2 || qos > 1) {
        fail(qos > 1 ? "a QoS 2 delivery, which this client never asks for" : "malformed PUBLISH");
        break;
      }
      std::size_t at = 2 + be16(body.data());
      const std::size_t topic_end = at;
      std::uint16_t id = 0;
      if (qos == 1 && at + 2 <= body.size()) id = be16(body.data() + at);
      if (qos == 1) at += 2;
      if (at > body.size()) {
        fail("malformed PUBLISH");
        break;
      }
      if (qos == 1) {
        const char puback[4] = {0x40, 0x02, static_cast<char>(id >> 8), static_cast<char>(id)};
        append(std::string_view(puback, 4));
      }
      if (on_message_) on_message_(body.substr(2, topic_end - 2), body.substr(at), at_ns);
      continue;
    }
    if (type == mqtt::PacketType::puback) {
      if (body.size() < 2 || ids_[be16(body.data())] != kPublishId) {
        fail("PUBACK for a packet id not in flight");
        break;
      }
      ids_[be16(body.data())] = 0;
      ++acked_;
      continue;
    }
    if (type == mqtt::PacketType::pingresp) {
      on_pong(at_ns);
      continue;
    }
    mqtt::Packet packet;
    if (auto error = mqtt::decode_packet(bytes.first(frame.size), kVersion, packet)) {
      fail("bad packet from the broker: " + error->message);
      break;
    }
    if (const auto* suback = std::get_if<mqtt::Suback>(&packet)) {
      for (const auto code : suback->reason_codes) {
        if (code >= 0x80) {
          fail("the broker refused a subscription (SUBACK return code " + std::to_string(code) +
               ")");
          return used;
        }
        if (code < qos_) {
          fail("the broker granted QoS " + std::to_string(code) + " for QoS " +
               std::to_string(qos_));
          return used;
        }
      }
      ids_[suback->packet_id] = 0;
      if (++subscribes_confirmed_ == subscribes_) subscribed_at_ns_ = at_ns;
    } else if (const auto* unsuback = std::get_if<mqtt::Unsuback>(&packet)) {
      ids_[unsuback->packet_id] = 0;
    } else {
      fail("unexpected " + std::string(mqtt::packet_type_name(mqtt::packet_type(packet))) +
           " from the broker");
      break;
    }
  }
  return used;
}

std::size_t PubSubClient::handle_nats(std::string_view data, std::int64_t at_ns) {
  std::string failure;
  const NatsScan scan = scan_nats(data, [&](const NatsItem& item) {
    switch (item.kind) {
      case NatsItem::Kind::msg:
        if (on_message_) on_message_(item.subject, item.payload, at_ns);
        return !closed_;
      case NatsItem::Kind::ping:
        append("PONG\r\n");
        return true;
      case NatsItem::Kind::pong:
        on_pong(at_ns);
        return true;
      case NatsItem::Kind::err:
        failure = "the server said " + std::string(item.line);
        return false;
      default:
        return true;
    }
  });
  if (!scan.error.empty()) failure = scan.error;
  if (!failure.empty()) fail(failure);
  return scan.used;
}

void PubSubClient::on_pong(std::int64_t at_ns) {
  if (ping_marks_.empty()) {
    fail("an answer to a ping never sent");
    return;
  }
  confirmed_ = ping_marks_.front();
  ping_marks_.pop_front();
  ++pongs_;
  if (url_.protocol == Protocol::nats && subscribes_ > subscribes_confirmed_ &&
      pongs_ >= subscribe_pings_) {
    subscribes_confirmed_ = subscribes_;
    subscribed_at_ns_ = at_ns;
  }
}

std::uint16_t PubSubClient::take_packet_id(std::uint8_t use) {
  do {
    next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
  } while (ids_[next_id_] != 0);
  ids_[next_id_] = use;
  return next_id_;
}

std::int64_t PubSubClient::subscribe(std::string_view wire_filter) {
  ++subscribes_;
  if (url_.protocol == Protocol::mqtt) {
    mqtt::Subscribe s;
    s.packet_id = take_packet_id(kSubscribeId);
    s.subscriptions.push_back(
        {.filter = std::string(wire_filter), .max_qos = static_cast<mqtt::QoS>(qos_)});
    mqtt::Bytes bytes;
    mqtt::encode(s, kVersion, bytes);
    append(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  } else {
    const std::uint64_t sid = ++next_sid_;
    sids_[std::string(wire_filter)] = sid;
    append("SUB ");
    append(wire_filter);
    append(" " + std::to_string(sid) + "\r\n");
    ping();
    subscribe_pings_ = pings_;
  }
  const std::int64_t at = monotonic_ns();
  send();
  return at;
}

void PubSubClient::unsubscribe(std::string_view wire_filter) {
  if (url_.protocol == Protocol::mqtt) {
    mqtt::Unsubscribe u;
    u.packet_id = take_packet_id(kUnsubscribeId);
    u.filters.emplace_back(wire_filter);
    mqtt::Bytes bytes;
    mqtt::encode(u, kVersion, bytes);
    append(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  } else {
    const auto it = sids_.find(wire_filter);
    if (it == sids_.end()) return;
    append("UNSUB " + std::to_string(it->second) + "\r\n");
    sids_.erase(it);
  }
  send();
}

bool PubSubClient::subscribed() const {
  return subscribes_confirmed_ == subscribes_;
}

void PubSubClient::publish(std::string_view wire_topic, std::string_view payload) {
  if (wire_topic != head_topic_ || payload.size() != head_size_ || head_.empty()) {
    head_topic_ = std::string(wire_topic);
    head_size_ = payload.size();
    head_.clear();
    if (url_.protocol == Protocol::mqtt) {
      // The packet with an empty payload of the right length: the fixed header
      // already counts it; the payload follows the head.
      mqtt::Publish p;
      p.topic = head_topic_;
      p.qos = static_cast<mqtt::QoS>(qos_);
      p.packet_id = qos_ > 0 ? 1 : 0;
      mqtt::Bytes zeros(payload.size(), 0);
      mqtt::encode_publish(p, zeros, kVersion, head_);
      head_.resize(head_.size() - payload.size());
      id_at_ = head_.size() - 2;
    } else {
      const std::string line = "PUB " + head_topic_ + " " + std::to_string(payload.size()) + "\r\n";
      head_.assign(line.begin(), line.end());
    }
  }
  const std::size_t at = out_.size();
  out_.insert(out_.end(), head_.begin(), head_.end());
  if (url_.protocol == Protocol::mqtt && qos_ > 0) {
    const std::uint16_t id = take_packet_id(kPublishId);
    out_[at + id_at_] = static_cast<std::uint8_t>(id >> 8);
    out_[at + id_at_ + 1] = static_cast<std::uint8_t>(id);
  }
  append(payload);
  if (url_.protocol == Protocol::nats) append("\r\n");
  ++published_;
}

void PubSubClient::ping() {
  if (url_.protocol == Protocol::mqtt) {
    append(std::string_view("\xC0\x00", 2));
  } else {
    append("PING\r\n");
  }
  ++pings_;
  ping_marks_.push_back(published_);
}

std::uint64_t PubSubClient::unconfirmed() const {
  if (url_.protocol == Protocol::mqtt && qos_ > 0) return published_ - acked_;
  return published_ - confirmed_;
}

void PubSubClient::append(std::string_view bytes) {
  out_.insert(out_.end(), bytes.begin(), bytes.end());
}

void PubSubClient::send() {
  if (write_in_flight_ || out_.empty() || closed_) return;
  write_in_flight_ = true;
  std::swap(out_, writing_);
  asio::async_write(socket_, asio::buffer(writing_),
                    [this](boost::system::error_code ec, std::size_t) {
                      write_in_flight_ = false;
                      writing_.clear();
                      if (ec) {
                        fail("write: " + ec.message());
                      } else if (close_after_write_ && out_.empty()) {
                        close_now();
                      } else {
                        send();
                      }
                      notify();
                    });
}

asio::awaitable<void> PubSubClient::wait(Clock::time_point until) {
  if (closed_ || failed()) co_return;
  asio::steady_timer timer(executor_, until);
  waiters_.push_back(&timer);
  co_await timer.async_wait(as_tuple(use_awaitable));
  std::erase(waiters_, &timer);
}

void PubSubClient::notify() {
  for (auto* timer : waiters_) timer->cancel();
}

void PubSubClient::fail(std::string why) {
  if (closed_) return;  // closing makes reads and writes fail: not an error
  if (!failed_.exchange(true)) error_ = url_.text + ": " + why;
  close_now();
}

void PubSubClient::close(bool graceful) {
  asio::post(executor_, [this, graceful] {
    if (closed_) return;
    if (graceful && url_.protocol == Protocol::mqtt && opened_.load() && !failed()) {
      append(std::string_view("\xE0\x00", 2));  // DISCONNECT
      close_after_write_ = true;
      if (!write_in_flight_) send();
      return;
    }
    close_now();
  });
}

void PubSubClient::close_now() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  notify();
}

}  // namespace skein::bench
