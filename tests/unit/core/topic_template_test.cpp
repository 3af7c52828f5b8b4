// Stream topic templates (core/topic_template.hpp): parsing and its errors,
// rendering each placeholder alone and together, renders that make no valid
// topic, and the coverage filter, checked against the subscription index on
// every topic the cases render.
#include "core/topic_template.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/event.hpp"
#include "core/subscription_index.hpp"
#include "core/topic_names.hpp"
#include "core/utf8.hpp"

namespace skein::core {
namespace {

using ::testing::HasSubstr;
using Headers = std::vector<std::pair<std::string_view, std::string_view>>;

TopicTemplate parsed(std::string_view text) {
  std::string error;
  auto result = TopicTemplate::parse(text, &error);
  EXPECT_TRUE(result) << "template \"" << text << "\": " << error;
  if (!result) return *TopicTemplate::parse("unused", nullptr);
  EXPECT_EQ(result->text(), text);
  EXPECT_EQ(check_filter(result->coverage_filter()), std::nullopt)
      << "coverage filter of \"" << text << "\": " << result->coverage_filter();
  return *result;
}

// The parse error for `text` (which must be refused).
std::string parse_error(std::string_view text) {
  std::string error = "<no error>";
  EXPECT_FALSE(TopicTemplate::parse(text, &error)) << "template \"" << text << "\" was accepted";
  EXPECT_TRUE(is_valid_utf8(error));
  return error;
}

bool matches(std::string_view filter, std::string_view topic) {
  SubscriptionIndex<int> index;
  EXPECT_TRUE(index.insert(filter, 1));
  std::vector<int> out;
  index.match(topic, out);
  return !out.empty();
}

// Renders with the headers given, and checks that what renders is a valid
// topic that the coverage filter matches.
std::optional<std::string> render(const TopicTemplate& t, std::optional<std::string_view> key,
                                  std::int32_t partition = 0, const Headers& headers = {}) {
  auto topic = t.render(key, partition,
                        [&headers](std::string_view name) { return first_header(headers, name); });
  if (topic) {
    EXPECT_EQ(check_topic(*topic), std::nullopt) << *topic;
    EXPECT_TRUE(matches(t.coverage_filter(), *topic))
        << "\"" << t.coverage_filter() << "\" does not match \"" << *topic << "\"";
  }
  return topic;
}

TEST(TopicTemplate, ConstantTemplateRendersItself) {
  const TopicTemplate t = parsed("orders/created");
  EXPECT_TRUE(t.constant());
  EXPECT_FALSE(t.uses_key());
  EXPECT_FALSE(t.uses_partition());
  EXPECT_FALSE(t.uses_headers());
  EXPECT_EQ(render(t, std::nullopt), "orders/created");
  EXPECT_EQ(render(t, "k", 7, {{"h", "v"}}), "orders/created");
  EXPECT_EQ(t.render(std::nullopt, 0), "orders/created");
  EXPECT_EQ(t.coverage_filter(), "orders/created");
}

TEST(TopicTemplate, KeyPlaceholder) {
  const TopicTemplate t = parsed("devices/{key}");
  EXPECT_FALSE(t.constant());
  EXPECT_TRUE(t.uses_key());
  EXPECT_FALSE(t.uses_partition());
  EXPECT_FALSE(t.uses_headers());
  EXPECT_EQ(render(t, "d1"), "devices/d1");
  EXPECT_EQ(render(t, "caf\xC3\xA9"), "devices/caf\xC3\xA9");
  // A key may span levels.
  EXPECT_EQ(render(t, "eu/d1/temp"), "devices/eu/d1/temp");
  EXPECT_EQ(render(t, std::nullopt), std::nullopt);
  // The key alone.
  const TopicTemplate alone = parsed("{key}");
  EXPECT_EQ(render(alone, "x"), "x");
  EXPECT_EQ(render(alone, "a/b"), "a/b");
  // Twice.
  const TopicTemplate twice = parsed("{key}/{key}");
  EXPECT_EQ(render(twice, "a"), "a/a");
  EXPECT_EQ(render(twice, "a/b"), "a/b/a/b");
}

TEST(TopicTemplate, PartitionPlaceholder) {
  const TopicTemplate t = parsed("telemetry/p{partition}/all");
  EXPECT_TRUE(t.uses_partition());
  EXPECT_FALSE(t.uses_key());
  EXPECT_EQ(render(t, std::nullopt, 0), "telemetry/p0/all");
  EXPECT_EQ(render(t, "ignored", 17), "telemetry/p17/all");
  EXPECT_EQ(render(t, std::nullopt, INT32_MAX), "telemetry/p2147483647/all");
  // Kafka partitions are never negative; one would render as its decimal.
  EXPECT_EQ(render(t, std::nullopt, -1), "telemetry/p-1/all");
  EXPECT_EQ(render(parsed("{partition}"), std::nullopt, 3), "3");
}

TEST(TopicTemplate, HeaderPlaceholder) {
  const TopicTemplate t = parsed("orders/{header:region}");
  EXPECT_TRUE(t.uses_headers());
  EXPECT_FALSE(t.uses_key());
  EXPECT_EQ(render(t, std::nullopt, 0, {{"region", "eu"}}), "orders/eu");
  EXPECT_EQ(render(t, std::nullopt, 0, {{"other", "x"}, {"region", "us/west"}}), "orders/us/west");
  // Header names are compared exactly.
  EXPECT_EQ(render(t, std::nullopt, 0, {{"Region", "eu"}}), std::nullopt);
  EXPECT_EQ(render(t, std::nullopt, 0, {}), std::nullopt);
  // No lookup at all: no header has a value.
  EXPECT_EQ(t.render(std::nullopt, 0), std::nullopt);
  EXPECT_EQ(t.render(std::nullopt, 0, nullptr), std::nullopt);
}

TEST(TopicTemplate, DuplicateHeadersFirstWins) {
  const TopicTemplate t = parsed("orders/{header:region}");
  EXPECT_EQ(render(t, std::nullopt, 0, {{"region", "eu"}, {"region", "us"}}), "orders/eu");
  // The first has an empty value: that still wins (and here makes an empty level).
  EXPECT_EQ(render(t, std::nullopt, 0, {{"region", ""}, {"region", "us"}}), std::nullopt);
  // first_header works on the event's own header type too.
  const std::vector<Header> event_headers = {{"a", "1"}, {"region", "ap"}, {"region", "eu"}};
  EXPECT_EQ(t.render(std::nullopt, 0,
                     [&](std::string_view name) { return first_header(event_headers, name); }),
            "orders/ap");
}

TEST(TopicTemplate, HeaderNamesMayHoldAnyCharacterButClosingBrace) {
  const TopicTemplate t = parsed("x/{header:a/b}/{header:{weird name}/{header:\xC3\xA9t\xC3\xA9}");
  EXPECT_EQ(
      render(t, std::nullopt, 0, {{"a/b", "1"}, {"{weird name", "2"}, {"\xC3\xA9t\xC3\xA9", "3"}}),
      "x/1/2/3");
  // A header name's '/' does not split the template's levels.
  EXPECT_EQ(parsed("x/{header:a/b/c}y/z").coverage_filter(), "x/>");
}

TEST(TopicTemplate, SeveralPlaceholdersInOneLevel) {
  const TopicTemplate t = parsed("in/{header:site}-{key}.p{partition}");
  EXPECT_TRUE(t.uses_key());
  EXPECT_TRUE(t.uses_partition());
  EXPECT_TRUE(t.uses_headers());
  EXPECT_EQ(render(t, "k1", 4, {{"site", "lyon"}}), "in/lyon-k1.p4");
  EXPECT_EQ(render(t, "k1", 4, {}), std::nullopt);
  EXPECT_EQ(render(t, std::nullopt, 4, {{"site", "lyon"}}), std::nullopt);
  // Adjacent placeholders with nothing between them.
  const TopicTemplate adjacent = parsed("{partition}{key}{header:h}");
  EXPECT_EQ(render(adjacent, "k", 2, {{"h", "v"}}), "2kv");
  // Empty values are fine when the level keeps other text.
  EXPECT_EQ(render(adjacent, "", 2, {{"h", ""}}), "2");
}

TEST(TopicTemplate, PlaceholdersAcrossLevels) {
  const TopicTemplate t = parsed("orders/{header:region}/{partition}/{key}/events");
  EXPECT_EQ(render(t, "c42", 3, {{"region", "eu"}}), "orders/eu/3/c42/events");
  EXPECT_EQ(render(t, "c/42", 3, {{"region", "eu/fr"}}), "orders/eu/fr/3/c/42/events");
  EXPECT_EQ(t.coverage_filter(), "orders/>");
}

TEST(TopicTemplate, RendersThatAreNotValidTopics) {
  const TopicTemplate t = parsed("devices/{key}");
  // Empty levels, wherever the key puts them.
  EXPECT_EQ(render(t, ""), std::nullopt);
  EXPECT_EQ(render(t, "/a"), std::nullopt);
  EXPECT_EQ(render(t, "a/"), std::nullopt);
  EXPECT_EQ(render(t, "a//b"), std::nullopt);
  // Wildcards of either syntax, NUL, ill-formed UTF-8.
  EXPECT_EQ(render(t, "a*"), std::nullopt);
  EXPECT_EQ(render(t, ">"), std::nullopt);
  EXPECT_EQ(render(t, "+"), std::nullopt);
  EXPECT_EQ(render(t, "#"), std::nullopt);
  EXPECT_EQ(render(t, std::string_view("a\0b", 3)), std::nullopt);
  EXPECT_EQ(render(t, "\xC3"), std::nullopt);
  EXPECT_EQ(render(t, "\xED\xA0\x80"), std::nullopt);  // a UTF-16 surrogate
  // Length: "devices/" is 8 bytes, so a 242-byte key is the longest that fits.
  EXPECT_EQ(render(t, std::string(242, 'k')), "devices/" + std::string(242, 'k'));
  EXPECT_EQ(render(t, std::string(243, 'k')), std::nullopt);
  EXPECT_EQ(render(t, std::string(100000, 'k')), std::nullopt);
  // Many levels: (at most 128, but 128 one-byte levels take 255 bytes, so the
  // length limit comes first).
  std::string levels = "a";
  for (int i = 0; i < 120; ++i) levels += "/a";
  EXPECT_TRUE(render(t, levels));  // 249 bytes, 122 levels
  EXPECT_EQ(render(t, levels + "/a"), std::nullopt);
  // A key never makes a reserved topic.
  const TopicTemplate first = parsed("{key}/x");
  EXPECT_EQ(render(first, "$sys"), std::nullopt);
  EXPECT_EQ(render(first, "$"), std::nullopt);
  EXPECT_EQ(render(first, "a$"), "a$/x");
  EXPECT_EQ(render(parsed("{header:h}"), std::nullopt, 0, {{"h", "$share/g/t"}}), std::nullopt);
  // The partition too can take a long template over the limit.
  const TopicTemplate near = parsed(std::string(248, 'p') + "{partition}");
  EXPECT_EQ(render(near, std::nullopt, 99), std::string(248, 'p') + "99");
  EXPECT_EQ(render(near, std::nullopt, 100), std::nullopt);
}

TEST(TopicTemplate, ParseErrorsNameTheRule) {
  EXPECT_THAT(parse_error("a/{key"), HasSubstr("unclosed '{' at byte 2"));
  EXPECT_THAT(parse_error("{"), HasSubstr("unclosed '{' at byte 0"));
  EXPECT_THAT(parse_error("a/{ke{key}"), HasSubstr("unclosed '{' at byte 2"));
  EXPECT_THAT(parse_error("a}"), HasSubstr("unmatched '}' at byte 1"));
  EXPECT_THAT(parse_error("{key}}"), HasSubstr("unmatched '}' at byte 5"));
  EXPECT_THAT(parse_error("orders/{foo}"), HasSubstr("unknown placeholder {foo} at byte 7"));
  EXPECT_THAT(parse_error("{}"), HasSubstr("unknown placeholder {} at byte 0"));
  EXPECT_THAT(parse_error("{Key}"), HasSubstr("unknown placeholder {Key}"));
  EXPECT_THAT(parse_error("{ key }"), HasSubstr("unknown placeholder { key }"));
  EXPECT_THAT(parse_error("{header}"), HasSubstr("unknown placeholder {header}"));
  EXPECT_THAT(parse_error("{headers:a}"), HasSubstr("unknown placeholder {headers:a}"));
  EXPECT_THAT(parse_error("x/{header:}"), HasSubstr("empty header name in {header:} at byte 2"));
  EXPECT_THAT(parse_error("x/{header:a\xFF}"),
              HasSubstr("invalid UTF-8 in header name {header:a\\xFF} at byte 11"));
  // Every error says what placeholders exist, or why the name is wrong.
  EXPECT_THAT(parse_error("{foo}"), HasSubstr("{key}, {partition} and {header:NAME}"));
  // Unknown placeholders are quoted printably and cut when long.
  EXPECT_THAT(parse_error(std::string("{a\x01\xC3\xA9") + "}"),
              HasSubstr("unknown placeholder {a\\x01\xC3\xA9}"));
  EXPECT_THAT(parse_error("{" + std::string(200, 'z') + "}"),
              HasSubstr("{" + std::string(64, 'z') + "...}"));
  // A null error pointer is allowed.
  EXPECT_FALSE(TopicTemplate::parse("{foo}", nullptr));
}

TEST(TopicTemplate, ParseRefusesTemplatesThatRenderNoValidTopic) {
  const std::string prefix = "the template renders no valid topic";
  EXPECT_THAT(parse_error(""), HasSubstr(prefix));
  EXPECT_THAT(parse_error(""), HasSubstr("empty name"));
  EXPECT_THAT(parse_error("a//{key}"), HasSubstr("empty level at byte 2"));
  EXPECT_THAT(parse_error("{key}/"), HasSubstr("empty level"));
  EXPECT_THAT(parse_error("/{key}"), HasSubstr("empty level"));
  EXPECT_THAT(parse_error("a/*/{key}"), HasSubstr("wildcard"));
  EXPECT_THAT(parse_error("a/>"), HasSubstr("wildcard"));
  EXPECT_THAT(parse_error("a/#"), HasSubstr("MQTT character"));
  EXPECT_THAT(parse_error("a/+/{partition}"), HasSubstr("MQTT character"));
  EXPECT_THAT(parse_error("$sys/{key}"), HasSubstr("reserved prefix '$'"));
  EXPECT_THAT(parse_error("$x"), HasSubstr(prefix));
  EXPECT_THAT(parse_error(std::string("a\0b", 3)), HasSubstr("NUL character"));
  EXPECT_THAT(parse_error("caf\xC3/{key}"), HasSubstr("invalid UTF-8"));
  // A literal that splits a UTF-8 sequence around a placeholder is refused.
  EXPECT_THAT(parse_error("\xC3{key}"), HasSubstr("invalid UTF-8"));
  EXPECT_THAT(parse_error(std::string(251, 'a')), HasSubstr("too long"));
  // 250 bytes of text with a placeholder rendering one byte more.
  EXPECT_THAT(parse_error(std::string(250, 'a') + "{key}"), HasSubstr("too long"));
  EXPECT_TRUE(TopicTemplate::parse(std::string(249, 'a') + "{key}", nullptr));
  std::string levels = "a";
  for (int i = 0; i < 123; ++i) levels += "/a";
  EXPECT_TRUE(TopicTemplate::parse(levels + "/{key}", nullptr));  // 249 bytes
  EXPECT_THAT(parse_error(levels + "/a/{key}"), HasSubstr("too long"));
  // The error quotes the sample topic, so the user sees what was checked.
  EXPECT_THAT(parse_error("a//{key}"), HasSubstr("\"a//x\""));
}

TEST(TopicTemplate, CoverageFilters) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"orders", "orders"},
      {"orders/created/us", "orders/created/us"},
      {"{key}", ">"},
      {"{partition}", "*"},
      {"{header:h}", ">"},
      {"devices/{key}", "devices/>"},
      {"devices/{key}/temp", "devices/>"},
      {"devices/d{key}", "devices/>"},
      {"p/{partition}", "p/*"},
      {"p/x{partition}y/z", "p/*/z"},
      {"p/{partition}/{partition}/z", "p/*/*/z"},
      {"p/{partition}/{key}", "p/*/>"},
      {"p/{partition}{key}/z", "p/>"},
      {"a/b/{header:region}/c/{partition}", "a/b/>"},
      {"{partition}/a/{key}", "*/a/>"},
  };
  for (const auto& [text, filter] : cases) {
    EXPECT_EQ(parsed(text).coverage_filter(), filter) << "template \"" << text << "\"";
  }
}

