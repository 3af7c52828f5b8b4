// The parameters of GET /v1/subscribe, shared by SSE and WebSocket:
//   filter=F        (repeatable, at least one; Skein filter syntax)
//   slow=disconnect|drop-oldest   what to do when this subscriber falls behind
//   queue=N         events this subscriber may have queued (<= the node's bound)
// Replay from a stream instead of live routing:
//   stream=S        read the stream's stored records, then follow it live
//   from=earliest | latest (the default) | offset:N (every partition from N)
//        | time:RFC3339 (each partition's first record at or after it)
//        | P:O,P:O,... (an event id: resume after that event)
//   filter=F        optional here: only events whose topic matches (any of them)
// An SSE client reconnecting with Last-Event-ID resumes from it when no
// from= is given.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/destination.hpp"
#include "http/http_settings.hpp"
#include "http/request_target.hpp"

namespace skein::http {

struct ReplayRequest {
  enum class From { earliest, latest, offset, time, cursor };
  std::string stream;
  From from = From::latest;
  std::int64_t value = 0;                       // the offset, or the time in Unix ms
  std::map<std::int32_t, std::int64_t> cursor;  // partition -> next offset
  std::vector<std::string> filters;             // empty: every event
};

struct SubscribeRequest {
  std::vector<std::string> filters;  // router filters (none when replaying)
  std::optional<ReplayRequest> replay;
  core::SlowPolicy slow_policy = core::SlowPolicy::disconnect;
  std::size_t queue = 0;
};

struct SubscribeParse {
  std::optional<SubscribeRequest> request;
  // On failure: the JSON error body for a 400.
  std::string error_body;
};

SubscribeParse parse_subscribe_request(const RequestTarget& target, const HttpSettings& settings,
                                       std::optional<std::string_view> last_event_id = {});

// "2026-11-23T10:00:00Z", "...T10:00:00.250+01:00": Unix milliseconds, or
// nullopt when not RFC 3339 date-time.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);
// "0:16,1:7": partition -> offset, or nullopt when malformed.
std::optional<std::map<std::int32_t, std::int64_t>> parse_cursor(std::string_view text);

}  // namespace skein::http
