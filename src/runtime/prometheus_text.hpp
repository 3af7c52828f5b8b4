// Writing the Prometheus text exposition format (version 0.0.4): one HELP and
// TYPE block per family, then its samples. Every face renders its own
// figures with these, and the HTTP face serves them all at /metrics.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <iterator>
#include <string>
#include <string_view>

namespace skein::runtime {

inline void metric_family(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <class Value>
void metric_sample(std::string& out, std::string_view name, std::string_view labels, Value value) {
  if (labels.empty())
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  else
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
}

// A family with one unlabelled sample.
template <class Value>
void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            Value value) {
  metric_family(out, name, type, help);
  metric_sample(out, name, "", value);
}

// Appends a face's families to the exposition; callable from any thread.
using MetricSource = std::function<void(std::string& out)>;

}  // namespace skein::runtime
