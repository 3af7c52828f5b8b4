// Fuzz target for the replay parameters of GET /v1/subscribe: the input is
// given to parse_rfc3339, to parse_cursor, and as a query string to
// parse_request_target("/v1/subscribe?" + input) then parse_subscribe_request
// (with and without the input as Last-Event-ID). Invariants (a violation traps):
// - an accepted cursor is non-empty, its partitions and offsets are >= 0, and
//   rendered back as "p:o,..." it parses to the same map;
// - an accepted cursor is also what from=<it> and, without from=, a
//   Last-Event-ID of it resume from;
// - an accepted date-time is stable, and with a 'Z' zone equals the same
//   with "+00:00";
// - a time that parse_rfc3339 accepts is accepted as from=time:<it> (percent-
//   encoded) with the same value;
// - an accepted subscribe request either replays (then its router filters
//   are empty, and the replay's filters all pass check_filter and the from=
//   form is consistent: a cursor only for From::cursor, an offset >= 0) or
//   routes live (then at least one filter, each valid); the queue is within
//   the node's bound; a refusal is a JSON error body.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/topic_names.hpp"
#include "http/request_target.hpp"
#include "http/subscribe_request.hpp"

namespace {

using namespace skein;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string render(const std::map<std::int32_t, std::int64_t>& cursor) {
  std::string text;
  for (const auto& [p, o] : cursor) {
    if (!text.empty()) text += ',';
    text += std::to_string(p) + ':' + std::to_string(o);
  }
  return text;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void check_subscribe(const http::SubscribeParse& parsed, const http::HttpSettings& settings) {
  if (!parsed.request) {
    check(!parsed.error_body.empty());
    check(nlohmann::json::accept(parsed.error_body));
    return;
  }
  const auto& request = *parsed.request;
  check(parsed.error_body.empty());
  check(request.queue >= 1 && request.queue <= settings.subscriber_queue);
  if (request.replay) {
    const auto& replay = *request.replay;
    check(request.filters.empty());
    for (const auto& filter : replay.filters) check(!core::check_filter(filter));
    using From = http::ReplayRequest::From;
    check(replay.cursor.empty() == (replay.from != From::cursor));
    if (replay.from == From::offset) check(replay.value >= 0);
    if (replay.from == From::earliest || replay.from == From::latest) check(replay.value == 0);
    if (replay.from == From::cursor) {
      for (const auto& [p, o] : replay.cursor) check(p >= 0 && o >= 0);
    }
  } else {
    check(!request.filters.empty());
    for (const auto& filter : request.filters) check(!core::check_filter(filter));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(bytes), size);
  http::HttpSettings settings;
  settings.subscriber_queue = 100;

  // Cursors: accepted ones round-trip through their canonical rendering.
  if (auto cursor = http::parse_cursor(input)) {
    check(!cursor->empty());
    for (const auto& [p, o] : *cursor) check(p >= 0 && o >= 0);
    const std::string text = render(*cursor);
    auto again = http::parse_cursor(text);
    check(again && *again == *cursor);
    // As from= it is the same cursor.
    auto target = http::parse_request_target("/v1/subscribe?stream=s&from=" + percent_encode(text));
    check(target.has_value());
    auto parsed = http::parse_subscribe_request(*target, settings);
    check(parsed.request && parsed.request->replay &&
          parsed.request->replay->from == http::ReplayRequest::From::cursor &&
          parsed.request->replay->cursor == *cursor);
    // And as Last-Event-ID without from=.
    auto plain = http::parse_request_target("/v1/subscribe?stream=s");
    auto resumed = http::parse_subscribe_request(*plain, settings, input);
    check(resumed.request && resumed.request->replay &&
          resumed.request->replay->from == http::ReplayRequest::From::cursor &&
          resumed.request->replay->cursor == *cursor);
  }

  // Date-times: deterministic, the 'Z' zone is "+00:00", and from=time: agrees.
  if (auto ms = http::parse_rfc3339(input)) {
    check(http::parse_rfc3339(input) == ms);
    if (input.back() == 'Z' || input.back() == 'z') {
      std::string offset(input.substr(0, input.size() - 1));
      offset += "+00:00";
      check(http::parse_rfc3339(offset) == ms);
    }
    auto target =
        http::parse_request_target("/v1/subscribe?stream=s&from=time:" + percent_encode(input));
    check(target.has_value());
    auto parsed = http::parse_subscribe_request(*target, settings);
    check(parsed.request && parsed.request->replay &&
          parsed.request->replay->from == http::ReplayRequest::From::time &&
          parsed.request->replay->value == *ms);
  }

  // The input as a query string, alone and with the input as Last-Event-ID.
  if (auto target = http::parse_request_target("/v1/subscribe?" + std::string(input))) {
    auto parsed = http::parse_subscribe_request(*target, settings);
    check_subscribe(parsed, settings);
    auto resumed = http::parse_subscribe_request(*target, settings, input);
    check_subscribe(resumed, settings);
    // Last-Event-ID changes nothing for a live subscription, nor when from= is given.
    const bool replay = target->last("stream").has_value();
    const bool from_given = !target->last("from").value_or("").empty();
    if (!replay || from_given) {
      check(parsed.request.has_value() == resumed.request.has_value());
      check(parsed.error_body == resumed.error_body);
    }
  }
  return 0;
}
