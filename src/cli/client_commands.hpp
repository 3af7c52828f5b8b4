// The client verbs of the skein command, which talk to a node's HTTP API:
//   skein pub TOPIC [MESSAGE | -]   publish one event (MESSAGE, or stdin for - or none)
//   skein sub FILTER...             print matching events as they arrive
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace skein::cli {

struct PubOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string topic;
  std::optional<std::string> message;  // nullopt or "-": read stdin
  std::optional<std::string> key;
  std::vector<std::string> headers;  // NAME=VALUE
  std::optional<std::string> content_type;
};

struct SubOptions {
  std::string url = "http://127.0.0.1:8080";
  std::vector<std::string> filters;
  bool json = false;      // print each event's JSON object instead of "TOPIC PAYLOAD"
  std::size_t count = 0;  // exit after this many events; 0: run until interrupted
};

// Both return the process exit code and print errors to stderr.
int run_pub(const PubOptions& options);
int run_sub(const SubOptions& options);

}  // namespace skein::cli
