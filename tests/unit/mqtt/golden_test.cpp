// MQTT packets written out by hand from the layouts and examples of the
// MQTT 3.1.1 and 5.0 specifications, independent of the encoder: each must
// decode to the expected struct, and the struct must encode to the same bytes.
#include <gtest/gtest.h>

#include "mqtt_test_util.hpp"

namespace skein::mqtt {
namespace {

using test::bytes;
using test::must_decode;
using test::text;
constexpr auto v311 = ProtocolVersion::v311;
constexpr auto v5 = ProtocolVersion::v5;

void expect_golden(const Bytes& wire, ProtocolVersion version, const Packet& expected) {
  EXPECT_EQ(must_decode(wire, version), expected);
  EXPECT_EQ(encode_packet(expected, version), wire);
}

TEST(MqttGolden, Connect311) {
  Connect connect;
  connect.version = v311;
  connect.clean_start = true;
  connect.keep_alive = 60;
  connect.client_id = "abc";
  expect_golden(bytes({0x10, 0x0F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00,
                       0x03, 'a', 'b', 'c'}),
                v311, connect);
}

// Spec 5.0 3.1.2.12: flags 0xCE (user name, password, will QoS 1, will, clean
// start), keep alive 10, Session Expiry Interval 10.
TEST(MqttGolden, Connect5WithWillAndCredentials) {
  Connect connect;
  connect.version = v5;
  connect.clean_start = true;
  connect.keep_alive = 10;
  connect.properties.session_expiry_interval = 10;
  connect.client_id = "c1";
  connect.will = Will{.topic = "wt", .payload = text("wp"), .qos = QoS::at_least_once};
  connect.username = "u";
  connect.password = text("p");
  expect_golden(bytes({0x10, 0x23, 0x00, 0x04, 'M',  'Q',  'T',  'T', 0x05, 0xCE, 0x00, 0x0A, 0x05,
                       0x11, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x02, 'c', '1',  0x00, 0x00, 0x02, 'w',
                       't',  0x00, 0x02, 'w',  'p',  0x00, 0x01, 'u', 0x00, 0x01, 'p'}),
                v5, connect);
}

TEST(MqttGolden, Connack) {
  expect_golden(bytes({0x20, 0x02, 0x01, 0x00}), v311, Connack{.session_present = true});
  expect_golden(bytes({0x20, 0x02, 0x00, 0x05}), v311, Connack{.reason_code = 5});
  Connack connack;
  connack.properties.maximum_qos = 1;
  connack.properties.retain_available = 0;
  expect_golden(bytes({0x20, 0x07, 0x00, 0x00, 0x04, 0x24, 0x01, 0x25, 0x00}), v5, connack);
}

TEST(MqttGolden, Publish) {
  Publish qos1{.qos = QoS::at_least_once, .retain = true, .topic = "a/b", .packet_id = 10};
  qos1.payload = text("hi");
  expect_golden(bytes({0x33, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}), v311, qos1);

  Publish qos0{.topic = "t"};
  qos0.properties.topic_alias = 1;
  qos0.properties.user_properties = {{"k", "v"}};
  qos0.payload = text("x");
  expect_golden(bytes({0x30, 0x0F, 0x00, 0x01, 't', 0x0A, 0x23, 0x00, 0x01, 0x26, 0x00, 0x01, 'k',
                       0x00, 0x01, 'v', 'x'}),
                v5, qos0);
}

TEST(MqttGolden, PublishResponses) {
  expect_golden(bytes({0x40, 0x02, 0x00, 0x05}), v311, Puback{.packet_id = 5});
  expect_golden(bytes({0x40, 0x02, 0x00, 0x05}), v5, Puback{.packet_id = 5});
  expect_golden(bytes({0x40, 0x03, 0x00, 0x05, 0x10}), v5,
                Puback{.packet_id = 5, .reason_code = 0x10});
  expect_golden(bytes({0x50, 0x02, 0x00, 0x06}), v311, Pubrec{.packet_id = 6});
  expect_golden(bytes({0x62, 0x02, 0x00, 0x07}), v311, Pubrel{.packet_id = 7});
  Pubcomp pubcomp{.packet_id = 8, .reason_code = 0x92};
  pubcomp.properties.reason_string = "x";
  expect_golden(bytes({0x70, 0x08, 0x00, 0x08, 0x92, 0x04, 0x1F, 0x00, 0x01, 'x'}), v5, pubcomp);
  // The spec's optional short forms decode too: reason code with an empty
  // property block is accepted though the encoder leaves the block out.
  EXPECT_EQ(must_decode(bytes({0x40, 0x04, 0x00, 0x05, 0x10, 0x00}), v5),
            Packet(Puback{.packet_id = 5, .reason_code = 0x10}));
}

TEST(MqttGolden, Subscribe) {
  Subscribe v3{.packet_id = 10};
  v3.subscriptions = {{.filter = "a/b", .max_qos = QoS::at_least_once},
                      {.filter = "c/d", .max_qos = QoS::exactly_once}};
  expect_golden(bytes({0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x03, 'c',
                       '/', 'd', 0x02}),
                v311, v3);

  Subscribe s5{.packet_id = 1};
  s5.properties.subscription_identifiers = {5};
  s5.subscriptions = {{.filter = "a/+",
                       .max_qos = QoS::at_least_once,
                       .no_local = true,
                       .retain_as_published = true,
                       .retain_handling = 2}};
  expect_golden(bytes({0x82, 0x0B, 0x00, 0x01, 0x02, 0x0B, 0x05, 0x00, 0x03, 'a', '/', '+', 0x2D}),
                v5, s5);
}

TEST(MqttGolden, AcksOfSubscriptions) {
  expect_golden(bytes({0x90, 0x04, 0x00, 0x01, 0x01, 0x80}), v311,
                Suback{.packet_id = 1, .reason_codes = {0x01, 0x80}});
  expect_golden(bytes({0x90, 0x04, 0x00, 0x01, 0x00, 0x01}), v5,
                Suback{.packet_id = 1, .reason_codes = {0x01}});
  expect_golden(bytes({0xA2, 0x05, 0x00, 0x02, 0x00, 0x01, 'a'}), v311,
                Unsubscribe{.packet_id = 2, .filters = {"a"}});
  expect_golden(bytes({0xB0, 0x02, 0x00, 0x09}), v311, Unsuback{.packet_id = 9});
  expect_golden(bytes({0xB0, 0x04, 0x00, 0x09, 0x00, 0x11}), v5,
                Unsuback{.packet_id = 9, .reason_codes = {0x11}});
}

TEST(MqttGolden, PingsDisconnectAuth) {
  expect_golden(bytes({0xC0, 0x00}), v311, Pingreq{});
  expect_golden(bytes({0xD0, 0x00}), v5, Pingresp{});
  expect_golden(bytes({0xE0, 0x00}), v311, Disconnect{});
  expect_golden(bytes({0xE0, 0x00}), v5, Disconnect{});
  expect_golden(bytes({0xE0, 0x01, 0x04}), v5, Disconnect{.reason_code = 0x04});
  Disconnect with_expiry;
  with_expiry.properties.session_expiry_interval = 0;
  expect_golden(bytes({0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00}), v5, with_expiry);
  expect_golden(bytes({0xF0, 0x00}), v5, Auth{});
  Auth auth{.reason_code = 0x18};
  auth.properties.authentication_method = "SCRAM";
  expect_golden(bytes({0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M'}), v5,
                auth);
}

}  // namespace
}  // namespace skein::mqtt
