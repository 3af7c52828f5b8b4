// The replay parameters of GET /v1/subscribe: RFC 3339 date-times (checked
// against timegm, computed independently here), event-id cursors
// ("0:16,1:7"), and parse_subscribe_request with stream= (filters moved into
// the replay, every from= form, Last-Event-ID only without from=, refusals
// that name what is wrong).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "http/request_target.hpp"
#include "http/subscribe_request.hpp"

namespace skein::http {
namespace {

using From = ReplayRequest::From;
using Cursor = std::map<std::int32_t, std::int64_t>;

// Unix milliseconds of a UTC civil time, by the C library.
std::int64_t utc_ms(int year, int month, int day, int hour, int minute, int second, int ms = 0) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

constexpr std::int64_t kHour = 3600 * 1000;
constexpr std::int64_t kMinute = 60 * 1000;

// ---- parse_rfc3339 ------------------------------------------------------

TEST(ParseRfc3339, UtcWithZ) {
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00Z"), utc_ms(2026, 11, 23, 10, 0, 0));
  EXPECT_EQ(parse_rfc3339("1999-12-31T23:59:59Z"), utc_ms(1999, 12, 31, 23, 59, 59));
  EXPECT_EQ(parse_rfc3339("2038-01-19T03:14:08Z"), utc_ms(2038, 1, 19, 3, 14, 8));
}

TEST(ParseRfc3339, Epoch) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00.001Z"), 1);
  EXPECT_EQ(parse_rfc3339("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59Z"), -1000);
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59.500Z"), -500);
}

TEST(ParseRfc3339, PositiveAndNegativeOffsets) {
  const auto base = utc_ms(2026, 11, 23, 10, 0, 0);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00+01:00"), base - kHour);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00-05:30"), base + 5 * kHour + 30 * kMinute);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00+00:00"), base);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00-00:00"), base);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00+23:59"), base - 23 * kHour - 59 * kMinute);
  // An offset that crosses the day, the month and the year.
  EXPECT_EQ(parse_rfc3339("2027-01-01T01:30:00+02:00"), utc_ms(2026, 12, 31, 23, 30, 0));
  EXPECT_EQ(parse_rfc3339("2026-12-31T22:00:00-03:00"), utc_ms(2027, 1, 1, 1, 0, 0));
}

TEST(ParseRfc3339, FractionsAreMillisecondsTruncated) {
  const auto base = utc_ms(2026, 11, 23, 10, 0, 0);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00.1Z"), base + 100);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00.25Z"), base + 250);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00.250Z"), base + 250);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00.123456Z"), base + 123);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00.999999999Z"), base + 999);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00.000Z"), base);
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00.250+01:00"), base + 250 - kHour);
  // Many digits: no overflow, still truncated to the millisecond.
  EXPECT_EQ(parse_rfc3339("2026-11-23T10:00:00.12345678901234567890123456789Z"), base + 123);
}

TEST(ParseRfc3339, LeapDays) {
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), utc_ms(2024, 2, 29, 0, 0, 0));
  EXPECT_EQ(parse_rfc3339("2024-02-29T23:59:59Z"), utc_ms(2024, 2, 29, 23, 59, 59));
  EXPECT_EQ(parse_rfc3339("2000-02-29T12:00:00Z"), utc_ms(2000, 2, 29, 12, 0, 0));
  EXPECT_EQ(parse_rfc3339("2024-03-01T00:00:00Z"), utc_ms(2024, 3, 1, 0, 0, 0));
  EXPECT_EQ(*parse_rfc3339("2024-03-01T00:00:00Z") - *parse_rfc3339("2024-02-28T00:00:00Z"),
            2 * 24 * kHour);
  EXPECT_EQ(*parse_rfc3339("2023-03-01T00:00:00Z") - *parse_rfc3339("2023-02-28T00:00:00Z"),
            24 * kHour);
}

TEST(ParseRfc3339, EveryDayOfSeveralYearsMatchesTimegm) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (int year : {1900, 1970, 1999, 2000, 2023, 2024, 2100, 2400}) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    for (int month = 1; month <= 12; ++month) {
      const int days = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
      for (int day = 1; day <= days; ++day) {
        char text[32];
        std::snprintf(text, sizeof text, "%04d-%02d-%02dT13:45:07.5Z", year, month, day);
        EXPECT_EQ(parse_rfc3339(text), utc_ms(year, month, day, 13, 45, 7, 500)) << text;
      }
    }
  }
}

