// mesh_load: the load tool of the mesh benchmark, which measures Skein nodes
// linked in a mesh beside nats-servers linked by gateways or leaf nodes, with
// the processes in network namespaces. One process plays one side of a run,
// so that publishers and subscribers can each sit in their own namespace and
// talk to their local node; a driver starts them and reads what they print.
//
//   mesh_load sub --url U --filter F [--subscribers N] --expect E [--timeout-s T]
//       N connections subscribe to F; "READY" once the broker confirmed every
//       subscription (MQTT SUBACK; NATS the PONG of a PING sent after SUB);
//       then each counts events until it has E distinct ones or T runs out.
//   mesh_load pub --url U --topic T [--publishers P] --events E [--size S]
//       [--rate R] [--window W]
//       P connections publish E events in all (E/P each, the remainder to the
//       first ones), as fast as allowed (R = 0) or R per second in all.
//   mesh_load subscription-time --pub-url U1 --sub-url U2 --topic T
//       [--probe-hz H] [--rounds K] [--timeout-s T]
//       per round, a publisher at U1 sends probes at H per second on a fresh
//       topic (T/<nonce>-<round>), then a subscriber at U2 subscribes to that
//       exact topic: the time from writing SUBSCRIBE (MQTT) / SUB (NATS) to
//       the first probe read, with a resolution of 1/H.
//
// URLs are mqtt://HOST:PORT (Skein's MQTT face: MQTT 3.1.1, --qos 0 or 1,
// clean sessions) or nats://HOST:PORT (core NATS: QoS 0 only). Topics and
// filters are written in Skein's syntax, `/` between levels, and translated:
// MQTT `*` -> `+`, last `>` -> `#`; NATS `/` -> `.`, `*` and `>` kept.
// Clients are bench/load/pubsub_client.hpp: the MQTT codec of src/mqtt/protocol
// and the NATS text protocol of bench/load/nats_protocol.hpp, on Boost.Asio.
//
// Every payload starts with a 32-byte stamp: "SKML", the kind (event or
// probe), the publisher's 64-bit id (random per connection), a sequence
// number from 1 and the send time from CLOCK_MONOTONIC, which every process
// of the machine shares whatever its network namespace; the rest is filler.
// A subscriber counts distinct (publisher, sequence) pairs, and counts as
// duplicates the pairs seen again and as out of order those that arrive after
// a later one of the same publisher; latency is the time from the send stamp
// to the end of the read that brought the event.
//
// Flow control: a QoS 1 publisher keeps at most W messages unacknowledged
// (PUBACK); QoS 0 and NATS publishers send a ping (PINGREQ / PING) after every
// W/2 messages and keep at most W not yet passed by an answered ping, so both
// brokers are driven the same way. A publisher's run ends with a ping answered
// after its last message: the broker has handled everything.
//
// Every run is bounded by its counts and by --timeout-s (whole run for sub
// and pub; per round for subscription-time), and exits by itself. stdout gets
// "READY" (sub) and one JSON line; messages go to stderr. Exit status 0 when
// the run completed, 1 on a connection failure, a refusal or a timeout (the
// JSON line says "status":"error" or "timeout" and why), 2 on bad usage.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "load/pubsub_client.hpp"

namespace {

namespace asio = boost::asio;
using namespace skein::bench;
using Clock = std::chrono::steady_clock;
using asio::as_tuple;
using asio::use_awaitable;

constexpr const char* kUsage = R"(usage:
  mesh_load sub --url URL --filter FILTER --expect E [--subscribers N]
                [--timeout-s T] [--idle-timeout-s I] [--qos 0|1]
  mesh_load pub --url URL --topic TOPIC --events E [--publishers P] [--size S]
                [--rate R] [--window W] [--timeout-s T] [--qos 0|1]
  mesh_load subscription-time --pub-url URL --sub-url URL --topic TOPIC
                [--probe-hz H] [--rounds K] [--timeout-s T] [--size S] [--qos 0|1]

