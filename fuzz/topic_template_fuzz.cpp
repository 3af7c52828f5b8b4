// libFuzzer target for stream topic templates (core/topic_template.hpp). The
// input is lines:
//   template \n key \n partition \n name=value \n name=value ...
// A missing key line, or a key line of one NUL byte, is a null key; the
// partition is decimal (0 when unreadable); header lines without '=' have an
// empty value. The target parses the template and, when it is accepted,
// renders it with those values, with every header set to the key, and with the
// sample values parse() promises to accept; it traps when an invariant breaks:
// a rendered topic passes check_topic and matches coverage_filter(), which
// passes check_filter.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/subscription_index.hpp"
#include "core/topic_names.hpp"
#include "core/topic_template.hpp"
#include "core/utf8.hpp"

namespace {

using namespace skein::core;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<std::string_view> split_lines(std::string_view input) {
  std::vector<std::string_view> lines;
  std::size_t begin = 0;
  for (std::size_t nl = input.find('\n'); nl != std::string_view::npos;
       nl = input.find('\n', begin)) {
    lines.push_back(input.substr(begin, nl - begin));
    begin = nl + 1;
  }
  lines.push_back(input.substr(begin));
  return lines;
}

// Checks one render's result against the template's promises.
void check_rendered(const TopicTemplate& t, const std::optional<std::string>& topic) {
  if (!topic) return;
  require(!check_topic(*topic, Publisher::client));
  require(!is_reserved(*topic));
  SubscriptionIndex<int> index;
  require(index.insert(t.coverage_filter(), 1));
  std::vector<int> out;
  index.match(*topic, out);
  require(out.size() == 1);
  if (t.constant()) require(*topic == t.text());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string_view> lines = split_lines(input);

  std::string error;
  const std::optional<TopicTemplate> parsed = TopicTemplate::parse(lines[0], &error);
  if (!parsed) {
    require(!error.empty() && is_valid_utf8(error));
    return 0;
  }
  const TopicTemplate& t = *parsed;
  require(t.text() == lines[0]);
  require(is_valid_utf8(t.text()));
  require(!check_filter(t.coverage_filter()));
  require(t.constant() == (!t.uses_key() && !t.uses_partition() && !t.uses_headers()));

  // The sample values parse() checked always render.
  const auto sample_headers = [](std::string_view) -> std::optional<std::string_view> {
    return "x";
  };
  const std::optional<std::string> sample = t.render("x", 0, sample_headers);
  require(sample.has_value());
  check_rendered(t, sample);

  std::optional<std::string_view> key;
  if (lines.size() > 1 && lines[1] != std::string_view("\0", 1)) key = lines[1];
  std::int32_t partition = 0;
  if (lines.size() > 2) {
    const std::string_view digits = lines[2];
    if (std::from_chars(digits.data(), digits.data() + digits.size(), partition).ec != std::errc{})
      partition = 0;
  }
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  for (std::size_t i = 3; i < lines.size(); ++i) {
    const std::size_t eq = lines[i].find('=');
    if (eq == std::string_view::npos) {
      headers.emplace_back(lines[i], std::string_view{});
    } else {
      headers.emplace_back(lines[i].substr(0, eq), lines[i].substr(eq + 1));
    }
  }

  const std::optional<std::string> from_headers = t.render(
      key, partition, [&headers](std::string_view name) { return first_header(headers, name); });
  check_rendered(t, from_headers);
  // A null key renders nothing when the key is used, and changes nothing when not.
  if (!key && t.uses_key()) require(!from_headers);

  // Every header set to the key's value: exercises values that can split levels.
  const auto key_headers = [key](std::string_view) { return key; };
  const std::optional<std::string> from_key = t.render(key, partition, key_headers);
  check_rendered(t, from_key);
  if (!t.uses_headers()) require(from_key == from_headers);

  // No lookup at all: only templates without headers can render.
  const std::optional<std::string> without = t.render(key, partition);
  check_rendered(t, without);
  if (t.uses_headers()) require(!without);
  return 0;
}
