// Request and response headers and frames (kafka/protocol/request_header.hpp,
// api_versions.hpp): which header version each API and version uses, parsing
// v1 and v2 headers, unknown APIs and unsupported versions, the ApiVersions
// exceptions, and an independent table of the served versions and flexible
// thresholds checked against the generated one.
#include "kafka/protocol/request_header.hpp"

#include <gtest/gtest.h>

#include <map>

#include "kafka/protocol/api_versions.hpp"
#include "kafka/protocol/error_codes.hpp"
#include "test_bytes.hpp"

namespace skein::kafka {
namespace {

using test::hex;
using test::to_hex;

struct Expected {
  std::int16_t min;
  std::int16_t max;
  std::int16_t flexible_from;  // -1: never flexible
};

// Written by hand from the version list and the public message
// definitions' "flexibleVersions"; a mistake in a .def file shows here.
const std::map<std::int16_t, Expected> kExpected = {
    {0, {0, 9, 9}},    // Produce
    {1, {0, 12, 12}},  // Fetch
    {2, {0, 7, 6}},    // ListOffsets
    {3, {0, 12, 9}},   // Metadata
    {8, {0, 8, 8}},    // OffsetCommit
    {9, {0, 8, 6}},    // OffsetFetch
    {10, {0, 4, 3}},   // FindCoordinator
    {11, {0, 9, 6}},   // JoinGroup
    {12, {0, 4, 4}},   // Heartbeat
    {13, {0, 5, 4}},   // LeaveGroup
    {14, {0, 5, 4}},   // SyncGroup
    {15, {0, 5, 5}},   // DescribeGroups
    {16, {0, 4, 3}},   // ListGroups
    {17, {0, 1, -1}},  // SaslHandshake
    {18, {0, 3, 3}},   // ApiVersions
    {19, {0, 7, 5}},   // CreateTopics
    {20, {0, 6, 4}},   // DeleteTopics
    {22, {0, 4, 2}},   // InitProducerId
    {23, {2, 4, 4}},   // OffsetForLeaderEpoch
    {32, {0, 4, 4}},   // DescribeConfigs
    {36, {0, 2, 2}},   // SaslAuthenticate
    {37, {0, 3, 2}},   // CreatePartitions
    {42, {0, 2, 2}},   // DeleteGroups
    {44, {0, 1, 1}},   // IncrementalAlterConfigs
    {60, {0, 0, 0}},   // DescribeCluster
};

TEST(KafkaHeaders, TheTableMatchesThePublicDefinitions) {
  ASSERT_EQ(supported_apis().size(), kExpected.size());
  std::int16_t previous = -1;
  for (const ApiInfo& api : supported_apis()) {
    EXPECT_GT(api.key, previous) << "sorted by key";
    previous = api.key;
    auto it = kExpected.find(api.key);
    ASSERT_NE(it, kExpected.end()) << api.name;
    EXPECT_EQ(api.versions.min, it->second.min) << api.name;
    EXPECT_EQ(api.versions.max, it->second.max) << api.name;
    EXPECT_EQ(api.flexible_from, it->second.flexible_from) << api.name;
    EXPECT_EQ(find_api(api.key), &api);
    EXPECT_EQ(supported_versions(api.key), api.versions);
  }
  EXPECT_EQ(find_api(4), nullptr);  // LeaderAndIsr: inter-broker, not served
  EXPECT_EQ(find_api(-1), nullptr);
  EXPECT_EQ(find_api(1000), nullptr);
  EXPECT_EQ(supported_versions(7), std::nullopt);
}

TEST(KafkaHeaders, HeaderVersionsFollowFlexibility) {
  for (const auto& [key, e] : kExpected) {
    for (std::int16_t v = e.min; v <= e.max; ++v) {
      const bool flexible = e.flexible_from >= 0 && v >= e.flexible_from;
      EXPECT_EQ(is_flexible(key, v), flexible) << key << " v" << v;
      EXPECT_EQ(request_header_version(key, v), flexible ? 2 : 1) << key << " v" << v;
      // ApiVersions answers with header v0 even when flexible.
      EXPECT_EQ(response_header_version(key, v), flexible && key != 18 ? 1 : 0) << key << " v" << v;
    }
  }
  EXPECT_EQ(response_header_version(18, 3), 0);
  EXPECT_EQ(response_header_version(3, 9), 1);
  EXPECT_EQ(response_header_version(3, 8), 0);
  EXPECT_EQ(response_header_version(60, 0), 1);
  // Above the served range the threshold still applies (open-ended).
  EXPECT_TRUE(is_flexible(18, 4));
  EXPECT_TRUE(is_flexible(0, 11));
  EXPECT_FALSE(is_flexible(17, 5));
  EXPECT_FALSE(is_flexible(99, 5));
}

TEST(KafkaHeaders, ParsesAVersion1Header) {
  // Metadata v1, correlation 7, client "abc", then the body.
  const auto frame = hex("00 03 00 01 00 00 00 07 00 03 61 62 63 | ff ff ff ff");
  const ParsedRequest parsed = parse_request_header(frame);
  ASSERT_EQ(parsed.status, HeaderStatus::ok);
  EXPECT_TRUE(parsed.version_supported);
  EXPECT_EQ(parsed.header.api_key, 3);
  EXPECT_EQ(parsed.header.api_version, 1);
  EXPECT_EQ(parsed.header.correlation_id, 7);
  EXPECT_EQ(parsed.header.client_id, "abc");
  EXPECT_EQ(to_hex(parsed.body), "ff ff ff ff");
}

TEST(KafkaHeaders, ParsesAVersion2HeaderWithAClassicClientId) {
  // ApiVersions v3: client_id keeps its int16 length; then the header's
  // tagged fields (one unknown tag here, skipped); then the compact body.
  const auto frame = hex("00 12 00 03 00 00 00 2a ff ff | 01 04 02 aa bb | 02 61 02 62 00");
  const ParsedRequest parsed = parse_request_header(frame);
  ASSERT_EQ(parsed.status, HeaderStatus::ok);
  EXPECT_EQ(parsed.header.client_id, std::nullopt);
  EXPECT_EQ(parsed.header.correlation_id, 42);
  EXPECT_EQ(to_hex(parsed.body), "02 61 02 62 00");
}

TEST(KafkaHeaders, UnknownApisAndMalformedHeaders) {
  const auto unknown = hex("00 04 00 05 00 00 00 09 00 00");  // LeaderAndIsr
  const ParsedRequest u = parse_request_header(unknown);
  EXPECT_EQ(u.status, HeaderStatus::unknown_api);
  EXPECT_EQ(u.header.api_key, 4);
  EXPECT_EQ(u.header.api_version, 5);
  EXPECT_EQ(u.header.correlation_id, 9);

  for (const char* bad : {"", "00 03 00 01 00 00", "00 03 00 01 00 00 00 07",  // no client_id
                          "00 03 00 01 00 00 00 07 00 05 61",                  // cut client_id
                          "00 03 00 09 00 00 00 07 ff ff",                     // v2: no tags
                          "00 03 00 01 00 00 00 07 ff fe"}) {                  // length -2
    const auto frame = hex(bad);
    EXPECT_EQ(parse_request_header(frame).status, HeaderStatus::malformed) << bad;
  }
}

TEST(KafkaHeaders, UnsupportedVersionsStillParse) {
  // OffsetForLeaderEpoch v1 (below what we serve) and ApiVersions v4 (above):
  // the header is readable, so the broker can answer or close knowing the
  // correlation id.
  const auto produce = hex("00 17 00 01 00 00 00 01 ff ff");
  const ParsedRequest p = parse_request_header(produce);
  EXPECT_EQ(p.status, HeaderStatus::ok);
  EXPECT_FALSE(p.version_supported);

  const auto api_versions = hex("00 12 00 04 00 00 00 05 00 01 78 00 | 00");
  const ParsedRequest a = parse_request_header(api_versions);
  EXPECT_EQ(a.status, HeaderStatus::ok);
  EXPECT_FALSE(a.version_supported);
  EXPECT_EQ(a.header.client_id, "x");
  EXPECT_EQ(to_hex(a.body), "00");
  EXPECT_FALSE(is_supported(18, 4));
  EXPECT_TRUE(is_supported(18, 3));
}

TEST(KafkaHeaders, RequestHeadersRoundTrip) {
  for (const auto& [key, e] : kExpected) {
    for (std::int16_t v = e.min; v <= e.max; ++v) {
      RequestHeader header{key, v, 1234, std::string("client-") + std::to_string(key)};
      Writer writer;
      write_request_header(writer, header);
      const ParsedRequest parsed = parse_request_header(writer.memory());
      ASSERT_EQ(parsed.status, HeaderStatus::ok);
      EXPECT_TRUE(parsed.body.empty());
      EXPECT_EQ(parsed.header, header);
    }
  }
}

TEST(KafkaHeaders, ResponseFramesCarryTheRightHeader) {
  messages::HeartbeatResponse heartbeat;
  heartbeat.error_code = 27;
  // v3: not flexible, header v0.
  Writer v3;
  ASSERT_TRUE(write_response_frame(v3, 3, 0x01020304, heartbeat));
  EXPECT_EQ(to_hex(v3.memory()), "00 00 00 0a 01 02 03 04 00 00 00 00 00 1b");
  // v4: flexible, header v1 (an empty tagged section) and a body tag section.
  Writer v4;
  ASSERT_TRUE(write_response_frame(v4, 4, 0x01020304, heartbeat));
  EXPECT_EQ(to_hex(v4.memory()), "00 00 00 0c 01 02 03 04 00 00 00 00 00 00 1b 00");
  // Through the variant too.
  Writer any;
  ASSERT_TRUE(write_response_frame(any, 4, 0x01020304, AnyResponse(heartbeat)));
  EXPECT_EQ(to_hex(any.memory()), to_hex(v4.memory()));
}

TEST(KafkaHeaders, ApiVersionsResponseTellsTheTruth) {
  const messages::ApiVersionsResponse response = api_versions_response();
  EXPECT_EQ(response.error_code, 0);
  ASSERT_EQ(response.api_keys.size(), kExpected.size());
  for (const auto& entry : response.api_keys) {
    auto it = kExpected.find(entry.api_key);
    ASSERT_NE(it, kExpected.end());
    EXPECT_EQ(entry.min_version, it->second.min);
    EXPECT_EQ(entry.max_version, it->second.max);
  }
  // Its v3 frame: header v0 (no tagged section) before a flexible body.
  Writer writer;
  ASSERT_TRUE(write_response_frame(writer, 3, 5, response));
  // size 187 | correlation 5 | error 0 | compact array of 25 entries (26) |
  // Produce 0-9 with its empty tagged section | ...
  const std::string text = to_hex(writer.memory());
  const std::string head =
      to_hex(hex("00 00 00 bb | 00 00 00 05 | 00 00 | 1a | 00 00 00 00 00 09 00"));
  EXPECT_EQ(text.substr(0, head.size()), head);
  // ... | throttle 0 | the response's empty tagged section.
  EXPECT_EQ(text.substr(text.size() - 14), "00 00 00 00 00");
  EXPECT_EQ(writer.size(), 4u + 187u);
}

TEST(KafkaHeaders, UnsupportedApiVersionsAnswerIsVersion0) {
  // KIP-511: error 35 and only ApiVersions' own range, in the v0 layout,
  // with header v0, whatever version was asked for.
  Writer writer;
  ASSERT_TRUE(write_unsupported_api_versions(writer, 0x11));
  EXPECT_EQ(to_hex(writer.memory()),
            to_hex(hex("00 00 00 10 | 00 00 00 11 | 00 23 | 00 00 00 01 | 00 12 00 00 00 03")));
  EXPECT_EQ(code(ErrorCode::unsupported_version), 35);
}

}  // namespace
}  // namespace skein::kafka
