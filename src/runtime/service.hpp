// A service of the node: something with a start and a stop (a listener, a
// probe, later the Kafka and MQTT faces and the mesh). The node starts its
// services in order and stops them in reverse (runtime/node_lifecycle.hpp).
#pragma once

#include <chrono>
#include <string_view>

namespace skein::runtime {

class Service {
 public:
  virtual ~Service() = default;
  virtual std::string_view name() const = 0;
  // Binds, spawns its tasks; throws std::runtime_error with a clear reason
  // when it cannot (port in use, bad address).
  virtual void start() = 0;
  // Stops taking new work and lets work in flight finish, waiting at most
  // until `deadline`; what is still running then is cancelled.
  virtual void stop(std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace skein::runtime
