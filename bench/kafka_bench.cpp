// kafka_bench: skein's Kafka face measured with librdkafka (the C API of
// Debian's librdkafka-dev) against a real node started by this tool, beside
// the storage engine's own append rate measured in the same run.
//
//   node      `skein serve --data <tmp> --http 127.0.0.1:0 --kafka 127.0.0.1:0
//             --ready-file <tmp> --log-level warn` (the binary of --skein,
//             default src/cli/skein of the build this tool belongs to), stopped
//             with SIGTERM at the end; its data directory is removed
//   produce   100 B and 1 KiB records, acks=1 and acks=all, to a new topic of
//             6 partitions each (CreateTopics), records spread round-robin over
//             the partitions: one producer, linger.ms=5, batch.size 1 MiB, no
//             compression, a queue large enough never to block for long; the
//             clock runs from the first produce call to the last delivery
//             report; payload MB/s (record values only)
//   engine    storage::Partition::append of 64 KiB batches of the same records
//             (built once with build_batch, appended again and again), never
//             fsync, the same number of records, on the same disk: the ratio
//             produce / engine says what the Kafka path costs on top of the log
//   consume   one consumer, no group membership (rd_kafka_assign of all 6
//             partitions from the beginning; librdkafka wants a group.id for
//             that but joins nothing and commits nothing), reading back
//             everything an acks=1 produce case wrote
//   latency   50,000 records/s of 100 B for 5 s (acks=1, linger.ms=1), each
//             value starting with its steady_clock send time; one consumer
//             (assigned, no group membership, fetch.wait.max.ms=5, fetch.min.bytes=1) takes receive
//             - send; p50 / p99 / p99.9. Both clients set socket.nagle.disable.
//
// Beside each case, the CPU seconds the node and this process (the client, or
// the engine) used, from /proc/<pid>/stat: the node's MB per CPU-second next
// to the engine's says what the Kafka path costs the broker per byte,
// whatever share of the cores the client took.
//
// Broker and clients share the machine's cores: on a 2-core machine the
// figures are what one node does with a client that competes with it for CPU.
// Every case is bounded by a record count and by --seconds (default 10) and
// the whole run takes about a minute.
//
//   cmake --build build/release --target kafka_bench skein
//   build/release/bench/kafka_bench [--skein PATH] [--seconds S]
//       [--records-100 N] [--records-1k N] [--rate R] [--latency-seconds S]
//
// Progress goes to stderr, the markdown table to stdout.
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "storage/partition.hpp"
#include "storage/record_batch.hpp"

namespace {

using namespace skein::bench;
namespace fs = std::filesystem;

constexpr int kPartitions = 6;
constexpr std::size_t kKiB = 1024;

struct Config {
  std::string skein;
  double seconds = 10.0;  // at most, per produce / consume case
  std::int64_t records_100 = 2'000'000;
  std::int64_t records_1k = 500'000;
  double rate = 50'000;
  double latency_seconds = 5.0;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now().time_since_epoch())
      .count();
}

std::string size_name(std::size_t bytes) {
  return bytes >= kKiB ? std::to_string(bytes / kKiB) + " KiB" : std::to_string(bytes) + " B";
}

// Writes back every dirty page of the filesystem that holds `dir` (the
// node's log and the engine's), outside any clock, so that one case does not
// pay for the writeback of the last.
void settle(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::syncfs(fd);
  ::close(fd);
}

// ---- produce --------------------------------------------------------------

struct Delivered {
  std::atomic<std::int64_t> ok{0}, failed{0};
  std::atomic<rd_kafka_resp_err_t> first_error{RD_KAFKA_RESP_ERR_NO_ERROR};
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivered*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    d->ok.fetch_add(1, std::memory_order_relaxed);
  } else {
    d->failed.fetch_add(1, std::memory_order_relaxed);
    auto none = RD_KAFKA_RESP_ERR_NO_ERROR;
    d->first_error.compare_exchange_strong(none, m->err);
  }
}

struct Rate {
  std::int64_t records = 0;
  std::uint64_t bytes = 0;  // payload
  double seconds = 0;
  double node_cpu = 0;    // CPU seconds (user + system) the node spent meanwhile
  double client_cpu = 0;  // and this process (librdkafka's threads, or the engine)
  double records_per_s() const { return records / seconds; }
  double mb_per_s() const { return bytes / 1e6 / seconds; }
};