TEST(ParseRfc3339, LowercaseTAndZAndASpaceSeparator) {
  const auto base = utc_ms(2026, 11, 23, 10, 0, 0);
  EXPECT_EQ(parse_rfc3339("2026-11-23t10:00:00z"), base);
  // RFC 3339 §5.6 NOTE lets applications use a space for "T"; this one does.
  EXPECT_EQ(parse_rfc3339("2026-11-23 10:00:00Z"), base);
  EXPECT_EQ(parse_rfc3339("2026-11-23 10:00:00+01:00"), base - kHour);
}

TEST(ParseRfc3339, LeapSecondIsTheNextMinutesFirst) {
  // time-second may be 60 (RFC 3339 §5.7); it counts as the second after :59.
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60Z"), utc_ms(2017, 1, 1, 0, 0, 0));
}

TEST(ParseRfc3339, RefusesWhatIsNotADateTime) {
  for (const char* bad : {
           "",
           "2026-11-23T10:00:00",         // no zone
           "2026-11-23T10:00:00.250",     // no zone after a fraction
           "2026-11-23",                  // a date alone
           "2026-11-23T10:00Z",           // no seconds
           "2026-13-01T00:00:00Z",        // month 13
           "2026-00-01T00:00:00Z",        // month 0
           "2026-11-00T00:00:00Z",        // day 0
           "2026-11-32T00:00:00Z",        // day 32
           "2026-11-23T24:00:00Z",        // hour 24
           "2026-11-23T10:60:00Z",        // minute 60
           "2026-11-23T10:00:61Z",        // second 61
           "2026-11-23T10:00:00Zjunk",    // trailing junk
           "2026-11-23T10:00:00Z ",       // trailing space
           " 2026-11-23T10:00:00Z",       // leading space
           "2026-11-23T10:00:00+01:00x",  // junk after the offset
           "2026-11-23T10:00:00.Z",       // a dot without digits
           "2026-11-23T10:00:00.",        // a dot and nothing
           "2026-11-23T10:00:00,5Z",      // comma fraction (ISO 8601, not RFC 3339)
           "2026-11-23T10:00:00+0100",    // offset without colon
           "2026-11-23T10:00:00+01",      // offset without minutes
           "2026-11-23T10:00:00+01:0",    // short offset
           "2026-11-23T10:00:00+24:00",   // offset hour 24
           "2026-11-23T10:00:00+01:60",   // offset minute 60
           "2026-11-23T10:00:00 01:00",   // '+' lost to a space
           "2026-11-23X10:00:00Z",        // bad separator
           "2026/11/23T10:00:00Z",        // bad date separators
           "2026-11-23T10-00-00Z",        // bad time separators
           "26-11-23T10:00:00Z",          // two-digit year
           "+2026-11-23T10:00:00Z",       // signed year
           "2026-1-23T10:00:00Z",         // one-digit month
           "2026-11-23T1:00:00Z",         // one-digit hour
           "abcd-ef-ghTij:kl:mnZ",        // not digits
           "1700000000000",               // Unix milliseconds are not RFC 3339
           "now",
       }) {
    EXPECT_EQ(parse_rfc3339(bad), std::nullopt) << '"' << bad << '"';
  }
}

