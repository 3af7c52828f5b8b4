// MQTT messages as events and back, and their stored form (mqtt/message.hpp).
#include "mqtt/message.hpp"

#include <gtest/gtest.h>

namespace skein::mqtt {
namespace {

Bytes bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

Publish full_publish() {
  Publish p;
  p.qos = QoS::exactly_once;
  p.retain = true;
  p.topic = "site/7/temp";
  p.packet_id = 9;
  p.payload = bytes("21.5");
  p.properties.payload_format_indicator = 1;
  p.properties.message_expiry_interval = 60;
  p.properties.content_type = "text/plain";
  p.properties.response_topic = "site/7/reply";
  p.properties.correlation_data = bytes(std::string("\x00\x01\xff", 3));
  p.properties.user_properties = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  return p;
}

TEST(MqttMessage, PublishBecomesAPersistentEventWithEveryProperty) {
  const core::Event e = event_from_publish(full_publish(), 1'000'000);
  EXPECT_EQ(e.topic, "site/7/temp");
  EXPECT_EQ(e.payload, "21.5");
  EXPECT_EQ(e.qos, 2);
  EXPECT_TRUE(e.retain);
  EXPECT_EQ(e.delivery, core::DeliveryClass::persistent);
  EXPECT_EQ(e.timestamp_ms, 1'000'000);
  ASSERT_TRUE(e.expires_at_ms);
  EXPECT_EQ(*e.expires_at_ms, 1'060'000);
  EXPECT_EQ(e.content_type, "text/plain");
  EXPECT_EQ(e.utf8_payload, true);
  EXPECT_EQ(e.response_topic, "site/7/reply");
  EXPECT_EQ(e.correlation_data, std::string("\x00\x01\xff", 3));
  ASSERT_EQ(e.headers.size(), 3u);  // repeats and order kept
  EXPECT_EQ(e.headers[2].name, "a");
  EXPECT_EQ(e.headers[2].value, "3");
}

TEST(MqttMessage, QosZeroIsDirect) {
  Publish p;
  p.topic = "t";
  const core::Event e = event_from_publish(std::move(p), 5);
  EXPECT_EQ(e.delivery, core::DeliveryClass::direct);
  EXPECT_EQ(published_qos(e), 0);
}

TEST(MqttMessage, OtherFacesCountAsQosZeroOrOne) {
  core::Event e;
  EXPECT_EQ(published_qos(e), 0);
  e.delivery = core::DeliveryClass::persistent;
  EXPECT_EQ(published_qos(e), 1);
}

TEST(MqttMessage, DeliveredPublishCarriesTheRemainingExpiryRoundedUp) {
  const core::Event e = event_from_publish(full_publish(), 1'000'000);
  Publish out = publish_for(e, QoS::at_least_once, false, 42, {3, 8}, ProtocolVersion::v5,
                            1'000'000 + 59'001);
  EXPECT_EQ(out.qos, QoS::at_least_once);
  EXPECT_EQ(out.packet_id, 42);
  EXPECT_FALSE(out.retain);
  EXPECT_EQ(out.properties.message_expiry_interval, 1u);
  EXPECT_EQ(out.properties.subscription_identifiers, (std::vector<std::uint32_t>{3, 8}));
  EXPECT_EQ(out.properties.user_properties.size(), 3u);
  EXPECT_TRUE(expired(e, 1'060'000));
  EXPECT_FALSE(expired(e, 1'059'999));
}

TEST(MqttMessage, ThreeOneOneGetsNoPropertiesAndQosZeroNoPacketId) {
  const core::Event e = event_from_publish(full_publish(), 0);
  Publish out = publish_for(e, QoS::at_most_once, false, 42, {3}, ProtocolVersion::v311, 0);
  EXPECT_EQ(out.packet_id, 0);
  EXPECT_TRUE(out.properties.empty());
}

TEST(MqttMessage, BinaryHeadersOfOtherFacesAreNotUserProperties) {
  core::Event e;
  e.topic = "k";
  e.headers = {
      {"ok", "fine"}, {"bin", std::string("\xff\xfe", 2)}, {"nul", std::string("a\0b", 3)}};
  Publish out = publish_for(e, QoS::at_most_once, false, 0, {}, ProtocolVersion::v5, 0);
  ASSERT_EQ(out.properties.user_properties.size(), 1u);
  EXPECT_EQ(out.properties.user_properties[0].name, "ok");
}

TEST(MqttMessage, EncodePublishWithOutsidePayloadEqualsPlainEncode) {
  Publish p = full_publish();
  Bytes plain, outside;
  encode(p, ProtocolVersion::v5, plain);
  const Bytes payload = p.payload;
  p.payload.clear();
  encode_publish(p, payload, ProtocolVersion::v5, outside);
  EXPECT_EQ(plain, outside);
}

TEST(MqttMessage, StoredFormRoundTrips) {
  core::Event e = event_from_publish(full_publish(), 1'000'000);
  const std::string stored = encode_stored(e, 1, false);
  auto back = decode_stored(stored);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->topic, e.topic);
  EXPECT_EQ(back->payload, e.payload);
  EXPECT_EQ(back->qos, 1);  // as this session delivers it
  EXPECT_FALSE(back->retain);
  EXPECT_EQ(back->timestamp_ms, 1'000'000);
  EXPECT_EQ(back->expires_at_ms, e.expires_at_ms);  // absolute, not shifted by the load time
  EXPECT_EQ(back->correlation_data, e.correlation_data);
  EXPECT_EQ(back->response_topic, e.response_topic);
  EXPECT_EQ(back->content_type, e.content_type);
  ASSERT_EQ(back->headers.size(), 3u);
  EXPECT_EQ(back->headers[1].value, "2");
}

TEST(MqttMessage, StoredFormKeepsThePacketIdItWasSentWith) {
  core::Event e = event_from_publish(full_publish(), 7);
  std::uint16_t id = 1;
  ASSERT_TRUE(decode_stored(encode_stored(e), &id));
  EXPECT_EQ(id, 0);  // not sent
  ASSERT_TRUE(decode_stored(encode_stored(e, 1, false, 65535), &id));
  EXPECT_EQ(id, 65535);
}

TEST(MqttMessage, StoredFormWithoutOverridesKeepsTheEventsOwn) {
  core::Event e = event_from_publish(full_publish(), 7);
  auto back = decode_stored(encode_stored(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->qos, 2);
  EXPECT_TRUE(back->retain);
}

TEST(MqttMessage, DamagedStoredFormsAreRefused) {
  core::Event e = event_from_publish(full_publish(), 7);
  const std::string stored = encode_stored(e);
  EXPECT_FALSE(decode_stored(""));
  EXPECT_FALSE(decode_stored(std::string(1, '\x07') + stored.substr(1)));  // unknown version
  for (std::size_t n = 0; n < stored.size(); ++n)
    EXPECT_FALSE(decode_stored(stored.substr(0, n))) << n;  // every truncation
  EXPECT_FALSE(decode_stored(stored + "x"));                // trailing bytes
}

}  // namespace
}  // namespace skein::mqtt
