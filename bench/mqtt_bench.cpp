// mqtt_bench: Skein's MQTT listener beside Mosquitto, measured in the same run
// by the same client (this tool), each broker started by the tool itself.
//
//   skein      `skein serve --data <tmp> --http 127.0.0.1:0 --kafka 127.0.0.1:0
//              --mqtt 127.0.0.1:0 --ready-file <tmp> --log-level warn
//              --mqtt-max-inflight 1000 --mqtt-max-queued-messages 1000000`
//              (bench_support's start_node; the MQTT address is the ready
//              file's "mqtt" key)
//   mosquitto  Debian's mosquitto with a generated configuration: `listener
//              PORT 127.0.0.1`, anonymous, no persistence, max_connections -1,
//              max_inflight_messages 1000, max_queued_messages 1000000 (the
//              same window and queue: --inflight, --queued), its open-file
//              limit raised to the hard limit before exec
//
// A fresh broker for each case, Skein then Mosquitto. The client is this
// process: MQTT 3.1.1 (or 5 with --mqtt-version 5) over Boost.Asio, packets
// built and split with the codec of src/mqtt/protocol (PUBLISH encoded once
// per publisher, then copied with its packet id and payload written in place;
// PUBLISH and PUBACK read in place, every other packet through decode). A
// publisher writes many PUBLISH packets per write; a subscriber answers all
// the QoS 1 deliveries of one read with one write. In the throughput and
// fan-out runs a connection whose read brought little waits before reading
// again (up to --read-pause-us, 3 ms; a QoS 1 publisher shortens its pause
// when its whole window came back meanwhile), so that deliveries arrive in
// batches: reading each one as it lands costs the client a whole core in
// loopback TCP work and slows the broker. The clients run on one io_context
// and thread (--threads 2: two), since broker and clients share the cores.
//
//   1 throughput   1 publisher -> 1 subscriber on `bench/p0/data`, 16-byte
//                  payloads, QoS 0 and QoS 1 (the publisher keeps at most 100
//                  QoS 1 messages unacknowledged, the subscriber answers each
//                  delivery with PUBACK): messages/s counted at the subscriber,
//                  from the first publish to the last delivery
//   2 fan-out      10 publishers (`bench/p{i}/data`) -> 100 subscribers on
//                  wildcard filters: subscriber j takes `bench/p{j%10}/+` (j
//                  even) or `bench/p{j%10}/#` (j odd), so each message reaches
//                  exactly 10 subscribers; messages/s published and deliveries/s
//   3 latency      10,000 messages/s for 5 s after a 0.5 s warm-up, 1 -> 1,
//                  QoS 0 and QoS 1, paced every millisecond; each payload
//                  carries its steady_clock send time: p50 / p99 / p99.9 / max
//   4 connections  as many idle clients as both processes' open-file limits
//                  allow, 100,000 at most unless --connections says more
//                  (CONNECT with keep-alive 3600 s, CONNACK, then
//                  nothing), bound to 127.0.0.2, 127.0.0.3, ... so that no
//                  source address runs out of ephemeral ports, at most 100
//                  handshakes in flight: CONNECT -> CONNACK per second, and the
//                  broker's VmRSS before and after (idle 2 s) / connections
//
// Every payload holds the send time, a sequence number and the publisher's
// index: each subscriber checks that it sees every message of its publishers
// once and in order, and the tables say so when it did not. So that no broker
// queue grows without bound, the publishers are never more than 20,000
// deliveries (--ahead, shared out between them) ahead of what the subscribers
// have received (both brokers alike; the latency case is open loop). Before
// the clock starts, each publisher sends probes until every subscriber has
// seen one of each of its publishers, so that every subscription is in force.
//
// Every run is bounded by a message count and by --seconds (5); the default
// run of all four cases on both brokers takes 60 to 75 s. The runs table
// gives the CPU seconds of the broker, of this process and of the rest of the
// machine (other processes) over each run: figures taken while others were
// busy are not comparable.
//
//   build/release/bench/mqtt_bench [--broker skein|mosquitto|both]
//       [--cases 1,2,3,4] [--skein PATH] [--connections N] ... (--help)
//
// Progress goes to stderr, the markdown tables to stdout.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "mqtt/protocol/codec.hpp"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace mqtt = skein::mqtt;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using skein::bench::Steady;

// ---- configuration ----------------------------------------------------------

struct Config {
  std::string skein;
  std::string mosquitto;
  bool use_skein = true, use_mosquitto = true;
  std::set<int> cases = {1, 2, 3, 4};
  mqtt::ProtocolVersion version = mqtt::ProtocolVersion::v311;
  std::size_t bytes = 16;  // payload; at least kStamp
  double seconds = 5;      // publishing stops after this, per throughput run
  std::int64_t messages_qos0 = 2'000'000;
  std::int64_t messages_qos1 = 1'000'000;
  int publishers = 10, subscribers = 100;
  std::int64_t fan_messages = 500'000;  // published in all, per fan-out run
  double rate = 10'000;
  double latency_seconds = 5, warmup = 0.5;
  int window = 100;             // QoS 1 messages in flight per publisher
  std::int64_t ahead = 20'000;  // deliveries not yet made, at most, over all publishers
  int threads = 1;
  int connections = 0;  // 0: as many as the open-file limits allow
  int connect_window = 100;
  double idle_seconds = 2;
  int idle_subscriptions = 0;       // command topics each idle client subscribes to
  long read_pause_us = 3000;        // the longest read pause (Connection::on_read); 0: none
  int inflight = 1000;              // QoS 1 messages a broker sends a subscriber unacknowledged
  std::int64_t queued = 1'000'000;  // and queues for it beyond those
  std::vector<std::string> skein_args;
};

constexpr std::size_t kStamp = 16;  // send ns (8), sequence (4), publisher (2), kind (2)
constexpr std::uint16_t kData = 0, kProbe = 1;
constexpr std::uint16_t kKeepAlive = 3600;
constexpr std::size_t kReadBuffer = 128 * 1024;
constexpr std::size_t kMaxOutBytes = 64 * 1024;  // a publisher's unwritten bytes at most
constexpr std::size_t kSmallRead = 4 * 1024;     // a subscriber's read pause grows below this
constexpr std::size_t kLargeRead = 16 * 1024;    // and shrinks above this
constexpr long kDefaultConnections = 100'000;    // idle connections without --connections

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now().time_since_epoch())
      .count();
}

// ---- failing loudly ---------------------------------------------------------

std::atomic<pid_t> g_broker{-1};  // the broker running now, killed on failure
std::string g_root;               // the temporary directory, removed on failure

[[noreturn]] void fail(const std::string& what) {
  static std::atomic<bool> failing{false};
  if (failing.exchange(true)) {
    // Another thread is already failing: let it finish.
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::fprintf(stderr, "mqtt_bench: %s\n", what.c_str());
  const pid_t pid = g_broker.load();
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  if (!g_root.empty()) {
    std::error_code ec;
    fs::remove_all(g_root, ec);
  }
  std::fflush(stderr);
  std::_Exit(1);
}

// bench_support's die() (a node that would not start) exits through exit():
// the temporary directory goes then too.
void remove_root() {
  if (g_root.empty()) return;
  std::error_code ec;
  fs::remove_all(g_root, ec);
}

void on_signal(int) {
  const pid_t pid = g_broker.load();
  if (pid > 0) ::kill(pid, SIGKILL);
  ::_exit(130);
}

// ---- processes: limits, memory, brokers ------------------------------------

// VmRSS of `pid` in KiB.
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  fail("no VmRSS in /proc/" + std::to_string(pid) + "/status");
}

// The soft open-file limit of `pid` (from /proc/PID/limits).
long open_file_limit(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    std::string soft;
    fields >> soft;
    return soft == "unlimited" ? 1L << 30 : std::strtol(soft.c_str(), nullptr, 10);
  }
  fail("no open-file limit in /proc/" + std::to_string(pid) + "/limits");
}

long open_files(pid_t pid) {
  std::error_code ec;
  long n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// CPU seconds the whole machine has been busy (all but idle and iowait).
double machine_busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  unsigned long long v[10] = {};
  for (auto& x : v) in >> x;
  const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return static_cast<double>(busy) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The soft limit raised to the hard one; returns the new soft limit.
long raise_open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) fail(std::string("getrlimit: ") + std::strerror(errno));
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) fail(std::string("setrlimit: ") + std::strerror(errno));
  return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : static_cast<long>(rl.rlim_cur);
}

std::string run_command(const std::string& command) {
  std::string output;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, p)) output.append(buffer, n);
    ::pclose(p);
  }
  return output;
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    fail(std::string("no free port: ") + std::strerror(errno));
  ::close(fd);
  return ntohs(a.sin_port);
}

enum class Kind { skein, mosquitto };
const char* name_of(Kind kind) {
  return kind == Kind::skein ? "skein" : "mosquitto";
}

struct Broker {
  Kind kind = Kind::skein;
  pid_t pid = -1;
  tcp::endpoint endpoint;
  std::string log;
  skein::bench::Node node;  // skein only
};

tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) fail("not HOST:PORT: \"" + text + "\"");
  error_code ec;
  const auto address = asio::ip::make_address(text.substr(0, colon), ec);
  if (ec) fail("not HOST:PORT: \"" + text + "\"");
  return {address, static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)))};
}

Broker start_skein(const Config& cfg, const std::string& dir) {
  fs::create_directories(dir);
  // The same window and queue as the Mosquitto configuration below.
  std::vector<std::string> extra = {"--mqtt-max-inflight", std::to_string(cfg.inflight),
                                    "--mqtt-max-queued-messages", std::to_string(cfg.queued)};
  extra.insert(extra.end(), cfg.skein_args.begin(), cfg.skein_args.end());
  Broker b;
  b.kind = Kind::skein;
  b.node = skein::bench::start_node(cfg.skein, dir, extra);
  b.pid = b.node.pid;
  b.log = b.node.log;
  g_broker = b.pid;
  const std::string ready = skein::bench::read_file(dir + "/node.ready");
  const std::string mqtt = skein::bench::json_string(ready, "mqtt");
  if (mqtt.empty()) fail("skein's ready file names no \"mqtt\" address: " + ready);
  b.endpoint = parse_endpoint(mqtt);
  return b;
}

Broker start_mosquitto(const Config& cfg, const std::string& dir) {
  fs::create_directories(dir);
  Broker b;
  b.kind = Kind::mosquitto;
  const std::uint16_t port = free_port();
  b.endpoint = {asio::ip::make_address_v4("127.0.0.1"), port};
  b.log = dir + "/mosquitto.log";
  const std::string conf = dir + "/mosquitto.conf";
  {
    std::ofstream out(conf);
    out << "# written by mqtt_bench\n"
        << "listener " << port << " 127.0.0.1\n"
        << "max_connections -1\n"
        << "allow_anonymous true\n"
        << "persistence false\n"
        << "max_inflight_messages " << cfg.inflight << "\n"
        << "max_queued_messages " << cfg.queued << "\n"
        << "max_queued_bytes 0\n"
        << "max_keepalive 65535\n"
        << "connection_messages false\n"
        << "log_dest stderr\n"
        << "log_type error\n"
        << "log_type warning\n";
    if (!out) fail("cannot write " + conf);
  }
  std::string program = cfg.mosquitto, flag = "-c", conf_arg = conf;
  char* argv[] = {program.data(), flag.data(), conf_arg.data(), nullptr};
  b.pid = ::fork();
  if (b.pid < 0) fail(std::string("fork: ") + std::strerror(errno));
  if (b.pid == 0) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    const int fd = ::open(b.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execvp(argv[0], argv);
    std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  g_broker = b.pid;
  const auto start = Steady::now();
  while (skein::bench::seconds_since(start) < 10) {
    if (::waitpid(b.pid, nullptr, WNOHANG) == b.pid) {
      g_broker = -1;
      fail("mosquitto exited while starting; its log:\n" + skein::bench::read_file(b.log));
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (up) return b;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fail("mosquitto did not listen on port " + std::to_string(port) + " within 10 s; its log:\n" +
       skein::bench::read_file(b.log));
}

Broker start_broker(Kind kind, const Config& cfg, const std::string& dir) {
  Broker b = kind == Kind::skein ? start_skein(cfg, dir) : start_mosquitto(cfg, dir);
  // Let it settle (threads started, first allocations made) before any figure.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (::waitpid(b.pid, nullptr, WNOHANG) == b.pid)
    fail(std::string(name_of(kind)) + " exited; its log:\n" + skein::bench::read_file(b.log));
  return b;
}

void stop_broker(Broker& b) {
  if (b.kind == Kind::skein) {
    skein::bench::stop_node(b.node);
  } else if (b.pid > 0) {
    ::kill(b.pid, SIGTERM);
    const auto start = Steady::now();
    while (::waitpid(b.pid, nullptr, WNOHANG) == 0) {
      if (skein::bench::seconds_since(start) > 10) {
        std::fprintf(stderr, "mqtt_bench: mosquitto did not stop within 10 s: killed\n");
        ::kill(b.pid, SIGKILL);
        ::waitpid(b.pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  b.pid = -1;
  g_broker = -1;
}

// ---- the client: one MQTT connection ----------------------------------------

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

// What one publish/subscribe run shares between its clients and the main
// thread. Only atomics are written by more than one thread.
struct Run {
  const Config* cfg = nullptr;
  tcp::endpoint broker;
  mqtt::QoS qos = mqtt::QoS::at_most_once;
  int publishers = 1, subscribers = 1;
  std::int64_t per_publisher = 0;  // messages each publisher sends at most
  double rate = 0;                 // all publishers together; 0: as fast as possible
  bool latency = false;
  std::vector<int> fanout;  // subscribers per publisher

  // Written by the main thread before the clients are told to start.
  std::int64_t start_ns = 0, deadline_ns = 0, warmup_end_ns = 0;

  std::unique_ptr<std::atomic<std::int64_t>[]> delivered_by_publisher;
  std::atomic<std::int64_t> delivered{0}, published{0}, expected{0};
  std::atomic<std::int64_t> lost{0}, duplicated{0};
  std::atomic<std::int64_t> last_delivery_ns{0};
  std::atomic<int> connected{0}, subscribed{0}, probed{0}, publishers_done{0};
  std::atomic<int> granted_below{0};
  std::atomic<int> window{0};  // the QoS 1 window the publishers use (v5 may lower it)
  std::atomic<bool> closing{false};

  // A subscriber j gets the messages of publisher j % publishers.
  bool receives(int subscriber, int publisher) const {
    return subscriber % publishers == publisher;
  }
  std::string filter(int subscriber) const {
    if (publishers == 1 && subscribers == 1) return "bench/p0/data";
    const std::string p = "bench/p" + std::to_string(subscriber % publishers);
    return subscriber % 2 == 0 ? p + "/+" : p + "/#";
  }
};

class Connection {
 public:
  Connection(asio::io_context& io, Run& run, std::string client_id)
      : io_(io), socket_(io), run_(run), client_id_(std::move(client_id)), in_(kReadBuffer) {
    out_.reserve(kMaxOutBytes * 2);
    writing_.reserve(kMaxOutBytes * 2);
  }
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  asio::io_context& io() { return io_; }

  void start() {
    socket_.async_connect(run_.broker, [this](error_code ec) {
      if (ec) return broken("connect: " + ec.message());
      socket_.set_option(tcp::no_delay(true), ec);
      mqtt::Connect c;
      c.version = run_.cfg->version;
      c.clean_start = true;
      c.keep_alive = kKeepAlive;
      c.client_id = client_id_;
      if (c.version == mqtt::ProtocolVersion::v5) c.properties.receive_maximum = 65535;
      mqtt::encode(c, out_);
      flush();
      read();
    });
  }

  virtual void close() {
    pause_timer_.cancel();
    error_code ec;
    socket_.close(ec);
  }

 protected:
  virtual void on_connack(const mqtt::Connack& connack) = 0;
  virtual void on_suback(const mqtt::Suback&) { broken("unexpected SUBACK"); }
  virtual void on_publish(std::uint8_t, std::uint16_t, const std::uint8_t*, std::size_t) {
    broken("unexpected PUBLISH");
  }
  virtual void on_puback(std::uint16_t) { broken("unexpected PUBACK"); }
  virtual void after_batch() {}
  virtual void on_written() {}

  void broken(const std::string& what) {
    if (!run_.closing) fail(client_id_ + ": " + what);
  }

  // Writes what is in out_ unless a write is in flight (then its completion
  // writes it).
  void flush() {
    if (busy_ || out_.empty()) return;
    busy_ = true;
    std::swap(out_, writing_);
    asio::async_write(socket_, asio::buffer(writing_), [this](error_code ec, std::size_t) {
      busy_ = false;
      writing_.clear();
      if (ec) return broken("write: " + ec.message());
      flush();
      on_written();
    });
  }

  // How long to wait before the next read, after one of `bytes` (0: none).
  virtual long read_pause_us(std::size_t bytes) = 0;

  mqtt::ProtocolVersion version() const { return run_.cfg->version; }

  asio::io_context& io_;
  tcp::socket socket_;
  Run& run_;
  std::string client_id_;
  mqtt::Bytes out_, writing_;
  bool busy_ = false;
  std::int64_t batch_ns_ = 0;  // when the bytes being handled arrived

 private:
  void read() {
    if (used_ == in_.size()) in_.resize(in_.size() * 2);  // a packet larger than the buffer
    socket_.async_read_some(asio::buffer(in_.data() + used_, in_.size() - used_),
                            [this](error_code ec, std::size_t n) { on_read(ec, n); });
  }

  void on_read(error_code ec, std::size_t n) {
    if (ec) {
      return broken(ec == asio::error::eof ? std::string("the broker closed the connection")
                                           : "read: " + ec.message());
    }
    used_ += n;
    batch_ns_ = now_ns();
    std::size_t at = 0;
    while (at < used_) {
      const mqtt::ByteView rest(in_.data() + at, used_ - at);
      const mqtt::Frame frame = mqtt::split_frame(rest);
      if (frame.status == mqtt::FrameStatus::incomplete) break;
      if (frame.status != mqtt::FrameStatus::complete) return broken("malformed packet length");
      handle(rest.first(frame.size), frame.header_size);
      at += frame.size;
    }
    if (at > 0) {
      std::memmove(in_.data(), in_.data() + at, used_ - at);
      used_ -= at;
    }
    after_batch();
    // Throughput runs: after a small read, let deliveries gather for a while
    // (the peer's writes coalesce in the socket) rather than read each one
    // as it lands; that makes the client cost a fraction of a core.
    const long pause_us = run_.latency || run_.cfg->read_pause_us <= 0 ? 0 : read_pause_us(n);
    if (pause_us > 0) {
      paused_ = true;
      const std::uint64_t generation = ++pause_generation_;
      pause_timer_.expires_after(std::chrono::microseconds(pause_us));
      pause_timer_.async_wait([this, generation](error_code ec) {
        if (ec || !paused_ || generation != pause_generation_) return;
        paused_ = false;
        read();
      });
      return;
    }
    read();
  }

  asio::steady_timer pause_timer_{io_};
  bool paused_ = false;
  std::uint64_t pause_generation_ = 0;

  // PUBLISH and PUBACK, the packets of the hot path, are read in place; every
  // other packet goes through the codec's decode.
  void handle(mqtt::ByteView packet, std::size_t header_size) {
    const std::uint8_t type = packet[0] >> 4;
    const std::uint8_t* body = packet.data() + header_size;
    const std::size_t size = packet.size() - header_size;
    if (type == static_cast<std::uint8_t>(mqtt::PacketType::publish)) {
      const std::uint8_t flags = packet[0] & 0x0F;
      if (size < 2) return broken("malformed PUBLISH");
      std::size_t at = 2 + be16(body);
      std::uint16_t id = 0;
      if ((flags & 0x06) != 0) {
        if (at + 2 > size) return broken("malformed PUBLISH");
        id = be16(body + at);
        at += 2;
      }
      if (version() == mqtt::ProtocolVersion::v5) {  // skip the properties
        std::uint32_t length = 0;
        for (int shift = 0;; shift += 7) {
          if (at >= size || shift > 21) return broken("malformed PUBLISH properties");
          const std::uint8_t byte = body[at++];
          length |= std::uint32_t{byte & 0x7Fu} << shift;
          if ((byte & 0x80) == 0) break;
        }
        at += length;
      }
      if (at > size) return broken("malformed PUBLISH");
      return on_publish(flags, id, body + at, size - at);
    }
    if (type == static_cast<std::uint8_t>(mqtt::PacketType::puback)) {
      if (size < 2) return broken("malformed PUBACK");
      if (size > 2 && body[2] >= 0x80) {
        return broken("PUBACK with reason code " + std::to_string(body[2]));
      }
      return on_puback(be16(body));
    }
    mqtt::Packet decoded;
    if (auto error = mqtt::decode_packet(packet, version(), decoded)) {
      return broken("bad packet: " + error->message);
    }
    if (auto* connack = std::get_if<mqtt::Connack>(&decoded)) {
      if (connack->reason_code != 0) {
        return broken("CONNACK refused: reason code " + std::to_string(connack->reason_code));
      }
      return on_connack(*connack);
    }
    if (auto* suback = std::get_if<mqtt::Suback>(&decoded)) return on_suback(*suback);
    if (std::holds_alternative<mqtt::Pingresp>(decoded)) return;
    if (auto* disconnect = std::get_if<mqtt::Disconnect>(&decoded)) {
      return broken("the broker sent DISCONNECT, reason code " +
                    std::to_string(disconnect->reason_code));
    }
    broken("unexpected " + std::string(mqtt::packet_type_name(mqtt::packet_type(decoded))));
  }

  std::vector<std::uint8_t> in_;
  std::size_t used_ = 0;
};

class Subscriber final : public Connection {
 public:
  Subscriber(asio::io_context& io, Run& run, int index)
      : Connection(io, run, "bench-sub-" + std::to_string(index)),
        index_(index),
        next_seq_(static_cast<std::size_t>(run.publishers), 0),
        probe_seen_(static_cast<std::size_t>(run.publishers), false),
        pending_(static_cast<std::size_t>(run.publishers), 0) {
    for (int p = 0; p < run.publishers; ++p)
      if (run.receives(index, p)) ++probes_needed_;
    mqtt::encode(mqtt::Puback{.packet_id = 1}, version(), puback_);
    puback_id_at_ = puback_.size() - 2;  // the short form: fixed header, packet id
    if (run.latency) {
      latencies_.reserve(static_cast<std::size_t>(run.per_publisher * run.publishers));
    }
  }

  std::vector<std::int64_t>& latencies() { return latencies_; }

 protected:
  void on_connack(const mqtt::Connack&) override {
    run_.connected.fetch_add(1);
    mqtt::Subscribe s;
    s.packet_id = 1;
    s.subscriptions.push_back({.filter = run_.filter(index_), .max_qos = run_.qos});
    mqtt::encode(s, version(), out_);
    flush();
  }

  void on_suback(const mqtt::Suback& suback) override {
    if (suback.reason_codes.size() != 1 || suback.reason_codes[0] >= 0x80) {
      return broken("subscription to " + run_.filter(index_) + " refused");
    }
    if (suback.reason_codes[0] < static_cast<std::uint8_t>(run_.qos)) run_.granted_below += 1;
    run_.subscribed.fetch_add(1);
  }

  void on_publish(std::uint8_t flags, std::uint16_t id, const std::uint8_t* payload,
                  std::size_t size) override {
    if ((flags & 0x06) != 0) {  // QoS 1: one PUBACK, written with the others of this read
      ++qos1_received_;
      const std::size_t at = out_.size();
      out_.insert(out_.end(), puback_.begin(), puback_.end());
      out_[at + puback_id_at_] = static_cast<std::uint8_t>(id >> 8);
      out_[at + puback_id_at_ + 1] = static_cast<std::uint8_t>(id);
    }
    if (size < kStamp) return broken("a payload of " + std::to_string(size) + " bytes");
    std::int64_t sent_ns;
    std::uint32_t seq;
    std::uint16_t publisher, kind;
    std::memcpy(&sent_ns, payload, 8);
    std::memcpy(&seq, payload + 8, 4);
    std::memcpy(&publisher, payload + 12, 2);
    std::memcpy(&kind, payload + 14, 2);
    if (publisher >= run_.publishers || !run_.receives(index_, publisher)) {
      return broken("a message of publisher " + std::to_string(publisher) +
                    ", which its filter does not match");
    }
    const auto p = static_cast<std::size_t>(publisher);
    if (kind == kProbe) {
      if (!probe_seen_[p]) {
        probe_seen_[p] = true;
        if (++probes_seen_ == probes_needed_) run_.probed.fetch_add(1);
      }
      return;
    }
    if (seq != next_seq_[p]) {
      if (seq < next_seq_[p]) {
        run_.duplicated.fetch_add(1);
        return;
      }
      run_.lost.fetch_add(seq - next_seq_[p]);
    }
    next_seq_[p] = seq + 1;
    ++pending_[p];
    any_ = true;
    if (run_.latency && sent_ns >= run_.warmup_end_ns) latencies_.push_back(batch_ns_ - sent_ns);
  }

  // Reads of at least kSmallRead: the pause doubles until reads are that
  // large (up to the setting), and halves away once they pass kLargeRead.
  // A QoS 1 subscriber to which the broker sent half its window during the
  // pause kept the broker waiting: the pause halves.
  long read_pause_us(std::size_t bytes) override {
    if (qos1_received_ >= run_.cfg->inflight / 2) {
      pause_us_ = pause_us_ < 50 ? 0 : pause_us_ / 2;
    } else if (bytes < kSmallRead) {
      pause_us_ = std::min(run_.cfg->read_pause_us, std::max(25L, pause_us_ * 2));
    } else if (bytes >= kLargeRead) {
      pause_us_ = pause_us_ < 50 ? 0 : pause_us_ / 2;
    }
    qos1_received_ = 0;
    return pause_us_;
  }

  void after_batch() override {
    if (any_) {
      std::int64_t total = 0;
      for (std::size_t p = 0; p < pending_.size(); ++p) {
        if (pending_[p] == 0) continue;
        run_.delivered_by_publisher[p].fetch_add(pending_[p], std::memory_order_relaxed);
        total += pending_[p];
        pending_[p] = 0;
      }
      run_.delivered.fetch_add(total);
      run_.last_delivery_ns.store(batch_ns_);
      any_ = false;
    }
    flush();
  }

 private:
  int index_;
  std::vector<std::uint32_t> next_seq_;
  std::vector<bool> probe_seen_;
  int probes_needed_ = 0, probes_seen_ = 0;
  std::vector<std::int64_t> pending_;  // deliveries not yet added to the run's counters
  bool any_ = false;
  mqtt::Bytes puback_;
  std::size_t puback_id_at_ = 0;
  std::vector<std::int64_t> latencies_;
  long pause_us_ = 0;
  int qos1_received_ = 0;  // since the last read pause was decided
};

class Publisher final : public Connection {
 public:
  Publisher(asio::io_context& io, Run& run, int index)
      : Connection(io, run, "bench-pub-" + std::to_string(index)),
        index_(index),
        to_send_(run.per_publisher),
        in_flight_ids_(65536, 0),
        timer_(io),
        probe_timer_(io) {
    const std::string topic = "bench/p" + std::to_string(index) + "/data";
    // Each message is a copy of a packet the codec encoded once, with its
    // packet id and payload written in place.
    mqtt::Publish p;
    p.topic = topic;
    p.qos = run.qos;
    p.packet_id = run.qos == mqtt::QoS::at_most_once ? 0 : 1;
    p.payload.assign(run.cfg->bytes, 'x');
    mqtt::encode(p, version(), message_);
    const mqtt::Frame frame = mqtt::split_frame(message_);
    id_at_ = frame.header_size + 2 + topic.size();
    payload_at_ = message_.size() - run.cfg->bytes;
    p.qos = mqtt::QoS::at_most_once;
    p.packet_id = 0;
    mqtt::encode(p, version(), probe_);
    if (run.rate > 0) per_ns_ = run.rate / run.publishers / 1e9;
    const std::int64_t deliveries = std::int64_t{run.publishers} * run.fanout[index];
    ahead_ = std::max<std::int64_t>(1, run.cfg->ahead / deliveries);
  }

  // Probes (QoS 0) every 10 ms until start_data().
  void start_probes() {
    probing_ = true;
    probe();
  }

  void start_data() {
    probing_ = false;
    probe_timer_.cancel();
    started_ = true;
    window_ = run_.window.load();
    if (per_ns_ > 0) {
      timer_.expires_at(Steady::time_point(std::chrono::nanoseconds(run_.start_ns)));
      tick();
    } else {
      pump();
    }
  }

  void close() override {
    timer_.cancel();
    probe_timer_.cancel();
    Connection::close();
  }

 protected:
  void on_connack(const mqtt::Connack& connack) override {
    if (connack.properties.receive_maximum) {
      int w = run_.window.load();
      while (*connack.properties.receive_maximum < w &&
             !run_.window.compare_exchange_weak(w, *connack.properties.receive_maximum)) {
      }
    }
    run_.connected.fetch_add(1);
  }

  void on_puback(std::uint16_t id) override {
    if (!in_flight_ids_[id]) return broken("PUBACK for packet id " + std::to_string(id));
    in_flight_ids_[id] = 0;
    --in_flight_;
    ++acked_;
  }

  // A QoS 1 publisher whose whole window was acknowledged during a pause
  // waited for nothing: it halves the pause; when few acknowledgements came,
  // the broker is the slow side and the pause grows back, up to the setting.
  long read_pause_us(std::size_t) override {
    const long most = run_.cfg->read_pause_us;
    if (!qos1()) return most;
    if (acked_ - acked_at_pause_ >= window_ / 2) {
      pause_us_ = std::max(10L, pause_us_ / 2);
    } else {
      pause_us_ = std::min(most, pause_us_ * 2);
    }
    acked_at_pause_ = acked_;
    return pause_us_;
  }

  void after_batch() override {
    if (per_ns_ > 0) {
      send_due();
    } else {
      pump();
    }
  }

  void on_written() override {
    if (per_ns_ == 0) pump();
  }

 private:
  bool qos1() const { return run_.qos != mqtt::QoS::at_most_once; }

  void probe() {
    if (!probing_) return;
    const std::size_t at = out_.size();
    out_.insert(out_.end(), probe_.begin(), probe_.end());
    stamp(out_.data() + at + (probe_.size() - run_.cfg->bytes), 0, kProbe, now_ns());
    flush();
    probe_timer_.expires_after(std::chrono::milliseconds(10));
    probe_timer_.async_wait([this](error_code ec) {
      if (!ec) probe();
    });
  }

  void stamp(std::uint8_t* payload, std::uint32_t seq, std::uint16_t kind, std::int64_t ns) {
    const auto publisher = static_cast<std::uint16_t>(index_);
    std::memcpy(payload, &ns, 8);
    std::memcpy(payload + 8, &seq, 4);
    std::memcpy(payload + 12, &publisher, 2);
    std::memcpy(payload + 14, &kind, 2);
  }

  // Appends n messages to out_ and writes them.
  void append(std::int64_t n) {
    const std::int64_t ns = now_ns();
    const std::size_t size = message_.size();
    std::size_t at = out_.size();
    out_.resize(at + size * static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i, at += size) {
      std::uint8_t* m = out_.data() + at;
      std::memcpy(m, message_.data(), size);
      if (qos1()) {
        do {
          next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
        } while (in_flight_ids_[next_id_]);
        in_flight_ids_[next_id_] = 1;
        ++in_flight_;
        m[id_at_] = static_cast<std::uint8_t>(next_id_ >> 8);
        m[id_at_ + 1] = static_cast<std::uint8_t>(next_id_);
      }
      stamp(m + payload_at_, static_cast<std::uint32_t>(sent_), kData, ns);
      ++sent_;
    }
    flush();
  }

  // As fast as allowed: by the QoS 1 window, by how far ahead of its
  // subscribers this publisher is, by the bytes not yet written.
  void pump() {
    if (!started_ || finished_) return;
    if (sent_ < to_send_ && now_ns() >= run_.deadline_ns) to_send_ = sent_;
    std::int64_t n = to_send_ - sent_;
    if (qos1()) n = std::min<std::int64_t>(n, window_ - in_flight_);
    const auto p = static_cast<std::size_t>(index_);
    const std::int64_t ahead =
        sent_ - run_.delivered_by_publisher[p].load(std::memory_order_relaxed) / run_.fanout[p];
    const std::int64_t credit = ahead_ - ahead;
    const bool held_back = n > 0 && credit <= 0;
    n = std::min(n, credit);
    const auto room = static_cast<std::int64_t>(
        (kMaxOutBytes - std::min(kMaxOutBytes, out_.size())) / message_.size());
    n = std::min(n, room);
    if (n > 0) append(n);
    finish_if_done();
    if (held_back && !waiting_) {  // subscribers behind: look again shortly
      waiting_ = true;
      timer_.expires_after(std::chrono::microseconds(100));
      timer_.async_wait([this](error_code ec) {
        waiting_ = false;
        if (!ec) pump();
      });
    }
  }

  // Paced: what is due by now, every millisecond.
  void tick() {
    send_due();
    if (sent_ >= to_send_) return;
    timer_.expires_at(timer_.expiry() + std::chrono::milliseconds(1));
    timer_.async_wait([this](error_code ec) {
      if (!ec) tick();
    });
  }

  void send_due() {
    if (!started_ || finished_) return;
    const auto due = std::min(
        to_send_,
        static_cast<std::int64_t>(static_cast<double>(now_ns() - run_.start_ns) * per_ns_) + 1);
    std::int64_t n = due - sent_;
    if (qos1()) n = std::min<std::int64_t>(n, window_ - in_flight_);
    if (n > 0) append(n);
    finish_if_done();
  }

  void finish_if_done() {
    if (finished_ || sent_ < to_send_ || (qos1() && acked_ < sent_)) return;
    finished_ = true;
    run_.published.fetch_add(sent_);
    run_.expected.fetch_add(sent_ * run_.fanout[static_cast<std::size_t>(index_)]);
    run_.publishers_done.fetch_add(1);
  }

  int index_;
  mqtt::Bytes message_, probe_;
  std::size_t id_at_ = 0, payload_at_ = 0;
  std::int64_t to_send_, sent_ = 0, acked_ = 0, acked_at_pause_ = 0;
  std::int64_t ahead_ = 1;  // messages this publisher may be ahead of its subscribers
  long pause_us_ = 10;
  int in_flight_ = 0, window_ = 1 << 30;
  std::vector<std::uint8_t> in_flight_ids_;
  std::uint16_t next_id_ = 0;
  double per_ns_ = 0;  // paced: messages per nanosecond
  bool probing_ = false, started_ = false, finished_ = false, waiting_ = false;
  asio::steady_timer timer_, probe_timer_;
};

// ---- a publish/subscribe run --------------------------------------------------

struct RunResult {
  std::int64_t published = 0, expected = 0, delivered = 0, lost = 0, duplicated = 0;
  double seconds = 0;  // first publish to last delivery
  double broker_cpu = 0, client_cpu = 0;
  double other_cpu = 0;  // the rest of the machine's busy time meanwhile (other processes)
  bool complete = true;  // every publisher finished and every delivery arrived
  int granted_below = 0;
  std::vector<double> latencies_ms;
  double published_per_s() const { return seconds > 0 ? published / seconds : 0; }
  double delivered_per_s() const { return seconds > 0 ? delivered / seconds : 0; }
  bool clean() const { return complete && lost == 0 && duplicated == 0 && delivered == expected; }
  std::string check() const {
    if (clean()) return "ok";
    std::string s = std::to_string(expected - delivered) + " missing";
    if (lost > 0) s += ", " + std::to_string(lost) + " gaps";
    if (duplicated > 0) s += ", " + std::to_string(duplicated) + " duplicated";
    if (!complete) s += ", stalled";
    return s;
  }
};

// The client threads of one run: an io_context each, kept alive until stop().
class Threads {
 public:
  explicit Threads(int n) {
    for (int i = 0; i < n; ++i) contexts_.push_back(std::make_unique<asio::io_context>(1));
    for (auto& io : contexts_) {
      guards_.emplace_back(io->get_executor());
      done_.push_back(std::make_unique<std::atomic<bool>>(false));
      threads_.emplace_back([&io, done = done_.back().get()] {
        io->run();
        *done = true;
      });
    }
  }
  ~Threads() { stop(); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

  asio::io_context& next() { return *contexts_[next_++ % contexts_.size()]; }

  // Lets each thread finish its handlers (2 s at most), then stops and joins.
  void stop() {
    if (threads_.empty()) return;
    guards_.clear();
    const auto start = Steady::now();
    for (std::size_t i = 0; i < threads_.size(); ++i) {
      while (!*done_[i] && skein::bench::seconds_since(start) < 2)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      contexts_[i]->stop();
      threads_[i].join();
    }
    threads_.clear();
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::unique_ptr<std::atomic<bool>>> done_;
  std::vector<std::thread> threads_;
  std::size_t next_ = 0;
};

template <class Predicate>
void wait_for(Predicate ready, double seconds, const std::string& what) {
  const auto start = Steady::now();
  while (!ready()) {
    if (skein::bench::seconds_since(start) > seconds) fail(what);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

struct RunSpec {
  std::string label;
  mqtt::QoS qos = mqtt::QoS::at_most_once;
  int publishers = 1, subscribers = 1;
  std::int64_t per_publisher = 0;
  double seconds = 5;  // publishing stops after this
  double rate = 0;
  bool latency = false;
};

RunResult run_pubsub(const Config& cfg, const Broker& broker, const RunSpec& spec) {
  Run run;
  run.cfg = &cfg;
  run.broker = broker.endpoint;
  run.qos = spec.qos;
  run.publishers = spec.publishers;
  run.subscribers = spec.subscribers;
  run.per_publisher = spec.per_publisher;
  run.rate = spec.rate;
  run.latency = spec.latency;
  run.window = cfg.window;
  run.fanout.assign(static_cast<std::size_t>(spec.publishers), 0);
  for (int s = 0; s < spec.subscribers; ++s)
    for (int p = 0; p < spec.publishers; ++p)
      if (run.receives(s, p)) ++run.fanout[static_cast<std::size_t>(p)];
  run.delivered_by_publisher =
      std::make_unique<std::atomic<std::int64_t>[]>(static_cast<std::size_t>(spec.publishers));

  std::fprintf(stderr, "  %s: %d publisher(s) -> %d subscriber(s)...\n", spec.label.c_str(),
               spec.publishers, spec.subscribers);
  Threads threads(cfg.threads);
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  std::vector<std::unique_ptr<Publisher>> publishers;
  for (int s = 0; s < spec.subscribers; ++s)
    subscribers.push_back(std::make_unique<Subscriber>(threads.next(), run, s));
  for (int p = 0; p < spec.publishers; ++p)
    publishers.push_back(std::make_unique<Publisher>(threads.next(), run, p));
  for (auto& s : subscribers) asio::post(s->io(), [c = s.get()] { c->start(); });
  wait_for([&] { return run.subscribed == spec.subscribers; }, 20,
           "subscribers not connected and subscribed within 20 s");
  for (auto& p : publishers) asio::post(p->io(), [c = p.get()] { c->start(); });
  wait_for([&] { return run.connected == spec.subscribers + spec.publishers; }, 20,
           "publishers not connected within 20 s");
  for (auto& p : publishers) asio::post(p->io(), [c = p.get()] { c->start_probes(); });
  wait_for([&] { return run.probed == spec.subscribers; }, 20,
           "the subscribers did not all receive a probe within 20 s");

  const double node_cpu0 = skein::bench::cpu_seconds(broker.pid);
  const double self_cpu0 = skein::bench::cpu_seconds(::getpid());
  const double machine0 = machine_busy_seconds();
  run.start_ns = now_ns();
  run.deadline_ns = run.start_ns + static_cast<std::int64_t>(spec.seconds * 1e9);
  run.warmup_end_ns = run.start_ns + static_cast<std::int64_t>(cfg.warmup * 1e9);
  for (auto& p : publishers) asio::post(p->io(), [c = p.get()] { c->start_data(); });

  // Until every publisher is done and everything expected arrived, or nothing
  // moved for 3 s.
  RunResult r;
  std::int64_t last_delivered = -1, last_published = -1;
  auto last_progress = Steady::now();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const std::int64_t delivered = run.delivered, published = run.published;
    if (run.publishers_done == spec.publishers && delivered >= run.expected) break;
    if (delivered != last_delivered || published != last_published) {
      last_delivered = delivered;
      last_published = published;
      last_progress = Steady::now();
    } else if (skein::bench::seconds_since(last_progress) > 3) {
      r.complete = false;
      break;
    }
  }
  r.broker_cpu = skein::bench::cpu_seconds(broker.pid) - node_cpu0;
  r.client_cpu = skein::bench::cpu_seconds(::getpid()) - self_cpu0;
  r.other_cpu = std::max(0.0, machine_busy_seconds() - machine0 - r.broker_cpu - r.client_cpu);
  run.closing = true;
  for (auto& s : subscribers) asio::post(s->io(), [c = s.get()] { c->close(); });
  for (auto& p : publishers) asio::post(p->io(), [c = p.get()] { c->close(); });
  threads.stop();

  r.published = run.published;
  r.expected = run.expected;
  r.delivered = run.delivered;
  r.lost = run.lost;
  r.duplicated = run.duplicated;
  r.granted_below = run.granted_below;
  if (run.publishers_done != spec.publishers) r.complete = false;
  r.seconds = static_cast<double>(run.last_delivery_ns - run.start_ns) / 1e9;
  for (auto& s : subscribers)
    for (std::int64_t ns : s->latencies()) r.latencies_ms.push_back(static_cast<double>(ns) / 1e6);
  std::fprintf(stderr,
               "    published %lld, delivered %lld of %lld in %.2f s: %.0f published/s, %.0f "
               "delivered/s; CPU s: broker %.2f, client %.2f, others %.2f; check: %s\n",
               static_cast<long long>(r.published), static_cast<long long>(r.delivered),
               static_cast<long long>(r.expected), r.seconds, r.published_per_s(),
               r.delivered_per_s(), r.broker_cpu, r.client_cpu, r.other_cpu, r.check().c_str());
  if (r.granted_below > 0)
    std::fprintf(stderr, "    %d subscription(s) granted a lower QoS than asked\n",
                 r.granted_below);
  return r;
}

// ---- idle connections -------------------------------------------------------

struct IdleResult {
  int connections = 0, addresses = 0, alive = 0;
  double seconds = 0;
  long rss_before_kib = 0, rss_after_kib = 0;
  double connect_p50_ms = 0, connect_p99_ms = 0;
  double per_second() const { return seconds > 0 ? connections / seconds : 0; }
  double bytes_per_connection() const {
    return connections > 0 ? (rss_after_kib - rss_before_kib) * 1024.0 / connections : 0;
  }
};

// N clients, at most `window` handshakes in flight, each bound to one of the
// source addresses 127.0.0.2 ... in turn. Runs on the calling thread.
class IdleClients {
 public:
  IdleClients(const Config& cfg, tcp::endpoint broker, int n)
      : cfg_(cfg), broker_(broker), n_(n), addresses_(std::clamp((n + 15999) / 16000, 4, 250)) {
    conns_.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) conns_.push_back(std::make_unique<Idle>(io_));
    started_ns_.assign(static_cast<std::size_t>(n), 0);
  }

  int addresses() const { return addresses_; }

  // Returns the seconds from the first connect to the last CONNACK.
  double connect_all(std::vector<double>& connect_ms) {
    const auto start = Steady::now();
    while (next_ < n_ && next_ < cfg_.connect_window) launch();
    io_.run();
    const double seconds = skein::bench::seconds_since(start);
    connect_ms = std::move(connect_ms_);
    return seconds;
  }

  // Connections the broker has not closed (a peek finds no end of stream).
  int alive() const {
    int n = 0;
    for (const auto& c : conns_) {
      char byte;
      const ssize_t got = ::recv(c->socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++n;
    }
    return n;
  }

 private:
  struct Idle {
    explicit Idle(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::array<std::uint8_t, 128> in{};
    std::size_t used = 0;
    mqtt::Bytes connect;
  };

  void launch() {
    const int i = next_++;
    Idle& c = *conns_[static_cast<std::size_t>(i)];
    started_ns_[static_cast<std::size_t>(i)] = now_ns();
    error_code ec;
    c.socket.open(tcp::v4(), ec);
    if (ec) fail("socket " + std::to_string(i) + ": " + ec.message());
    // The port is chosen at connect, for this destination (bind() would look
    // for a port free for every destination, slowly once many are taken).
    const int one = 1;
    ::setsockopt(c.socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    // Closed with a reset at the end: no TIME_WAIT left for the next run.
    c.socket.set_option(asio::socket_base::linger(true, 0), ec);
    const asio::ip::address_v4 source(0x7F000002u + static_cast<unsigned>(i % addresses_));
    c.socket.bind({source, 0}, ec);
    if (ec)
      fail("bind " + source.to_string() + " (connection " + std::to_string(i) +
           "): " + ec.message());
    c.socket.async_connect(broker_, [this, i, &c](error_code ec) {
      if (ec) fail("connect " + std::to_string(i) + ": " + ec.message());
      mqtt::Connect connect;
      connect.version = cfg_.version;
      connect.keep_alive = kKeepAlive;
      connect.client_id = "bench-idle-" + std::to_string(i);
      mqtt::encode(connect, c.connect);
      asio::async_write(c.socket, asio::buffer(c.connect),
                        [this, i, &c](error_code ec, std::size_t) {
                          if (ec) fail("CONNECT " + std::to_string(i) + ": " + ec.message());
                          mqtt::Bytes().swap(c.connect);
                          read_connack(i, c);
                        });
    });
  }

  void read_connack(int i, Idle& c) {
    c.socket.async_read_some(
        asio::buffer(c.in.data() + c.used, c.in.size() - c.used),
        [this, i, &c](error_code ec, std::size_t n) {
          if (ec) fail("CONNACK " + std::to_string(i) + ": " + ec.message());
          c.used += n;
          const mqtt::ByteView bytes(c.in.data(), c.used);
          const mqtt::Frame frame = mqtt::split_frame(bytes);
          if (frame.status == mqtt::FrameStatus::incomplete && c.used < c.in.size())
            return read_connack(i, c);
          mqtt::Connack connack;
          if (frame.status != mqtt::FrameStatus::complete ||
              mqtt::decode(bytes.first(frame.size), cfg_.version, connack))
            fail("connection " + std::to_string(i) + ": no CONNACK");
          if (connack.reason_code != 0)
            fail("connection " + std::to_string(i) + ": CONNACK reason code " +
                 std::to_string(connack.reason_code));
          connect_ms_.push_back(
              static_cast<double>(now_ns() - started_ns_[static_cast<std::size_t>(i)]) / 1e6);
          c.used -= frame.size;
          std::memmove(c.in.data(), c.in.data() + frame.size, c.used);
          if (cfg_.idle_subscriptions > 0) return subscribe(i, c);
          if (next_ < n_) launch();
        });
  }

  // A device's command path: QoS 1 subscriptions to topics of its own, then
  // the SUBACK, before the next client starts.
  void subscribe(int i, Idle& c) {
    mqtt::Subscribe sub;
    sub.packet_id = 1;
    for (int k = 0; k < cfg_.idle_subscriptions; ++k) {
      mqtt::Subscription s;
      s.filter = "bench/idle/" + std::to_string(i) + "/cmd/" + std::to_string(k);
      s.max_qos = mqtt::QoS::at_least_once;
      sub.subscriptions.push_back(std::move(s));
    }
    mqtt::encode(sub, cfg_.version, c.connect);
    asio::async_write(c.socket, asio::buffer(c.connect), [this, i, &c](error_code ec, std::size_t) {
      if (ec) fail("SUBSCRIBE " + std::to_string(i) + ": " + ec.message());
      mqtt::Bytes().swap(c.connect);
      read_suback(i, c);
    });
  }

  void read_suback(int i, Idle& c) {
    const mqtt::ByteView bytes(c.in.data(), c.used);
    const mqtt::Frame frame = mqtt::split_frame(bytes);
    if (frame.status == mqtt::FrameStatus::incomplete && c.used < c.in.size()) {
      c.socket.async_read_some(asio::buffer(c.in.data() + c.used, c.in.size() - c.used),
                               [this, i, &c](error_code ec, std::size_t n) {
                                 if (ec) fail("SUBACK " + std::to_string(i) + ": " + ec.message());
                                 c.used += n;
                                 read_suback(i, c);
                               });
      return;
    }
    mqtt::Suback suback;
    if (frame.status != mqtt::FrameStatus::complete ||
        mqtt::decode(bytes.first(frame.size), cfg_.version, suback) ||
        suback.reason_codes.size() != static_cast<std::size_t>(cfg_.idle_subscriptions))
      fail("connection " + std::to_string(i) + ": no SUBACK");
    for (std::uint8_t code : suback.reason_codes)
      if (code >= 0x80)
        fail("connection " + std::to_string(i) + ": SUBACK reason code " + std::to_string(code));
    c.used = 0;
    if (next_ < n_) launch();
  }

  const Config& cfg_;
  tcp::endpoint broker_;
  int n_, addresses_;
  asio::io_context io_{1};
  std::vector<std::unique_ptr<Idle>> conns_;
  std::vector<std::int64_t> started_ns_;
  std::vector<double> connect_ms_;
  int next_ = 0;
};

IdleResult run_connections(const Config& cfg, const Broker& broker) {
  // Each process has its own open-file limit: this one holds one socket per
  // client, the broker one per client plus its own files.
  const long own_room = open_file_limit(::getpid()) - open_files(::getpid()) - 64;
  const long broker_room = open_file_limit(broker.pid) - open_files(broker.pid) - 64;
  const long room = std::min(own_room, broker_room);
  IdleResult r;
  // By default as many as the limits allow, up to kDefaultConnections (a
  // machine whose hard limit is in the millions would take minutes).
  r.connections = static_cast<int>(
      std::min<long>(cfg.connections > 0 ? cfg.connections : kDefaultConnections, room));
  if (cfg.connections > r.connections)
    std::fprintf(stderr, "  --connections %d is more than the open-file limits allow: %d\n",
                 cfg.connections, r.connections);
  if (r.connections <= 0) fail("no room for connections under the open-file limits");
  std::fprintf(
      stderr, "  %d idle connections (room: this process %ld, %s %ld of its limit %ld)...\n",
      r.connections, own_room, name_of(broker.kind), broker_room, open_file_limit(broker.pid));
  r.rss_before_kib = rss_kib(broker.pid);
  std::vector<double> connect_ms;
  {
    IdleClients clients(cfg, broker.endpoint, r.connections);
    r.addresses = clients.addresses();
    r.seconds = clients.connect_all(connect_ms);
    std::this_thread::sleep_for(std::chrono::duration<double>(cfg.idle_seconds));
    r.rss_after_kib = rss_kib(broker.pid);
    r.alive = clients.alive();
  }
  r.connect_p50_ms = skein::bench::quantile(connect_ms, 0.5);
  r.connect_p99_ms = skein::bench::quantile(connect_ms, 0.99);
  std::fprintf(stderr,
               "    %d connected in %.2f s from %d source addresses: %.0f/s (p50 %.2f ms, p99 "
               "%.2f ms); %d alive after %.1f s idle; RSS %ld -> %ld KiB: %.0f B/connection\n",
               r.connections, r.seconds, r.addresses, r.per_second(), r.connect_p50_ms,
               r.connect_p99_ms, r.alive, cfg.idle_seconds, r.rss_before_kib, r.rss_after_kib,
               r.bytes_per_connection());
  if (r.alive != r.connections)
    std::fprintf(stderr, "    %d connection(s) were closed by the broker\n",
                 r.connections - r.alive);
  return r;
}

// ---- the cases -----------------------------------------------------------------

struct Results {
  std::optional<RunResult> qos0, qos1;          // case 1
  std::optional<RunResult> fan_qos0, fan_qos1;  // case 2
  std::optional<RunResult> lat_qos0, lat_qos1;  // case 3
  std::optional<IdleResult> idle;               // case 4
};

mqtt::QoS qos_of(int q) {
  return q == 0 ? mqtt::QoS::at_most_once : mqtt::QoS::at_least_once;
}

// Case `number` on a fresh broker of `kind`, into `out`.
void measure(int number, Kind kind, const Config& cfg, const std::string& root, Results& out) {
  static const char* const what[] = {"", "throughput 1 -> 1", "fan-out over wildcard filters",
                                     "latency at a fixed rate", "idle connections"};
  std::fprintf(stderr, "%s: case %d, %s\n", name_of(kind), number, what[number]);
  Broker b = start_broker(kind, cfg, root + "/" + name_of(kind) + "-" + std::to_string(number));
  std::fprintf(stderr, "  %s (pid %d) on %s:%u\n", name_of(kind), static_cast<int>(b.pid),
               b.endpoint.address().to_string().c_str(), b.endpoint.port());
  for (int q : {0, 1}) {
    RunSpec s{.label = "QoS " + std::to_string(q), .qos = qos_of(q), .seconds = cfg.seconds};
    if (number == 1) {
      s.per_publisher = q == 0 ? cfg.messages_qos0 : cfg.messages_qos1;
      (q == 0 ? out.qos0 : out.qos1) = run_pubsub(cfg, b, s);
    } else if (number == 2) {
      s.publishers = cfg.publishers;
      s.subscribers = cfg.subscribers;
      s.per_publisher = cfg.fan_messages / cfg.publishers;
      (q == 0 ? out.fan_qos0 : out.fan_qos1) = run_pubsub(cfg, b, s);
    } else if (number == 3) {
      const double total = cfg.warmup + cfg.latency_seconds;
      s.per_publisher = static_cast<std::int64_t>(cfg.rate * total);
      s.seconds = total + 5;
      s.rate = cfg.rate;
      s.latency = true;
      (q == 0 ? out.lat_qos0 : out.lat_qos1) = run_pubsub(cfg, b, s);
    }
  }
  if (number == 4) out.idle = run_connections(cfg, b);
  if (::waitpid(b.pid, nullptr, WNOHANG) == b.pid)
    fail(std::string(name_of(kind)) + " died; its log:\n" + skein::bench::read_file(b.log));
  stop_broker(b);
}

// ---- the tables --------------------------------------------------------------

std::string cell(std::optional<double> v, int decimals = 0) {
  if (!v) return "-";
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, *v);
  return text;
}

std::string ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b == 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", *a / *b);
  return text;
}

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};
Percentiles percentiles(const RunResult& r) {
  std::vector<double> v = r.latencies_ms;
  Percentiles p;
  if (v.empty()) return p;
  p.p50 = skein::bench::quantile(v, 0.5);
  p.p99 = skein::bench::quantile(v, 0.99);
  p.p999 = skein::bench::quantile(v, 0.999);
  p.max = v.back();
  return p;
}

void print_tables(const Config& cfg, const Results& s, const Results& m,
                  const std::string& mosquitto_version) {
  using Get = std::function<std::optional<double>(const Results&)>;
  struct Row {
    std::string scenario, metric;
    Get get;
    int decimals;
  };
  auto rate = [](std::optional<RunResult> Results::*f, bool deliveries) -> Get {
    return [f, deliveries](const Results& r) -> std::optional<double> {
      if (!(r.*f)) return std::nullopt;
      return deliveries ? (r.*f)->delivered_per_s() : (r.*f)->published_per_s();
    };
  };
  auto latency = [](std::optional<RunResult> Results::*f, double q) -> Get {
    return [f, q](const Results& r) -> std::optional<double> {
      if (!(r.*f) || (r.*f)->latencies_ms.empty()) return std::nullopt;
      std::vector<double> v = (r.*f)->latencies_ms;
      return skein::bench::quantile(v, q);
    };
  };
  const std::string b = std::to_string(cfg.bytes) + " B";
  const std::string fan = std::to_string(cfg.publishers) + " -> " +
                          std::to_string(cfg.subscribers) + " (wildcards, each message to " +
                          std::to_string(cfg.subscribers / cfg.publishers) + "), " + b;
  const std::string lat = "1 -> 1 at " + cell(cfg.rate) + "/s, " + b;
  const std::string idle = cfg.idle_subscriptions == 0
                               ? std::string("idle connections")
                               : "idle connections, " + std::to_string(cfg.idle_subscriptions) +
                                     " QoS 1 subscription(s) each";
  std::vector<Row> rows = {
      {"1 -> 1, " + b + ", QoS 0", "messages/s delivered", rate(&Results::qos0, true), 0},
      {"1 -> 1, " + b + ", QoS 1", "messages/s delivered", rate(&Results::qos1, true), 0},
      {fan + ", QoS 0", "messages/s published", rate(&Results::fan_qos0, false), 0},
      {fan + ", QoS 0", "deliveries/s", rate(&Results::fan_qos0, true), 0},
      {fan + ", QoS 1", "messages/s published", rate(&Results::fan_qos1, false), 0},
      {fan + ", QoS 1", "deliveries/s", rate(&Results::fan_qos1, true), 0},
      {lat + ", QoS 0", "p50 ms (lower is better)", latency(&Results::lat_qos0, 0.5), 3},
      {lat + ", QoS 0", "p99 ms (lower is better)", latency(&Results::lat_qos0, 0.99), 3},
      {lat + ", QoS 1", "p50 ms (lower is better)", latency(&Results::lat_qos1, 0.5), 3},
      {lat + ", QoS 1", "p99 ms (lower is better)", latency(&Results::lat_qos1, 0.99), 3},
      {idle, "CONNECT -> CONNACK per second",
       [](const Results& r) -> std::optional<double> {
         if (!r.idle) return std::nullopt;
         return r.idle->per_second();
       },
       0},
      {idle, "broker RSS bytes per connection (lower is better)",
       [](const Results& r) -> std::optional<double> {
         if (!r.idle) return std::nullopt;
         return r.idle->bytes_per_connection();
       },
       0},
      {idle, "RSS for 1,000,000 connections, GiB (lower is better)",
       [](const Results& r) -> std::optional<double> {
         if (!r.idle) return std::nullopt;
         return r.idle->bytes_per_connection() * 1e6 / (1024.0 * 1024 * 1024);
       },
       2},
  };

  std::printf("## mqtt_bench: Skein beside %s, MQTT %s, one machine (%u cores)\n\n",
              mosquitto_version.c_str(), cfg.version == mqtt::ProtocolVersion::v5 ? "5.0" : "3.1.1",
              std::thread::hardware_concurrency());
  std::printf("| case | figure | Skein | Mosquitto | Skein / Mosquitto |\n");
  std::printf("|---|---|---:|---:|---:|\n");
  for (const Row& row : rows) {
    const auto a = row.get(s), c = row.get(m);
    if (!a && !c) continue;
    std::printf("| %s | %s | %s | %s | %s |\n", row.scenario.c_str(), row.metric.c_str(),
                cell(a, row.decimals).c_str(), cell(c, row.decimals).c_str(), ratio(a, c).c_str());
  }

  // Per run: counts, the delivery check and where the CPU went.
  struct Detail {
    const char* name;
    std::optional<RunResult> Results::*field;
  };
  const Detail details[] = {
      {"1 -> 1 QoS 0", &Results::qos0},      {"1 -> 1 QoS 1", &Results::qos1},
      {"fan-out QoS 0", &Results::fan_qos0}, {"fan-out QoS 1", &Results::fan_qos1},
      {"latency QoS 0", &Results::lat_qos0}, {"latency QoS 1", &Results::lat_qos1}};
  bool header = false;
  for (const Detail& d : details) {
    for (const auto* r : {&s, &m}) {
      if (!(r->*d.field)) continue;
      if (!header) {
        std::printf(
            "\n### runs: counts, delivery check, CPU (broker and clients share the cores)\n\n"
            "| run | broker | published | delivered | seconds | check | broker CPU s | client "
            "CPU s | others CPU s | broker CPU us per delivery |\n"
            "|---|---|---:|---:|---:|---|---:|---:|---:|---:|\n");
        header = true;
      }
      const RunResult& x = *(r->*d.field);
      std::printf("| %s | %s | %lld | %lld | %.2f | %s | %.2f | %.2f | %.2f | %.2f |\n", d.name,
                  r == &s ? "skein" : "mosquitto", static_cast<long long>(x.published),
                  static_cast<long long>(x.delivered), x.seconds, x.check().c_str(), x.broker_cpu,
                  x.client_cpu, x.other_cpu,
                  x.delivered > 0 ? x.broker_cpu * 1e6 / x.delivered : 0.0);
    }
  }

  header = false;
  for (const Detail& d : {details[4], details[5]}) {
    for (const auto* r : {&s, &m}) {
      if (!(r->*d.field)) continue;
      if (!header) {
        std::printf(
            "\n### latency: %s/s for %s s after a %s s warm-up\n\n"
            "| run | broker | achieved/s | samples | p50 ms | p99 ms | p99.9 ms | max ms |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|\n",
            cell(cfg.rate).c_str(), cell(cfg.latency_seconds, 1).c_str(),
            cell(cfg.warmup, 1).c_str());
        header = true;
      }
      const RunResult& x = *(r->*d.field);
      const Percentiles p = percentiles(x);
      std::printf("| %s | %s | %.0f | %zu | %.3f | %.3f | %.3f | %.3f |\n", d.name,
                  r == &s ? "skein" : "mosquitto", x.delivered_per_s(), x.latencies_ms.size(),
                  p.p50, p.p99, p.p999, p.max);
    }
  }

  header = false;
  for (const auto* r : {&s, &m}) {
    if (!r->idle) continue;
    if (!header) {
      std::printf(
          "\n### idle connections\n\n"
          "| broker | connections | source addresses | connect/s | connect p50 ms | connect p99 "
          "ms | alive | RSS before MiB | RSS after MiB | bytes per connection | 1,000,000 "
          "connections |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
      header = true;
    }
    const IdleResult& x = *r->idle;
    std::printf(
        "| %s | %d | %d | %.0f | %.2f | %.2f | %d | %.1f | %.1f | %.0f | %.2f GiB RSS, and "
        "1,000,000 open files |\n",
        r == &s ? "skein" : "mosquitto", x.connections, x.addresses, x.per_second(),
        x.connect_p50_ms, x.connect_p99_ms, x.alive, x.rss_before_kib / 1024.0,
        x.rss_after_kib / 1024.0, x.bytes_per_connection(),
        x.bytes_per_connection() * 1e6 / (1024.0 * 1024 * 1024));
  }
  std::printf(
      "\nOne client process (this tool, %d io_context thread(s)) and the broker share the "
      "machine's %u cores; a fresh broker for each case. Throughput: from the first publish to "
      "the last delivery, every message checked at its subscribers; QoS 1 publishers keep at "
      "most %d messages in flight, both brokers send a subscriber at most %d unacknowledged "
      "and queue %lld more. RSS per connection leaves out the kernel's socket memory.\n",
      cfg.threads, std::thread::hardware_concurrency(), cfg.window, cfg.inflight,
      static_cast<long long>(cfg.queued));
}

// ---- options -------------------------------------------------------------------

const char* kUsage =
    "usage: mqtt_bench [--broker skein|mosquitto|both] [--cases 1,2,3,4] [--skein PATH]\n"
    "                  [--mosquitto PATH] [--connections N] [--seconds S] [--threads 1|2]\n"
    "                  [--messages-qos0 N] [--messages-qos1 N] [--fan-messages N]\n"
    "                  [--publishers N] [--subscribers N] [--rate R] [--latency-seconds S]\n"
    "                  [--window N] [--ahead N] [--bytes N] [--mqtt-version 3.1.1|5]\n"
    "                  [--connect-window N] [--idle-seconds S] [--idle-subscriptions N]\n"
    "                  [--read-pause-us N]\n"
    "                  [--inflight N] [--queued N] [--skein-arg ARG]...\n"
    "cases: 1 throughput 1->1 (QoS 0, 1), 2 fan-out 10->100 over wildcards (QoS 0, 1),\n"
    "       3 latency at a fixed rate (QoS 0, 1), 4 idle connections (rate, RSS each)\n";

Config parse(int argc, char** argv) {
  Config cfg;
  auto number = [](const char* text) {
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || !(v > 0)) fail(std::string("not a number > 0: ") + text);
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) fail(std::string("missing value after ") + arg + "\n" + kUsage);
    const char* v = argv[++i];
    if (arg == "--broker") {
      const std::string b = v;
      if (b != "skein" && b != "mosquitto" && b != "both") fail("--broker skein|mosquitto|both");
      cfg.use_skein = b != "mosquitto";
      cfg.use_mosquitto = b != "skein";
    } else if (arg == "--cases") {
      cfg.cases.clear();
      std::stringstream list(v);
      std::string item;
      while (std::getline(list, item, ',')) {
        const int c = std::atoi(item.c_str());
        if (c < 1 || c > 4) fail("--cases: a comma-separated list of 1, 2, 3, 4");
        cfg.cases.insert(c);
      }
    } else if (arg == "--skein") {
      cfg.skein = v;
    } else if (arg == "--mosquitto") {
      cfg.mosquitto = v;
    } else if (arg == "--connections") {
      cfg.connections = static_cast<int>(number(v));
    } else if (arg == "--seconds") {
      cfg.seconds = number(v);
    } else if (arg == "--threads") {
      cfg.threads = std::clamp(static_cast<int>(number(v)), 1, 8);
    } else if (arg == "--messages-qos0") {
      cfg.messages_qos0 = static_cast<std::int64_t>(number(v));
    } else if (arg == "--messages-qos1") {
      cfg.messages_qos1 = static_cast<std::int64_t>(number(v));
    } else if (arg == "--fan-messages") {
      cfg.fan_messages = static_cast<std::int64_t>(number(v));
    } else if (arg == "--publishers") {
      cfg.publishers = static_cast<int>(number(v));
    } else if (arg == "--subscribers") {
      cfg.subscribers = static_cast<int>(number(v));
    } else if (arg == "--rate") {
      cfg.rate = number(v);
    } else if (arg == "--latency-seconds") {
      cfg.latency_seconds = number(v);
    } else if (arg == "--window") {
      cfg.window = std::min(static_cast<int>(number(v)), 65535);
    } else if (arg == "--ahead") {
      cfg.ahead = static_cast<std::int64_t>(number(v));
    } else if (arg == "--bytes") {
      cfg.bytes = static_cast<std::size_t>(number(v));
    } else if (arg == "--mqtt-version") {
      const std::string ver = v;
      if (ver == "5" || ver == "5.0") {
        cfg.version = mqtt::ProtocolVersion::v5;
      } else if (ver == "3.1.1" || ver == "3" || ver == "4") {
        cfg.version = mqtt::ProtocolVersion::v311;
      } else {
        fail("--mqtt-version 3.1.1|5");
      }
    } else if (arg == "--connect-window") {
      cfg.connect_window = static_cast<int>(number(v));
    } else if (arg == "--idle-seconds") {
      cfg.idle_seconds = number(v);
    } else if (arg == "--idle-subscriptions") {
      cfg.idle_subscriptions = std::clamp(static_cast<int>(number(v)), 0, 8);
    } else if (arg == "--inflight") {
      cfg.inflight = std::min(static_cast<int>(number(v)), 65535);
    } else if (arg == "--queued") {
      cfg.queued = static_cast<std::int64_t>(number(v));
    } else if (arg == "--read-pause-us") {
      cfg.read_pause_us = std::atol(v);
    } else if (arg == "--skein-arg") {
      cfg.skein_args.emplace_back(v);
    } else {
      fail("unknown option " + arg + "\n" + kUsage);
    }
  }
  if (cfg.bytes < kStamp) fail("--bytes: at least " + std::to_string(kStamp));
  if (cfg.subscribers < cfg.publishers || cfg.subscribers % cfg.publishers != 0)
    fail("--subscribers must be a multiple of --publishers (each message to as many)");
  if (cfg.fan_messages < cfg.publishers) fail("--fan-messages: at least one per publisher");
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  skein::bench::set_tool_name("mqtt_bench");
  Config cfg = parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);

  // The skein of the build this binary belongs to (build/release/bench/mqtt_bench
  // -> build/release/src/cli/skein), else the release build of the source tree.
  const fs::path build =
      fs::weakly_canonical(fs::path("/proc/self/exe")).parent_path().parent_path();
  if (cfg.skein.empty()) {
    cfg.skein = (build / "src/cli/skein").string();
    if (::access(cfg.skein.c_str(), X_OK) != 0)
      cfg.skein = std::string(SKEIN_SOURCE_DIR) + "/build/release/src/cli/skein";
  }
  if (cfg.mosquitto.empty())
    cfg.mosquitto =
        ::access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto" : "mosquitto";

  // A broker that cannot be measured is left out with a warning, as long as
  // the other one can be (bench/run-all runs this on any build).
  const bool both = cfg.use_skein && cfg.use_mosquitto;
  if (cfg.use_skein) {
    std::string why;
    if (::access(cfg.skein.c_str(), X_OK) != 0) {
      why = cfg.skein + " is missing (build the skein target, or give --skein)";
    } else if (run_command("'" + cfg.skein + "' serve --help 2>&1").find("--mqtt") ==
               std::string::npos) {
      why = cfg.skein + " has no MQTT listener yet (`skein serve --help` shows no --mqtt)";
    }
    if (!why.empty()) {
      if (!both) fail(why);
      std::fprintf(stderr, "mqtt_bench: %s: Mosquitto alone\n", why.c_str());
      cfg.use_skein = false;
    }
  }
  std::string mosquitto_version = "Mosquitto";
  if (cfg.use_mosquitto) {
    const std::string help = run_command("'" + cfg.mosquitto + "' -h 2>&1");
    const auto at = help.find("mosquitto version ");
    if (at == std::string::npos) {
      const std::string why = cfg.mosquitto + " is missing or does not say its version (" +
                              "apt-get install mosquitto, or give --mosquitto)";
      if (!both || !cfg.use_skein) fail(why);
      std::fprintf(stderr, "mqtt_bench: %s: Skein alone\n", why.c_str());
      cfg.use_mosquitto = false;
    } else {
      mosquitto_version = "Mosquitto " + help.substr(at + 18, help.find('\n', at) - at - 18);
    }
  }

  const long limit = raise_open_file_limit();
  std::fprintf(stderr, "mqtt_bench: open-file limit raised to %ld (brokers inherit it)\n", limit);

  std::string root =
      ((fs::is_directory(build) ? build : fs::current_path()) / "mqtt-bench-XXXXXX").string();
  if (::mkdtemp(root.data()) == nullptr) fail("mkdtemp " + root + ": " + std::strerror(errno));
  g_root = root;
  std::atexit(remove_root);

  const auto start = Steady::now();
  Results skein_results, mosquitto_results;
  // Case by case, the two brokers one after the other: both see the machine
  // in the same state.
  for (int number : cfg.cases) {
    if (cfg.use_skein) measure(number, Kind::skein, cfg, root, skein_results);
    if (cfg.use_mosquitto) measure(number, Kind::mosquitto, cfg, root, mosquitto_results);
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  g_root.clear();
  std::fprintf(stderr, "mqtt_bench: done in %.0f s\n", skein::bench::seconds_since(start));

  print_tables(cfg, skein_results, mosquitto_results, mosquitto_version);
  return 0;
}
