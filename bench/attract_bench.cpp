// attract_bench: what attraction costs. HTTP publishers -> a stream that
// attracts their topics -> a Kafka consumer (librdkafka), with 1, 10 and 100
// attracting streams of which one matches, beside plain Kafka produce ->
// consume (librdkafka both ends) on the same node in the same run.
//
//   node      `skein serve` on free ports in a temporary directory (see
//             bench_support.hpp), stopped at the end
//   attract   for K in 1, 10, 100: K streams created over the admin API, one
//             (3 partitions) attracting bench/K/match/>, the K-1 others (1
//             partition each) attracting bench/K/miss-<i>/> (the router
//             matches every publish against all K filters); P publisher
//             threads, each one HTTP/1.1 connection pipelining POST
//             /v1/topics/bench/K/match/p<i> with a window of W requests, E
//             events of B bytes in all (every answer must be 202); one
//             consumer assigned every partition of the matching stream reads
//             until it has all E
//   HTTP      the same publishers to a topic nobody wants: the HTTP ingest
//             ceiling, what attraction adds its cost to
//   plain     one librdkafka producer (linger.ms=1, acks=1) sends E records of
//             B bytes to a 3-partition topic; the same consumer reads them
//   figures   events/s from the first send to the last record consumed; each
//             payload starts with its send time (steady_clock ns), so the
//             consumer takes end-to-end latency: p50, p99. Runs at full speed
//             (--rate 0, the default) measure throughput, and their latency
//             includes the queueing a saturated pipeline has; --rate R paces
//             the senders at R events/s in all, for latency at a fixed load.
//
//   cmake --build build/release --target attract_bench skein
//   build/release/bench/attract_bench [--skein PATH] [--events E] [--publishers P]
//       [--window W] [--bytes B] [--rate R]
//
// Progress to stderr, the markdown table to stdout. Every case is bounded by
// E events and a 60 s timeout (a timeout fails the run).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace {

using namespace skein::bench;
namespace fs = std::filesystem;

constexpr int kMatchPartitions = 3;
constexpr auto kTimeout = std::chrono::seconds(60);

struct Config {
  std::string skein;
  std::int64_t events = 200'000;
  int publishers = 4;
  int window = 64;
  std::size_t bytes = 100;
  double rate = 0;  // events/s in all; 0: as fast as possible
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now().time_since_epoch())
      .count();
}

// The payload: the send time in 20 digits, then filler to `bytes`.
std::string payload(std::size_t bytes) {
  std::string text = std::to_string(now_ns());
  text.insert(0, 20 - std::min<std::size_t>(20, text.size()), '0');
  if (bytes > text.size()) text.append(bytes - text.size(), 'x');
  return text;
}

