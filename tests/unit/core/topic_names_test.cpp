// Tests of the topic and filter grammar (core/topic_names.hpp): table-driven valid and
// invalid topics, filters and MQTT filters, with the rule, offset and message of every
// refusal, plus split_levels and rule_id.
#include "core/topic_names.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "core/utf8.hpp"

namespace skein::core {
namespace {

using namespace std::string_literals;
using ::testing::HasSubstr;

// `count` copies of `part`.
std::string repeat(std::string_view part, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += part;
  return out;
}

// A name of `count` one-byte levels: "a/a/.../a".
std::string levels_of_a(std::size_t count) {
  return repeat("a/", count - 1) + "a";
}

// Prints bytes so that failures show NUL and ill-formed UTF-8 readably.
std::string printable(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) {
      out += c;
    } else {
      static constexpr char kDigits[] = "0123456789ABCDEF";
      out += {'\\', 'x', kDigits[u >> 4], kDigits[u & 0xF]};
    }
  }
  return out.size() > 80 ? out.substr(0, 80) + "...(" + std::to_string(bytes.size()) + " bytes)"
                         : out;
}

// ---------------------------------------------------------------- valid names

struct ValidCase {
  std::string input;
  Publisher publisher = Publisher::client;
};

void PrintTo(const ValidCase& c, std::ostream* os) {
  *os << '"' << printable(c.input) << '"';
}

class ValidTopic : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidTopic, IsAcceptedAndIsAlsoAFilter) {
  const ValidCase& c = GetParam();
  const auto error = check_topic(c.input, c.publisher);
  EXPECT_FALSE(error.has_value()) << error->message;
  EXPECT_FALSE(check_filter(c.input).has_value()) << "a valid topic is a valid filter";
}

INSTANTIATE_TEST_SUITE_P(
    TopicNames, ValidTopic,
    ::testing::Values(ValidCase{"a"}, ValidCase{"orders/created/us/1234"}, ValidCase{"café/日本"},
                      ValidCase{"emoji/\xF0\x9F\x98\x80"},         // U+1F600
                      ValidCase{"max/\xF4\x8F\xBF\xBF"},           // U+10FFFF
                      ValidCase{"below-surrogates/\xED\x9F\xBF"},  // U+D7FF
                      ValidCase{"above-surrogates/\xEE\x80\x80"},  // U+E000
                      ValidCase{"two/\xC2\x80"},                   // U+0080, smallest 2 bytes
                      ValidCase{"a b/with space/tab\there"}, ValidCase{"a$b/x$"},
                      ValidCase{"a-b_c.d:e@f!g~h%i"}, ValidCase{repeat("a", 250)},
                      ValidCase{repeat("a", 248) + "é"},  // 250 bytes, last one multi-byte
                      ValidCase{levels_of_a(125)},        // 249 bytes: the most levels that fit
                      ValidCase{"$sys/x", Publisher::system},
                      ValidCase{"$share/g/t", Publisher::system}, ValidCase{"$", Publisher::system},
                      ValidCase{"plain", Publisher::system}));

class ValidFilter : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidFilter, IsAccepted) {
  const auto error = check_filter(GetParam().input);
  EXPECT_FALSE(error.has_value()) << error->message;
}

INSTANTIATE_TEST_SUITE_P(TopicNames, ValidFilter,
                         ::testing::Values(ValidCase{"a"}, ValidCase{"*"}, ValidCase{">"},
                                           ValidCase{"ab*"}, ValidCase{"a/*"}, ValidCase{"a/b*/c"},
                                           ValidCase{"a/>"}, ValidCase{"*/>"}, ValidCase{"*/*/*"},
                                           ValidCase{"orders/cre*/us"}, ValidCase{"$sys/>"},
                                           ValidCase{"$share/g/a"}, ValidCase{"café*/日本/>"},
                                           ValidCase{"é*"}, ValidCase{repeat("a", 248) + "/>"},
                                           ValidCase{repeat("*/", 124) + ">"}));

// ---------------------------------------------------------------- invalid names

struct InvalidCase {
  std::string input;
  NameRule rule;
  std::size_t offset;
  std::string message_part;  // a substring of the message that names the rule
  Publisher publisher = Publisher::client;
};