// RFC 3339 §5.7: date-mday is 01-28, 01-29, 01-30 or 01-31 by month and year.
TEST(ParseRfc3339, RefusesDaysTheMonthDoesNotHave) {
  for (const char* bad : {
           "2026-02-30T00:00:00Z",
           "2026-02-31T00:00:00Z",
           "2023-02-29T00:00:00Z",  // not a leap year
           "1900-02-29T00:00:00Z",  // divisible by 100, not by 400
           "2026-04-31T00:00:00Z",
           "2026-06-31T00:00:00Z",
           "2026-09-31T00:00:00Z",
           "2026-11-31T00:00:00Z",
       }) {
    EXPECT_EQ(parse_rfc3339(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(ParseRfc3339, ShortInputsNeverReadPastTheEnd) {
  // Every prefix of a valid date-time is refused (none is complete), without
  // reading beyond it (checked under ASan by copying into an exact buffer).
  const std::string full = "2026-11-23T10:00:00.250+01:00";
  for (std::size_t n = 0; n < full.size(); ++n) {
    auto copy = std::make_unique<char[]>(n == 0 ? 1 : n);
    std::memcpy(copy.get(), full.data(), n);
    EXPECT_EQ(parse_rfc3339(std::string_view(copy.get(), n)), std::nullopt) << n;
  }
  EXPECT_TRUE(parse_rfc3339(full));
}

// ---- parse_cursor -------------------------------------------------------

TEST(ParseCursor, ReadsPartitionOffsetPairs) {
  EXPECT_EQ(parse_cursor("0:16,1:7"), (Cursor{{0, 16}, {1, 7}}));
  EXPECT_EQ(parse_cursor("3:0"), (Cursor{{3, 0}}));
  EXPECT_EQ(parse_cursor("0:16,1:7,2:33"), (Cursor{{0, 16}, {1, 7}, {2, 33}}));
  EXPECT_EQ(parse_cursor("2:5,0:1"), (Cursor{{0, 1}, {2, 5}}));  // any order
  EXPECT_EQ(parse_cursor("007:010"), (Cursor{{7, 10}}));         // leading zeros
  EXPECT_EQ(parse_cursor("2147483647:9223372036854775807"), (Cursor{{INT32_MAX, INT64_MAX}}));
}

TEST(ParseCursor, RefusesMalformedIds) {
  for (const char* bad : {
           "",
           "0:",
           ":1",
           ":",
           "0",
           "0:1,",
           ",0:1",
           "0:1,,1:2",
           "0:1,0:2",  // partition named twice
           "1:5,0:0,1:5",
           "-1:0",
           "0:-1",
           "+1:0",
           "0:+1",
           "a:1",
           "0:b",
           "0:1x",
           "0x1:2",
           " 0:1",
           "0:1 ",
           "0 :1",
           "0:1:2",
           "0;1",
           "0:1;1:2",
           "2147483648:0",               // partition beyond int32
           "0:9223372036854775808",      // offset beyond int64
           "0:99999999999999999999999",  // far beyond
           "99999999999999999999999:0",
           "1.5:0",
           "0:1e3",
       }) {
    EXPECT_EQ(parse_cursor(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(ParseCursor, RefusesIdsLongerThan64KiB) {
  std::string many;
  for (int p = 0; many.size() <= 64 * 1024; ++p) {
    if (!many.empty()) many += ',';
    many += std::to_string(p) + ":1";
  }
  EXPECT_EQ(parse_cursor(many), std::nullopt);
  // A long but acceptable one.
  std::string fine;
  for (int p = 0; p < 1000; ++p) {
    if (!fine.empty()) fine += ',';
    fine += std::to_string(p) + ":" + std::to_string(p * 3);
  }
  auto cursor = parse_cursor(fine);
  ASSERT_TRUE(cursor);
  EXPECT_EQ(cursor->size(), 1000U);
  EXPECT_EQ(cursor->at(999), 2997);
}

TEST(ParseCursor, RenderedCursorParsesBack) {
  const Cursor cursor{{0, 16}, {1, 7}, {2, 33}, {9, 0}};
  std::string text;
  for (const auto& [p, o] : cursor) {
    if (!text.empty()) text += ',';
    text += std::to_string(p) + ':' + std::to_string(o);
  }
  EXPECT_EQ(parse_cursor(text), cursor);
}

// ---- parse_subscribe_request with stream= -------------------------------

SubscribeParse parse(std::string_view query, std::optional<std::string_view> last_event_id = {},
                     HttpSettings settings = {}) {
  auto target = parse_request_target("/v1/subscribe?" + std::string(query));
  EXPECT_TRUE(target) << query;
  if (!target) return {};
  return parse_subscribe_request(*target, settings, last_event_id);
}

// The error body of a refusal, parsed; checks that it is one.
nlohmann::json refusal(const SubscribeParse& parsed) {
  EXPECT_FALSE(parsed.request);
  return nlohmann::json::parse(parsed.error_body);
}

TEST(SubscribeReplay, StreamAloneIsAReplayFromLatestOfEveryEvent) {
  auto parsed = parse("stream=orders");
  ASSERT_TRUE(parsed.request) << parsed.error_body;
  ASSERT_TRUE(parsed.request->replay);
  const auto& replay = *parsed.request->replay;
  EXPECT_EQ(replay.stream, "orders");
  EXPECT_EQ(replay.from, From::latest);
  EXPECT_TRUE(replay.filters.empty());
  EXPECT_TRUE(replay.cursor.empty());
  EXPECT_TRUE(parsed.request->filters.empty());
}

TEST(SubscribeReplay, FiltersMoveIntoTheReplay) {
  auto parsed = parse("stream=orders&filter=orders/*/us/>&filter=audit/%3E&from=earliest");
  ASSERT_TRUE(parsed.request) << parsed.error_body;
  ASSERT_TRUE(parsed.request->replay);
  EXPECT_TRUE(parsed.request->filters.empty());
  EXPECT_EQ(parsed.request->replay->filters,
            (std::vector<std::string>{"orders/*/us/>", "audit/>"}));
}

TEST(SubscribeReplay, WithoutStreamAFilterIsStillRequired) {
  EXPECT_EQ(refusal(parse("from=earliest"))["error"], "missing_filter");
  auto live = parse("filter=a/b&from=earliest", "0:3");
  ASSERT_TRUE(live.request) << live.error_body;
  EXPECT_FALSE(live.request->replay);  // from= and Last-Event-ID mean nothing live
  EXPECT_EQ(live.request->filters, (std::vector<std::string>{"a/b"}));
}

TEST(SubscribeReplay, EveryFromForm) {
  {
    auto p = parse("stream=s&from=earliest");
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::earliest);
  }
  {
    auto p = parse("stream=s&from=latest");
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::latest);
  }
  {
    auto p = parse("stream=s&from=offset:42");
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::offset);
    EXPECT_EQ(p.request->replay->value, 42);
  }
  {
    auto p = parse("stream=s&from=offset:0");
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::offset);
    EXPECT_EQ(p.request->replay->value, 0);
  }
  {
    auto p = parse("stream=s&from=time:2026-11-23T10:00:00.250Z");
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::time);
    EXPECT_EQ(p.request->replay->value, utc_ms(2026, 11, 23, 10, 0, 0, 250));
  }
  {
    // A '+' offset must be percent-encoded in a query ('+' is a space there).
    auto p = parse("stream=s&from=time:2026-11-23T10:00:00%2B01:00");
    ASSERT_TRUE(p.request) << p.error_body;
    EXPECT_EQ(p.request->replay->value, utc_ms(2026, 11, 23, 9, 0, 0));
  }
  {
    auto p = parse("stream=s&from=time:2026-11-23T10:00:00-05:30");
    ASSERT_TRUE(p.request) << p.error_body;
    EXPECT_EQ(p.request->replay->value, utc_ms(2026, 11, 23, 15, 30, 0));
  }
  {
    auto p = parse("stream=s&from=0:16,1:7,2:33");
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::cursor);
    EXPECT_EQ(p.request->replay->cursor, (Cursor{{0, 16}, {1, 7}, {2, 33}}));
  }
  {
    auto p = parse("stream=s&from=0%3A16%2C1%3A7");  // the id percent-encoded
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->cursor, (Cursor{{0, 16}, {1, 7}}));
  }
  {
    auto p = parse("stream=s&from=");  // empty: the default
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::latest);
  }
  {
    auto p = parse("stream=s&from=earliest&from=offset:5");  // the last one counts
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::offset);
    EXPECT_EQ(p.request->replay->value, 5);
  }
}

