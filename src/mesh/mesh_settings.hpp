// The mesh's settings ([mesh] in the configuration; docs/configuration.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mesh/mesh_engine.hpp"

namespace skein::mesh {

struct MeshSettings {
  std::string mesh_name = "skein";
  std::string listen = "0.0.0.0:7946";  // "off": no listener (dial only)
  std::vector<std::string> links;       // HOST:PORT to dial
  std::string secret;                   // proved in the handshake (HMAC-SHA256)
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds dead_after{5000};  // silence that closes a link
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  std::size_t max_frame_bytes = std::size_t{16} << 20;
  // Bytes queued for a link's socket beyond which the peer is too slow and
  // the link is closed (persistent events are sent again on reconnection).
  std::size_t max_pending_bytes = std::size_t{256} << 20;
  std::size_t queue_events = 1'000'000;  // the mesh destination's queue
  // This node's filters listed in its record; more are summarized
  // (filter_summary.hpp).
  std::size_t max_advertised_filters = 10'000;
  // Changes of this node's filters within this time go out as one record.
  std::chrono::milliseconds filter_update_delay{20};
  EngineSettings engine;
};

}  // namespace skein::mesh
