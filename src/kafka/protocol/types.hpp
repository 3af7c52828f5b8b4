// Small value types of the Kafka wire protocol shared by the reader, the writer
// and the generated message structs: the 16-byte UUID (topic ids) and the
// version range an API is served in. Bytes only: no files, no sockets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace skein::kafka {

// A Kafka UUID: 16 bytes on the wire, most significant first. All zeros is
// the "no id" value the protocol uses as a default.
struct Uuid {
  std::array<std::byte, 16> bytes{};

  bool is_zero() const { return *this == Uuid{}; }
  bool operator==(const Uuid&) const = default;
};

// Versions lo..hi inclusive.
struct VersionRange {
  std::int16_t min = 0;
  std::int16_t max = -1;

  bool contains(std::int16_t version) const { return version >= min && version <= max; }
  bool operator==(const VersionRange&) const = default;
};

}  // namespace skein::kafka
