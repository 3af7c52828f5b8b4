// Configuration, logging, the ready file, signals: the process around a Node.
#include "cli/serve_command.hpp"

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/node.hpp"

namespace skein::cli {

namespace {
// Written to a temporary name and renamed, so a reader never sees half a file.
void write_ready_file(const std::string& path, const std::string& json) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << json << '\n';
    if (!out.flush()) throw std::runtime_error("cannot write ready file " + temporary);
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) throw std::runtime_error("cannot write ready file " + path + ": " + ec.message());
}

// A human hint on stdout: where the node answers and how to try it.
void print_where_to_connect(const Node& node) {
  auto http = node.http_address();
  if (!http) return;
  std::string url =
      "http://" + (http->starts_with("0.0.0.0:") ? "127.0.0.1" + http->substr(7) : *http);
  std::printf(
      "skein is serving HTTP on %s\n"
      "  subscribe: curl -N '%s/v1/subscribe?filter=demo/>'\n"
      "  publish:   curl -d 'hello' %s/v1/topics/demo/hello\n"
      "  a stream:  skein stream create demo --attract 'demo/>'   (then replay it:\n"
      "             curl -N '%s/v1/subscribe?stream=demo&from=earliest')\n"
      "  metrics:   curl %s/metrics\n",
      http->c_str(), url.c_str(), url.c_str(), url.c_str(), url.c_str());
  if (auto kafka = node.kafka_address())
    std::printf("skein is serving Kafka on %s\n", kafka->c_str());
  if (auto mqtt = node.mqtt_address())
    std::printf("skein is serving MQTT on %s (and over WebSocket at ws://%s/mqtt)\n", mqtt->c_str(),
                http->c_str());
  std::fflush(stdout);
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("skein");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%t] %v");
}
}  // namespace

int run_serve(const std::optional<std::string>& config_file,
              const std::map<std::string, std::string>& flags) {
  auto loaded = load_node_config(config_file, process_env(), flags);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::fprintf(stderr, "skein serve: %s\n", error->c_str());
    return 2;
  }
  NodeConfig config = std::get<NodeConfig>(std::move(loaded));
  setup_logging(config.log_level);

  // Block the stop signals in every thread (the shards inherit this mask);
  // this thread then waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    Node node(config);
    node.start();
    const std::string addresses = node.bound_addresses_json();
    if (!config.ready_file.empty()) write_ready_file(config.ready_file, addresses);
    spdlog::info("listening: {}", addresses);
    print_where_to_connect(node);

    int received = 0;
    sigwait(&stop_signals, &received);
    spdlog::info("received {}: draining (at most {} ms)", strsignal(received),
                 config.shutdown_grace.count());
    node.stop();
  } catch (const std::exception& e) {
    spdlog::critical("cannot run the node: {}", e.what());
    return 1;
  }
  return 0;
}

}  // namespace skein::cli