// Runs `work` and records in its Rate the CPU the node and this process used.
template <class Work>
Rate with_cpu(pid_t node, Work&& work) {
  const double node_before = cpu_seconds(node), self_before = cpu_seconds(::getpid());
  Rate rate = work();
  rate.node_cpu = cpu_seconds(node) - node_before;
  rate.client_cpu = cpu_seconds(::getpid()) - self_before;
  return rate;
}

// Produce failures and a lost record are fatal: the figure would mean nothing.
Rate produce(const std::string& bootstrap, const std::string& topic, std::size_t record_bytes,
             const std::string& acks, std::int64_t count, const Config& cfg) {
  Delivered delivered;
  rd_kafka_conf_t* conf = make_conf(bootstrap, {{"acks", acks},
                                                {"linger.ms", "5"},
                                                {"batch.size", "1000000"},
                                                {"batch.num.messages", "1000000"},
                                                {"compression.codec", "none"},
                                                {"queue.buffering.max.messages", "10000000"},
                                                {"queue.buffering.max.kbytes", "2097151"},
                                                {"message.timeout.ms", "60000"}});
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &delivered);
  Kafka rk = make_client(RD_KAFKA_PRODUCER, conf);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  std::string payload(record_bytes, 'v');

  Rate rate;
  const auto start = Steady::now();
  std::int64_t sent = 0;
  for (; sent < count; ++sent) {
    if ((sent & 1023) == 0) {
      rd_kafka_poll(rk.get(), 0);
      if (seconds_since(start) >= cfg.seconds) break;
    }
    while (rd_kafka_produce(rkt, static_cast<int32_t>(sent % kPartitions), RD_KAFKA_MSG_F_COPY,
                            payload.data(), payload.size(), nullptr, 0, nullptr) != 0) {
      const rd_kafka_resp_err_t err = rd_kafka_last_error();
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        die(std::string("produce: ") + rd_kafka_err2str(err));
      rd_kafka_poll(rk.get(), 1);
    }
  }
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk.get(), 60000);
  rate.seconds = seconds_since(start);
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR)
    die(std::string("flush: ") + rd_kafka_err2str(flushed));
  if (delivered.failed > 0 || delivered.ok != sent)
    die("produce to " + topic + ": " + std::to_string(delivered.ok.load()) + " delivered, " +
        std::to_string(delivered.failed.load()) + " failed of " + std::to_string(sent) +
        " (first error: " + rd_kafka_err2str(delivered.first_error.load()) + ")");
  rd_kafka_topic_destroy(rkt);
  rate.records = sent;
  rate.bytes = static_cast<std::uint64_t>(sent) * record_bytes;
  return rate;
}

// ---- the engine -----------------------------------------------------------

// Partition::append of 64 KiB batches of `record_bytes` records, never fsync,
// `count` records at most and cfg.seconds at most, in a new directory.
Rate engine_append(const std::string& dir, std::size_t record_bytes, std::int64_t count,
                   const Config& cfg) {
  using namespace skein::storage;
  const std::int64_t ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  // As many records as fit in 64 KiB (record overhead: ~8 bytes each).
  std::size_t n = (64 * kKiB - kBatchHeaderBytes) / (record_bytes + 8);
  std::vector<RecordSpec> specs;
  std::vector<std::byte> batch;
  for (;; --n) {
    specs.assign(n, RecordSpec{std::nullopt, std::string(record_bytes, 'v'), {}, ts});
    batch = build_batch(specs);
    if (batch.size() <= 64 * kKiB) break;
  }
  PartitionOptions options;
  options.retention_ms = -1;
  auto opened = Partition::open(dir, options);
  if (!opened) die(opened.error().message);
  auto partition = std::move(opened.value());
  Rate rate;
  const auto start = Steady::now();
  while (rate.records < count) {
    auto base = partition->append(batch);
    if (!base) die("append: " + base.error().message);
    rate.records += static_cast<std::int64_t>(n);
    if (seconds_since(start) >= cfg.seconds) break;
  }
  rate.seconds = seconds_since(start);
  rate.bytes = static_cast<std::uint64_t>(rate.records) * record_bytes;
  partition.reset();
  fs::remove_all(dir);
  return rate;
}

