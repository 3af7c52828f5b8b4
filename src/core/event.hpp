// An event (DESIGN.md §1): immutable once built, shared by pointer so that
// fanning it out to any number of destinations never copies its payload.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/receipt.hpp"

namespace skein::core {

enum class DeliveryClass : std::uint8_t { direct, persistent };

// Where an event entered the mesh: the ingress node, the node's incarnation
// (a number that grows each time the node starts, so that sequences restarting
// at 1 are not taken for old ones) and the node's sequence number for it.
// (node, incarnation, sequence) identifies an event mesh-wide.
struct Origin {
  std::string node;
  std::uint64_t sequence = 0;
  std::uint64_t incarnation = 0;
};

struct Header {
  std::string name;
  std::string value;
};

// Renderings of one event in a face's wire format (an SSE message, a JSON
// object), made once by whichever shard needs it first and then shared by
// every subscriber of every shard: fan-out costs one encoding per format, not
// one per subscriber. Faces own the slot numbers (see http/event_encoding.hpp).
class EncodingCache {
 public:
  static constexpr unsigned kSlots = 4;

  EncodingCache() = default;
  // Copying or moving an event starts an empty cache: renderings belong to
  // the shared, immutable event only.
  EncodingCache(const EncodingCache&) noexcept {}
  EncodingCache& operator=(const EncodingCache&) noexcept { return *this; }
  ~EncodingCache() {
    for (auto& slot : slots_) delete slot.load(std::memory_order_relaxed);
  }

  // The rendering in `slot`, made by `make()` if nobody has made it yet. Two
  // shards may both make it; one result wins, the other is discarded.
  template <class Make>
  const std::string& get(unsigned slot, Make&& make) const {
    if (const std::string* ready = slots_[slot].load(std::memory_order_acquire)) return *ready;
    auto* fresh = new std::string(make());
    const std::string* expected = nullptr;
    if (slots_[slot].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel))
      return *fresh;
    delete fresh;
    return *expected;
  }

 private:
  mutable std::array<std::atomic<const std::string*>, kSlots> slots_{};
};

// Where a stored event sits, for events read back from a stream (replay).
struct StreamPosition {
  std::string stream;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  // The stream position after this event, every partition's next offset
  // ("0:16,1:7,2:33"): what a client resumes from.
  std::string cursor;
};

struct Event {
  std::string topic;
  std::optional<std::string> key;
  std::string payload;
  std::string content_type;  // empty when the publisher gave none
  std::vector<Header> headers;
  std::int64_t timestamp_ms = 0;  // Unix epoch milliseconds, set at ingress
  Origin origin;
  DeliveryClass delivery = DeliveryClass::direct;
  // Persistent events: told when each stream that attracts the event has it
  // durably (receipt.hpp); null for direct events.
  std::shared_ptr<Receipt> receipt;
  // Set when the event entered as a Kafka record produced to this stream:
  // that stream has it already and does not take it again ("ingress, once").
  std::string ingress_stream;
  // Set on events replayed from a stream: their place in it.
  std::optional<StreamPosition> position;
  // What MQTT publishers say of a message, kept so that MQTT subscribers get
  // it back (other faces ignore it). qos is the QoS it was published with;
  // events of other faces count as 0 (direct) or 1 (persistent).
  std::uint8_t qos = 0;
  bool retain = false;
  std::optional<bool> utf8_payload;             // v5 payload format indicator
  std::optional<std::int64_t> expires_at_ms;    // v5 message expiry, epoch ms
  std::optional<std::string> response_topic;    // request/response (v5)
  std::optional<std::string> correlation_data;  // request/response (v5)
  // The ingress connection's id on this node (0: none), for MQTT's no-local.
  std::uint64_t publisher = 0;
  // Set on events that arrived over a mesh link: the mesh forwarded them on
  // arrival, so the mesh's own destination on this node leaves them alone.
  bool relayed = false;
  EncodingCache encodings;  // not part of the event's value
};

// One allocation holds the event; every destination shares it.
using EventPtr = std::shared_ptr<const Event>;

}  // namespace skein::core