  URL               mqtt://HOST:PORT (Skein's MQTT face) or nats://HOST:PORT
  FILTER, TOPIC     Skein syntax, e.g. orders/*/us/> and orders/created/us/1;
                    in pub, {p} in TOPIC becomes the publisher's index
  --subscribers N   subscriber connections (default 1)
  --expect E        distinct events each subscriber waits for (0: none)
  --publishers P    publisher connections (default 1)
  --events E        events in all, shared out between the publishers
  --size S          payload bytes, at least 32 (default 100; probes 32)
  --rate R          events per second in all; 0 = as fast as allowed (default)
  --window W        messages unconfirmed per publisher (default 100)
  --qos Q           MQTT QoS of publishes and subscriptions (default 0)
  --timeout-s T     bound of the whole run (sub, pub: default 60) or of each
                    round (subscription-time: default 10)
  --idle-timeout-s I  sub: stop when no event came for I seconds once READY
                    (default 0: off)
  --probe-hz H      probes per second (default 1000)
  --rounds K        subscription-time rounds, each on a fresh topic (default 5)
  --threads N       threads running the connections (default 1)
  --name NAME       prefix of client ids / connection names (default mesh_load)

Prints "READY" (sub, once subscribed) and one JSON line on stdout; exit
status 0 when complete, 1 on failure or timeout, 2 on bad usage.
)";

constexpr std::size_t kStampSize = 32;
constexpr std::uint32_t kMagic = 0x4C4D4B53;  // "SKML" in little-endian memory
constexpr std::uint32_t kEvent = 0, kProbe = 1;
constexpr std::size_t kMaxQueuedBytes = 256 * 1024;  // a publisher's unwritten bytes
constexpr std::int64_t kMinTickNs = 500'000;         // a paced publisher's shortest sleep
constexpr std::uint64_t kProbePingEvery = 64;
constexpr std::uint64_t kProbeWindow = 1000;
constexpr std::uint64_t kMaxSequence = std::uint64_t{1} << 36;  // beyond: not our stamp

// ---- options ------------------------------------------------------------------

struct Options {
  std::string mode;
  std::optional<BrokerUrl> url, pub_url, sub_url;
  std::string filter, topic;
  int subscribers = 1, publishers = 1;
  std::optional<std::uint64_t> expect, events;
  std::optional<std::size_t> size;
  double rate = 0;
  std::uint64_t window = 100;
  int qos = 0;
  std::optional<double> timeout_s;
  double idle_timeout_s = 0;
  double probe_hz = 1000;
  int rounds = 5;
  int threads = 1;
  std::string name = "mesh_load";
};

template <typename T>
bool parse_number(std::string_view text, T& out) {
  if constexpr (std::is_floating_point_v<T>) {
    char* end = nullptr;
    const std::string copy(text);
    out = static_cast<T>(std::strtod(copy.c_str(), &end));
    return !copy.empty() && end == copy.c_str() + copy.size() && std::isfinite(out);
  } else {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
  }
}

// nullopt with `exit_code` set when the program should stop.
std::optional<Options> parse_options(int argc, char** argv, int& exit_code) {
  exit_code = 2;
  auto fail = [](const std::string& why) -> std::optional<Options> {
    std::fprintf(stderr, "mesh_load: %s\n%s", why.c_str(), kUsage);
    return std::nullopt;
  };
  if (argc < 2) return fail("no mode");
  Options o;
  o.mode = argv[1];
  if (o.mode == "--help" || o.mode == "-h") {
    std::fputs(kUsage, stdout);
    exit_code = 0;
    return std::nullopt;
  }
  if (o.mode != "sub" && o.mode != "pub" && o.mode != "subscription-time") {
    return fail("unknown mode \"" + o.mode + "\"");
  }
  for (int i = 2; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      exit_code = 0;
      return std::nullopt;
    }
    if (i + 1 >= argc) return fail("missing value after " + std::string(flag));
    const std::string_view value = argv[++i];
    bool ok = true;
    if (flag == "--url" || flag == "--pub-url" || flag == "--sub-url") {
      std::string error;
      auto url = parse_broker_url(value, error);
      if (!url) return fail(error);
      (flag == "--url" ? o.url : flag == "--pub-url" ? o.pub_url : o.sub_url) = std::move(url);
    } else if (flag == "--filter") {
      o.filter = value;
    } else if (flag == "--topic") {
      o.topic = value;
    } else if (flag == "--subscribers") {
      ok = parse_number(value, o.subscribers) && o.subscribers > 0;
    } else if (flag == "--publishers") {
      ok = parse_number(value, o.publishers) && o.publishers > 0;
    } else if (flag == "--expect") {
      std::uint64_t n = 0;
      ok = parse_number(value, n);
      o.expect = n;
    } else if (flag == "--events") {
      std::uint64_t n = 0;
      ok = parse_number(value, n) && n > 0;
      o.events = n;
    } else if (flag == "--size") {
      std::size_t n = 0;
      ok = parse_number(value, n) && n >= kStampSize && n <= 1024 * 1024;
      o.size = n;
    } else if (flag == "--rate") {
      ok = parse_number(value, o.rate) && o.rate >= 0;
    } else if (flag == "--window") {
      ok = parse_number(value, o.window) && o.window > 0 && o.window <= 60'000;
    } else if (flag == "--qos") {
      ok = parse_number(value, o.qos) && (o.qos == 0 || o.qos == 1);
    } else if (flag == "--timeout-s") {
      double t = 0;
      ok = parse_number(value, t) && t > 0;
      o.timeout_s = t;
    } else if (flag == "--idle-timeout-s") {
      ok = parse_number(value, o.idle_timeout_s) && o.idle_timeout_s >= 0;
    } else if (flag == "--probe-hz") {
      ok = parse_number(value, o.probe_hz) && o.probe_hz > 0 && o.probe_hz <= 1e6;
    } else if (flag == "--rounds") {
      ok = parse_number(value, o.rounds) && o.rounds > 0;
    } else if (flag == "--threads") {
      ok = parse_number(value, o.threads) && o.threads > 0 && o.threads <= 256;
    } else if (flag == "--name") {
      o.name = value;
      ok = !o.name.empty() && o.name.find_first_of(" \t\r\n\"\\") == std::string::npos;
    } else {
      return fail("unknown option " + std::string(flag));
    }
    if (!ok) return fail("bad value for " + std::string(flag) + ": \"" + std::string(value) + "\"");
  }
  auto need = [&](bool have, const char* what) { return have ? "" : what; };
  std::string missing;
  if (o.mode == "sub") {
    missing = std::string(need(o.url.has_value(), "--url ")) +
              need(!o.filter.empty(), "--filter ") + need(o.expect.has_value(), "--expect ");
  } else if (o.mode == "pub") {
    missing = std::string(need(o.url.has_value(), "--url ")) + need(!o.topic.empty(), "--topic ") +
              need(o.events.has_value(), "--events ");
  } else {
    missing = std::string(need(o.pub_url.has_value(), "--pub-url ")) +
              need(o.sub_url.has_value(), "--sub-url ") + need(!o.topic.empty(), "--topic ");
  }
  if (!missing.empty()) return fail(o.mode + " needs " + missing);
  for (const auto* url : {&o.url, &o.pub_url, &o.sub_url}) {
    if (*url && (*url)->protocol == Protocol::nats && o.qos != 0) {
      return fail("--qos 1 is MQTT's: core NATS has QoS 0 only (" + (*url)->text + ")");
    }
  }
  if (!o.timeout_s) o.timeout_s = o.mode == "subscription-time" ? 10 : 60;
  exit_code = 0;
  return o;
}

// ---- payload stamp ------------------------------------------------------------

struct Stamp {
  std::uint32_t kind = kEvent;
  std::uint64_t publisher = 0;
  std::uint64_t sequence = 0;
  std::int64_t sent_ns = 0;
};

void write_stamp(std::string& payload, const Stamp& s) {
  char* p = payload.data();
  std::memcpy(p, &kMagic, 4);
  std::memcpy(p + 4, &s.kind, 4);
  std::memcpy(p + 8, &s.publisher, 8);
  std::memcpy(p + 16, &s.sequence, 8);
  std::memcpy(p + 24, &s.sent_ns, 8);
}

std::optional<Stamp> read_stamp(std::string_view payload) {
  std::uint32_t magic = 0;
  if (payload.size() < kStampSize) return std::nullopt;
  std::memcpy(&magic, payload.data(), 4);
  if (magic != kMagic) return std::nullopt;
  Stamp s;
  std::memcpy(&s.kind, payload.data() + 4, 4);
  std::memcpy(&s.publisher, payload.data() + 8, 8);
  std::memcpy(&s.sequence, payload.data() + 16, 8);
  std::memcpy(&s.sent_ns, payload.data() + 24, 8);
  if (s.sequence == 0 || s.sequence > kMaxSequence) return std::nullopt;
  return s;
}

std::string make_payload(std::size_t size) {
  std::string payload(size, 'x');
  write_stamp(payload, Stamp{});
  return payload;
}

std::uint64_t random_u64() {
  std::random_device device;
  const std::uint64_t high = device(), low = device();
  return (high << 32 ^ low) ^ static_cast<std::uint64_t>(monotonic_ns()) ^
         static_cast<std::uint64_t>(::getpid()) << 16;
}

// The low 32 bits in 8 hex digits.
std::string hex8(std::uint64_t value) {
  char text[9];
  std::snprintf(text, sizeof text, "%08llx", static_cast<unsigned long long>(value & 0xFFFFFFFFu));
  return text;
}

// ---- latency histogram ----------------------------------------------------------

// Nanoseconds in log-linear buckets: exact below 256, then 128 buckets per
// power of two (under 0.4% off); the largest value is kept exactly.
class Histogram {
 public:
  Histogram() : counts_(kBuckets, 0) {}

  void record(std::int64_t ns) {
    const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(0, ns));
    ++counts_[index(v)];
    ++count_;
    max_ = std::max(max_, v);
  }
  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  std::uint64_t count() const { return count_; }
  double max_us() const { return static_cast<double>(max_) / 1e3; }
  // The q-quantile (0..1) in microseconds: the middle of its bucket.
  double quantile_us(double q) const {
    if (count_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const double middle = static_cast<double>(lower(i)) + static_cast<double>(width(i)) / 2;
        return std::min(middle, static_cast<double>(max_)) / 1e3;
      }
    }
    return max_us();
  }

 private:
  static constexpr int kSubBits = 7;
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) << kSubBits;
  static std::size_t index(std::uint64_t v) {
    if (v < (2u << kSubBits)) return static_cast<std::size_t>(v);
    const int shift = std::bit_width(v) - 1 - kSubBits;
    return (static_cast<std::size_t>(shift) << kSubBits) + static_cast<std::size_t>(v >> shift);
  }
  static std::uint64_t lower(std::size_t i) {
    if (i < (2u << kSubBits)) return i;
    const std::size_t shift = (i >> kSubBits) - 1;
    return static_cast<std::uint64_t>(i - (shift << kSubBits)) << shift;
  }
  static std::uint64_t width(std::size_t i) {
    return i < (2u << kSubBits) ? 1 : std::uint64_t{1} << ((i >> kSubBits) - 1);
  }
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0, max_ = 0;
};

// ---- JSON output ------------------------------------------------------------------

class Json {
 public:
  Json& text(std::string_view key, std::string_view value) {
    this->key(key);
    quote(value);
    return *this;
  }
  Json& number(std::string_view key, double value, int decimals) {
    this->key(key);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, std::isfinite(value) ? value : 0.0);
    out_ += buffer;
    return *this;
  }
  Json& integer(std::string_view key, std::uint64_t value) {
    this->key(key);
    out_ += std::to_string(value);
    return *this;
  }
  Json& raw(std::string_view key, std::string_view json) {
    this->key(key);
    out_ += json;
    return *this;
  }
  std::string object() const { return out_ + "}"; }

  static std::string list(const std::vector<double>& values, int decimals) {
    std::string out = "[";
    char buffer[64];
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::snprintf(buffer, sizeof buffer, "%s%.*f", i ? "," : "", decimals, values[i]);
      out += buffer;
    }
    return out + "]";
  }

 private:
  void key(std::string_view key) {
    out_ += out_.size() > 1 ? "," : "";
    quote(key);
    out_ += ':';
  }
  void quote(std::string_view value) {
    out_ += '"';
    for (const char c : value) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char escape[8];
        std::snprintf(escape, sizeof escape, "\\u%04x", c);
        out_ += escape;
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  }
  std::string out_ = "{";
};

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// ---- what every mode shares -----------------------------------------------------

enum class Status { ok, timeout, error };

const char* status_name(Status s) {
  return s == Status::ok ? "ok" : s == Status::timeout ? "timeout" : "error";
}

// The connections of a run and how it ends. A watchdog closes every client
// when the deadline passes; the mode's driver then finds them closed.
struct Session {
  explicit Session(const Options& o)
      : options(o), io(o.threads), nonce(random_u64()), started_ns(monotonic_ns()) {}

  const Options& options;
  asio::io_context io;
  std::vector<std::unique_ptr<PubSubClient>> clients;
  std::uint64_t nonce;
  std::int64_t started_ns;
  std::atomic<std::int64_t> deadline_ns{0};
  std::atomic<bool> timed_out{false}, finished{false};

  std::mutex mutex;  // guards status and why
  Status status = Status::ok;
  std::string why;

  PubSubClient& add(asio::any_io_executor executor, const BrokerUrl& url, std::string role) {
    clients.push_back(std::make_unique<PubSubClient>(
        std::move(executor), url, options.qos, options.name + "-" + role + "-" + hex8(nonce)));
    return *clients.back();
  }

  void set_deadline_after(double seconds) {
    deadline_ns.store(monotonic_ns() + static_cast<std::int64_t>(seconds * 1e9));
  }

  void finish(Status s, std::string reason) {
    std::lock_guard lock(mutex);
    if (status == Status::ok && s != Status::ok) {
      status = s;
      why = std::move(reason);
    }
  }

  bool any_failed() const {
    return std::any_of(clients.begin(), clients.end(), [](auto& c) { return c->failed(); });
  }

  // The first client error (call once run() is over).
  std::string first_error() const {
    for (const auto& c : clients)
      if (c->failed()) return c->error();
    return "a connection failed";
  }

  // Closes every client; run() returns once they have wound down.
  asio::awaitable<void> close_all(bool graceful) {
    finished.store(true);
    for (auto& c : clients) c->close(graceful);
    if (!graceful) co_return;
    // A graceful close waits for its DISCONNECT to be written: 1 s at most.
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const std::int64_t until = monotonic_ns() + 1'000'000'000;
    while (monotonic_ns() < until &&
           !std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->closed(); })) {
      timer.expires_after(std::chrono::milliseconds(2));
      co_await timer.async_wait(as_tuple(use_awaitable));
    }
    for (auto& c : clients) c->close(false);
  }

  asio::awaitable<void> watchdog() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!finished.load()) {
      if (monotonic_ns() >= deadline_ns.load()) {
        timed_out.store(true);
        for (auto& c : clients) c->close(false);
        co_return;
      }
      timer.expires_after(std::chrono::milliseconds(5));
      co_await timer.async_wait(as_tuple(use_awaitable));
    }
  }

  template <typename Awaitable>
  void spawn(asio::any_io_executor executor, Awaitable work) {
    asio::co_spawn(std::move(executor), std::move(work), [this](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        finish(Status::error, std::string("unexpected exception: ") + x.what());
        for (auto& c : clients) c->close(false);
        finished.store(true);
      }
    });
  }

  // Runs the driver (on `executor`) and every connection until all are done.
  void run(asio::any_io_executor executor, asio::awaitable<void> driver) {
    spawn(std::move(executor), std::move(driver));
    spawn(asio::make_strand(io), watchdog());
    std::vector<std::thread> threads;
    for (int i = 1; i < options.threads; ++i) threads.emplace_back([this] { io.run(); });
    io.run();
    for (auto& t : threads) t.join();
  }

  // Prints the JSON line (and the reason on stderr); the exit status.
  int report(Json& json) {
    json.text("status", status_name(status));
    if (status != Status::ok) json.text("error", why);
    std::fputs((json.object() + "\n").c_str(), stdout);
    std::fflush(stdout);
    if (status != Status::ok)
      std::fprintf(stderr, "mesh_load: %s: %s\n", status_name(status), why.c_str());
    return status == Status::ok ? 0 : 1;
  }
};

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

asio::awaitable<void> sleep_ms(int ms) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::chrono::milliseconds(ms));
  co_await timer.async_wait(as_tuple(use_awaitable));
}

Clock::time_point clock_at(std::int64_t monotonic) {
  return Clock::now() + std::chrono::nanoseconds(monotonic - monotonic_ns());
}

// ---- sub --------------------------------------------------------------------------

struct PublisherTrack {
  std::uint64_t highest = 0;
  std::vector<std::uint64_t> seen;  // a bit per sequence number

  // False when `sequence` was seen before.
  bool mark(std::uint64_t sequence) {
    const std::size_t word = sequence >> 6;
    if (word >= seen.size()) seen.resize(std::max(word + 1, seen.size() * 2), 0);
    const std::uint64_t bit = std::uint64_t{1} << (sequence & 63);
    if (seen[word] & bit) return false;
    seen[word] |= bit;
    return true;
  }
};

struct Subscriber {
  PubSubClient* client = nullptr;
  std::atomic<std::uint64_t> received{0};  // distinct events
  // On the client's executor only:
  std::unordered_map<std::uint64_t, PublisherTrack> publishers;
  std::uint64_t last_publisher = 0;
  PublisherTrack* last_track = nullptr;
  std::uint64_t duplicates = 0, out_of_order = 0, foreign = 0;
  std::int64_t first_ns = 0, last_ns = 0;
  Histogram latency;
};

struct SubRun {
  Session& session;
  std::string wire_filter;
  std::uint64_t expect;
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  std::atomic<int> ready{0}, done{0};
  std::int64_t ready_ns = 0;

  void count(Subscriber& s, std::string_view payload, std::int64_t at_ns) {
    const auto stamp = read_stamp(payload);
    if (!stamp || stamp->kind != kEvent) {
      ++s.foreign;
      return;
    }
    if (!s.last_track || s.last_publisher != stamp->publisher) {
      s.last_publisher = stamp->publisher;
      s.last_track = &s.publishers[stamp->publisher];
    }
    PublisherTrack& track = *s.last_track;
    if (!track.mark(stamp->sequence)) {
      ++s.duplicates;
      return;
    }
    if (stamp->sequence < track.highest) {
      ++s.out_of_order;
    } else {
      track.highest = stamp->sequence;
    }
    s.latency.record(at_ns - stamp->sent_ns);
    if (s.first_ns == 0) s.first_ns = at_ns;
    s.last_ns = at_ns;
    const auto n = s.received.load(std::memory_order_relaxed) + 1;
    s.received.store(n, std::memory_order_relaxed);
    if (n == expect) done.fetch_add(1);
  }
};

asio::awaitable<void> open_subscriber(SubRun& run, Subscriber& s) {
  PubSubClient& c = *s.client;
  const std::string error = co_await c.open();
  if (!error.empty()) co_return;
  c.on_message([&run, &s](std::string_view, std::string_view payload, std::int64_t at_ns) {
    run.count(s, payload, at_ns);
  });
  c.subscribe(run.wire_filter);
  while (!c.subscribed() && !c.closed()) co_await c.wait(Clock::now() + std::chrono::seconds(1));
  if (!c.subscribed()) co_return;
  run.ready.fetch_add(1);
  if (run.expect == 0) run.done.fetch_add(1);
}

std::string received_range(const SubRun& run) {
  std::uint64_t low = ~0ull, high = 0;
  for (const auto& s : run.subscribers) {
    low = std::min(low, s->received.load());
    high = std::max(high, s->received.load());
  }
  return std::to_string(low) + ".." + std::to_string(high);
}

asio::awaitable<void> drive_sub(SubRun& run) {
  Session& session = run.session;
  const Options& o = session.options;
  const int n = static_cast<int>(run.subscribers.size());
  for (auto& s : run.subscribers) session.spawn(s->client->executor(), open_subscriber(run, *s));
  bool ready = false;
  std::uint64_t last_total = 0;
  std::int64_t last_progress_ns = monotonic_ns();
  for (;;) {
    if (session.timed_out.load()) {
      session.finish(Status::timeout,
                     ready
                         ? "after " + seconds_text(*o.timeout_s) + " s the subscribers had " +
                               received_range(run) + " of " + std::to_string(run.expect) + " events"
                         : "after " + seconds_text(*o.timeout_s) + " s, " +
                               std::to_string(run.ready.load()) + " of " + std::to_string(n) +
                               " subscriptions were confirmed");
      break;
    }
    if (session.any_failed()) {
      session.finish(Status::error, "");  // the client's error, once run() is over
      break;
    }
    const std::int64_t now = monotonic_ns();
    if (!ready && run.ready.load() == n) {
      ready = true;
      run.ready_ns = now;
      last_progress_ns = now;
      std::fputs("READY\n", stdout);
      std::fflush(stdout);
    }
    if (ready && run.done.load() == n) break;
    if (ready && o.idle_timeout_s > 0) {
      std::uint64_t total = 0;
      for (const auto& s : run.subscribers) total += s->received.load(std::memory_order_relaxed);
      if (total != last_total) {
        last_total = total;
        last_progress_ns = now;
      } else if (static_cast<double>(now - last_progress_ns) > o.idle_timeout_s * 1e9) {
        session.finish(Status::timeout, "no event for " + seconds_text(o.idle_timeout_s) +
                                            " s; the subscribers had " + received_range(run) +
                                            " of " + std::to_string(run.expect) + " events");
        break;
      }
    }
    co_await sleep_ms(1);
  }
  co_await session.close_all(session.status == Status::ok);
}

int run_sub(const Options& o) {
  const auto wire = wire_filter(o.url->protocol, o.filter);
  if (!wire.error.empty()) {
    std::fprintf(stderr, "mesh_load: --filter %s: %s\n", o.filter.c_str(), wire.error.c_str());
    return 2;
  }
  Session session(o);
  session.set_deadline_after(*o.timeout_s);
  SubRun run{session, wire.name, *o.expect, {}};
  for (int i = 0; i < o.subscribers; ++i) {
    auto s = std::make_unique<Subscriber>();
    s->client = &session.add(asio::make_strand(session.io), *o.url, "sub" + std::to_string(i));
    run.subscribers.push_back(std::move(s));
  }
  session.run(asio::make_strand(session.io), drive_sub(run));
  if (session.status == Status::error && session.why.empty()) session.why = session.first_error();

  Histogram latency;
  std::uint64_t low = ~0ull, high = 0, total = 0, duplicates = 0, out_of_order = 0, foreign = 0;
  std::uint64_t gaps = 0;
  std::int64_t first = 0, last = 0;
  std::unordered_map<std::uint64_t, int> publishers;
  for (const auto& s : run.subscribers) {
    const auto received = s->received.load();
    low = std::min(low, received);
    high = std::max(high, received);
    total += received;
    duplicates += s->duplicates;
    out_of_order += s->out_of_order;
    foreign += s->foreign;
    latency.merge(s->latency);
    for (const auto& [id, track] : s->publishers) {
      publishers[id] = 1;
      std::uint64_t distinct = 0;
      for (const auto word : track.seen)
        distinct += static_cast<std::uint64_t>(std::popcount(word));
      gaps += track.highest - distinct;
    }
    if (s->first_ns != 0 && (first == 0 || s->first_ns < first)) first = s->first_ns;
    last = std::max(last, s->last_ns);
  }
  const double seconds = last > first ? static_cast<double>(last - first) / 1e9 : 0;
  Json json;
  json.text("mode", "sub")
      .text("url", o.url->text)
      .text("filter", o.filter)
      .text("wire_filter", wire.name)
      .integer("qos", static_cast<std::uint64_t>(o.qos))
      .integer("subscribers", static_cast<std::uint64_t>(o.subscribers))
      .integer("expect", run.expect)
      .number("ready_ms",
              run.ready_ns ? static_cast<double>(run.ready_ns - session.started_ns) / 1e6 : 0, 3)
      .integer("received_min", low)
      .integer("received_max", high)
      .integer("received_total", total)
      .integer("publishers_seen", publishers.size())
      .integer("duplicates", duplicates)
      .integer("out_of_order", out_of_order)
      .integer("gaps", gaps)
      .integer("foreign", foreign);
  Json lat;
  lat.integer("samples", latency.count())
      .number("p50", latency.quantile_us(0.50), 1)
      .number("p90", latency.quantile_us(0.90), 1)
      .number("p99", latency.quantile_us(0.99), 1)
      .number("p999", latency.quantile_us(0.999), 1)
      .number("max", latency.max_us(), 1);
  json.raw("latency_us", lat.object())
      .number("seconds", seconds, 6)
      .number("events_per_s", seconds > 0 ? static_cast<double>(total) / seconds : 0, 0)
      .number("events_per_s_per_subscriber",
              seconds > 0 ? static_cast<double>(total) / seconds / o.subscribers : 0, 0);
  return session.report(json);
}

// ---- pub --------------------------------------------------------------------------

struct Publisher {
  PubSubClient* client = nullptr;
  std::string wire_topic;
  std::uint64_t id = 0;
  std::uint64_t to_send = 0;
  std::atomic<std::uint64_t> sent{0};
  std::int64_t end_ns = 0;
};

struct PubRun {
  Session& session;
  std::size_t size;
  std::vector<std::unique_ptr<Publisher>> publishers;
  std::atomic<int> connected{0}, done{0};
  std::int64_t start_ns = 0;
};

asio::awaitable<void> open_publisher(PubRun& run, Publisher& p) {
  const std::string error = co_await p.client->open();
  if (error.empty()) run.connected.fetch_add(1);
}

asio::awaitable<void> publish(PubRun& run, Publisher& p) {
  const Options& o = run.session.options;
  PubSubClient& c = *p.client;
  std::string payload = make_payload(run.size);
  const bool paced = o.rate > 0;
  const double per_ns = o.rate / static_cast<double>(o.publishers) / 1e9;
  const bool by_pings = !(c.url().protocol == Protocol::mqtt && o.qos == 1);
  const std::uint64_t ping_every = std::max<std::uint64_t>(1, o.window / 2);
  const std::size_t message_bytes = run.size + p.wire_topic.size() + 16;  // about
  std::uint64_t sent = 0, since_ping = 0;
  while (sent < p.to_send && !c.closed()) {
    const std::int64_t now = monotonic_ns();
    std::uint64_t n = p.to_send - sent;
    bool due_later = false;
    if (paced) {
      const auto due = std::min<std::uint64_t>(
          p.to_send,
          static_cast<std::uint64_t>(static_cast<double>(now - run.start_ns) * per_ns) + 1);
      n = due > sent ? due - sent : 0;
      due_later = n == 0;
    }
    const std::uint64_t unconfirmed = c.unconfirmed();
    n = std::min(n, o.window > unconfirmed ? o.window - unconfirmed : 0);
    const std::size_t queued = c.queued_bytes();
    n = queued >= kMaxQueuedBytes
            ? 0
            : std::min<std::uint64_t>(n, (kMaxQueuedBytes - queued) / message_bytes + 1);
    if (n == 0) {
      // Notified by any answer or finished write; a paced one also wakes when
      // its next message is due.
      auto until = Clock::now() + std::chrono::seconds(1);
      if (due_later) {
        const auto next_ns =
            run.start_ns + static_cast<std::int64_t>(static_cast<double>(sent) / per_ns);
        until = clock_at(std::max(next_ns, now + kMinTickNs));
      }
      co_await c.wait(until);
      continue;
    }
    for (std::uint64_t i = 0; i < n; ++i) {
      write_stamp(payload, Stamp{kEvent, p.id, ++sent, now});
      c.publish(p.wire_topic, payload);
      if (by_pings && ++since_ping >= ping_every) {
        c.ping();
        since_ping = 0;
      }
    }
    p.sent.store(sent, std::memory_order_relaxed);
    c.send();
  }
  // The last ping's answer: the broker has handled every message.
  if (!c.closed()) {
    c.ping();
    c.send();
  }
  while (!c.closed() && (c.unconfirmed() > 0 || !c.pings_answered())) {
    co_await c.wait(Clock::now() + std::chrono::seconds(1));
  }
  if (c.closed()) co_return;
  p.end_ns = monotonic_ns();
  run.done.fetch_add(1);
}

asio::awaitable<void> drive_pub(PubRun& run) {
  Session& session = run.session;
  const Options& o = session.options;
  const int n = static_cast<int>(run.publishers.size());
  for (auto& p : run.publishers) session.spawn(p->client->executor(), open_publisher(run, *p));
  bool started = false;
  for (;;) {
    if (session.timed_out.load()) {
      std::uint64_t sent = 0;
      for (const auto& p : run.publishers) sent += p->sent.load();
      session.finish(Status::timeout,
                     started ? "after " + seconds_text(*o.timeout_s) + " s, " +
                                   std::to_string(sent) + " of " + std::to_string(*o.events) +
                                   " events sent and " + std::to_string(run.done.load()) + " of " +
                                   std::to_string(n) + " publishers confirmed"
                             : "after " + seconds_text(*o.timeout_s) + " s, " +
                                   std::to_string(run.connected.load()) + " of " +
                                   std::to_string(n) + " publishers connected");
      break;
    }
    if (session.any_failed()) {
      session.finish(Status::error, "");
      break;
    }
    if (!started && run.connected.load() == n) {
      started = true;
      run.start_ns = monotonic_ns();
      for (auto& p : run.publishers) session.spawn(p->client->executor(), publish(run, *p));
    }
    if (started && run.done.load() == n) break;
    co_await sleep_ms(1);
  }
  co_await session.close_all(session.status == Status::ok);
}

int run_pub(const Options& o) {
  const std::size_t size = o.size.value_or(100);
  Session session(o);
  session.set_deadline_after(*o.timeout_s);
  PubRun run{session, size, {}};
  const auto events = *o.events;
  const auto p_count = static_cast<std::uint64_t>(o.publishers);
  for (int i = 0; i < o.publishers; ++i) {
    auto p = std::make_unique<Publisher>();
    std::string topic = o.topic;
    for (auto at = topic.find("{p}"); at != std::string::npos; at = topic.find("{p}", at)) {
      topic.replace(at, 3, std::to_string(i));
    }
    const auto wire = wire_topic(o.url->protocol, topic);
    if (!wire.error.empty()) {
      std::fprintf(stderr, "mesh_load: --topic %s: %s\n", topic.c_str(), wire.error.c_str());
      return 2;
    }
    p->wire_topic = wire.name;
    p->id = session.nonce + static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    p->to_send = events / p_count + (static_cast<std::uint64_t>(i) < events % p_count ? 1 : 0);
    p->client = &session.add(asio::make_strand(session.io), *o.url, "pub" + std::to_string(i));
    run.publishers.push_back(std::move(p));
  }
  session.run(asio::make_strand(session.io), drive_pub(run));
  if (session.status == Status::error && session.why.empty()) session.why = session.first_error();

  std::uint64_t sent = 0, confirmed = 0;
  std::int64_t end = run.start_ns;
  for (const auto& p : run.publishers) {
    sent += p->sent.load();
    confirmed += p->sent.load() - std::min(p->sent.load(), p->client->unconfirmed());
    end = std::max(end, p->end_ns != 0 ? p->end_ns : monotonic_ns());
  }
  const double seconds = run.start_ns ? static_cast<double>(end - run.start_ns) / 1e9 : 0;
  Json json;
  json.text("mode", "pub")
      .text("url", o.url->text)
      .text("topic", o.topic)
      .integer("qos", static_cast<std::uint64_t>(o.qos))
      .integer("publishers", p_count)
      .integer("events", events)
      .integer("size", size)
      .number("rate", o.rate, 0)
      .integer("window", o.window)
      .integer("sent", sent)
      .integer("confirmed", confirmed)
      .number("seconds", seconds, 6)
      .number("events_per_s", seconds > 0 ? static_cast<double>(sent) / seconds : 0, 0);
  return session.report(json);
}

// ---- subscription-time ------------------------------------------------------------

struct Round {
  double ms = 0;          // SUBSCRIBE / SUB written -> first probe read
  double suback_ms = 0;   // -> the broker's confirmation
  double sent_ms = 0;     // -> the send of that first probe
  double transit_ms = 0;  // that probe's own send -> read
};

struct TimeRun {
  Session& session;
  PubSubClient* pub = nullptr;
  PubSubClient* sub = nullptr;
  std::size_t size = kStampSize;
  std::uint64_t probe_id = 0;
  std::vector<Round> rounds;
  int round = 0;
  // The round in progress (all on the one strand of both clients).
  std::string sub_wire;
  bool probing = false, probe_running = false;
  std::uint64_t first_ping = 0;  // the publisher's ping after its round's first probe
  bool got = false;
  std::int64_t got_ns = 0, got_sent_ns = 0;
};

asio::awaitable<void> probe(TimeRun& run, std::string wire) {
  const Options& o = run.session.options;
  PubSubClient& c = *run.pub;
  std::string payload = make_payload(run.size);
  const auto interval = static_cast<std::int64_t>(1e9 / o.probe_hz);
  std::int64_t next = monotonic_ns();
  std::uint64_t sequence = 0;
  while (run.probing && !c.closed()) {
    const std::int64_t now = monotonic_ns();
    if (now >= next) {
      if (c.unconfirmed() < kProbeWindow) {
        write_stamp(payload, Stamp{kProbe, run.probe_id, ++sequence, now});
        c.publish(wire, payload);
        if (sequence == 1 || sequence % kProbePingEvery == 0) c.ping();
        if (sequence == 1) run.first_ping = c.pings();
        c.send();
      }
      next += interval;
      if (next <= now) next = now + interval;  // fell behind: keep the rate, skip the rest
    }
    co_await c.wait(clock_at(next));
  }
  run.probe_running = false;
}

asio::awaitable<void> drive_subscription_time(TimeRun& run) {
  Session& session = run.session;
  const Options& o = session.options;
  const double timeout = *o.timeout_s;
  auto fail_with = [&](Status status, std::string why) { session.finish(status, std::move(why)); };
  auto stopped = [&] { return session.timed_out.load() || session.any_failed(); };
  auto stop_reason = [&](const std::string& phase) {
    if (session.timed_out.load()) {
      fail_with(Status::timeout, "round " + std::to_string(run.round + 1) + ": no " + phase +
                                     " within " + seconds_text(timeout) + " s");
    } else {
      fail_with(Status::error, "");
    }
  };
  std::string error = co_await run.pub->open();
  if (error.empty()) error = co_await run.sub->open();
  if (!error.empty()) {
    stop_reason("connection");
    co_await session.close_all(false);
    co_return;
  }
  std::mt19937_64 random(session.nonce);
  std::uniform_int_distribution<std::int64_t> phase(0, static_cast<std::int64_t>(1e9 / o.probe_hz));
  run.sub->on_message([&run](std::string_view topic, std::string_view payload, std::int64_t at) {
    if (run.got || topic != run.sub_wire) return;
    const auto stamp = read_stamp(payload);
    if (!stamp || stamp->kind != kProbe) return;
    run.got = true;
    run.got_ns = at;
    run.got_sent_ns = stamp->sent_ns;
  });
  for (run.round = 0; run.round < o.rounds; ++run.round) {
    session.set_deadline_after(timeout);
    const std::string topic =
        o.topic + "/st-" + hex8(session.nonce) + "-" + std::to_string(run.round + 1);
    const auto pub_wire = wire_topic(run.pub->url().protocol, topic);
    const auto sub_wire = wire_topic(run.sub->url().protocol, topic);
    if (!pub_wire.error.empty() || !sub_wire.error.empty()) {
      fail_with(Status::error, "topic " + topic + ": " + pub_wire.error + sub_wire.error);
      break;
    }
    // Probes flow, and the broker has handled the first one.
    run.probing = run.probe_running = true;
    run.first_ping = 0;
    session.spawn(run.pub->executor(), probe(run, pub_wire.name));
    while (!stopped() && (run.first_ping == 0 || run.pub->pongs() < run.first_ping)) {
      co_await run.pub->wait(Clock::now() + std::chrono::seconds(1));
    }
    if (stopped()) {
      stop_reason("answer to the publisher's first probe");
      break;
    }
    // Subscribe at a random point between two probes, so that the wait for
    // the next probe is not locked to the probes' phase (about half the
    // interval on average).
    asio::steady_timer pause(co_await asio::this_coro::executor);
    pause.expires_after(std::chrono::nanoseconds(phase(random)));
    co_await pause.async_wait(as_tuple(use_awaitable));
    run.sub_wire = sub_wire.name;
    run.got = false;
    const std::int64_t subscribed = run.sub->subscribe(sub_wire.name);
    while (!stopped() && !(run.got && run.sub->subscribed())) {
      co_await run.sub->wait(Clock::now() + std::chrono::seconds(1));
    }
    if (stopped()) {
      stop_reason(run.got ? "subscription confirmation" : "probe after subscribing");
      break;
    }
    run.rounds.push_back(Round{static_cast<double>(run.got_ns - subscribed) / 1e6,
                               static_cast<double>(run.sub->subscribed_at_ns() - subscribed) / 1e6,
                               static_cast<double>(run.got_sent_ns - subscribed) / 1e6,
                               static_cast<double>(run.got_ns - run.got_sent_ns) / 1e6});
    run.probing = false;
    while (run.probe_running && !stopped()) co_await sleep_ms(1);
    run.sub->unsubscribe(sub_wire.name);
  }
  run.probing = false;
  co_await session.close_all(session.status == Status::ok);
}

int run_subscription_time(const Options& o) {
  Session session(o);
  session.set_deadline_after(*o.timeout_s);
  TimeRun run{session};
  run.size = o.size.value_or(kStampSize);
  run.probe_id = session.nonce;
  // One strand for both clients and the driver: the round's state is theirs.
  auto strand = asio::make_strand(session.io);
  run.pub = &session.add(strand, *o.pub_url, "probe");
  run.sub = &session.add(strand, *o.sub_url, "sub");
  for (const auto* url : {&*o.pub_url, &*o.sub_url}) {
    const auto wire = wire_topic(url->protocol, o.topic);
    if (!wire.error.empty()) {
      std::fprintf(stderr, "mesh_load: --topic %s: %s\n", o.topic.c_str(), wire.error.c_str());
      return 2;
    }
  }
  session.run(strand, drive_subscription_time(run));
  if (session.status == Status::error && session.why.empty()) session.why = session.first_error();

  std::vector<double> times, subacks, sent, transits;
  for (const auto& r : run.rounds) {
    times.push_back(r.ms);
    subacks.push_back(r.suback_ms);
    sent.push_back(r.sent_ms);
    transits.push_back(r.transit_ms);
  }
  Json json;
  json.text("mode", "subscription-time")
      .text("pub_url", o.pub_url->text)
      .text("sub_url", o.sub_url->text)
      .text("topic", o.topic)
      .integer("qos", static_cast<std::uint64_t>(o.qos))
      .number("probe_hz", o.probe_hz, 1)
      .number("resolution_ms", 1e3 / o.probe_hz, 3)
      .integer("rounds", static_cast<std::uint64_t>(o.rounds))
      .integer("rounds_done", run.rounds.size())
      .raw("times_ms", Json::list(times, 3))
      .number("median_ms", median(times), 3)
      .number("min_ms", times.empty() ? 0 : *std::min_element(times.begin(), times.end()), 3)
      .number("max_ms", times.empty() ? 0 : *std::max_element(times.begin(), times.end()), 3)
      .raw("suback_ms", Json::list(subacks, 3))
      .number("suback_median_ms", median(subacks), 3)
      .raw("first_probe_sent_ms", Json::list(sent, 3))
      .raw("first_probe_transit_ms", Json::list(transits, 3));
  return session.report(json);
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto options = parse_options(argc, argv, exit_code);
  if (!options) return exit_code;
  if (options->mode == "sub") return run_sub(*options);
  if (options->mode == "pub") return run_pub(*options);
  return run_subscription_time(*options);
}
