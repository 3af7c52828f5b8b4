// Encoding and decoding of mesh link frames (frame.hpp, docs/mesh-protocol.md).
#include "mesh/frame.hpp"

#include <cstring>
#include <span>

#include "core/topic_names.hpp"
#include "mesh/wire.hpp"
#include "storage/compression.hpp"
#include "storage/storage_error.hpp"

namespace skein::mesh {

namespace {

// Bits of an event's flags byte.
enum EventFlag : std::uint8_t {
  kPersistent = 1 << 0,
  kHasKey = 1 << 1,
  kRetain = 1 << 2,
  kHasUtf8 = 1 << 3,
  kUtf8 = 1 << 4,
  kHasExpiry = 1 << 5,
  kHasResponseTopic = 1 << 6,
  kHasCorrelation = 1 << 7,
};

// Bits of an events frame's flags byte.
enum BatchFlag : std::uint8_t { kBatchPersistent = 1 << 0, kBatchZstd = 1 << 1 };

// Writes the header with a zero length, then patches the length at the end.
class FrameBuilder {
 public:
  FrameBuilder(std::string& out, FrameType type) : out_(out), start_(out.size()) {
    out_.append(4, '\0');
    out_.push_back(static_cast<char>(type));
  }
  ~FrameBuilder() {
    const std::size_t n = out_.size() - start_ - 4;
    for (int i = 0; i < 4; ++i) out_[start_ + i] = static_cast<char>((n >> (8 * (3 - i))) & 0xff);
  }
  WireWriter& writer() { return writer_; }

