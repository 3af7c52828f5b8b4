// The MQTT face's settings (docs/configuration.md, [mqtt]).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace skein::mqtt {

struct MqttSettings {
  // The largest packet accepted from a client, and the Maximum Packet Size
  // told to v5 clients. Also bounds payloads (with the node's max event size).
  std::size_t max_packet_size = 1024 * 1024 + 64 * 1024;
  // QoS>0 PUBLISHes a client may have unacknowledged (v5 Receive Maximum).
  std::uint16_t receive_maximum = 1024;
  // QoS>0 messages the node sends a client before it waits for acks (the
  // v5 client's Receive Maximum lowers it).
  std::uint16_t max_inflight = 100;
  // Messages a session holds waiting to be sent (while offline, or behind
  // the in-flight window); beyond it new messages are dropped and counted.
  std::size_t max_queued_messages = 1000;
  // The longest session expiry interval granted (seconds; 0xFFFFFFFF never
  // expires). A 3.1.1 session with clean session 0 gets this one.
  std::uint32_t max_session_expiry = 0xFFFFFFFF;
  // When non-zero: the server keep alive told to v5 clients that ask for
  // more (or none), and the keep alive enforced on 3.1.1 clients likewise.
  std::uint16_t max_keep_alive = 0;
  // Time from accept to a complete CONNECT.
  std::chrono::milliseconds connect_timeout{10000};
  std::uint16_t topic_alias_maximum = 64;
  bool allow_anonymous = true;
};

}  // namespace skein::mqtt