void PrintTo(const InvalidCase& c, std::ostream* os) {
  *os << '"' << printable(c.input) << "\" -> " << rule_id(c.rule) << " at " << c.offset;
}

// `kind` is how the message introduces the name: "invalid topic \"".
void expect_refused(const std::optional<NameError>& error, const InvalidCase& c,
                    std::string_view kind) {
  ASSERT_TRUE(error.has_value()) << "accepted: " << printable(c.input);
  EXPECT_EQ(rule_id(error->rule), rule_id(c.rule)) << error->message;
  EXPECT_EQ(error->offset, c.offset) << error->message;
  EXPECT_THAT(error->message, HasSubstr(c.message_part));
  EXPECT_THAT(error->message, ::testing::StartsWith(std::string(kind)));
  EXPECT_THAT(error->message, HasSubstr(" at byte " + std::to_string(c.offset)));
  EXPECT_TRUE(is_valid_utf8(error->message)) << "messages quote names safely";
}

// Refused for the same reason by topics, filters and (except the MQTT-specific rules)
// MQTT filters, at the same offset.
std::vector<InvalidCase> common_cases() {
  return {
      {"", NameRule::empty, 0, "empty name"},
      {repeat("a", 251), NameRule::too_long, 250, "too long"},
      {repeat("a", 249) + "é", NameRule::too_long, 250, "251 bytes"},
      {levels_of_a(129), NameRule::too_long, 250, "too long"},  // 257 bytes: length first
      {repeat("/", 128), NameRule::too_many_levels, 128, "too many levels"},  // 129 levels
      {repeat("/", 127), NameRule::empty_level, 0, "empty level"},  // 128 levels: count ok
      {"/a", NameRule::empty_level, 0, "must not start with '/'"},
      {"a/", NameRule::empty_level, 2, "must not end with '/'"},
      {"a//b", NameRule::empty_level, 2, "levels between '/' must not be empty"},
      {"/", NameRule::empty_level, 0, "empty level"},
      {"a/b//", NameRule::empty_level, 4, "empty level"},
      {"a/\x80", NameRule::invalid_utf8, 2,
       "unexpected continuation byte 0x80"},               // lone continuation
      {"a/\xFF", NameRule::invalid_utf8, 2, "byte 0xFF"},  // never in UTF-8
      {"\xF8\x88\x80\x80\x80", NameRule::invalid_utf8, 0,
       "byte 0xF8 never appears"},                                     // 5-byte form
      {"a/\xC0\xAF", NameRule::invalid_utf8, 2, "overlong encoding"},  // overlong '/'
      {"a/\xC1\xBF", NameRule::invalid_utf8, 2,
       "overlong encoding starting with byte 0xC1"},                             // overlong 2-byte
      {"a/\xE0\x80\xAF", NameRule::invalid_utf8, 2, "overlong"},                 // overlong 3-byte
      {"a/\xF0\x80\x80\xAF", NameRule::invalid_utf8, 2, "overlong"},             // overlong 4-byte
      {"a/\xED\xA0\x80", NameRule::invalid_utf8, 2, "UTF-16 surrogate U+D800"},  // U+D800
      {"a/\xED\xBF\xBF", NameRule::invalid_utf8, 2, "surrogate U+DFFF"},         // U+DFFF
      {"a/\xF4\x90\x80\x80", NameRule::invalid_utf8, 2, "code point above U+10FFFF"},  // U+110000
      {"a/\xF5\x80\x80\x80", NameRule::invalid_utf8, 2, "above U+10FFFF"},
      {"a/\xE6\x97", NameRule::invalid_utf8, 2, "truncated"},  // 日 cut at the end
      {"a/\xE6\x97"
       "b",
       NameRule::invalid_utf8, 2, "truncated sequence"},  // 日 cut before 'b'
      {"caf\xC3", NameRule::invalid_utf8, 3, "truncated sequence starting with byte 0xC3"},
      {"a\0b"s, NameRule::nul_character, 1, "NUL character"},
      {"\0"s, NameRule::nul_character, 0, "NUL character"},
      {"a/b\0"s, NameRule::nul_character, 3, "U+0000"},
      // Earlier rules win: an empty level before ill-formed UTF-8, UTF-8 before NUL.
      {"\0\xFF//"s, NameRule::empty_level, 3, "empty level"},
      {"\0\xFF"s, NameRule::invalid_utf8, 1, "invalid UTF-8"},
  };
}

