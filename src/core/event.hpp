// An event (DESIGN.md §1): immutable once built, shared by pointer so that
// fanning it out to any number of destinations never copies its payload.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace skein::core {

enum class DeliveryClass : std::uint8_t { direct, persistent };

// Where an event entered the mesh: the ingress node and that node's sequence
// number for it. (origin, sequence) identifies an event mesh-wide.
struct Origin {
  std::string node;
  std::uint64_t sequence = 0;
};

struct Header {
  std::string name;
  std::string value;
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
};

// One allocation holds the event; every destination shares it.
using EventPtr = std::shared_ptr<const Event>;

}  // namespace skein::core