// ---- consume --------------------------------------------------------------

Rate consume(const std::string& bootstrap, const std::string& topic, std::int64_t expected,
             const Config& cfg) {
  Kafka rk = make_consumer(bootstrap, topic, kPartitions,
                           // librdkafka 2.0 stops fetching a partition for
                           // a whole second (its fetch.queue.backoff.ms, not
                           // settable before 2.1) once its queue holds
                           // queued.min.messages (default 100000): a limit
                           // of 100 B records reached in 10 MB, which made
                           // one fetch a second. The byte limit alone here.
                           {{"fetch.max.bytes", "52428800"},
                            {"max.partition.fetch.bytes", "4194304"},
                            {"queued.min.messages", "10000000"},
                            {"queued.max.messages.kbytes", "1048576"}},
                           RD_KAFKA_OFFSET_BEGINNING);
  Rate rate;
  // The clock starts at the first record, so that connecting, the metadata
  // and the offset lookups are not counted.
  Steady::time_point start{};
  const auto give_up = Steady::now() + std::chrono::duration<double>(cfg.seconds + 10);
  while (rate.records < expected) {
    if (Steady::now() > give_up) {
      std::fprintf(stderr, "  consume of %s stopped after %.0f s with %lld of %lld records\n",
                   topic.c_str(), cfg.seconds + 10, static_cast<long long>(rate.records),
                   static_cast<long long>(expected));
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "  consume: %s\n", rd_kafka_message_errstr(m));
    } else {
      if (rate.records == 0) start = Steady::now();
      ++rate.records;
      rate.bytes += m->len;
    }
    rd_kafka_message_destroy(m);
  }
  rate.seconds = seconds_since(start);
  rd_kafka_consumer_close(rk.get());
  return rate;
}

// ---- end-to-end latency ---------------------------------------------------

struct Latency {
  std::int64_t sent = 0, received = 0;
  double rate = 0;                             // achieved send rate
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // ms
};

