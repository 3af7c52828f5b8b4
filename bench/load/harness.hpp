// The shared part of the http_ws_load tool (bench/http_ws_load.cpp): its
// options, the run's shared state and result, and the per-topic order check
// that every subscriber kind uses. One run = S subscribers connect, a probe
// proves that they are subscribed, then P publishers send E events and the
// clock runs until every subscriber has all E of them (or the timeout).
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net.hpp"

namespace skein::bench {

using Clock = std::chrono::steady_clock;

enum class Target { skein, nats, sink };

struct Options {
  Target target = Target::skein;
  Endpoint http;     // skein and sink: the HTTP/WebSocket listener
  Endpoint nats;     // nats: the NATS TCP listener
  Endpoint nats_ws;  // nats: the NATS WebSocket listener
  int subscribers = 1;
  int publishers = 4;
  std::uint64_t events = 200'000;
  std::size_t bytes = 100;
  std::size_t window = 64;
  double timeout_s = 60;
  int threads = 1;
  // --serve-sink: run the sink server instead of a client.
  std::optional<std::uint16_t> serve_sink;
  std::string ready_file;
};

// Parses argv; on error or --help prints usage and returns nullopt (with
// `exit_code` set to the code to exit with).
std::optional<Options> parse_options(int argc, char** argv, int& exit_code);

// The publishers' payload: `bytes` of fixed printable text with no quote,
// backslash or CR, so that it travels as a JSON string unchanged.
std::string make_payload(std::size_t bytes);

// Events publisher `p` sends: E/P, the remainder spread over the first ones.
std::uint64_t events_for(const Options& options, int publisher);

inline constexpr std::string_view kProbe = "probe";

// What one subscriber has seen. Written by its own coroutine only; the
// counters are atomic so that a --threads > 1 run can read them while it runs.
struct SubscriberTally {
  std::atomic<std::uint64_t> received{0};  // benchmark events (not probes)
  std::atomic<bool> probed{false};         // saw a probe: it is subscribed
  std::atomic<bool> connected{false};
  std::atomic<bool> done{false};
  Clock::time_point finished{};
  std::uint64_t order_errors = 0;
  std::uint64_t unknown = 0;           // frames that did not parse or named no publisher
  std::string error;                   // why it stopped early, if it did
  std::vector<std::uint64_t> last_id;  // per publisher topic

  // Counts one event for publisher topic `publisher` with sequence `id`;
  // returns true when this subscriber now has all `expected` events.
  bool count(int publisher, std::uint64_t id, std::uint64_t expected, std::size_t publishers) {
    if (publisher < 0 || static_cast<std::size_t>(publisher) >= publishers) {
      ++unknown;
      return false;
    }
    if (last_id.size() < publishers) last_id.resize(publishers, 0);
    auto& last = last_id[static_cast<std::size_t>(publisher)];
    if (id <= last && last != 0) ++order_errors;
    last = id;
    const auto n = received.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n == expected) {
      finished = Clock::now();
      done.store(true);
      return true;
    }
    return false;
  }
};

struct PublisherTally {
  std::atomic<std::uint64_t> acked{0};
  std::atomic<bool> done{false};
  Clock::time_point finished{};
  std::uint64_t bad_status = 0;
  std::string error;
};

struct Run {
  explicit Run(Options o)
      : options(std::move(o)),
        payload(make_payload(options.bytes)),
        subscribers(static_cast<std::size_t>(options.subscribers)),
        publishers(static_cast<std::size_t>(options.publishers)) {}

  Options options;
  std::string payload;
  std::vector<SubscriberTally> subscribers;
  std::vector<PublisherTally> publishers;
  std::atomic<bool> stopping{false};    // set at the end: loops wind down
  std::atomic<bool> probe_done{false};  // every subscriber saw a probe
  Clock::time_point start{};

  std::mutex mutex;  // guards the error strings written from coroutines
  void fail_subscriber(std::size_t i, std::string why);
  void fail_publisher(std::size_t i, std::string why);
};

// The index in "bench/<p>" or "bench.<p>" (after the 6-character prefix), or
// -1 for the probe, or -2 when it is neither.
int publisher_of(std::string_view topic);

// The client side, per target (http_ws_clients.cpp, nats_clients.cpp). Each
// runs until done or until run.stopping; errors are recorded in the tallies.
boost::asio::awaitable<void> ws_json_subscriber(Run& run, std::size_t index);
boost::asio::awaitable<void> http_publisher(Run& run, std::size_t index);
boost::asio::awaitable<void> http_prober(Run& run);
boost::asio::awaitable<void> nats_ws_subscriber(Run& run, std::size_t index);
boost::asio::awaitable<void> nats_publisher(Run& run, std::size_t index);
boost::asio::awaitable<void> nats_prober(Run& run);

// The sink server (sink_server.cpp): runs until killed.
int serve_sink(const Options& options);

}  // namespace skein::bench
