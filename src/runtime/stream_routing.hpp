// A stream's place in the router (DESIGN.md §1 "Stream", "Ingress, once"):
// the filters that attract published events into it, and the template of
// the topic its produced Kafka records are published under. Both live in
// the stream's config (StreamConfig::extra, as "attract", a JSON array of
// filters, and "topic_template"), so they are kept and reloaded with it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/topic_template.hpp"
#include "storage/stream_config.hpp"

namespace skein::runtime {

struct StreamRouting {
  std::vector<std::string> attract;  // valid filters, without duplicates
  std::string topic_template;        // empty: the stream's name

  // Reads them from the config; an error names the bad filter or template.
  static storage::Result<StreamRouting> of(const storage::StreamConfig& config);
  // Writes them into config.extra (removing what is empty).
  void store_into(storage::StreamConfig& config) const;
  // Checks every filter and the template; the error names what is wrong.
  std::optional<std::string> validate() const;
  // The template in force: the stream's name when none was set.
  core::TopicTemplate effective_template(const std::string& stream_name) const;
};

}  // namespace skein::runtime