 private:
  std::string& out_;
  std::size_t start_;
  WireWriter writer_{out_};
};

// The origin block: 0 and the origin in full, an id of the table and
// differences, or the next id (defining it) and differences from zero.
void put_origin(WireWriter& w, const core::Event& e, OriginTable* table) {
  const auto& o = e.origin;
  if (table != nullptr) {
    auto it = table->ids.find(o.node);
    if (it != table->ids.end() && table->entries[it->second - 1].incarnation == o.incarnation) {
      auto& entry = table->entries[it->second - 1];
      w.varint(it->second);
      w.svarint(static_cast<std::int64_t>(o.sequence - entry.last_sequence));
      w.svarint(e.timestamp_ms - entry.last_timestamp);
      entry.last_sequence = o.sequence;
      entry.last_timestamp = e.timestamp_ms;
      return;
    }
    if (table->entries.size() < OriginTable::kMaxOrigins) {
      table->entries.push_back({o.node, o.incarnation, o.sequence, e.timestamp_ms});
      table->ids[o.node] = table->entries.size();
      w.varint(table->entries.size());
      w.bytes(o.node);
      w.varint(o.incarnation);
      w.svarint(static_cast<std::int64_t>(o.sequence));
      w.svarint(e.timestamp_ms);
      return;
    }
  }
  w.varint(0);
  w.bytes(o.node);
  w.varint(o.incarnation);
  w.varint(o.sequence);
  w.svarint(e.timestamp_ms);
}

bool get_origin(WireReader& r, core::Event& e, OriginTable* table, std::string& why) {
  const std::uint64_t id = r.varint();
  if (id == 0) {
    e.origin.node = std::string(r.bytes(kMaxNameBytes));
    e.origin.incarnation = r.varint();
    e.origin.sequence = r.varint();
    e.timestamp_ms = r.svarint();
    return true;
  }
  if (table == nullptr) {
    why = "event refers to an origin table this frame cannot have";
    return false;
  }
  if (id == table->entries.size() + 1) {
    if (table->entries.size() >= OriginTable::kMaxOrigins) {
      why = "more than " + std::to_string(OriginTable::kMaxOrigins) + " origins on one link";
      return false;
    }
    OriginTable::Entry entry;
    entry.node = std::string(r.bytes(kMaxNameBytes));
    entry.incarnation = r.varint();
    if (!r.ok() || !valid_name(entry.node)) {
      why = "event origin is not a node name";
      return false;
    }
    table->entries.push_back(std::move(entry));
  } else if (id > table->entries.size()) {
    why = "event refers to origin " + std::to_string(id) + " never defined on this link";
    return false;
  }
  auto& entry = table->entries[id - 1];
  entry.last_sequence += static_cast<std::uint64_t>(r.svarint());
  entry.last_timestamp += r.svarint();
  e.origin.node = entry.node;
  e.origin.incarnation = entry.incarnation;
  e.origin.sequence = entry.last_sequence;
  e.timestamp_ms = entry.last_timestamp;
  return true;
}

void put_event(WireWriter& w, const core::Event& e, OriginTable* table) {
  std::uint8_t flags = 0;
  if (e.delivery == core::DeliveryClass::persistent) flags |= kPersistent;
  if (e.key) flags |= kHasKey;
  if (e.retain) flags |= kRetain;
  if (e.utf8_payload) flags |= kHasUtf8 | (*e.utf8_payload ? kUtf8 : 0);
  if (e.expires_at_ms) flags |= kHasExpiry;
  if (e.response_topic) flags |= kHasResponseTopic;
  if (e.correlation_data) flags |= kHasCorrelation;
  w.u8(flags);
  w.u8(e.qos);
  put_origin(w, e, table);
  w.bytes(e.topic);
  if (e.key) w.bytes(*e.key);
  w.bytes(e.content_type);
  w.varint(e.headers.size());
  for (const auto& h : e.headers) {
    w.bytes(h.name);
    w.bytes(h.value);
  }
  if (e.expires_at_ms) w.svarint(*e.expires_at_ms);
  if (e.response_topic) w.bytes(*e.response_topic);
  if (e.correlation_data) w.bytes(*e.correlation_data);
  w.bytes(e.payload);
}

// One event; false with `why` set when it does not decode.
bool get_event(WireReader& r, core::Event& e, OriginTable* table, std::string& why) {
  const std::uint8_t flags = r.u8();
  e.qos = r.u8();
  if (!get_origin(r, e, table, why)) return false;
  e.topic = std::string(r.bytes(core::kMaxNameBytes));
  if (flags & kHasKey) e.key = std::string(r.bytes());
  e.content_type = std::string(r.bytes(1024));
  const std::uint64_t headers = r.varint();
  // Each header takes at least two bytes: a count beyond that is a lie.
  if (headers > r.left() / 2) r.fail();
  for (std::uint64_t i = 0; r.ok() && i < headers; ++i) {
    core::Header h;
    h.name = std::string(r.bytes());
    h.value = std::string(r.bytes());
    e.headers.push_back(std::move(h));
  }
  if (flags & kHasExpiry) e.expires_at_ms = r.svarint();
  if (flags & kHasResponseTopic) e.response_topic = std::string(r.bytes(core::kMaxNameBytes));
  if (flags & kHasCorrelation) e.correlation_data = std::string(r.bytes());
  e.payload = std::string(r.bytes());
  if (!r.ok()) {
    why = "truncated event";
    return false;
  }
  if (e.qos > 2) {
    why = "event qos above 2";
    return false;
  }
  if (!valid_name(e.origin.node)) {
    why = "event origin is not a node name";
    return false;
  }
  if (auto bad = core::check_topic(e.topic, core::Publisher::system)) {
    why = "event topic: " + bad->message;
    return false;
  }
  e.delivery =
      (flags & kPersistent) ? core::DeliveryClass::persistent : core::DeliveryClass::direct;
  e.retain = (flags & kRetain) != 0;
  if (flags & kHasUtf8) e.utf8_payload = (flags & kUtf8) != 0;
  e.relayed = true;
  return true;
}

void put_names(WireWriter& w, const std::vector<std::string>& names) {
  w.varint(names.size());
  for (const auto& n : names) w.bytes(n);
}

bool get_names(WireReader& r, std::vector<std::string>& out, std::size_t max_bytes) {
  const std::uint64_t n = r.varint();
  if (n > r.left()) {  // each takes at least one byte
    r.fail();
    return false;
  }
  out.reserve(n);
  for (std::uint64_t i = 0; r.ok() && i < n; ++i) out.emplace_back(r.bytes(max_bytes));
  return r.ok();
}

DecodeError error(std::string message, GoodbyeCode code = GoodbyeCode::protocol_error) {
  return DecodeError{code, std::move(message)};
}

Decoded decode_events(WireReader& r, std::size_t max_frame_bytes, OriginTable* origins) {
  ReceivedEvents f;
  const std::uint8_t flags = r.u8();
  f.persistent = (flags & kBatchPersistent) != 0;
  if (f.persistent) f.first = r.varint();
  std::string inflated;
  std::string_view body;
  if (flags & kBatchZstd) {
    const std::string_view packed = r.bytes();
    if (!r.ok()) return {std::nullopt, error("truncated events frame")};
    const auto* p = reinterpret_cast<const std::byte*>(packed.data());
    auto raw =
        storage::decompress(storage::Codec::zstd, std::span(p, packed.size()), max_frame_bytes);
    if (!raw) return {std::nullopt, error("events frame: " + raw.error().message)};
    inflated.assign(reinterpret_cast<const char*>(raw.value().data()), raw.value().size());
    body = inflated;
  } else {
    body = r.bytes();
  }
  if (!r.ok() || !r.done()) return {std::nullopt, error("malformed events frame")};
  WireReader events(body);
  const std::uint64_t count = events.varint();
  if (count > body.size()) return {std::nullopt, error("events frame count beyond its bytes")};
  f.events.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string why;
    if (!get_event(events, f.events.emplace_back(), origins, why))
      return {std::nullopt, error("events frame: " + why)};
  }
  if (!events.done()) return {std::nullopt, error("events frame: bytes after the last event")};
  return {Frame(std::move(f)), std::nullopt};
}

}  // namespace

