// Fuzz target for the HTTP face's own parsing and encoding: request targets,
// subscribe parameters, base64, and the SSE and JSON renderings of an event.
// Invariants checked (a violation traps):
// - an accepted subscribe request carries only filters that pass check_filter
//   (at least one, unless it replays a stream) and a queue bound within the
//   node's limit;
// - base64 decoding of arbitrary text never crashes; encode then decode is
//   the identity;
// - the SSE rendering of any payload reads back as that payload;
// - the JSON rendering of any event is valid JSON and gives back its payload.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/topic_names.hpp"
#include "http/event_encoding.hpp"
#include "http/request_target.hpp"
#include "http/subscribe_request.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// The payload an SSE reader reconstructs from one rendered message.
std::string read_back_sse(const std::string& message) {
  std::string data;
  bool first = true;
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t end = message.find('\n', pos);
    std::string_view line(message.data() + pos, end - pos);
    pos = end + 1;
    if (line.starts_with("data: ")) {
      if (!first) data += '\n';
      data += line.substr(6);
      first = false;
    }
  }
  if (data.starts_with(skein::http::kBase64Marker)) {
    std::string decoded;
    check(skein::http::base64_decode(
        std::string_view(data).substr(skein::http::kBase64Marker.size()), decoded));
    return decoded;
  }
  return data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(bytes), size);
  using namespace skein;

  if (auto target = http::parse_request_target(input)) {
    http::HttpSettings settings;
    settings.subscriber_queue = 100;
    auto parsed = http::parse_subscribe_request(*target, settings);
    if (parsed.request) {
      // A replay (stream=) routes nothing live: its filters are the replay's.
      check(parsed.request->replay ? parsed.request->filters.empty()
                                   : !parsed.request->filters.empty());
      for (const auto& filter : parsed.request->filters) check(!core::check_filter(filter));
      if (parsed.request->replay) {
        for (const auto& filter : parsed.request->replay->filters) {
          check(!core::check_filter(filter));
        }
      }
      check(parsed.request->queue >= 1 && parsed.request->queue <= 100);
    } else {
      check(nlohmann::json::accept(parsed.error_body));
    }
  }

  std::string decoded;
  (void)http::base64_decode(input, decoded);
  check(http::base64_decode(http::base64_encode(input), decoded) && decoded == input);

  core::Event event;
  event.topic = "fuzz/topic";
  event.payload = std::string(input);
  event.key = std::string(input.substr(0, input.size() / 2));
  event.headers.push_back(core::Header{std::string(input.substr(input.size() / 2)), "v"});
  std::string sse;
  http::append_sse(event, sse);
  check(sse.ends_with("\n\n"));
  check(read_back_sse(sse) == event.payload);
  const auto json = nlohmann::json::parse(http::to_json(event), nullptr, false);
  check(json.is_object() && json["topic"] == event.topic);
  std::string payload;
  if (json.contains("payload")) {
    payload = json["payload"].get<std::string>();
  } else {
    check(http::base64_decode(json["payload_base64"].get<std::string>(), payload));
  }
  check(payload == event.payload);
  return 0;
}