TEST(TopicTemplate, CoverageFilterMatchesEveryRender) {
  const std::vector<std::string> templates = {
      "orders",
      "devices/{key}",
      "devices/{key}/temp",
      "{key}",
      "{partition}",
      "p/x{partition}y/z",
      "p/{partition}/{key}",
      "{partition}/a/{key}",
      "{header:h}/{key}",
      "a/{header:h}{partition}/b",
  };
  const std::vector<std::string> values = {"", "a", "a/b", "a/b/c", "x/", "/x", "$s", "eu"};
  for (const std::string& text : templates) {
    const TopicTemplate t = parsed(text);
    int rendered = 0;
    for (const std::string& key : values) {
      for (const std::string& header : values) {
        for (const std::int32_t partition : {0, 7, 123}) {
          // render() checks the match for every topic it produces.
          if (render(t, key, partition, {{"h", header}})) ++rendered;
        }
      }
    }
    EXPECT_GT(rendered, 0) << text;
  }
}

TEST(TopicTemplate, CopiesRenderAlike) {
  const TopicTemplate original = parsed("a/{key}/{header:h}/{partition}");
  const TopicTemplate copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
  TopicTemplate moved = TopicTemplate(original);
  EXPECT_EQ(render(copy, "k", 1, {{"h", "v"}}), "a/k/v/1");
  EXPECT_EQ(render(moved, "k", 1, {{"h", "v"}}), "a/k/v/1");
  EXPECT_EQ(copy.coverage_filter(), original.coverage_filter());
}

}  // namespace
}  // namespace skein::core
