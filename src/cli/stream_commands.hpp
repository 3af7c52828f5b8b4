// `skein stream`: the streams admin API (http/streams_endpoint.hpp) from the
// command line.
//   skein stream create NAME [--partitions N] [--attract FILTER]... [--template T]
//                            [--retention-ms MS] [--retention-bytes B]
//                            [--cleanup-policy P] [--fsync POLICY]
//   skein stream update NAME [the same settings]
//   skein stream list
//   skein stream describe NAME
//   skein stream delete NAME
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace skein::cli {

struct StreamOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string name;
  std::optional<std::int32_t> partitions;
  std::vector<std::string> attract;
  bool no_attract = false;
  std::optional<std::string> topic_template;
  std::optional<std::int64_t> retention_ms;
  std::optional<std::int64_t> retention_bytes;
  std::optional<std::string> cleanup_policy;
  std::optional<std::string> fsync;
  bool json = false;  // list: print the JSON answer instead of a table
};

// Each returns the process exit code and prints errors to stderr.
int run_stream_create(const StreamOptions& options);
int run_stream_update(const StreamOptions& options);
int run_stream_list(const StreamOptions& options);
int run_stream_describe(const StreamOptions& options);
int run_stream_delete(const StreamOptions& options);

}  // namespace skein::cli
