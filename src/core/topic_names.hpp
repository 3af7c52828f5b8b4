// The grammar of topics and filters (DESIGN.md §1): validation with errors that
// name the broken rule, level splitting, and the MQTT filter translation.
//
// Topic  = level ( "/" level )*          e.g. orders/created/us/1234
// Filter = the same, where a level may also be
//   "*"      exactly one level                      orders/*/us
//   "ab*"    one level that starts with "ab"        orders/cre*/us
//   ">"      (last level only) one or more levels   orders/>
//
// Both: 1..250 bytes of valid UTF-8, at most 128 levels, no empty level, no NUL.
// Topics may contain none of the wildcard characters * > (Skein) or + # (MQTT),
// so that every topic can be matched exactly by a filter of either syntax.
// Topics starting with '$' are reserved for the system: check_topic accepts them
// only when the caller says the publisher is the system.
//
// Valid filters:   a   a/*   a/b*/c   a/>   */>   $sys/>   *
// Invalid filters: a//b (empty level)  a/>/b (> not last)  a/b*c (* not last char)
//                  a/x> (> inside a level)  a/+ (MQTT syntax: use *)
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skein::core {

inline constexpr std::size_t kMaxNameBytes = 250;
inline constexpr std::size_t kMaxNameLevels = 128;

// Which rule a refused topic or filter broke.
enum class NameRule {
  empty,                // the whole name is empty
  too_long,             // more than kMaxNameBytes bytes
  too_many_levels,      // more than kMaxNameLevels levels
  empty_level,          // "a//b", "/a", "a/"
  invalid_utf8,         // not well-formed UTF-8
  nul_character,        // contains U+0000
  wildcard_in_topic,    // a topic contains * or >
  mqtt_character,       // + or # outside the MQTT translation
  misplaced_star,       // '*' that is not the last character of its level
  misplaced_tail,       // '>' that is not a whole level, or not the last level
  reserved_prefix,      // a topic starting with '$' published by a non-system client
  mqtt_bad_wildcard,    // MQTT: '+' or '#' not alone in its level, '#' not last
  mqtt_skein_wildcard,  // MQTT filter containing '*' or '>'
};

// A short stable identifier for the rule ("empty_level"), used in JSON errors.
std::string_view rule_id(NameRule rule);

struct NameError {
  NameRule rule;
  std::size_t offset;   // byte offset in the input where the problem was found
  std::string message;  // human readable, names the rule: "empty level at byte 2: ..."
};

enum class Publisher { client, system };

// nullopt when `topic` is a valid topic; otherwise the first rule it breaks.
std::optional<NameError> check_topic(std::string_view topic,
                                     Publisher publisher = Publisher::client);

// nullopt when `filter` is a valid Skein filter; otherwise the first rule it breaks.
std::optional<NameError> check_filter(std::string_view filter);

// True when the name starts with '$' (system topics: $sys/..., MQTT $share/...).
inline bool is_reserved(std::string_view name) {
  return !name.empty() && name.front() == '$';
}

// Splits a name (assumed valid) into its levels. The views point into `name`.
std::vector<std::string_view> split_levels(std::string_view name);

// Whether the valid filter matches the valid topic, by the same rules as the
// subscription index (a wildcard first level never matches a '$' topic). For
// a handful of filters, as an MQTT session holds; the index serves many.
bool filter_matches(std::string_view filter, std::string_view topic);

// Translates an MQTT topic filter into the equivalent Skein filters:
//   "+" -> "*";  "a/#" -> {"a", "a/>"};  "#" -> {">"}.
// Refuses what MQTT itself refuses ([MQTT-4.7.1-2], [MQTT-4.7.1-3]) and filters
// that use Skein's own wildcard characters. The result passes check_filter.
struct MqttTranslation {
  std::vector<std::string> filters;  // empty when `error` is set
  std::optional<NameError> error;
};
MqttTranslation from_mqtt_filter(std::string_view mqtt_filter);

}  // namespace skein::core