std::vector<InvalidCase> topic_cases() {
  std::vector<InvalidCase> cases = common_cases();
  std::vector<InvalidCase> own = {
      {"a/*", NameRule::wildcard_in_topic, 2, "wildcard '*'"},
      {"a/>", NameRule::wildcard_in_topic, 2, "wildcard '>'"},
      {">", NameRule::wildcard_in_topic, 0, "wildcard"},
      {"ab*", NameRule::wildcard_in_topic, 2, "in level \"ab*\""},
      {"a>b/c", NameRule::wildcard_in_topic, 1, "filter wildcards"},
      {"a/+", NameRule::mqtt_character, 2, "MQTT character '+'"},
      {"a/#", NameRule::mqtt_character, 2, "MQTT character '#'"},
      {"a#b", NameRule::mqtt_character, 1, "MQTT wildcards"},
      {"+/*", NameRule::wildcard_in_topic, 2, "wildcard"},  // rule order, not position
      {"$sys/x", NameRule::reserved_prefix, 0, "reserved prefix '$'"},
      {"$", NameRule::reserved_prefix, 0, "reserved for the system"},
      {"$share/g/t", NameRule::reserved_prefix, 0, "reserved"},
      {"$sys/*", NameRule::wildcard_in_topic, 5, "wildcard", Publisher::system},
      {"$sys//x", NameRule::empty_level, 5, "empty level", Publisher::system},
      {"$sys/+", NameRule::mqtt_character, 5, "MQTT", Publisher::system},
      {"$sys/*", NameRule::wildcard_in_topic, 5, "wildcard"},  // grammar before reserved
  };
  cases.insert(cases.end(), own.begin(), own.end());
  return cases;
}

class InvalidTopic : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidTopic, IsRefusedWithRuleOffsetAndMessage) {
  const InvalidCase& c = GetParam();
  const auto error = check_topic(c.input, c.publisher);
  expect_refused(error, c, "invalid topic \"");
}

INSTANTIATE_TEST_SUITE_P(TopicNames, InvalidTopic, ::testing::ValuesIn(topic_cases()));

std::vector<InvalidCase> filter_cases() {
  std::vector<InvalidCase> cases = common_cases();
  std::vector<InvalidCase> own = {
      {"a/+", NameRule::mqtt_character, 2, "uses '*' for one level"},
      {"a/#", NameRule::mqtt_character, 2, "uses '>' for the remaining levels"},
      {"+", NameRule::mqtt_character, 0, "MQTT character '+'"},
      {"a+/b", NameRule::mqtt_character, 1, "MQTT"},
      {"a/b*c", NameRule::misplaced_star, 3, "misplaced '*' in level \"b*c\""},
      {"a/**", NameRule::misplaced_star, 2, "last character of its level"},
      {"*a", NameRule::misplaced_star, 0, "misplaced '*'"},
      {"*>", NameRule::misplaced_star, 0, "misplaced '*'"},  // star rule before tail rule
      {"a/>/b", NameRule::misplaced_tail, 2, "must be the last level"},
      {"a>", NameRule::misplaced_tail, 1, "must be a whole level"},
      {"a/x>", NameRule::misplaced_tail, 3, "misplaced '>' in level \"x>\""},
      {">a", NameRule::misplaced_tail, 0, "whole level"},
      {">/>", NameRule::misplaced_tail, 0, "last level"},
      {"a/>>", NameRule::misplaced_tail, 2, "misplaced '>'"},
      {"a/b*c/+", NameRule::mqtt_character, 6, "MQTT"},  // rule order, not position
  };
  cases.insert(cases.end(), own.begin(), own.end());
  return cases;
}

class InvalidFilter : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidFilter, IsRefusedWithRuleOffsetAndMessage) {
  const InvalidCase& c = GetParam();
  const auto error = check_filter(c.input);
  expect_refused(error, c, "invalid filter \"");
}

