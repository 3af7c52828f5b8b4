// The HTTP face's settings, fixed when the node starts (docs/configuration.md).
#pragma once

#include <chrono>
#include <cstddef>

#include "core/destination.hpp"

namespace skein::http {

struct HttpSettings {
  std::size_t max_event_bytes = 1024 * 1024;  // larger publish bodies get 413
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds idle_timeout{60};  // a keep-alive connection with no request
  std::size_t subscriber_queue = 10000;   // events queued per subscriber
  core::SlowPolicy slow_policy = core::SlowPolicy::disconnect;
  std::chrono::seconds sse_keepalive{15};  // comment line sent on an idle stream
};

}  // namespace skein::http
