// `skein serve`: run a node until SIGINT or SIGTERM.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace skein::cli {

// Returns the process exit code: 0 after a clean shutdown, 1 when the node
// could not start (the reason is logged).
int run_serve(const std::optional<std::string>& config_file,
              const std::map<std::string, std::string>& flags);

}  // namespace skein::cli
