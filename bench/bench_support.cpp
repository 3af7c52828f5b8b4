// Node processes and librdkafka plumbing for the bench tools.
#include "bench_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace skein::bench {

namespace fs = std::filesystem;

namespace {
const char* tool_name = "bench";
}

void set_tool_name(const char* name) {
  tool_name = name;
}

void die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", tool_name, what.c_str());
  std::exit(1);
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string json_string(const std::string& json, const std::string& key) {
  const auto k = json.find("\"" + key + "\"");
  if (k == std::string::npos) return {};
  const auto open = json.find('"', json.find(':', k) + 1);
  const auto close = json.find('"', open + 1);
  if (open == std::string::npos || close == std::string::npos) return {};
  return json.substr(open + 1, close - open - 1);
}

Node start_node(const std::string& skein, const std::string& root,
                const std::vector<std::string>& extra) {
  Node node;
  const std::string data = root + "/node-data", ready = root + "/node.ready";
  node.log = root + "/node.log";
  std::vector<std::string> args = {skein,          "serve",       "--data",      data,
                                   "--http",       "127.0.0.1:0", "--kafka",     "127.0.0.1:0",
                                   "--mqtt",       "127.0.0.1:0", "--mesh",      "127.0.0.1:0",
                                   "--ready-file", ready,         "--log-level", "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  node.pid = ::fork();
  if (node.pid < 0) die(std::string("fork: ") + std::strerror(errno));
  if (node.pid == 0) {
    const int fd = ::open(node.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  const auto start = Steady::now();
  while (seconds_since(start) < 10) {
    int status = 0;
    if (::waitpid(node.pid, &status, WNOHANG) == node.pid)
      die("skein exited while starting; its log:\n" + read_file(node.log));
    std::error_code ec;
    if (fs::file_size(ready, ec) > 0 && !ec) {
      const std::string text = read_file(ready);
      node.kafka = json_string(text, "kafka");
      node.http = json_string(text, "http");
      if (!node.kafka.empty() && !node.http.empty()) return node;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(node.pid, SIGKILL);
  ::waitpid(node.pid, nullptr, 0);
  die("skein did not write a ready file with its addresses within 10 s; its log:\n" +
      read_file(node.log));
}

void stop_node(Node& node) {
  if (node.pid <= 0) return;
  ::kill(node.pid, SIGTERM);
  const auto start = Steady::now();
  int status = 0;
  while (::waitpid(node.pid, &status, WNOHANG) == 0) {
    if (seconds_since(start) > 10) {
      std::fprintf(stderr, "%s: skein did not stop within 10 s of SIGTERM: killed\n", tool_name);
      ::kill(node.pid, SIGKILL);
      ::waitpid(node.pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  node.pid = -1;
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces: count fields after its ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

rd_kafka_conf_t* make_conf(const std::string& bootstrap, const Settings& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK)
      die("librdkafka " + k + "=" + v + ": " + error);
  };
  set("bootstrap.servers", bootstrap);
  set("socket.nagle.disable", "true");
  for (const auto& [k, v] : settings) set(k, v);
  return conf;
}

Kafka make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, error, sizeof error);
  if (rk == nullptr) die(std::string("rd_kafka_new: ") + error);
  return Kafka(rk);
}

void create_topic(const std::string& bootstrap, const std::string& topic, int partitions) {
  Kafka rk = make_client(RD_KAFKA_PRODUCER, make_conf(bootstrap, {}));
  char error[512];
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, error, sizeof error);
  if (nt == nullptr) die(std::string("NewTopic: ") + error);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk.get());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, 10000, error, sizeof error);
  rd_kafka_CreateTopics(rk.get(), &nt, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 15000);
  if (event == nullptr) die("CreateTopics " + topic + ": no answer within 15 s");
  if (rd_kafka_event_error(event))
    die("CreateTopics " + topic + ": " + rd_kafka_event_error_string(event));
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
  size_t n = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &n);
  for (size_t i = 0; i < n; ++i)
    if (rd_kafka_topic_result_error(topics[i]) != RD_KAFKA_RESP_ERR_NO_ERROR)
      die("CreateTopics " + topic + ": " + rd_kafka_topic_result_error_string(topics[i]));
  rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(queue);
}

Kafka make_consumer(const std::string& bootstrap, const std::string& topic, int partitions,
                    const Settings& extra, std::int64_t start_offset) {
  // librdkafka's assign() and consumer_poll() need a group.id, but an
  // assignment joins no group: no rebalance, and nothing is committed.
  Settings settings = {{"group.id", "bench-" + topic},
                       {"enable.partition.eof", "false"},
                       {"enable.auto.commit", "false"},
                       {"enable.auto.offset.store", "false"}};
  settings.insert(settings.end(), extra.begin(), extra.end());
  Kafka rk = make_client(RD_KAFKA_CONSUMER, make_conf(bootstrap, settings));
  rd_kafka_poll_set_consumer(rk.get());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = start_offset;
  const rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("assign: ") + rd_kafka_err2str(err));
  return rk;
}

double quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  return values[i];
}

}  // namespace skein::bench
