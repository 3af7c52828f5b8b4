// Reading and writing a stream's attract filters and topic template.
#include "runtime/stream_routing.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/topic_names.hpp"

namespace skein::runtime {

namespace {
constexpr const char* kAttract = "attract";
constexpr const char* kTemplate = "topic_template";
}  // namespace

storage::Result<StreamRouting> StreamRouting::of(const storage::StreamConfig& config) {
  StreamRouting routing;
  if (auto it = config.extra.find(kAttract); it != config.extra.end()) {
    const auto json = nlohmann::json::parse(it->second, nullptr, false);
    if (!json.is_array()) {
      return storage::Error{storage::Errc::invalid_config,
                            "stream " + config.name + ": attract is not a JSON array"};
    }
    for (const auto& filter : json) {
      if (!filter.is_string()) {
        return storage::Error{storage::Errc::invalid_config,
                              "stream " + config.name + ": a filter is not a string"};
      }
      routing.attract.push_back(filter.get<std::string>());
    }
  }
  if (auto it = config.extra.find(kTemplate); it != config.extra.end()) {
    routing.topic_template = it->second;
  }
  if (auto error = routing.validate()) {
    return storage::Error{storage::Errc::invalid_config, "stream " + config.name + ": " + *error};
  }
  return routing;
}

void StreamRouting::store_into(storage::StreamConfig& config) const {
  if (attract.empty()) {
    config.extra.erase(kAttract);
  } else {
    config.extra[kAttract] = nlohmann::json(attract).dump();
  }
  if (topic_template.empty()) {
    config.extra.erase(kTemplate);
  } else {
    config.extra[kTemplate] = topic_template;
  }
}

std::optional<std::string> StreamRouting::validate() const {
  for (std::size_t i = 0; i < attract.size(); ++i) {
    if (auto error = core::check_filter(attract[i])) {
      return "attract filter '" + attract[i] + "': " + error->message;
    }
    if (std::find(attract.begin(), attract.begin() + static_cast<std::ptrdiff_t>(i), attract[i]) !=
        attract.begin() + static_cast<std::ptrdiff_t>(i)) {
      return "attract filter '" + attract[i] + "' is given twice";
    }
  }
  if (!topic_template.empty()) {
    std::string error;
    if (!core::TopicTemplate::parse(topic_template, &error)) return "topic_template: " + error;
  }
  return std::nullopt;
}

core::TopicTemplate StreamRouting::effective_template(const std::string& stream_name) const {
  std::string error;
  if (!topic_template.empty()) {
    if (auto parsed = core::TopicTemplate::parse(topic_template, &error)) return *parsed;
  }
  // A stream name (Kafka's [a-zA-Z0-9._-]) is always a valid constant template.
  return *core::TopicTemplate::parse(stream_name, &error);
}

}  // namespace skein::runtime
