// Sample values of every MQTT packet for both protocol versions, bare and
// with every property the packet allows; used by the round-trip tests.
#pragma once

#include <vector>

#include "mqtt/protocol/codec.hpp"

namespace skein::mqtt::test {

inline Bytes sample_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

inline std::vector<Packet> samples(ProtocolVersion version) {
  const bool v5 = version == ProtocolVersion::v5;
  std::vector<Packet> out;
  auto props = [&](Properties p) { return v5 ? p : Properties{}; };

  Connect bare{.version = version, .client_id = "client"};
  out.push_back(bare);
  Connect full{.version = version, .clean_start = false, .keep_alive = 65535, .client_id = ""};
  full.will = Will{.topic = "will/topic",
                   .payload = sample_bytes("gone"),
                   .qos = QoS::exactly_once,
                   .retain = true,
                   .properties = props({.payload_format_indicator = 1,
                                        .message_expiry_interval = 60,
                                        .content_type = "text/plain",
                                        .response_topic = "reply",
                                        .correlation_data = sample_bytes("c"),
                                        .will_delay_interval = 5,
                                        .user_properties = {{"w", "1"}}})};
  full.username = "user";
  full.password = Bytes{0, 1, 2, 0xFF};
  full.properties = props({.session_expiry_interval = 3600,
                           .authentication_method = "PLAIN",
                           .authentication_data = Bytes{1, 2},
                           .request_problem_information = 0,
                           .request_response_information = 1,
                           .receive_maximum = 100,
                           .topic_alias_maximum = 10,
                           .user_properties = {{"a", "b"}, {"a", "c"}},
                           .maximum_packet_size = 1 << 20});
  out.push_back(full);
  if (v5) {
    Connect password_only{.version = version, .client_id = "p"};
    password_only.password = sample_bytes("secret");  // v5 allows it without a user name
    out.push_back(password_only);
  }

  out.push_back(Connack{});
  out.push_back(Connack{.session_present = true,
                        .reason_code = static_cast<std::uint8_t>(v5 ? 0x87 : 0x05),
                        .properties = props({.session_expiry_interval = 0,
                                             .assigned_client_identifier = "auto-1",
                                             .server_keep_alive = 30,
                                             .authentication_method = "SCRAM",
                                             .authentication_data = Bytes{9},
                                             .response_information = "resp",
                                             .server_reference = "other:1883",
                                             .reason_string = "why",
                                             .receive_maximum = 1,
                                             .topic_alias_maximum = 0,
                                             .maximum_qos = 1,
                                             .retain_available = 0,
                                             .user_properties = {{"x", ""}},
                                             .maximum_packet_size = 1000,
                                             .wildcard_subscription_available = 1,
                                             .subscription_identifier_available = 0,
                                             .shared_subscription_available = 1})});

  out.push_back(Publish{.topic = "a/b"});
  out.push_back(Publish{.dup = true,
                        .qos = QoS::exactly_once,
                        .retain = true,
                        .topic = "sensors/ü/1",
                        .packet_id = 65535,
                        .properties = props({.payload_format_indicator = 0,
                                             .message_expiry_interval = 0xFFFFFFFF,
                                             .content_type = "application/json",
                                             .response_topic = "r/1",
                                             .correlation_data = Bytes{},
                                             .subscription_identifiers = {1, 268'435'455},
                                             .topic_alias = 7,
                                             .user_properties = {{"k", "v"}}}),
                        .payload = Bytes(300, 0xAB)});
  out.push_back(Publish{.qos = QoS::at_least_once, .topic = "t", .packet_id = 1});

  out.push_back(Puback{.packet_id = 1});
  out.push_back(Pubrec{.packet_id = 2});
  out.push_back(Pubrel{.packet_id = 3});
  out.push_back(Pubcomp{.packet_id = 4});
  if (v5) {
    out.push_back(Puback{.packet_id = 1, .reason_code = 0x10});
    out.push_back(Pubrec{.packet_id = 2,
                         .reason_code = 0x80,
                         .properties = {.reason_string = "no", .user_properties = {{"a", "b"}}}});
    out.push_back(Pubrel{.packet_id = 3, .properties = {.reason_string = "r"}});
    out.push_back(Pubcomp{.packet_id = 4, .reason_code = 0x92});
  }

  out.push_back(Subscribe{.packet_id = 1, .subscriptions = {{.filter = "a/#"}}});
  Subscribe subscribe{
      .packet_id = 2,
      .properties = props({.subscription_identifiers = {42}, .user_properties = {{"s", "1"}}})};
  subscribe.subscriptions.push_back({.filter = "x/+/y", .max_qos = QoS::exactly_once});
  subscribe.subscriptions.push_back({.filter = "$share/g/z",
                                     .max_qos = QoS::at_least_once,
                                     .retain_as_published = v5,
                                     .retain_handling = static_cast<std::uint8_t>(v5 ? 2 : 0)});
  if (v5)
    subscribe.subscriptions.push_back({.filter = "n", .no_local = true, .retain_handling = 1});
  out.push_back(subscribe);

  out.push_back(Suback{.packet_id = 1, .reason_codes = {0}});
  out.push_back(Suback{.packet_id = 2,
                       .properties = props({.reason_string = "partly"}),
                       .reason_codes = {0, 1, 2, 0x80}});

  out.push_back(Unsubscribe{.packet_id = 1, .filters = {"a/#"}});
  out.push_back(Unsubscribe{.packet_id = 2,
                            .properties = props({.user_properties = {{"u", "v"}}}),
                            .filters = {"a", "b/+", "c/#"}});
  out.push_back(Unsuback{.packet_id = 1});
  if (v5) {
    out.push_back(Unsuback{
        .packet_id = 2, .properties = {.reason_string = "done"}, .reason_codes = {0x00, 0x11}});
  }

  out.push_back(Pingreq{});
  out.push_back(Pingresp{});
  out.push_back(Disconnect{});
  if (v5) {
    out.push_back(Disconnect{.reason_code = 0x04});
    out.push_back(Disconnect{.reason_code = 0x8E,
                             .properties = {.session_expiry_interval = 10,
                                            .server_reference = "s2",
                                            .reason_string = "bye",
                                            .user_properties = {{"d", "e"}}}});
    out.push_back(Auth{});
    out.push_back(Auth{.reason_code = 0x18,
                       .properties = {.authentication_method = "SCRAM-SHA-1",
                                      .authentication_data = sample_bytes("data"),
                                      .reason_string = "more",
                                      .user_properties = {{"n", "1"}}}});
  }
  return out;
}

}  // namespace skein::mqtt::test