int connect_to(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(host_port.substr(colon + 1))));
  if (::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr) != 1)
    die("bad address " + host_port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    die("connect " + host_port + ": " + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) die(std::string("send: ") + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

// Reads HTTP/1.1 responses from `fd` into `buffer` until at least one is
// whole; returns how many whole ones it consumed. Each must have `status`.
int read_responses(int fd, std::string& buffer, int status) {
  int complete = 0;
  for (;;) {
    for (;;) {
      const auto end = buffer.find("\r\n\r\n");
      if (end == std::string::npos) break;
      std::size_t length = 0;
      const auto cl = buffer.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) length = std::stoul(buffer.substr(cl + 16));
      if (buffer.size() < end + 4 + length) break;
      const std::string want = "HTTP/1.1 " + std::to_string(status);
      if (buffer.compare(0, want.size(), want) != 0)
        die("unexpected answer: " + buffer.substr(0, std::min<std::size_t>(end, 200)) + " " +
            buffer.substr(end + 4, std::min<std::size_t>(length, 300)));
      buffer.erase(0, end + 4 + length);
      ++complete;
    }
    if (complete > 0) return complete;
    char chunk[65536];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) die("the node closed a connection");
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

// One HTTP/1.1 request and its answer's body, on a fresh connection.
std::string http_call(const std::string& host_port, const std::string& method,
                      const std::string& path, const std::string& body, int status) {
  const int fd = connect_to(host_port);
  write_all(fd, method + " " + path + " HTTP/1.1\r\nHost: bench\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  std::string buffer;
  read_responses(fd, buffer, status);
  ::close(fd);
  return buffer;
}

// One publisher: `count` events to `path`, `window` in flight at most,
// paced at `rate` events/s when it is above 0.
void publish(const std::string& http, const std::string& path, std::int64_t count,
             const Config& cfg, double rate) {
  const int fd = connect_to(http);
  const std::string head =
      "POST " + path + " HTTP/1.1\r\nHost: bench\r\nContent-Length: " + std::to_string(cfg.bytes) +
      "\r\n\r\n";
  std::string buffer, out;
  std::int64_t sent = 0, acked = 0;
  const auto start = Steady::now();
  while (acked < count) {
    out.clear();
    std::int64_t allowed = count;
    if (rate > 0)
      allowed =
          std::min<std::int64_t>(count, 1 + static_cast<std::int64_t>(seconds_since(start) * rate));
    while (sent < allowed && sent - acked < cfg.window) {
      out += head;
      out += payload(cfg.bytes);
      ++sent;
    }
    if (!out.empty()) write_all(fd, out);
    if (sent > acked) {
      acked += read_responses(fd, buffer, 202);
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // pacing, not sync
    }
  }
  ::close(fd);
}

struct Outcome {
  std::int64_t events = 0;
  double seconds = 0, p50 = 0, p99 = 0;
  double events_per_s() const { return events / seconds; }
};

// Reads `expected` records of `topic` from the start; latency from each
// payload's send time. `started` is when the first send happened.
Outcome consume(Kafka& consumer, std::int64_t expected, const std::atomic<std::int64_t>& started) {
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(expected));
  const auto give_up = Steady::now() + kTimeout;
  while (static_cast<std::int64_t>(latencies.size()) < expected) {
    if (Steady::now() > give_up)
      die("consumer got " + std::to_string(latencies.size()) + " of " + std::to_string(expected) +
          " records in 60 s");
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->len >= 20) {
      const std::string stamp(static_cast<const char*>(m->payload), 20);
      latencies.push_back(static_cast<double>(now_ns() - std::stoll(stamp)) / 1e6);
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "  consume: %s\n", rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
  }
  Outcome o;
  o.events = expected;
  o.seconds = static_cast<double>(now_ns() - started.load()) / 1e9;
  o.p50 = quantile(latencies, 0.50);
  o.p99 = quantile(latencies, 0.99);
  return o;
}

Kafka latency_consumer(const std::string& kafka, const std::string& topic, int partitions) {
  return make_consumer(kafka, topic, partitions,
                       {{"fetch.wait.max.ms", "5"},
                        {"fetch.min.bytes", "1"},
                        {"queued.min.messages", "10000000"},
                        {"queued.max.messages.kbytes", "1048576"}},
                       RD_KAFKA_OFFSET_BEGINNING);
}

Outcome attract_case(const Node& node, int streams, const Config& cfg) {
  const std::string prefix = "bench/" + std::to_string(streams);
  const std::string match = "attract-" + std::to_string(streams) + "-match";
  http_call(node.http, "POST", "/v1/streams",
            "{\"name\":\"" + match + "\",\"partitions\":" + std::to_string(kMatchPartitions) +
                ",\"attract\":[\"" + prefix + "/match/>\"]}",
            201);
  for (int i = 1; i < streams; ++i) {
    http_call(node.http, "POST", "/v1/streams",
              "{\"name\":\"attract-" + std::to_string(streams) + "-miss-" + std::to_string(i) +
                  "\",\"attract\":[\"" + prefix + "/miss-" + std::to_string(i) + "/>\"]}",
              201);
  }
  Kafka consumer = latency_consumer(node.kafka, match, kMatchPartitions);
  // A probe first, so that the clock starts with the consumer fetching.
  http_call(node.http, "POST", "/v1/topics/" + prefix + "/match/probe", payload(cfg.bytes), 202);
  std::atomic<std::int64_t> probe_start{now_ns()};
  consume(consumer, 1, probe_start);
  std::atomic<std::int64_t> started{now_ns()};
  std::vector<std::thread> publishers;
  for (int p = 0; p < cfg.publishers; ++p) {
    const std::int64_t count =
        cfg.events / cfg.publishers + (p < cfg.events % cfg.publishers ? 1 : 0);
    const std::string path = "/v1/topics/" + prefix + "/match/p" + std::to_string(p);
    publishers.emplace_back(publish, node.http, path, count, std::cref(cfg),
                            cfg.rate / cfg.publishers);
  }
  Outcome o = consume(consumer, cfg.events, started);
  for (auto& t : publishers) t.join();
  rd_kafka_consumer_close(consumer.get());
  return o;
}

// The HTTP ceiling: the same publishers to a topic nobody wants (each gets
// its 202), timed from the first send to the last answer.
Outcome unrouted_case(const Node& node, const Config& cfg) {
  const auto start = Steady::now();
  std::vector<std::thread> publishers;
  for (int p = 0; p < cfg.publishers; ++p) {
    const std::int64_t count =
        cfg.events / cfg.publishers + (p < cfg.events % cfg.publishers ? 1 : 0);
    publishers.emplace_back(publish, node.http, "/v1/topics/bench/nobody/p" + std::to_string(p),
                            count, std::cref(cfg), cfg.rate / cfg.publishers);
  }
  for (auto& t : publishers) t.join();
  Outcome o;
  o.events = cfg.events;
  o.seconds = seconds_since(start);
  return o;
}

struct Delivered {
  std::atomic<std::int64_t> ok{0}, failed{0};
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivered*>(opaque);
  (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? d->ok : d->failed).fetch_add(1);
}

Outcome plain_case(const Node& node, const Config& cfg) {
  const std::string topic = "plain-kafka";
  create_topic(node.kafka, topic, kMatchPartitions);
  Kafka consumer = latency_consumer(node.kafka, topic, kMatchPartitions);
  Delivered delivered;
  rd_kafka_conf_t* conf = make_conf(node.kafka, {{"acks", "1"},
                                                 {"linger.ms", "1"},
                                                 {"queue.buffering.max.messages", "10000000"},
                                                 {"queue.buffering.max.kbytes", "2097151"}});
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &delivered);
  Kafka producer = make_client(RD_KAFKA_PRODUCER, conf);
  {
    // A probe first, so that the clock starts with both clients connected.
    std::string value = payload(cfg.bytes);
    if (rd_kafka_producev(producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE(value.data(), value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
      die("probe produce failed");
    rd_kafka_flush(producer.get(), 10000);
    std::atomic<std::int64_t> probe_start{now_ns()};
    consume(consumer, 1, probe_start);
  }
  delivered.ok = 0;
  std::atomic<std::int64_t> started{now_ns()};
  std::thread sender([&] {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(producer.get(), topic.c_str(), nullptr);
    const auto start = Steady::now();
    for (std::int64_t i = 0; i < cfg.events; ++i) {
      if (cfg.rate > 0) {
        while (static_cast<double>(i) > seconds_since(start) * cfg.rate)
          std::this_thread::sleep_for(std::chrono::microseconds(200));  // pacing, not sync
      }
      std::string value = payload(cfg.bytes);
      while (rd_kafka_produce(rkt, static_cast<int32_t>(i % kMatchPartitions), RD_KAFKA_MSG_F_COPY,
                              value.data(), value.size(), nullptr, 0, nullptr) != 0) {
        rd_kafka_poll(producer.get(), 1);
      }
      if ((i & 1023) == 0) rd_kafka_poll(producer.get(), 0);
    }
    rd_kafka_flush(producer.get(), 60000);
    rd_kafka_topic_destroy(rkt);
  });
  Outcome o = consume(consumer, cfg.events, started);
  sender.join();
  if (delivered.failed > 0) die("plain Kafka: " + std::to_string(delivered.failed) + " failed");
  rd_kafka_consumer_close(consumer.get());
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  set_tool_name("attract_bench");
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + arg);
      return argv[++i];
    };
    if (arg == "--skein")
      cfg.skein = next();
    else if (arg == "--events")
      cfg.events = std::stoll(next());
    else if (arg == "--publishers")
      cfg.publishers = std::stoi(next());
    else if (arg == "--window")
      cfg.window = std::stoi(next());
    else if (arg == "--bytes")
      cfg.bytes = std::stoul(next());
    else if (arg == "--rate")
      cfg.rate = std::stod(next());
    else
      die("usage: attract_bench [--skein PATH] [--events E] [--publishers P] [--window W] "
          "[--bytes B] [--rate R]");
  }
  if (cfg.events <= 0 || cfg.publishers <= 0 || cfg.window <= 0 || cfg.bytes < 20 || cfg.rate < 0)
    die("events, publishers and window must be > 0, bytes >= 20, rate >= 0");

  fs::path build = fs::weakly_canonical(fs::path("/proc/self/exe")).parent_path().parent_path();
  if (cfg.skein.empty()) cfg.skein = (build / "src/cli/skein").string();
  std::string tmpl = (build / "attract-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp " + tmpl + ": " + std::strerror(errno));
  const std::string root = tmpl;
  Node node = start_node(cfg.skein, root);
  std::fprintf(stderr, "attract_bench: skein (pid %d) http %s kafka %s\n",
               static_cast<int>(node.pid), node.http.c_str(), node.kafka.c_str());

  std::fprintf(stderr, "plain Kafka produce -> consume, %lld records...\n",
               static_cast<long long>(cfg.events));
  const Outcome plain = plain_case(node, cfg);
  std::fprintf(stderr, "  %.0f events/s, p50 %.2f ms, p99 %.2f ms\n", plain.events_per_s(),
               plain.p50, plain.p99);
  std::fprintf(stderr, "HTTP publish to a topic nobody wants, %lld events...\n",
               static_cast<long long>(cfg.events));
  const Outcome unrouted = unrouted_case(node, cfg);
  std::fprintf(stderr, "  %.0f events/s\n", unrouted.events_per_s());
  struct Row {
    int streams;
    Outcome outcome;
  };
  std::vector<Row> rows;
  for (int streams : {1, 10, 100}) {
    std::fprintf(stderr, "HTTP -> %d attracting stream(s) -> Kafka consumer, %lld events...\n",
                 streams, static_cast<long long>(cfg.events));
    const Outcome o = attract_case(node, streams, cfg);
    std::fprintf(stderr, "  %.0f events/s, p50 %.2f ms, p99 %.2f ms\n", o.events_per_s(), o.p50,
                 o.p99);
    rows.push_back({streams, o});
  }
  const double node_cpu = cpu_seconds(node.pid);
  stop_node(node);
  std::error_code ec;
  fs::remove_all(root, ec);

  std::printf(
      "## attract_bench: %lld events of %zu B, %d HTTP publishers (window %d), %s\n\n",
      static_cast<long long>(cfg.events), cfg.bytes, cfg.publishers, cfg.window,
      cfg.rate > 0
          ? ("paced at " + std::to_string(static_cast<long long>(cfg.rate)) + " events/s").c_str()
          : "full speed");
  std::printf(
      "| path | attracting streams (1 matches) | events/s | p50 ms | p99 ms | plain "
      "Kafka events/s | ratio |\n|---|---:|---:|---:|---:|---:|---:|\n");
  std::printf("| librdkafka produce -> consume | - | %.0f | %.2f | %.2f | %.0f | 1.00 |\n",
              plain.events_per_s(), plain.p50, plain.p99, plain.events_per_s());
  std::printf("| HTTP publish, no subscriber (202 only) | 0 | %.0f | - | - | %.0f | %.2f |\n",
              unrouted.events_per_s(), plain.events_per_s(),
              unrouted.events_per_s() / plain.events_per_s());
  for (const Row& r : rows) {
    std::printf(
        "| HTTP publish -> stream -> librdkafka consume | %d | %.0f | %.2f | %.2f | %.0f "
        "| %.2f |\n",
        r.streams, r.outcome.events_per_s(), r.outcome.p50, r.outcome.p99, plain.events_per_s(),
        r.outcome.events_per_s() / plain.events_per_s());
  }
  std::printf(
      "\nThe node used %.1f CPU seconds in all. Publishers, consumer and node share this "
      "machine's %u cores.\n",
      node_cpu, std::thread::hardware_concurrency());
  return 0;
}