std::string_view to_string(GoodbyeCode code) {
  switch (code) {
    case GoodbyeCode::normal:
      return "normal";
    case GoodbyeCode::protocol_error:
      return "protocol error";
    case GoodbyeCode::version_mismatch:
      return "version mismatch";
    case GoodbyeCode::wrong_mesh:
      return "wrong mesh";
    case GoodbyeCode::bad_proof:
      return "bad proof";
    case GoodbyeCode::duplicate_link:
      return "duplicate link";
    case GoodbyeCode::same_node:
      return "same node";
    case GoodbyeCode::timeout:
      return "timeout";
    case GoodbyeCode::frame_too_large:
      return "frame too large";
    case GoodbyeCode::too_slow:
      return "too slow";
    case GoodbyeCode::store_failed:
      return "store failed";
  }
  return "unknown";
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void encode(std::string& out, const Hello& f) {
  FrameBuilder b(out, FrameType::hello);
  auto& w = b.writer();
  w.fixed(f.version, 2);
  w.bytes(f.mesh);
  w.bytes(f.node);
  w.varint(f.incarnation);
  w.bytes(f.nonce);
}

void encode(std::string& out, const Proof& f) {
  FrameBuilder b(out, FrameType::proof);
  b.writer().bytes(f.mac);
}

void encode(std::string& out, const Heartbeat& f) {
  FrameBuilder b(out, FrameType::heartbeat);
  b.writer().u8(f.reply ? 1 : 0);
  b.writer().varint(f.stamp);
}

void encode(std::string& out, const RegistryFrame& f) {
  FrameBuilder b(out, FrameType::registry);
  auto& w = b.writer();
  w.varint(f.records.size());
  for (const auto& rec : f.records) {
    w.bytes(rec.node);
    w.varint(rec.incarnation);
    w.varint(rec.version);
    put_names(w, rec.links);
    put_names(w, rec.held);
    put_names(w, rec.filters);
  }
}

void encode(std::string& out, const Ack& f) {
  FrameBuilder b(out, FrameType::ack);
  b.writer().varint(f.next);
}

void encode(std::string& out, const Goodbye& f) {
  FrameBuilder b(out, FrameType::goodbye);
  b.writer().fixed(static_cast<std::uint16_t>(f.code), 2);
  b.writer().bytes(f.reason);
}

void encode(std::string& out, const EventsFrame& f, std::size_t compress_above,
            OriginTable* origins) {
  std::string body;
  WireWriter events(body);
  events.varint(f.events.size());
  for (const auto& e : f.events) put_event(events, *e, origins);
  std::uint8_t flags = f.persistent ? kBatchPersistent : 0;
  std::string packed;
  if (body.size() > compress_above) {
    const auto* p = reinterpret_cast<const std::byte*>(body.data());
    auto z = storage::compress(storage::Codec::zstd, std::span(p, body.size()));
    if (z && z.value().size() < body.size()) {
      packed.assign(reinterpret_cast<const char*>(z.value().data()), z.value().size());
      flags |= kBatchZstd;
    }
  }
  FrameBuilder b(out, FrameType::events);
  auto& w = b.writer();
  w.u8(flags);
  if (f.persistent) w.varint(f.first);
  w.bytes((flags & kBatchZstd) ? std::string_view(packed) : std::string_view(body));
}

void encode_event(std::string& out, const core::Event& event) {
  WireWriter w(out);
  put_event(w, event, nullptr);
}

std::optional<std::string> decode_event(std::string_view bytes, core::Event& out) {
  WireReader r(bytes);
  std::string why;
  if (!get_event(r, out, nullptr, why)) return why;
  if (!r.done()) return std::string("bytes after the event");
  return std::nullopt;
}

FrameSize frame_size(std::string_view buffer, std::size_t max_frame_bytes) {
  if (buffer.size() < 4) return {};
  std::size_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(buffer[i]);
  if (n == 0) return {std::nullopt, error("empty frame")};
  if (n + 4 > max_frame_bytes) {
    return {std::nullopt, error("frame of " + std::to_string(n + 4) + " bytes above the limit of " +
                                    std::to_string(max_frame_bytes),
                                GoodbyeCode::frame_too_large)};
  }
  if (buffer.size() < n + 4) return {};
  return {n + 4, std::nullopt};
}

Decoded decode(std::string_view whole, std::size_t max_frame_bytes, OriginTable* origins) {
  if (whole.size() < kFrameHeaderBytes) return {std::nullopt, error("short frame")};
  const auto type = static_cast<FrameType>(static_cast<unsigned char>(whole[4]));
  WireReader r(whole.substr(kFrameHeaderBytes));
  auto finish = [&](Frame f, const char* what) -> Decoded {
    if (!r.ok() || !r.done()) return {std::nullopt, error(std::string("malformed ") + what)};
    return {std::move(f), std::nullopt};
  };
  switch (type) {
    case FrameType::hello: {
      Hello f;
      f.version = static_cast<std::uint16_t>(r.fixed(2));
      f.mesh = std::string(r.bytes(kMaxNameBytes));
      f.node = std::string(r.bytes(kMaxNameBytes));
      f.incarnation = r.varint();
      f.nonce = std::string(r.bytes(kNonceBytes));
      if (r.ok() && f.nonce.size() != kNonceBytes) r.fail();
      // Later versions may add fields after these: a HELLO is read up to
      // here, so that any version can be told version_mismatch.
      if (!r.ok()) return {std::nullopt, error("malformed hello")};
      return {Frame(std::move(f)), std::nullopt};
    }
    case FrameType::proof: {
      Proof f;
      f.mac = std::string(r.bytes(kProofBytes));
      if (r.ok() && f.mac.size() != kProofBytes) r.fail();
      return finish(std::move(f), "proof");
    }
    case FrameType::heartbeat: {
      Heartbeat f;
      const auto kind = r.u8();
      if (kind > 1) r.fail();
      f.reply = kind == 1;
      f.stamp = r.varint();
      return finish(f, "heartbeat");
    }
    case FrameType::registry: {
      RegistryFrame f;
      const std::uint64_t n = r.varint();
      if (n > r.left()) r.fail();
      for (std::uint64_t i = 0; r.ok() && i < n; ++i) {
        NodeRecord rec;
        rec.node = std::string(r.bytes(kMaxNameBytes));
        rec.incarnation = r.varint();
        rec.version = r.varint();
        if (!get_names(r, rec.links, kMaxNameBytes) || !get_names(r, rec.held, kMaxNameBytes) ||
            !get_names(r, rec.filters, core::kMaxNameBytes))
          break;
        if (!valid_name(rec.node)) return {std::nullopt, error("registry: bad node name")};
        for (const auto& l : rec.links)
          if (!valid_name(l)) return {std::nullopt, error("registry: bad link name")};
        for (const auto& l : rec.held)
          if (!valid_name(l)) return {std::nullopt, error("registry: bad link name")};
        for (const auto& filter : rec.filters)
          if (auto bad = core::check_filter(filter))
            return {std::nullopt, error("registry filter: " + bad->message)};
        f.records.push_back(std::move(rec));
      }
      return finish(std::move(f), "registry frame");
    }
    case FrameType::events:
      return decode_events(r, max_frame_bytes, origins);
    case FrameType::ack: {
      Ack f;
      f.next = r.varint();
      return finish(f, "ack");
    }
    case FrameType::goodbye: {
      Goodbye f;
      f.code = static_cast<GoodbyeCode>(r.fixed(2));
      f.reason = std::string(r.bytes(1024));
      return finish(std::move(f), "goodbye");
    }
  }
  return {std::nullopt, error("unknown frame type " + std::to_string(static_cast<int>(type)))};
}

}  // namespace skein::mesh
