// Mesh link frames: every frame type round-trips, events keep every field,
// big batches compress, and malformed, truncated or oversized input is an
// error that names the problem (never a crash).
#include "mesh/frame.hpp"

#include <gtest/gtest.h>

#include <random>

namespace skein::mesh {
namespace {

Frame round_trip(const std::string& bytes) {
  const auto size = frame_size(bytes, 1 << 20);
  EXPECT_TRUE(size.whole.has_value());
  EXPECT_EQ(*size.whole, bytes.size());
  auto d = decode(bytes, 1 << 20);
  EXPECT_TRUE(d.frame.has_value()) << (d.error ? d.error->message : "");
  return std::move(*d.frame);
}

core::EventPtr rich_event() {
  core::Event e;
  e.topic = "orders/created/us/1234";
  e.key = "k1";
  e.payload = std::string("\0binary\xff", 8);
  e.content_type = "application/json";
  e.headers = {{"trace", "abc"}, {"empty", ""}};
  e.timestamp_ms = 1'700'000'000'123;
  e.origin = {"site-a", 42, 1'700'000'000'000'000};
  e.delivery = core::DeliveryClass::persistent;
  e.qos = 2;
  e.retain = true;
  e.utf8_payload = false;
  e.expires_at_ms = -5;
  e.response_topic = "replies/7";
  e.correlation_data = "corr";
  return std::make_shared<const core::Event>(std::move(e));
}

TEST(MeshFrame, HandshakeFramesRoundTrip) {
  std::string b;
  encode(b, Hello{kProtocolVersion, "mesh-1", "node.a", 77, std::string(kNonceBytes, 'n')});
  auto h = std::get<Hello>(round_trip(b));
  EXPECT_EQ(h.mesh, "mesh-1");
  EXPECT_EQ(h.node, "node.a");
  EXPECT_EQ(h.incarnation, 77u);
  EXPECT_EQ(h.nonce, std::string(kNonceBytes, 'n'));
  b.clear();
  encode(b, Proof{std::string(kProofBytes, 'p')});
  EXPECT_EQ(std::get<Proof>(round_trip(b)).mac, std::string(kProofBytes, 'p'));
  b.clear();
  encode(b, Heartbeat{true, 123456789});
  auto hb = std::get<Heartbeat>(round_trip(b));
  EXPECT_TRUE(hb.reply);
  EXPECT_EQ(hb.stamp, 123456789u);
  b.clear();
  encode(b, Goodbye{GoodbyeCode::wrong_mesh, "expected mesh-1"});
  auto g = std::get<Goodbye>(round_trip(b));
  EXPECT_EQ(g.code, GoodbyeCode::wrong_mesh);
  EXPECT_EQ(g.reason, "expected mesh-1");
  b.clear();
  encode(b, Ack{1ull << 40});
  EXPECT_EQ(std::get<Ack>(round_trip(b)).next, 1ull << 40);
}

TEST(MeshFrame, RegistryRoundTrips) {
  RegistryFrame f;
  f.records.push_back(NodeRecord{"a", 5, 9, {"b", "c"}, {"d"}, {"orders/*/us/>", "x"}});
  f.records.push_back(NodeRecord{"b", 1, 1, {}, {}, {}});
  std::string b;
  encode(b, f);
  auto r = std::get<RegistryFrame>(round_trip(b));
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0], f.records[0]);
  EXPECT_EQ(r.records[1], f.records[1]);
}

TEST(MeshFrame, EventsKeepEveryField) {
  EventsFrame f;
  f.persistent = true;
  f.first = 1000;
  f.events = {rich_event(), rich_event()};
  std::string b;
  encode(b, f);
  auto r = std::get<ReceivedEvents>(round_trip(b));
  EXPECT_TRUE(r.persistent);
  EXPECT_EQ(r.first, 1000u);
  ASSERT_EQ(r.events.size(), 2u);
  const core::Event& e = r.events[0];
  const core::Event& want = *f.events[0];
  EXPECT_EQ(e.topic, want.topic);
  EXPECT_EQ(e.key, want.key);
  EXPECT_EQ(e.payload, want.payload);
  EXPECT_EQ(e.content_type, want.content_type);
  ASSERT_EQ(e.headers.size(), 2u);
  EXPECT_EQ(e.headers[0].name, "trace");
  EXPECT_EQ(e.headers[1].value, "");
  EXPECT_EQ(e.timestamp_ms, want.timestamp_ms);
  EXPECT_EQ(e.origin.node, "site-a");
  EXPECT_EQ(e.origin.incarnation, want.origin.incarnation);
  EXPECT_EQ(e.origin.sequence, 42u);
  EXPECT_EQ(e.delivery, core::DeliveryClass::persistent);
  EXPECT_EQ(e.qos, 2);
  EXPECT_TRUE(e.retain);
  EXPECT_EQ(e.utf8_payload, std::optional<bool>(false));
  EXPECT_EQ(e.expires_at_ms, std::optional<std::int64_t>(-5));
  EXPECT_EQ(e.response_topic, want.response_topic);
  EXPECT_EQ(e.correlation_data, want.correlation_data);
  EXPECT_TRUE(e.relayed);
}

core::EventPtr small_event(std::uint64_t sequence, std::int64_t ts,
                           std::uint64_t incarnation = 1'700'000'000'000'000) {
  core::Event e;
  e.topic = "orders/created/us/1";
  e.payload = std::string(100, 'p');
  e.origin = {"site-a", sequence, incarnation};
  e.timestamp_ms = ts;
  return std::make_shared<const core::Event>(std::move(e));
}

TEST(MeshFrame, OriginsAreNamedOncePerLinkThenReferredToByNumber) {
  OriginTable out, in;
  std::vector<std::string> frames;
  for (int i = 0; i < 5; ++i) {
    EventsFrame f;
    f.events = {small_event(1000 + i * 3, 1'700'000'000'000 + i)};
    std::string b;
    encode(b, f, SIZE_MAX, &out);
    frames.push_back(b);
  }
  // After the first, a frame carries the event's topic and payload and a few
  // bytes of fields: the origin is a number, sequence and time differences.
  const std::size_t content = 1 + 19 + 1 + 100;
  EXPECT_LE(frames[1].size(), content + 5 /*header*/ + 2 /*flags, body length*/ + 1 /*count*/ + 8);
  EXPECT_GT(frames[0].size(), frames[1].size() + 10);
  for (int i = 0; i < 5; ++i) {
    auto d = decode(frames[i], 1 << 20, &in);
    ASSERT_TRUE(d.frame.has_value()) << d.error->message;
    const auto& e = std::get<ReceivedEvents>(*d.frame).events.at(0);
    EXPECT_EQ(e.origin.node, "site-a");
    EXPECT_EQ(e.origin.sequence, 1000u + i * 3);
    EXPECT_EQ(e.origin.incarnation, 1'700'000'000'000'000u);
    EXPECT_EQ(e.timestamp_ms, 1'700'000'000'000 + i);
  }
  // A new incarnation of the origin gets a new number.
  EventsFrame f;
  f.events = {small_event(1, 5, 1'800'000'000'000'000)};
  std::string b;
  encode(b, f, SIZE_MAX, &out);
  auto d = decode(b, 1 << 20, &in);
  ASSERT_TRUE(d.frame.has_value());
  EXPECT_EQ(std::get<ReceivedEvents>(*d.frame).events[0].origin.incarnation,
            1'800'000'000'000'000u);
  EXPECT_EQ(in.entries.size(), 2u);
}

TEST(MeshFrame, AnOriginNumberNeverDefinedIsRefused) {
  OriginTable out;
  EventsFrame f;
  f.events = {small_event(1, 1), small_event(2, 2, 7)};  // two origins: numbers 1 and 2
  std::string first, second;
  encode(first, f, SIZE_MAX, &out);
  encode(second, f, SIZE_MAX, &out);  // refers to them by number
  OriginTable fresh;
  auto d = decode(second, 1 << 20, &fresh);
  ASSERT_TRUE(d.error.has_value());  // number 1 read as a definition: no name follows
  EventsFrame only_second;
  only_second.events = {small_event(3, 3, 7)};
  std::string third;
  encode(third, only_second, SIZE_MAX, &out);  // refers to number 2 alone
  OriginTable fresh2;
  auto d2 = decode(third, 1 << 20, &fresh2);
  ASSERT_TRUE(d2.error.has_value());
  EXPECT_NE(d2.error->message.find("never defined"), std::string::npos);
  EXPECT_TRUE(decode(second, 1 << 20).error.has_value());  // no table at all
  // Stateless encoding (the outbox's) names the origin in full every time.
  std::string stateless;
  encode(stateless, f);
  EXPECT_TRUE(decode(stateless, 1 << 20).frame.has_value());
}

TEST(MeshFrame, LargeBatchesAreCompressedAndSmaller) {
  EventsFrame f;
  for (int i = 0; i < 500; ++i) f.events.push_back(rich_event());
  std::string plain, packed;
  encode(plain, f);
  encode(packed, f, 1024);
  EXPECT_LT(packed.size() * 5, plain.size());
  auto r = std::get<ReceivedEvents>(round_trip(packed));
  EXPECT_EQ(r.events.size(), 500u);
  EXPECT_EQ(r.events[499].topic, "orders/created/us/1234");
}

TEST(MeshFrame, OversizedAndEmptyFramesAreRefusedFromTheHeader) {
  std::string b;
  encode(b, Ack{1});
  auto small = frame_size(b, 4);
  ASSERT_TRUE(small.error.has_value());
  EXPECT_EQ(small.error->code, GoodbyeCode::frame_too_large);
  EXPECT_NE(small.error->message.find("above the limit"), std::string::npos);
  EXPECT_TRUE(frame_size(std::string("\0\0\0\0", 4), 100).error.has_value());
  EXPECT_FALSE(frame_size(b.substr(0, 3), 100).whole.has_value());
  EXPECT_FALSE(frame_size(b.substr(0, b.size() - 1), 100).whole.has_value());
}

TEST(MeshFrame, EveryTruncationAndUnknownTypeIsAnError) {
  EventsFrame f;
  f.events = {rich_event()};
  std::string b;
  encode(b, f);
  // Shorten the body but keep the header's length consistent.
  for (std::size_t cut = kFrameHeaderBytes; cut < b.size(); ++cut) {
    std::string t = b.substr(0, cut);
    const std::size_t n = t.size() - 4;
    for (int i = 0; i < 4; ++i) t[i] = static_cast<char>((n >> (8 * (3 - i))) & 0xff);
    auto d = decode(t, 1 << 20);
    EXPECT_FALSE(d.frame.has_value()) << "cut at " << cut;
    EXPECT_TRUE(d.error.has_value());
  }
  std::string unknown("\0\0\0\1\x63", 5);
  auto d = decode(unknown, 100);
  ASSERT_TRUE(d.error.has_value());
  EXPECT_NE(d.error->message.find("unknown frame type 99"), std::string::npos);
}

TEST(MeshFrame, HostileFieldsAreRefusedWithTheReason) {
  auto with_topic = [](std::string topic, std::string origin = "a") {
    core::Event e;
    e.topic = std::move(topic);
    e.origin.node = std::move(origin);
    EventsFrame f;
    f.events = {std::make_shared<const core::Event>(std::move(e))};
    std::string b;
    encode(b, f);
    return decode(b, 1 << 20);
  };
  EXPECT_TRUE(with_topic("ok/topic").frame.has_value());
  auto wild = with_topic("a/*");
  ASSERT_TRUE(wild.error.has_value());
  EXPECT_NE(wild.error->message.find("event topic"), std::string::npos);
  EXPECT_TRUE(with_topic("a//b").error.has_value());
  EXPECT_TRUE(with_topic("ok", "bad name").error.has_value());
  RegistryFrame r;
  r.records.push_back(NodeRecord{"a", 1, 1, {}, {}, {"bad/>/filter"}});
  std::string b;
  encode(b, r);
  auto d = decode(b, 1 << 20);
  ASSERT_TRUE(d.error.has_value());
  EXPECT_NE(d.error->message.find("registry filter"), std::string::npos);
  // A record cut off after its filter count: refused, not silently dropped.
  std::string cut;
  RegistryFrame one;
  one.records.push_back(NodeRecord{"a", 1, 1, {}, {}, {"x"}});
  encode(cut, one);
  cut.resize(cut.size() - 2);  // drop the filter's bytes
  const std::size_t n = cut.size() - 4;
  for (int i = 0; i < 4; ++i) cut[i] = static_cast<char>((n >> (8 * (3 - i))) & 0xff);
  EXPECT_TRUE(decode(cut, 1 << 20).error.has_value());
  // A count claiming more records than bytes.
  std::string lie("\0\0\0\x06\x04\xff\xff\xff\xff\x0f", 10);
  EXPECT_TRUE(decode(lie, 100).error.has_value());
}

TEST(MeshFrame, RandomBytesNeverCrashTheDecoder) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; ++i) {
    std::string b(5 + rng() % 64, '\0');
    for (auto& c : b) c = static_cast<char>(rng());
    b[4] = static_cast<char>(1 + rng() % 7);
    const std::size_t n = b.size() - 4;
    for (int k = 0; k < 4; ++k) b[k] = static_cast<char>((n >> (8 * (3 - k))) & 0xff);
    auto d = decode(b, 1 << 16);
    EXPECT_NE(d.frame.has_value(), d.error.has_value());
  }
}

TEST(MeshFrame, NamesAreLimited) {
  EXPECT_TRUE(valid_name("site-a.rack_1"));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name("has space"));
  EXPECT_FALSE(valid_name("slash/name"));
  EXPECT_FALSE(valid_name(std::string(kMaxNameBytes + 1, 'a')));
}

}  // namespace
}  // namespace skein::mesh
