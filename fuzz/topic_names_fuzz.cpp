// libFuzzer target for the topic and filter grammar (core/topic_names.hpp): feeds the
// input to check_topic (both publishers), check_filter and from_mqtt_filter, and traps
// when one of the grammar's invariants breaks.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/topic_names.hpp"
#include "core/utf8.hpp"

namespace {

using skein::core::NameError;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

// Every error points inside the input (or just past it), names a known rule and has a
// message that is safe to put in JSON or a log line.
void check_error(const std::optional<NameError>& error, std::string_view input) {
  if (!error) return;
  require(error->offset <= input.size());
  require(skein::core::rule_id(error->rule) != "unknown");
  require(!error->message.empty() && skein::core::is_valid_utf8(error->message));
}

// The levels of an accepted name are views into it that rejoin to the name.
void check_split(std::string_view name) {
  std::string joined;
  const auto levels = skein::core::split_levels(name);
  require(!levels.empty() && levels.size() <= skein::core::kMaxNameLevels);
  for (std::size_t i = 0; i < levels.size(); ++i) {
    require(!levels[i].empty());
    require(levels[i].data() >= name.data() &&
            levels[i].data() + levels[i].size() <= name.data() + name.size());
    if (i > 0) joined += '/';
    joined += levels[i];
  }
  require(joined == name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skein::core;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const auto client = check_topic(input, Publisher::client);
  const auto system = check_topic(input, Publisher::system);
  const auto filter = check_filter(input);
  check_error(client, input);
  check_error(system, input);
  check_error(filter, input);

  // The system may publish whatever a client may, and more only under '$'.
  if (!client) require(!system);
  if (system) require(client && client->rule == system->rule && client->offset == system->offset);
  if (client && !system) require(client->rule == NameRule::reserved_prefix && is_reserved(input));
  // Every topic is a filter (that matches exactly itself).
  if (!system) require(!filter);
  if (!filter) check_split(input);

  const MqttTranslation mqtt = from_mqtt_filter(input);
  check_error(mqtt.error, input);
  require(mqtt.error.has_value() == mqtt.filters.empty());
  require(mqtt.filters.size() <= 2);
  for (const std::string& translated : mqtt.filters) require(!check_filter(translated));
  // A topic has no wildcard of either syntax: as an MQTT filter it translates to itself.
  if (!system) require(mqtt.filters.size() == 1 && mqtt.filters[0] == input);
  return 0;
}