Latency latency(const std::string& bootstrap, const std::string& topic, const Config& cfg) {
  constexpr std::size_t kBytes = 100;
  // The consumer first, from the beginning of the new topic, so it sees all.
  Kafka consumer = make_consumer(
      bootstrap, topic, kPartitions,
      {{"fetch.wait.max.ms", "5"}, {"fetch.min.bytes", "1"}, {"fetch.error.backoff.ms", "5"}},
      RD_KAFKA_OFFSET_BEGINNING);
  Delivered delivered;
  rd_kafka_conf_t* conf = make_conf(bootstrap, {{"acks", "1"},
                                                {"linger.ms", "1"},
                                                {"compression.codec", "none"},
                                                {"queue.buffering.max.messages", "10000000"}});
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &delivered);
  Kafka producer = make_client(RD_KAFKA_PRODUCER, conf);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(producer.get(), topic.c_str(), nullptr);

  // Values: send time (ns, steady clock) then a flag: 1 measured, 0 warm-up.
  std::vector<std::int64_t> samples;
  std::atomic<std::int64_t> measured_sent{-1};  // known once the producer is done
  std::atomic<bool> warm{false};
  std::thread reader([&] {
    std::int64_t measured = 0;
    const auto give_up = Steady::now() + std::chrono::duration<double>(cfg.latency_seconds + 30);
    while (Steady::now() < give_up) {
      const std::int64_t target = measured_sent.load();
      if (target >= 0 && measured >= target) break;
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 20);
      if (m == nullptr) continue;
      const std::int64_t now = now_ns();
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->len >= 9) {
        std::int64_t sent_ns;
        std::memcpy(&sent_ns, m->payload, sizeof sent_ns);
        if (static_cast<const char*>(m->payload)[8] == 1) {
          samples.push_back(now - sent_ns);
          ++measured;
        } else {
          warm = true;
        }
      }
      rd_kafka_message_destroy(m);
    }
  });

  std::string payload(kBytes, 'v');
  auto send = [&](std::int64_t i, bool measure) {
    const std::int64_t t = now_ns();
    std::memcpy(payload.data(), &t, sizeof t);
    payload[8] = measure ? 1 : 0;
    while (rd_kafka_produce(rkt, static_cast<int32_t>(i % kPartitions), RD_KAFKA_MSG_F_COPY,
                            payload.data(), payload.size(), nullptr, 0, nullptr) != 0) {
      const rd_kafka_resp_err_t err = rd_kafka_last_error();
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        die(std::string("produce: ") + rd_kafka_err2str(err));
      rd_kafka_poll(producer.get(), 1);
    }
  };
  // Warm-up: one record every 10 ms until the consumer has seen one (every
  // connection made, offsets known), then 0.5 s at the rate, not measured.
  std::int64_t i = 0;
  const auto warm_start = Steady::now();
  while (!warm && seconds_since(warm_start) < 15) {
    send(i++, false);
    rd_kafka_poll(producer.get(), 10);
  }
  if (!warm) die("latency: the consumer saw no record within 15 s");
  Latency result;
  for (int phase = 0; phase < 2; ++phase) {
    const bool measure = phase == 1;
    const double seconds = measure ? cfg.latency_seconds : 0.5;
    const auto start = Steady::now();
    std::int64_t n = 0;
    for (;;) {
      const double elapsed = seconds_since(start);
      if (elapsed >= seconds) break;
      const auto due = static_cast<std::int64_t>(elapsed * cfg.rate) + 1;
      for (; n < due; ++n) send(i++, measure);
      rd_kafka_poll(producer.get(), 0);
      std::this_thread::sleep_until(
          start + std::chrono::microseconds(static_cast<std::int64_t>(1e6 * n / cfg.rate)));
    }
    if (measure) {
      result.sent = n;
      result.rate = n / seconds_since(start);
      measured_sent = n;
    }
  }
  rd_kafka_flush(producer.get(), 30000);
  reader.join();
  rd_kafka_topic_destroy(rkt);
  rd_kafka_consumer_close(consumer.get());
  if (delivered.failed > 0)
    std::fprintf(stderr, "  latency: %lld records failed (%s)\n",
                 static_cast<long long>(delivered.failed.load()),
                 rd_kafka_err2str(delivered.first_error.load()));
  result.received = static_cast<std::int64_t>(samples.size());
  if (!samples.empty()) {
    std::sort(samples.begin(), samples.end());
    auto at = [&](double q) {
      const auto k = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1));
      return samples[k] / 1e6;
    };
    result.p50 = at(0.50);
    result.p99 = at(0.99);
    result.p999 = at(0.999);
    result.max = samples.back() / 1e6;
  }
  return result;
}

const char* met(bool ok) {
  return ok ? "met" : "not met";
}

}  // namespace