TEST(SubscribeReplay, HugeOffsetIsAcceptedAndOverflowIsNot) {
  auto p = parse("stream=s&from=offset:9223372036854775807");
  ASSERT_TRUE(p.request);
  EXPECT_EQ(p.request->replay->value, INT64_MAX);
  EXPECT_EQ(refusal(parse("stream=s&from=offset:9223372036854775808"))["error"],
            "invalid_parameter");
}

TEST(SubscribeReplay, BadFromIsA400NamingFrom) {
  for (const char* query : {
           "stream=s&from=offset:-1",
           "stream=s&from=offset:",
           "stream=s&from=offset:abc",
           "stream=s&from=offset:1.5",
           "stream=s&from=offset:%201",
           "stream=s&from=time:garbage",
           "stream=s&from=time:",
           "stream=s&from=time:2026-11-23T10:00:00",
           "stream=s&from=time:2026-11-23T10:00:00+01:00",  // raw '+': a space
           "stream=s&from=time:1700000000000",
           "stream=s&from=0:1,0:2",
           "stream=s&from=0:1,",
           "stream=s&from=-1:0",
           "stream=s&from=EARLIEST",
           "stream=s&from=first",
           "stream=s&from=12",
       }) {
    auto body = refusal(parse(query));
    EXPECT_EQ(body["error"], "invalid_parameter") << query;
    EXPECT_NE(body["message"].get<std::string>().find("from"), std::string::npos)
        << query << ": " << body.dump();
  }
}

