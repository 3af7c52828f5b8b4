// The HTTP face's settings, fixed when the node starts (docs/configuration.md).
#pragma once

#include <chrono>
#include <cstddef>

#include "core/destination.hpp"
#include "storage/group_commit.hpp"

namespace skein::http {

struct HttpSettings {
  std::size_t max_event_bytes = 1024 * 1024;  // larger publish bodies get 413
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds idle_timeout{60};  // a keep-alive connection with no request
  std::size_t subscriber_queue = 10000;   // events queued per subscriber
  core::SlowPolicy slow_policy = core::SlowPolicy::disconnect;
  std::chrono::seconds sse_keepalive{15};  // comment line sent on an idle stream
  // The longest a persistent publish waits for its streams before a 503.
  std::chrono::milliseconds persistent_timeout{30000};
  // The fsync policy of streams created over the admin API without one.
  storage::FsyncPolicy default_fsync = storage::FsyncPolicy::interval;
};

}  // namespace skein::http
