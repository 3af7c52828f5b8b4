// How an event looks to HTTP subscribers:
//
// Server-Sent Events, one message per event:
//   id: <sequence>
//   event: <topic>
//   data: <payload, one data: line per line of it>
// A payload that is not valid UTF-8, contains CR or NUL, or starts with
// "base64:" is sent as "data: base64:<base64 of the payload>", so the marker
// is unambiguous.
//
// WebSocket and `skein sub --json`: one JSON object per event:
//   {"topic":..., "id":"<sequence>", "origin":<node>, "timestamp":<ms>,
//    "key":..., "content_type":..., "headers":{...},
//    "payload":"<text>"  or  "payload_base64":"<base64>"}
// ("key", "content_type" and "headers" only when the event has them).
// Events replayed from a stream carry their position instead of a sequence:
// the id (SSE and JSON) is the stream position after the event, every
// partition's next offset ("0:16,1:7,2:33"), which `from=` and SSE's
// Last-Event-ID resume from; the JSON adds "stream", "partition", "offset".
#pragma once

#include <string>
#include <string_view>

#include "core/event.hpp"

namespace skein::http {

inline constexpr std::string_view kBase64Marker = "base64:";

// Appends the SSE message for `event` to `out`.
void append_sse(const core::Event& event, std::string& out);

// The JSON text for `event`.
std::string to_json(const core::Event& event);

// The same, rendered once per event and shared by every subscriber
// (core::EncodingCache slots 0 and 1 belong to the HTTP face).
const std::string& cached_sse(const core::Event& event);
const std::string& cached_json(const core::Event& event);

// True when the payload can travel as text (SSE data lines, JSON string).
bool is_text_payload(std::string_view payload);

std::string base64_encode(std::string_view bytes);
// false when `text` is not valid base64.
bool base64_decode(std::string_view text, std::string& out);

}  // namespace skein::http
