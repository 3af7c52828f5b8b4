// MQTT topic name and filter rules (spec 4.7), for the session layer.
#include <string>

#include "mqtt/protocol/codec.hpp"

namespace skein::mqtt {

std::optional<std::string> check_mqtt_topic_name(std::string_view topic) {
  if (topic.empty()) return "MQTT-4.7.3-1: topic name is empty";
  if (topic.size() > 65535) return "MQTT-4.7.3-3: topic name longer than 65,535 bytes";
  if (topic.find_first_of("+#") != std::string_view::npos) {
    return "MQTT-3.3.2-2: topic name contains a wildcard character";
  }
  if (topic.find('\0') != std::string_view::npos) return "MQTT-4.7.3-2: topic name contains U+0000";
  return std::nullopt;
}

std::optional<std::string> check_mqtt_topic_filter(std::string_view filter) {
  if (filter.empty()) return "MQTT-4.7.3-1: topic filter is empty";
  if (filter.size() > 65535) return "MQTT-4.7.3-3: topic filter longer than 65,535 bytes";
  if (filter.find('\0') != std::string_view::npos)
    return "MQTT-4.7.3-2: topic filter contains U+0000";
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = filter.find('/', start);
    const bool last = slash == std::string_view::npos;
    const std::string_view level =
        filter.substr(start, last ? std::string_view::npos : slash - start);
    if (level.find('#') != std::string_view::npos && (level != "#" || !last)) {
      return "MQTT-4.7.1-1: '#' must be a whole level and the last one";
    }
    if (level.find('+') != std::string_view::npos && level != "+") {
      return "MQTT-4.7.1-2: '+' must occupy a whole level";
    }
    if (last) break;
    start = slash + 1;
  }
  return std::nullopt;
}

}  // namespace skein::mqtt
