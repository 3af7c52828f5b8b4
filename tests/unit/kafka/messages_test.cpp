// The generated message codecs: every request and response of every served
// API round-trips at every served version, with every field that exists in
// that version set to a non-default value, and again with every nullable
// field null; plus the version rules (fields absent from a version, ignorable
// or not), and tagged fields (known ones round-trip, written only when not at
// their default and in tag order; unknown ones are skipped).
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "kafka/protocol/apis.hpp"
#include "kafka/protocol/samples.hpp"
#include "test_bytes.hpp"

namespace skein::kafka {
namespace {

using messages::SampleMode;
using test::hex;
using test::to_hex;

template <class Any>
void check_round_trip(const Any& sample, std::int16_t key, std::int16_t version, const char* what) {
  SCOPED_TRACE(testing::Message() << what << " key " << key << " v" << version);
  ASSERT_EQ(api_key_of(sample), key);
  Writer writer;
  encode_message(sample, writer, version);
  ASSERT_TRUE(writer.ok()) << writer.error();
  ASSERT_FALSE(writer.has_files());
  const std::vector<std::byte> bytes(writer.memory().begin(), writer.memory().end());

  Reader reader(bytes);
  Any decoded;
  bool ok = false;
  if constexpr (std::is_same_v<Any, AnyRequest>) {
    ok = decode_request(key, version, reader, decoded);
  } else {
    ok = decode_response(key, version, reader, decoded);
  }
  ASSERT_TRUE(ok);
  EXPECT_TRUE(reader.at_end()) << reader.remaining() << " bytes left";
  EXPECT_TRUE(decoded == sample);

  Writer again;
  encode_message(decoded, again, version);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_hex(again.memory()), to_hex(bytes));
}

TEST(KafkaMessages, EveryMessageRoundTripsAtEveryVersion) {
  int checked = 0;
  for (const ApiInfo& api : supported_apis()) {
    for (std::int16_t v = api.versions.min; v <= api.versions.max; ++v) {
      for (SampleMode mode : {SampleMode::values, SampleMode::nulls}) {
        check_round_trip(messages::sample_request(api.key, v, mode), api.key, v, "request");
        check_round_trip(messages::sample_response(api.key, v, mode), api.key, v, "response");
        checked += 2;
      }
    }
  }
  // 25 APIs, 152 versions in all, two messages and two modes each.
  EXPECT_EQ(checked, 4 * 152);
}

TEST(KafkaMessages, SamplesAreNotDefaults) {
  // A sample that equalled the default message would prove little. Only
  // messages with no field at all in a version may: ApiVersionsRequest v0-2
  // and ListGroupsRequest v0-3.
  int without_fields = 0;
  auto check = [&](const auto& any, const ApiInfo& api, std::int16_t v, const char* what) {
    std::visit(
        [&](const auto& m) {
          using M = std::decay_t<decltype(m)>;
          if (test::encoded(M{}, v) == test::encoded(m, v)) {
            ++without_fields;
            return;
          }
          EXPECT_FALSE(m == M{}) << api.name << " " << what << " v" << v;
        },
        any);
  };
  for (const ApiInfo& api : supported_apis()) {
    for (std::int16_t v = api.versions.min; v <= api.versions.max; ++v) {
      check(messages::sample_request(api.key, v, SampleMode::values), api, v, "request");
      check(messages::sample_response(api.key, v, SampleMode::values), api, v, "response");
    }
  }
  EXPECT_EQ(without_fields, 3 + 4);
}

TEST(KafkaMessages, VersionsOutsideTheRangeAreRefused) {
  messages::ProduceRequest produce;
  Writer writer;
  produce.encode(writer, 10);
  EXPECT_FALSE(writer.ok());
  const auto bytes = hex("ff ff 00 01 00 00 75 30 00 00 00 00");
  Reader reader(bytes);
  EXPECT_FALSE(produce.decode(reader, 10));
  Reader again(bytes);
  EXPECT_TRUE(produce.decode(again, 3));
  AnyRequest any;
  Reader unknown(bytes);
  EXPECT_FALSE(decode_request(99, 0, unknown, any));
}

TEST(KafkaMessages, DefaultsFollowThePublicDefinitions) {
  const messages::FetchRequest fetch;
  EXPECT_EQ(fetch.replica_id, -1);
  EXPECT_EQ(fetch.max_bytes, 0x7fffffff);
  EXPECT_EQ(fetch.session_epoch, -1);
  EXPECT_FALSE(fetch.cluster_id.has_value());
  const messages::MetadataRequest metadata;
  EXPECT_TRUE(metadata.allow_auto_topic_creation);
  ASSERT_TRUE(metadata.topics.has_value());  // an empty list, not null
  const messages::MetadataResponse::MetadataResponsePartition partition;
  EXPECT_EQ(partition.leader_epoch, -1);
  const messages::MetadataResponse::MetadataResponseTopic topic;
  EXPECT_EQ(topic.topic_authorized_operations, std::numeric_limits<std::int32_t>::min());
  const messages::ProduceResponse::PartitionProduceResponse produced;
  EXPECT_EQ(produced.log_append_time_ms, -1);
  EXPECT_EQ(produced.log_start_offset, -1);
  const messages::CreateTopicsRequest create;
  EXPECT_EQ(create.timeout_ms, 60000);
  const messages::OffsetForLeaderEpochRequest epochs;
  EXPECT_EQ(epochs.replica_id, -2);
  const messages::FetchResponse::PartitionData data;
  EXPECT_TRUE(data.records.is_null());
  EXPECT_EQ(data.preferred_read_replica, -1);
}

TEST(KafkaMessages, IgnorableFieldsAreDroppedInVersionsThatLackThem) {
  // MetadataResponse.ThrottleTimeMs exists from v3 and is ignorable.
  messages::MetadataResponse response;
  response.throttle_time_ms = 250;
  response.cluster_id = "c";  // v2+, ignorable
  Writer writer;
  response.encode(writer, 0);
  EXPECT_TRUE(writer.ok());
  // v0: brokers [] then topics [], nothing else.
  EXPECT_EQ(to_hex(writer.memory()), "00 00 00 00 00 00 00 00");

  Reader reader(writer.memory());
  messages::MetadataResponse decoded;
  ASSERT_TRUE(decoded.decode(reader, 0));
  EXPECT_EQ(decoded.throttle_time_ms, 0);
  EXPECT_EQ(decoded.cluster_id, std::nullopt);
}

TEST(KafkaMessages, NonIgnorableFieldsInVersionsThatLackThemAreErrors) {
  // ClusterAuthorizedOperations exists in v8-10 only and is not ignorable.
  messages::MetadataResponse response;
  response.cluster_authorized_operations = 0x0f;
  Writer v10;
  response.encode(v10, 10);
  EXPECT_TRUE(v10.ok());
  Writer v11;
  response.encode(v11, 11);
  ASSERT_FALSE(v11.ok());
  EXPECT_NE(std::string(v11.error()).find("cluster_authorized_operations"), std::string::npos);

  // At its default it is simply absent, in every version.
  messages::MetadataResponse plain;
  Writer v12;
  plain.encode(v12, 12);
  EXPECT_TRUE(v12.ok());

  // The same rule inside nested structs: LeaderEpoch of a ListOffsets
  // partition (v4+, not ignorable).
  messages::ListOffsetsResponse offsets;
  offsets.topics.emplace_back().partitions.emplace_back().leader_epoch = 3;
  Writer v3;
  offsets.encode(v3, 3);
  EXPECT_FALSE(v3.ok());
  Writer v4;
  offsets.encode(v4, 4);
  EXPECT_TRUE(v4.ok());
}

TEST(KafkaMessages, NullOnlyWhereTheVersionAllowsIt) {
  // MetadataRequest.Topics is nullable from v1: null means "all topics".
  messages::MetadataRequest request;
  request.topics = std::nullopt;
  Writer v0;
  request.encode(v0, 0);
  EXPECT_FALSE(v0.ok());
  Writer v1;
  request.encode(v1, 1);
  EXPECT_TRUE(v1.ok());
  EXPECT_EQ(to_hex(v1.memory()), "ff ff ff ff");
  // Null on the wire where the version forbids it fails the decode.
  const auto null_topics = hex("ff ff ff ff");
  Reader reader(null_topics);
  messages::MetadataRequest decoded;
  EXPECT_FALSE(decoded.decode(reader, 0));
  // A null topic name is allowed from v10 only.
  messages::MetadataRequest named;
  named.topics->emplace_back().name = std::nullopt;
  Writer v9;
  named.encode(v9, 9);
  EXPECT_FALSE(v9.ok());
  Writer v10;
  named.encode(v10, 10);
  EXPECT_TRUE(v10.ok());
}

TEST(KafkaMessages, KnownTaggedFieldsRoundTripInTagOrder) {
  // FetchResponse v12: a partition with CurrentLeader (tag 1) and
  // DivergingEpoch (tag 0) set, SnapshotId (tag 2) left at its default.
  messages::FetchResponse response;
  auto& partition = response.responses.emplace_back().partitions.emplace_back();
  partition.current_leader.leader_id = 7;
  partition.current_leader.leader_epoch = 8;
  partition.diverging_epoch.epoch = 5;
  partition.diverging_epoch.end_offset = 6;
  partition.records = Records::owned({});
  const std::string text = to_hex(test::encoded(response, 12));
  // The partition's tagged section ends the partition: two fields, tag 0
  // (13 bytes: int32, int64, empty tags) before tag 1 (9 bytes); then the
  // topic's and the response's empty sections.
  const std::string tail = to_hex(hex(
      "01 | 02 | 00 0d 00 00 00 05 00 00 00 00 00 00 00 06 00 | 01 09 00 00 00 07 00 00 00 08 00"
      "| 00 | 00"));
  ASSERT_GE(text.size(), tail.size());
  EXPECT_EQ(text.substr(text.size() - tail.size()), tail) << text;

  const auto bytes = test::encoded(response, 12);
  Reader reader(bytes);
  messages::FetchResponse decoded;
  ASSERT_TRUE(decoded.decode(reader, 12));
  EXPECT_TRUE(decoded == response);

  // At their defaults no tagged field is written at all.
  messages::FetchResponse plain;
  plain.responses.emplace_back().partitions.emplace_back().records = Records::owned({});
  EXPECT_EQ(to_hex(test::encoded(plain, 12)),
            to_hex(hex("00 00 00 00 | 00 00 | 00 00 00 00 | 02 | 01 | 02 |"
                       "00 00 00 00 | 00 00 | 00 00 00 00 00 00 00 00 |"
                       "ff ff ff ff ff ff ff ff | ff ff ff ff ff ff ff ff | 01 |"
                       "ff ff ff ff | 01 | 00 | 00 | 00")));
}

TEST(KafkaMessages, UnknownTaggedFieldsAreSkipped) {
  // ApiVersionsRequest v3 with two unknown tags (5 and 1000) after the body.
  const auto bytes = hex("06 73 6b 65 69 6e | 04 31 2e 30 | 02 05 03 aa bb cc e8 07 00");
  Reader reader(bytes);
  messages::ApiVersionsRequest request;
  ASSERT_TRUE(request.decode(reader, 3));
  EXPECT_TRUE(reader.at_end());
  EXPECT_EQ(request.client_software_name, "skein");
  EXPECT_EQ(request.client_software_version, "1.0");
  // No copy is kept: encoding gives the section empty.
  EXPECT_EQ(to_hex(test::encoded(request, 3)), "06 73 6b 65 69 6e 04 31 2e 30 00");
}

TEST(KafkaMessages, UnknownTagsInNestedStructsAreSkipped) {
  // MetadataRequest v9: one topic "t" whose own tagged section holds tag 9.
  const auto bytes = hex("02 | 02 74 | 01 09 01 ff | 01 00 00 | 00");
  Reader reader(bytes);
  messages::MetadataRequest request;
  ASSERT_TRUE(request.decode(reader, 9));
  ASSERT_TRUE(request.topics.has_value());
  ASSERT_EQ(request.topics->size(), 1u);
  EXPECT_EQ(request.topics->front().name, "t");
  EXPECT_TRUE(request.allow_auto_topic_creation);
}

TEST(KafkaMessages, KnownTagWithTheWrongSizeFails) {
  // FetchRequest v12 body with tag 0 (ClusterId) announcing 3 bytes but
  // holding a 1-byte compact string plus 2 stray bytes.
  messages::FetchRequest request;
  request.cluster_id = "";
  std::vector<std::byte> bytes = test::encoded(request, 12);
  // The tagged section is at the end: 01 00 01 01 (one field, tag 0, size 1,
  // empty compact string). Make the size 3 and add two bytes.
  ASSERT_EQ(to_hex(std::span(bytes).last(4)), "01 00 01 01");
  bytes[bytes.size() - 2] = std::byte{3};
  bytes.push_back(std::byte{0});
  bytes.push_back(std::byte{0});
  Reader reader(bytes);
  messages::FetchRequest decoded;
  EXPECT_FALSE(decoded.decode(reader, 12));
}

TEST(KafkaMessages, TaggedFieldOnlyWhenTheVersionIsFlexible) {
  // FetchRequest.ClusterId is tagged in v12 and ignorable before it.
  messages::FetchRequest request;
  request.cluster_id = "cluster";
  Writer v11;
  request.encode(v11, 11);
  EXPECT_TRUE(v11.ok());
  Reader reader(v11.memory());
  messages::FetchRequest decoded;
  ASSERT_TRUE(decoded.decode(reader, 11));
  EXPECT_EQ(decoded.cluster_id, std::nullopt);
}

}  // namespace
}  // namespace skein::kafka