INSTANTIATE_TEST_SUITE_P(TopicNames, InvalidFilter, ::testing::ValuesIn(filter_cases()));

TEST(TopicNames, MessageHasTheDocumentedShape) {
  const auto error = check_filter("a//b");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->message,
            "invalid filter \"a//b\": empty level at byte 2 (levels between '/' must not be "
            "empty)");
}

TEST(TopicNames, MessageEscapesAndShortensTheName) {
  const auto error = check_topic("a\"\\\x01\xFF");
  ASSERT_TRUE(error.has_value());
  EXPECT_THAT(error->message, HasSubstr("\"a\\\"\\\\\\x01\\xFF\""));
  const auto long_error = check_topic(repeat("日", 100));
  ASSERT_TRUE(long_error.has_value());
  EXPECT_TRUE(is_valid_utf8(long_error->message));
  EXPECT_THAT(long_error->message, HasSubstr("\"...: too long"));
  EXPECT_LT(long_error->message.size(), 200u);
}

// ---------------------------------------------------------------- MQTT translation

struct MqttCase {
  std::string input;
  std::vector<std::string> filters;
};

void PrintTo(const MqttCase& c, std::ostream* os) {
  *os << '"' << printable(c.input) << '"';
}

class MqttTranslates : public ::testing::TestWithParam<MqttCase> {};