TEST(SubscribeReplay, LastEventIdResumesOnlyWithoutFrom) {
  {
    auto p = parse("stream=s", "0:5,1:6");
    ASSERT_TRUE(p.request) << p.error_body;
    EXPECT_EQ(p.request->replay->from, From::cursor);
    EXPECT_EQ(p.request->replay->cursor, (Cursor{{0, 5}, {1, 6}}));
  }
  {
    auto p = parse("stream=s&from=", "2:9");  // an empty from= is no from=
    ASSERT_TRUE(p.request) << p.error_body;
    EXPECT_EQ(p.request->replay->cursor, (Cursor{{2, 9}}));
  }
  {
    auto p = parse("stream=s&from=earliest", "0:5,1:6");
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->from, From::earliest);
    EXPECT_TRUE(p.request->replay->cursor.empty());
  }
  {
    auto p = parse("stream=s&from=3:1", "0:5,1:6");
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->replay->cursor, (Cursor{{3, 1}}));
  }
  {
    auto p = parse("stream=s", "");  // an empty header: the default
    ASSERT_TRUE(p.request) << p.error_body;
    EXPECT_EQ(p.request->replay->from, From::latest);
  }
  {
    // The header may carry any from= form the client stored as an id.
    auto p = parse("stream=s", "earliest");
    ASSERT_TRUE(p.request) << p.error_body;
    EXPECT_EQ(p.request->replay->from, From::earliest);
  }
  EXPECT_EQ(refusal(parse("stream=s", "0:1,0:2"))["error"], "invalid_parameter");
  EXPECT_EQ(refusal(parse("stream=s", "garbage"))["error"], "invalid_parameter");
  // A live subscription ignores it.
  auto live = parse("filter=a/>", "garbage");
  ASSERT_TRUE(live.request);
  EXPECT_FALSE(live.request->replay);
}

TEST(SubscribeReplay, InvalidFilterIsStillRefused) {
  for (const char* query : {"stream=s&filter=a/>/b", "stream=s&filter=", "stream=s&filter=a//b",
                            "stream=s&filter=ok/*&filter=bad/>/x&from=earliest"}) {
    auto body = refusal(parse(query));
    EXPECT_EQ(body["error"], "invalid_filter") << query;
    EXPECT_TRUE(body.contains("rule")) << body.dump();
  }
}

TEST(SubscribeReplay, FilterIsCheckedBeforeFrom) {
  // Both wrong: the filter is named (either is a fair answer; this pins the order).
  EXPECT_EQ(refusal(parse("stream=s&filter=a/>/b&from=offset:-1"))["error"], "invalid_filter");
}

TEST(SubscribeReplay, SlowAndQueueApplyToReplayToo) {
  HttpSettings settings;
  settings.subscriber_queue = 100;
  auto p = parse("stream=s&slow=drop-oldest&queue=10", {}, settings);
  ASSERT_TRUE(p.request) << p.error_body;
  EXPECT_EQ(p.request->slow_policy, core::SlowPolicy::drop_oldest);
  EXPECT_EQ(p.request->queue, 10U);
  EXPECT_EQ(refusal(parse("stream=s&queue=101", {}, settings))["error"], "invalid_parameter");
  EXPECT_EQ(refusal(parse("stream=s&slow=never", {}, settings))["error"], "invalid_parameter");
}

TEST(SubscribeReplay, TheLastStreamCounts) {
  auto p = parse("stream=a&stream=b%2Fc");
  ASSERT_TRUE(p.request);
  EXPECT_EQ(p.request->replay->stream, "b/c");
}

TEST(SubscribeReplay, EveryRefusalIsJson) {
  for (const char* query :
       {"stream=s&from=bad", "stream=s&filter=%00", "from=x", "stream=s&queue=0"}) {
    auto p = parse(query);
    EXPECT_FALSE(p.request) << query;
    EXPECT_TRUE(nlohmann::json::accept(p.error_body)) << query << ": " << p.error_body;
  }
}

}  // namespace
}  // namespace skein::http