int main(int argc, char** argv) {
  set_tool_name("kafka_bench");
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--skein" && i + 1 < argc)
      cfg.skein = argv[++i];
    else if (arg == "--seconds" && i + 1 < argc)
      cfg.seconds = std::strtod(argv[++i], nullptr);
    else if (arg == "--records-100" && i + 1 < argc)
      cfg.records_100 = std::strtoll(argv[++i], nullptr, 10);
    else if (arg == "--records-1k" && i + 1 < argc)
      cfg.records_1k = std::strtoll(argv[++i], nullptr, 10);
    else if (arg == "--rate" && i + 1 < argc)
      cfg.rate = std::strtod(argv[++i], nullptr);
    else if (arg == "--latency-seconds" && i + 1 < argc)
      cfg.latency_seconds = std::strtod(argv[++i], nullptr);
    else
      die("usage: kafka_bench [--skein PATH] [--seconds S] [--records-100 N] [--records-1k N] "
          "[--rate R] [--latency-seconds S]");
  }
  if (cfg.seconds <= 0 || cfg.records_100 <= 0 || cfg.records_1k <= 0 || cfg.rate <= 0 ||
      cfg.latency_seconds <= 0)
    die("every setting must be > 0");

  // The build this binary belongs to: build/bench/kafka_bench -> build/.
  fs::path build = fs::weakly_canonical(fs::path("/proc/self/exe")).parent_path().parent_path();
  if (cfg.skein.empty()) cfg.skein = (build / "src/cli/skein").string();
  if (::access(cfg.skein.c_str(), X_OK) != 0)
    die(cfg.skein + " is missing (build the skein target, or give --skein)");
  if (!fs::is_directory(build)) build = fs::current_path();
  std::string tmpl = (build / "kafka-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp " + tmpl + ": " + std::strerror(errno));
  const std::string root = tmpl;

  // librdkafka logs connection noise to stderr; that is fine for progress.
  Node node = start_node(cfg.skein, root);
  std::fprintf(stderr, "kafka_bench: skein (pid %d) on kafka %s, librdkafka %s, in %s\n",
               static_cast<int>(node.pid), node.kafka.c_str(), rd_kafka_version_str(),
               root.c_str());

  struct ProduceRow {
    std::size_t bytes;
    std::string acks;
    std::string topic;
    Rate kafka;
  };
  std::vector<ProduceRow> produced;
  Rate engine[2];
  const std::size_t sizes[] = {100, kKiB};
  for (int s = 0; s < 2; ++s) {
    const std::size_t bytes = sizes[s];
    const std::int64_t count = bytes == 100 ? cfg.records_100 : cfg.records_1k;
    for (const std::string acks : {"1", "all"}) {
      const std::string topic = "bench-" + std::to_string(bytes) + "-acks-" + acks;
      create_topic(node.kafka, topic, kPartitions);
      settle(root);
      std::fprintf(stderr, "produce %s records, acks=%s, %lld records to %s...\n",
                   size_name(bytes).c_str(), acks.c_str(), static_cast<long long>(count),
                   topic.c_str());
      const Rate r =
          with_cpu(node.pid, [&] { return produce(node.kafka, topic, bytes, acks, count, cfg); });
      std::fprintf(stderr, "  %lld records in %.2f s: %.0f records/s, %.1f MB/s\n",
                   static_cast<long long>(r.records), r.seconds, r.records_per_s(), r.mb_per_s());
      produced.push_back({bytes, acks, topic, r});
    }
    std::fprintf(stderr, "engine append of %s records in 64 KiB batches, never fsync...\n",
                 size_name(bytes).c_str());
    settle(root);
    engine[s] =
        with_cpu(node.pid, [&] { return engine_append(root + "/engine", bytes, count, cfg); });
    std::fprintf(stderr, "  %lld records in %.2f s: %.0f records/s, %.1f MB/s\n",
                 static_cast<long long>(engine[s].records), engine[s].seconds,
                 engine[s].records_per_s(), engine[s].mb_per_s());
  }

  std::vector<std::pair<std::size_t, Rate>> consumed;
  for (const auto& p : produced) {
    if (p.acks != "1") continue;
    std::fprintf(stderr, "consume %lld %s records of %s...\n",
                 static_cast<long long>(p.kafka.records), size_name(p.bytes).c_str(),
                 p.topic.c_str());
    settle(root);
    const Rate r =
        with_cpu(node.pid, [&] { return consume(node.kafka, p.topic, p.kafka.records, cfg); });
    std::fprintf(stderr, "  %lld records in %.2f s: %.0f records/s, %.1f MB/s\n",
                 static_cast<long long>(r.records), r.seconds, r.records_per_s(), r.mb_per_s());
    consumed.emplace_back(p.bytes, r);
  }

  create_topic(node.kafka, "bench-latency", kPartitions);
  settle(root);
  std::fprintf(stderr, "latency at %.0f records/s for %.1f s...\n", cfg.rate, cfg.latency_seconds);
  const Latency lat = latency(node.kafka, "bench-latency", cfg);
  std::fprintf(stderr,
               "  sent %lld (%.0f/s), received %lld: p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms\n",
               static_cast<long long>(lat.sent), lat.rate, static_cast<long long>(lat.received),
               lat.p50, lat.p99, lat.p999, lat.max);

  stop_node(node);
  std::error_code ec;
  fs::remove_all(root, ec);

  std::printf("## kafka_bench: librdkafka %s against one skein node, 6 partitions per topic\n\n",
              rd_kafka_version_str());
  std::printf("| case | record | records | records/s | MB/s | engine MB/s | ratio | goal |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---|\n");
  for (const auto& p : produced) {
    const Rate& e = engine[p.bytes == 100 ? 0 : 1];
    const double ratio = p.kafka.mb_per_s() / e.mb_per_s();
    std::string goal = "produce/engine >= 0.8: " + std::string(met(ratio >= 0.8));
    if (p.bytes == 100 && p.acks == "1")
      goal += "; >= 1,000,000 records/s: " + std::string(met(p.kafka.records_per_s() >= 1e6));
    std::printf("| produce acks=%s | %s | %lld | %.0f | %.1f | %.1f | %.2f | %s |\n",
                p.acks.c_str(), size_name(p.bytes).c_str(), static_cast<long long>(p.kafka.records),
                p.kafka.records_per_s(), p.kafka.mb_per_s(), e.mb_per_s(), ratio, goal.c_str());
  }
  for (int s = 0; s < 2; ++s)
    std::printf(
        "| engine append, 64 KiB batches, never fsync | %s | %lld | %.0f | %.1f | %.1f | "
        "1.00 | - |\n",
        size_name(sizes[s]).c_str(), static_cast<long long>(engine[s].records),
        engine[s].records_per_s(), engine[s].mb_per_s(), engine[s].mb_per_s());
  for (const auto& [bytes, r] : consumed) {
    const Rate& e = engine[bytes == 100 ? 0 : 1];
    std::printf("| consume (assign, no group join) | %s | %lld | %.0f | %.1f | %.1f | %.2f | - |\n",
                size_name(bytes).c_str(), static_cast<long long>(r.records), r.records_per_s(),
                r.mb_per_s(), e.mb_per_s(), r.mb_per_s() / e.mb_per_s());
  }
  // Where the CPU went: the node's MB per CPU-second beside the engine's says
  // what the Kafka path costs the broker per byte, whatever the client took.
  std::printf("\n### CPU: node and client, per case (CPU seconds, user + system)\n\n");
  std::printf(
      "| case | record | wall s | node CPU s | client CPU s | node MB per CPU-s | "
      "engine MB per CPU-s | ratio |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
  auto per_cpu = [](const Rate& r, double cpu) { return cpu > 0 ? r.bytes / 1e6 / cpu : 0.0; };
  for (const auto& p : produced) {
    const Rate& e = engine[p.bytes == 100 ? 0 : 1];
    const double node = per_cpu(p.kafka, p.kafka.node_cpu);
    const double eng = per_cpu(e, e.client_cpu);
    std::printf("| produce acks=%s | %s | %.2f | %.2f | %.2f | %.0f | %.0f | %.2f |\n",
                p.acks.c_str(), size_name(p.bytes).c_str(), p.kafka.seconds, p.kafka.node_cpu,
                p.kafka.client_cpu, node, eng, eng > 0 ? node / eng : 0.0);
  }
  for (const auto& [bytes, r] : consumed) {
    const Rate& e = engine[bytes == 100 ? 0 : 1];
    const double node = per_cpu(r, r.node_cpu);
    const double eng = per_cpu(e, e.client_cpu);
    std::printf("| consume | %s | %.2f | %.2f | %.2f | %.0f | %.0f | %.2f |\n",
                size_name(bytes).c_str(), r.seconds, r.node_cpu, r.client_cpu, node, eng,
                eng > 0 ? node / eng : 0.0);
  }
  for (int s = 0; s < 2; ++s)
    std::printf("| engine append | %s | %.2f | - | %.2f | - | %.0f | 1.00 |\n",
                size_name(sizes[s]).c_str(), engine[s].seconds, engine[s].client_cpu,
                per_cpu(engine[s], engine[s].client_cpu));

  std::printf("\n### end-to-end latency: 100 B, acks=1, linger.ms=1, fetch.wait.max.ms=5\n\n");
  std::printf(
      "| target rate | achieved | sent | received | p50 ms | p99 ms | p99.9 ms | max ms | "
      "goal p99 < 5 ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  std::printf(
      "| %.0f/s | %.0f/s | %lld | %lld | %.2f | %.2f | %.2f | %.2f | %s |\n", cfg.rate, lat.rate,
      static_cast<long long>(lat.sent), static_cast<long long>(lat.received), lat.p50, lat.p99,
      lat.p999, lat.max,
      lat.received == lat.sent && lat.received > 0 ? met(lat.p99 < 5.0) : "not met (records lost)");
  std::printf(
      "\nMB/s: record values only (payload). engine: storage::Partition::append of the "
      "same records in the same run, same disk. Broker and client share this machine's "
      "%u cores.\n",
      std::thread::hardware_concurrency());
  return 0;
}
