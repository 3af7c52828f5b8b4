// What the whole-system bench tools that drive a real node share
// (kafka_bench, attract_bench): starting a node on free ports and stopping
// it, its CPU use, and the librdkafka plumbing (clients, topics, assigned
// consumers). Everything fails loudly: a figure from a half-working run
// would mean nothing.
#pragma once

#include <librdkafka/rdkafka.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace skein::bench {

using Steady = std::chrono::steady_clock;

// The tool's name, for messages ("kafka_bench").
void set_tool_name(const char* name);
[[noreturn]] void die(const std::string& what);
double seconds_since(Steady::time_point start);

std::string read_file(const std::string& path);
// The string value of "key" in a flat JSON object (the ready file).
std::string json_string(const std::string& json, const std::string& key);

struct Node {
  pid_t pid = -1;
  std::string http;   // HOST:PORT
  std::string kafka;  // HOST:PORT
  std::string log;
};

// `skein serve --data <root>/node-data --http 127.0.0.1:0 --kafka 127.0.0.1:0
// --ready-file <root>/node.ready --log-level warn <extra...>`, once it has
// written its ready file (at most 10 s).
Node start_node(const std::string& skein, const std::string& root,
                const std::vector<std::string>& extra = {});
// SIGTERM, then SIGKILL after 10 s.
void stop_node(Node& node);

// CPU seconds (user + system, all threads) process `pid` has used so far.
double cpu_seconds(pid_t pid);

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Kafka = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using Settings = std::vector<std::pair<std::string, std::string>>;

// bootstrap.servers, Nagle off, then `settings`.
rd_kafka_conf_t* make_conf(const std::string& bootstrap, const Settings& settings);
Kafka make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf);
void create_topic(const std::string& bootstrap, const std::string& topic, int partitions);
// A consumer assigned every partition of `topic` from `start_offset`: no
// group membership, nothing committed.
Kafka make_consumer(const std::string& bootstrap, const std::string& topic, int partitions,
                    const Settings& extra, std::int64_t start_offset);

// The q-quantile (0..1) of `values`, which it sorts.
double quantile(std::vector<double>& values, double q);

}  // namespace skein::bench
