// The topic and filter grammar of topic_names.hpp: validation, level splitting and
// the MQTT filter translation.
//
// Every check reports the first rule broken in NameRule declaration order (empty,
// too_long, too_many_levels, empty_level, invalid_utf8, nul_character, then the
// wildcard rules, then reserved_prefix), at that rule's first occurrence in the
// name. So the error for a given input is deterministic and the cheap, whole-name
// rules come first. Nothing here throws.
#include "core/topic_names.hpp"

#include <cstdint>
#include <string>
#include <utility>

#include "core/utf8.hpp"

namespace skein::core {
namespace {

using Result = std::optional<NameError>;
constexpr auto npos = std::string_view::npos;

// How much of a refused name its error message quotes.
constexpr std::size_t kQuoteBytes = 64;

// Length of the UTF-8 sequence that lead byte `c` announces (1 for ASCII and for
// bytes that cannot start a sequence).
std::size_t sequence_length(unsigned char c) {
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

// "FF"
std::string hex_digits(unsigned char c) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return {kDigits[c >> 4], kDigits[c & 0xF]};
}

// `name` in double quotes as printable, well-formed UTF-8: control characters and
// ill-formed bytes become \xHH, quotes and backslashes are escaped, and a name
// longer than kQuoteBytes is cut (after a whole character) and followed by "...".
std::string quote(std::string_view name) {
  std::string out = "\"";
  std::size_t i = 0;
  while (i < name.size() && i < kQuoteBytes) {
    const auto c = static_cast<unsigned char>(name[i]);
    const std::size_t len = sequence_length(c);
    if (len > 1 && i + len <= name.size() && is_valid_utf8(name.substr(i, len))) {
      out.append(name.substr(i, len));
      i += len;
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      out += "\\x" + hex_digits(c);
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
  if (i < name.size()) out += "...";
  return out;
}

bool starts_level(std::string_view name, std::size_t i) {
  return i == 0 || name[i - 1] == '/';
}

bool ends_level(std::string_view name, std::size_t i) {
  return i + 1 == name.size() || name[i + 1] == '/';
}

// The level that contains byte `i`.
std::string_view level_at(std::string_view name, std::size_t i) {
  const std::size_t slash = name.rfind('/', i);
  const std::size_t begin = slash == npos ? 0 : slash + 1;
  const std::size_t end = name.find('/', i);
  return name.substr(begin, end == npos ? npos : end - begin);
}

// The first byte for which `pred(name, i)` holds, or npos.
template <typename Pred>
std::size_t find_if(std::string_view name, Pred pred) {
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (pred(name, i)) return i;
  }
  return npos;
}

// What is being checked; builds the errors.
struct Context {
  std::string_view kind;  // "topic", "filter", "MQTT filter"
  std::string_view name;

  bool mqtt() const { return kind == "MQTT filter"; }

  // "invalid filter "a//b": empty level at byte 2 (levels between '/' must not be empty)"
  NameError fail(NameRule rule, std::size_t offset, std::string_view what,
                 std::string_view why) const {
    std::string message = "invalid " + std::string(kind) + " " + quote(name) + ": ";
    message += std::string(what) + " at byte " + std::to_string(offset);
    message += " (" + std::string(why) + ")";
    return {rule, offset, std::move(message)};
  }

  // Like fail, naming the character at `offset` and the level that holds it.
  NameError fail_at_char(NameRule rule, std::size_t offset, std::string_view what,
                         std::string_view why) const {
    const std::string part =
        std::string(what) + " '" + name[offset] + "' in level " + quote(level_at(name, offset));
    return fail(rule, offset, part, why);
  }
};

Result check_size(const Context& cx) {
  const std::size_t size = cx.name.size();
  if (size == 0) {
    return cx.fail(NameRule::empty, 0, "empty name",
                   "a name must be 1.." + std::to_string(kMaxNameBytes) + " bytes");
  }
  if (size > kMaxNameBytes) {
    return cx.fail(
        NameRule::too_long, kMaxNameBytes, "too long",
        std::to_string(size) + " bytes; at most " + std::to_string(kMaxNameBytes) + " are allowed");
  }
  return std::nullopt;
}

// too_many_levels at the first byte of level kMaxNameLevels + 1.
Result check_level_count(const Context& cx) {
  std::size_t levels = 1;
  std::size_t first_extra = npos;
  for (std::size_t i = 0; i < cx.name.size(); ++i) {
    if (cx.name[i] == '/' && ++levels == kMaxNameLevels + 1) first_extra = i + 1;
  }
  if (levels <= kMaxNameLevels) return std::nullopt;
  return cx.fail(NameRule::too_many_levels, first_extra, "too many levels",
                 std::to_string(levels) + " levels; at most " + std::to_string(kMaxNameLevels) +
                     " are allowed");
}

// empty_level at the offset where the first empty level starts: 0 for "/a", 2 for
// "a//b", the name's size for "a/".
Result check_empty_level(const Context& cx) {
  const std::string_view name = cx.name;
  std::size_t at = npos;
  if (name.front() == '/') {
    at = 0;
  } else if (const std::size_t twice = name.find("//"); twice != npos) {
    at = twice + 1;
  } else if (name.back() == '/') {
    at = name.size();
  }
  if (at == npos) return std::nullopt;
  std::string why = at == 0             ? "a name must not start with '/'"
                    : at == name.size() ? "a name must not end with '/'"
                                        : "levels between '/' must not be empty";
  if (cx.mqtt()) why += "; Skein refuses the empty levels that MQTT allows";
  return cx.fail(NameRule::empty_level, at, "empty level", why);
}

// Why the UTF-8 sequence at `at` (which find_invalid_utf8 refused) is ill-formed.
std::string describe_invalid_utf8(std::string_view name, std::size_t at) {
  const auto lead = static_cast<unsigned char>(name[at]);
  const std::string byte = "byte 0x" + hex_digits(lead);
  if ((lead & 0xC0) == 0x80) return "unexpected continuation " + byte;
  const std::size_t len = sequence_length(lead);
  if (len == 1) return byte + " never appears in UTF-8";
  std::uint32_t cp = lead & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) {
    const auto next = at + k < name.size() ? static_cast<unsigned char>(name[at + k]) : 0u;
    if ((next & 0xC0) != 0x80) return "truncated sequence starting with " + byte;
    cp = (cp << 6) | (next & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len]) return "overlong encoding starting with " + byte;
  if (cp >= 0xD800 && cp <= 0xDFFF) {
    return "UTF-16 surrogate U+" + hex_digits(cp >> 8) + hex_digits(cp & 0xFF);
  }
  return "code point above U+10FFFF";
}

Result check_encoding(const Context& cx) {
  if (const std::size_t at = find_invalid_utf8(cx.name); at != npos) {
    return cx.fail(NameRule::invalid_utf8, at, "invalid UTF-8",
                   describe_invalid_utf8(cx.name, at) + "; names must be well-formed UTF-8");
  }
  if (const std::size_t at = cx.name.find('\0'); at != npos) {
    return cx.fail(NameRule::nul_character, at, "NUL character", "names must not contain U+0000");
  }
  return std::nullopt;
}

// The rules that topics, filters and MQTT filters share, in NameRule order.
Result check_common(const Context& cx) {
  if (auto error = check_size(cx)) return error;
  if (auto error = check_level_count(cx)) return error;
  if (auto error = check_empty_level(cx)) return error;
  return check_encoding(cx);
}

// '+' or '#' in a Skein topic or filter.
Result check_mqtt_characters(const Context& cx) {
  const std::size_t at = cx.name.find_first_of("+#");
  if (at == npos) return std::nullopt;
  std::string why = "topics must not contain the MQTT wildcards '+' and '#'";
  if (cx.kind == "filter") {
    why = cx.name[at] == '+' ? "MQTT syntax: a Skein filter uses '*' for one level"
                             : "MQTT syntax: a Skein filter uses '>' for the remaining levels";
  }
  return cx.fail_at_char(NameRule::mqtt_character, at, "MQTT character", why);
}

// Filters: '*' only as the last character of a level, '>' only as the whole last level.
Result check_skein_wildcards(const Context& cx) {
  const std::string_view name = cx.name;
  const std::size_t star =
      find_if(name, [](auto n, std::size_t i) { return n[i] == '*' && !ends_level(n, i); });
  if (star != npos) {
    return cx.fail_at_char(NameRule::misplaced_star, star, "misplaced",
                           "'*' must be the last character of its level, as in \"a/*\" or "
                           "\"a/ab*\"");
  }
  const std::size_t tail = find_if(name, [](auto n, std::size_t i) {
    return n[i] == '>' && !(starts_level(n, i) && i + 1 == n.size());
  });
  if (tail == npos) return std::nullopt;
  const bool whole = starts_level(name, tail) && ends_level(name, tail);
  return cx.fail_at_char(NameRule::misplaced_tail, tail, "misplaced",
                         whole ? "'>' must be the last level: it matches all remaining levels"
                               : "'>' must be a whole level, as in \"a/>\"");
}

// MQTT: '+' a whole level [MQTT-4.7.1-3]; '#' a whole level and the last [MQTT-4.7.1-2];
// none of Skein's own wildcard characters.
Result check_mqtt_wildcards(const Context& cx) {
  const std::string_view name = cx.name;
  const std::size_t bad = find_if(name, [](auto n, std::size_t i) {
    const bool whole = starts_level(n, i) && ends_level(n, i);
    return (n[i] == '+' && !whole) || (n[i] == '#' && !(whole && i + 1 == n.size()));
  });
  if (bad != npos) {
    return cx.fail_at_char(NameRule::mqtt_bad_wildcard, bad, "misplaced MQTT wildcard",
                           name[bad] == '+'
                               ? "'+' must occupy a whole level [MQTT-4.7.1-3]"
                               : "'#' must be a whole level and the last one [MQTT-4.7.1-2]");
  }
  const std::size_t skein = name.find_first_of("*>");
  if (skein == npos) return std::nullopt;
  return cx.fail_at_char(NameRule::mqtt_skein_wildcard, skein, "Skein wildcard",
                         "an MQTT filter uses '+' and '#'; '*' and '>' are not allowed in it");
}

}  // namespace

std::string_view rule_id(NameRule rule) {
  switch (rule) {
    case NameRule::empty:
      return "empty";
    case NameRule::too_long:
      return "too_long";
    case NameRule::too_many_levels:
      return "too_many_levels";
    case NameRule::empty_level:
      return "empty_level";
    case NameRule::invalid_utf8:
      return "invalid_utf8";
    case NameRule::nul_character:
      return "nul_character";
    case NameRule::wildcard_in_topic:
      return "wildcard_in_topic";
    case NameRule::mqtt_character:
      return "mqtt_character";
    case NameRule::misplaced_star:
      return "misplaced_star";
    case NameRule::misplaced_tail:
      return "misplaced_tail";
    case NameRule::reserved_prefix:
      return "reserved_prefix";
    case NameRule::mqtt_bad_wildcard:
      return "mqtt_bad_wildcard";
    case NameRule::mqtt_skein_wildcard:
      return "mqtt_skein_wildcard";
  }
  return "unknown";
}

std::optional<NameError> check_topic(std::string_view topic, Publisher publisher) {
  const Context cx{"topic", topic};
  if (auto error = check_common(cx)) return error;
  if (const std::size_t at = topic.find_first_of("*>"); at != npos) {
    return cx.fail_at_char(NameRule::wildcard_in_topic, at, "wildcard",
                           "topics must not contain '*' or '>': they are filter wildcards");
  }
  if (auto error = check_mqtt_characters(cx)) return error;
  if (is_reserved(topic) && publisher != Publisher::system) {
    return cx.fail(NameRule::reserved_prefix, 0, "reserved prefix '$'",
                   "topics starting with '$' are reserved for the system");
  }
  return std::nullopt;
}

std::optional<NameError> check_filter(std::string_view filter) {
  const Context cx{"filter", filter};
  if (auto error = check_common(cx)) return error;
  if (auto error = check_mqtt_characters(cx)) return error;
  return check_skein_wildcards(cx);
}

bool filter_matches(std::string_view filter, std::string_view topic) {
  if (is_reserved(topic)) {
    // No wildcard first level (">", "*", "ab*") matches a '$' topic.
    const std::string_view first = filter.substr(0, filter.find('/'));
    if (first == ">" || first.ends_with('*')) return false;
  }
  while (true) {
    const auto f_end = filter.find('/');
    const auto t_end = topic.find('/');
    const std::string_view f = filter.substr(0, f_end);
    const std::string_view t = topic.substr(0, t_end);
    if (f == ">") return true;  // one or more levels remain: `topic` is non-empty here
    if (f.ends_with('*')) {
      if (!t.starts_with(f.substr(0, f.size() - 1))) return false;
    } else if (f != t) {
      return false;
    }
    if (f_end == std::string_view::npos || t_end == std::string_view::npos)
      return f_end == std::string_view::npos && t_end == std::string_view::npos;
    filter.remove_prefix(f_end + 1);
    topic.remove_prefix(t_end + 1);
  }
}

std::vector<std::string_view> split_levels(std::string_view name) {
  std::vector<std::string_view> levels;
  std::size_t begin = 0;
  for (std::size_t slash = name.find('/'); slash != npos; slash = name.find('/', begin)) {
    levels.push_back(name.substr(begin, slash - begin));
    begin = slash + 1;
  }
  levels.push_back(name.substr(begin));
  return levels;
}

MqttTranslation from_mqtt_filter(std::string_view mqtt_filter) {
  const Context cx{"MQTT filter", mqtt_filter};
  if (auto error = check_common(cx)) return {{}, std::move(error)};
  if (auto error = check_mqtt_wildcards(cx)) return {{}, std::move(error)};
  std::string skein(mqtt_filter);
  for (char& c : skein) {
    if (c == '+') c = '*';
    if (c == '#') c = '>';
  }
  // '#' matches the parent level too: "a/#" is "a" and "a/>"; "#" alone is ">".
  if (skein == ">" || skein.back() != '>') return {{std::move(skein)}, std::nullopt};
  std::string parent = skein.substr(0, skein.size() - 2);
  return {{std::move(parent), std::move(skein)}, std::nullopt};
}

}  // namespace skein::core