TEST_P(MqttTranslates, ToFiltersThatPassCheckFilter) {
  const MqttCase& c = GetParam();
  const MqttTranslation translation = from_mqtt_filter(c.input);
  ASSERT_FALSE(translation.error.has_value()) << translation.error->message;
  EXPECT_EQ(translation.filters, c.filters);
  for (const std::string& filter : translation.filters) {
    const auto error = check_filter(filter);
    EXPECT_FALSE(error.has_value()) << error->message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    TopicNames, MqttTranslates,
    ::testing::Values(MqttCase{"a", {"a"}}, MqttCase{"a/b/c", {"a/b/c"}}, MqttCase{"+", {"*"}},
                      MqttCase{"a/+", {"a/*"}}, MqttCase{"+/b/+", {"*/b/*"}}, MqttCase{"#", {">"}},
                      MqttCase{"a/#", {"a", "a/>"}}, MqttCase{"a/+/#", {"a/*", "a/*/>"}},
                      MqttCase{"+/#", {"*", "*/>"}}, MqttCase{"$sys/#", {"$sys", "$sys/>"}},
                      MqttCase{"$share/g/a/+", {"$share/g/a/*"}},  // not stripped here
                      MqttCase{"café/日本/#", {"café/日本", "café/日本/>"}},
                      MqttCase{repeat("a", 248) + "/#",
                               {repeat("a", 248), repeat("a", 248) + "/>"}},
                      MqttCase{repeat("a", 250), {repeat("a", 250)}}));

std::vector<InvalidCase> mqtt_cases() {
  std::vector<InvalidCase> cases = common_cases();
  std::vector<InvalidCase> own = {
      {"a/b+", NameRule::mqtt_bad_wildcard, 3, "'+' must occupy a whole level"},
      {"+a", NameRule::mqtt_bad_wildcard, 0, "MQTT-4.7.1-3"},
      {"a/++", NameRule::mqtt_bad_wildcard, 2, "misplaced MQTT wildcard '+'"},
      {"a/#/b", NameRule::mqtt_bad_wildcard, 2, "'#' must be a whole level and the last one"},
      {"a#", NameRule::mqtt_bad_wildcard, 1, "MQTT-4.7.1-2"},
      {"#/#", NameRule::mqtt_bad_wildcard, 0, "misplaced MQTT wildcard '#'"},
      {"a/##", NameRule::mqtt_bad_wildcard, 2, "'#'"},
      {"a/*", NameRule::mqtt_skein_wildcard, 2, "Skein wildcard '*'"},
      {"a/>", NameRule::mqtt_skein_wildcard, 2, "Skein wildcard '>'"},
      {"ab*/c", NameRule::mqtt_skein_wildcard, 2, "not allowed"},
      {"a/*/b+", NameRule::mqtt_bad_wildcard, 5, "'+'"},  // rule order, not position
      {"a//#", NameRule::empty_level, 2, "Skein refuses the empty levels that MQTT allows"},
      {"/a/+", NameRule::empty_level, 0, "empty level"},
      {"+/", NameRule::empty_level, 2, "empty level"},
  };
  cases.insert(cases.end(), own.begin(), own.end());
  return cases;
}

class MqttRefused : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(MqttRefused, WithRuleAndOffsetInTheMqttInput) {
  const InvalidCase& c = GetParam();
  const MqttTranslation translation = from_mqtt_filter(c.input);
  EXPECT_TRUE(translation.filters.empty());
  expect_refused(translation.error, c, "invalid MQTT filter \"");
}

INSTANTIATE_TEST_SUITE_P(TopicNames, MqttRefused, ::testing::ValuesIn(mqtt_cases()));

// ---------------------------------------------------------------- split_levels, rule_id

TEST(TopicNames, SplitLevelsReturnsViewsIntoTheName) {
  const std::string name = "orders/created/us/1234";
  const std::vector<std::string_view> levels = split_levels(name);
  ASSERT_EQ(levels.size(), 4u);
  EXPECT_EQ(levels[0], "orders");
  EXPECT_EQ(levels[1], "created");
  EXPECT_EQ(levels[2], "us");
  EXPECT_EQ(levels[3], "1234");
  EXPECT_EQ(levels[0].data(), name.data());
  EXPECT_EQ(levels[3].data(), name.data() + 18);
}

TEST(TopicNames, SplitLevelsEdgeCases) {
  using Levels = std::vector<std::string_view>;
  EXPECT_EQ(split_levels("a"), Levels{"a"});
  EXPECT_EQ(split_levels(">"), Levels{">"});
  EXPECT_EQ(split_levels("a/*/>"), (Levels{"a", "*", ">"}));
  EXPECT_EQ(split_levels("café/日本"), (Levels{"café", "日本"}));
  EXPECT_EQ(split_levels(levels_of_a(125)).size(), 125u);
  // Not valid names, but split faithfully: n separators give n + 1 levels.
  EXPECT_EQ(split_levels(""), Levels{""});
  EXPECT_EQ(split_levels("a//b"), (Levels{"a", "", "b"}));
  EXPECT_EQ(split_levels("/"), (Levels{"", ""}));
}

TEST(TopicNames, RuleIdIsTheEnumeratorName) {
  EXPECT_EQ(rule_id(NameRule::empty), "empty");
  EXPECT_EQ(rule_id(NameRule::too_long), "too_long");
  EXPECT_EQ(rule_id(NameRule::too_many_levels), "too_many_levels");
  EXPECT_EQ(rule_id(NameRule::empty_level), "empty_level");
  EXPECT_EQ(rule_id(NameRule::invalid_utf8), "invalid_utf8");
  EXPECT_EQ(rule_id(NameRule::nul_character), "nul_character");
  EXPECT_EQ(rule_id(NameRule::wildcard_in_topic), "wildcard_in_topic");
  EXPECT_EQ(rule_id(NameRule::mqtt_character), "mqtt_character");
  EXPECT_EQ(rule_id(NameRule::misplaced_star), "misplaced_star");
  EXPECT_EQ(rule_id(NameRule::misplaced_tail), "misplaced_tail");
  EXPECT_EQ(rule_id(NameRule::reserved_prefix), "reserved_prefix");
  EXPECT_EQ(rule_id(NameRule::mqtt_bad_wildcard), "mqtt_bad_wildcard");
  EXPECT_EQ(rule_id(NameRule::mqtt_skein_wildcard), "mqtt_skein_wildcard");
}

TEST(TopicNames, IsReserved) {
  EXPECT_TRUE(is_reserved("$sys/x"));
  EXPECT_TRUE(is_reserved("$"));
  EXPECT_FALSE(is_reserved(""));
  EXPECT_FALSE(is_reserved("a/$sys"));
}

TEST(TopicNames, DefaultPublisherIsClient) {
  ASSERT_TRUE(check_topic("$sys/x").has_value());
  EXPECT_EQ(check_topic("$sys/x")->rule, NameRule::reserved_prefix);
  EXPECT_FALSE(check_topic("$sys/x", Publisher::system).has_value());
}

}  // namespace
}  // namespace skein::core
