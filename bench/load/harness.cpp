// Options, payload and parsing helpers of the http_ws_load tool; see
// harness.hpp for what a run is.
#include "harness.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace skein::bench {

namespace {
constexpr const char* kUsage = R"(usage:
  http_ws_load --target skein|sink --url http://HOST:PORT [run options]
  http_ws_load --target nats --nats HOST:PORT --nats-ws HOST:PORT [run options]
  http_ws_load --serve-sink PORT [--ready-file FILE] [--threads N]

run options:
  --subscribers S   WebSocket subscribers on bench/> (default 1)
  --publishers P    publisher connections (default 4)
  --events E        events in total, over all publishers (default 200000)
  --bytes B         payload bytes per event (default 100)
  --window W        requests in flight per publisher (default 64)
  --timeout T       seconds before the run is declared failed (default 60)
  --threads N       io_context threads of this tool (default 1)

Prints what it measured and a last line "result key=value ..."; exits 1 when
not every subscriber got every event in time, or on any error.
)";

bool parse_number(std::string_view text, auto& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}
}  // namespace

std::optional<Options> parse_options(int argc, char** argv, int& exit_code) {
  Options o;
  exit_code = 2;
  bool have_url = false, have_nats = false, have_nats_ws = false;
  auto fail = [&](const std::string& why) -> std::optional<Options> {
    std::cerr << "http_ws_load: " << why << "\n" << kUsage;
    return std::nullopt;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      exit_code = 0;
      return std::nullopt;
    }
    if (i + 1 >= argc) return fail("missing value after " + std::string(flag));
    const std::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--target") {
      if (value == "skein")
        o.target = Target::skein;
      else if (value == "nats")
        o.target = Target::nats;
      else if (value == "sink")
        o.target = Target::sink;
      else
        ok = false;
    } else if (flag == "--url" || flag == "--nats" || flag == "--nats-ws") {
      auto endpoint = parse_endpoint(value);
      ok = endpoint.has_value();
      if (ok && flag == "--url") o.http = *endpoint, have_url = true;
      if (ok && flag == "--nats") o.nats = *endpoint, have_nats = true;
      if (ok && flag == "--nats-ws") o.nats_ws = *endpoint, have_nats_ws = true;
    } else if (flag == "--subscribers") {
      ok = parse_number(value, o.subscribers) && o.subscribers >= 0;
    } else if (flag == "--publishers") {
      ok = parse_number(value, o.publishers) && o.publishers > 0;
    } else if (flag == "--events") {
      ok = parse_number(value, o.events) && o.events > 0;
    } else if (flag == "--bytes") {
      ok = parse_number(value, o.bytes) && o.bytes > 0;
    } else if (flag == "--window") {
      ok = parse_number(value, o.window) && o.window > 0;
    } else if (flag == "--timeout") {
      o.timeout_s = std::atof(std::string(value).c_str());
      ok = o.timeout_s > 0;
    } else if (flag == "--threads") {
      ok = parse_number(value, o.threads) && o.threads > 0;
    } else if (flag == "--serve-sink") {
      std::uint16_t port = 0;
      ok = parse_number(value, port);
      o.serve_sink = port;
    } else if (flag == "--ready-file") {
      o.ready_file = std::string(value);
    } else {
      return fail("unknown option " + std::string(flag));
    }
    if (!ok) return fail("bad value for " + std::string(flag) + ": " + std::string(value));
  }
  if (!o.serve_sink) {
    if (o.target == Target::nats && !(have_nats && have_nats_ws)) {
      return fail("--target nats needs --nats and --nats-ws");
    }
    if (o.target != Target::nats && !have_url) return fail("this target needs --url");
  }
  exit_code = 0;
  return o;
}

std::string make_payload(std::size_t bytes) {
  static constexpr std::string_view kText =
      "Skein load test payload: the quick brown fox jumps over the lazy dog 0123456789. ";
  std::string payload;
  payload.reserve(bytes);
  while (payload.size() < bytes) payload += kText.substr(0, bytes - payload.size());
  return payload;
}

std::uint64_t events_for(const Options& options, int publisher) {
  const auto p = static_cast<std::uint64_t>(options.publishers);
  return options.events / p + (static_cast<std::uint64_t>(publisher) < options.events % p ? 1 : 0);
}

int publisher_of(std::string_view topic) {
  if (topic.size() <= 6 || !topic.starts_with("bench") || (topic[5] != '/' && topic[5] != '.')) {
    return -2;
  }
  topic.remove_prefix(6);
  if (topic == kProbe) return -1;
  int p = 0;
  auto [end, ec] = std::from_chars(topic.data(), topic.data() + topic.size(), p);
  if (ec != std::errc() || end != topic.data() + topic.size()) return -2;
  return p;
}

void Run::fail_subscriber(std::size_t i, std::string why) {
  std::lock_guard lock(mutex);
  if (subscribers[i].error.empty()) subscribers[i].error = std::move(why);
}

void Run::fail_publisher(std::size_t i, std::string why) {
  std::lock_guard lock(mutex);
  if (publishers[i].error.empty()) publishers[i].error = std::move(why);
}

}  // namespace skein::bench
