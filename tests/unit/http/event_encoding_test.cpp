// The HTTP face's renderings of events: SSE messages, JSON objects (checked by
// parsing them back with nlohmann-json), the JSON string escaper, base64, and
// the once-per-event encoding cache.
#include "http/event_encoding.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/json_text.hpp"

namespace skein::http {
namespace {

core::Event make_event(std::string topic, std::string payload) {
  core::Event event;
  event.topic = std::move(topic);
  event.payload = std::move(payload);
  event.origin = core::Origin{"node-a", 42};
  event.timestamp_ms = 1700000000123;
  return event;
}

TEST(JsonText, EscapesQuotesBackslashesAndControls) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\n\t\x01z\0", 10));
  EXPECT_EQ(out, R"("a\"b\\c\n\t\u0001z\u0000")");
}

TEST(JsonText, IllFormedUtf8BecomesReplacementCharacter) {
  std::string out;
  append_json_string(out, "ok\xff\xc3(caf\xc3\xa9");
  EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(),
            "ok\xef\xbf\xbd\xef\xbf\xbd(caf\xc3\xa9");
}

TEST(EventJson, CarriesEveryFieldAndParsesBack) {
  auto event = make_event("orders/new/us/1", "{\"n\":\"é\"}");
  event.key = "customer-\"7\"";
  event.content_type = "application/json";
  event.headers = {{"Trace", "abc"}, {"x\"y", "line\nbreak"}};
  auto j = nlohmann::json::parse(to_json(event));
  EXPECT_EQ(j["topic"], "orders/new/us/1");
  EXPECT_EQ(j["id"], "42");
  EXPECT_EQ(j["origin"], "node-a");
  EXPECT_EQ(j["timestamp"], 1700000000123);
  EXPECT_EQ(j["key"], "customer-\"7\"");
  EXPECT_EQ(j["content_type"], "application/json");
  EXPECT_EQ(j["headers"]["Trace"], "abc");
  EXPECT_EQ(j["headers"]["x\"y"], "line\nbreak");
  EXPECT_EQ(j["payload"], "{\"n\":\"é\"}");
}

TEST(EventJson, BinaryPayloadAndKeyTravelAsBase64) {
  auto event = make_event("b", std::string("\x00\xff\x01", 3));
  event.key = std::string("\xfe", 1);
  auto j = nlohmann::json::parse(to_json(event));
  EXPECT_FALSE(j.contains("payload"));
  std::string payload, key;
  ASSERT_TRUE(base64_decode(j["payload_base64"].get<std::string>(), payload));
  ASSERT_TRUE(base64_decode(j["key_base64"].get<std::string>(), key));
  EXPECT_EQ(payload, std::string("\x00\xff\x01", 3));
  EXPECT_EQ(key, "\xfe");
  EXPECT_FALSE(j.contains("headers"));
  EXPECT_FALSE(j.contains("content_type"));
}

TEST(EventSse, TextLinesBinaryAndMarker) {
  std::string out;
  append_sse(make_event("t/1", "one\ntwo"), out);
  EXPECT_EQ(out, "id: 42\nevent: t/1\ndata: one\ndata: two\n\n");
  out.clear();
  append_sse(make_event("t/2", "a\rb"), out);
  EXPECT_EQ(out, "id: 42\nevent: t/2\ndata: base64:" + base64_encode("a\rb") + "\n\n");
  out.clear();
  append_sse(make_event("t/3", "base64:x"), out);
  EXPECT_EQ(out, "id: 42\nevent: t/3\ndata: base64:" + base64_encode("base64:x") + "\n\n");
}

TEST(Base64, RoundTripsAndRefusesGarbage) {
  for (const std::string& s :
       std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\x00\x01\xff", 3)}) {
    std::string back;
    ASSERT_TRUE(base64_decode(base64_encode(s), back));
    EXPECT_EQ(back, s);
  }
  std::string ignored;
  EXPECT_FALSE(base64_decode("abc", ignored));
  EXPECT_FALSE(base64_decode("a!c=", ignored));
}

TEST(EncodingCache, RendersOncePerEventAndCopiesStartEmpty) {
  auto event = make_event("c", "p");
  const std::string& first = cached_json(event);
  const std::string& second = cached_json(event);
  EXPECT_EQ(&first, &second);  // the same rendering, not a new one
  EXPECT_EQ(first, to_json(event));
  core::Event copy = event;
  copy.payload = "changed";
  EXPECT_NE(cached_json(copy), first);  // the copy did not inherit the rendering
  EXPECT_EQ(cached_sse(event), "id: 42\nevent: c\ndata: p\n\n");
}

}  // namespace
}  // namespace skein::http
