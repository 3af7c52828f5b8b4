// The frames of a mesh link (docs/mesh-protocol.md): what two linked nodes
// say to each other, and their encoding. Bytes only: no sockets, no clocks, so
// the fuzz build takes it and the in-process harness drives it directly.
//
// Every frame is `u32 length (big-endian) | u8 type | body`, the length
// counting the type and the body. A frame longer than the receiver's limit,
// an unknown type or a body that does not decode is a protocol error: the
// receiver says why in a GOODBYE and closes the link (never the node).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/event.hpp"

namespace skein::mesh {

inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderBytes = 5;
inline constexpr std::size_t kNonceBytes = 16;
inline constexpr std::size_t kProofBytes = 32;  // HMAC-SHA256
// Names of meshes and nodes: 1..64 bytes of [A-Za-z0-9._-] (they also name
// files and Kafka-legal stream names).
inline constexpr std::size_t kMaxNameBytes = 64;

enum class FrameType : std::uint8_t {
  hello = 1,      // first frame each way: who I am
  proof = 2,      // second frame each way: I know the secret
  heartbeat = 3,  // liveness and round-trip time
  registry = 4,   // node records (link state and filters)
  events = 5,     // a batch of events
  ack = 6,        // persistent events stored up to a position
  goodbye = 7,    // why the sender closes the link
};

struct Hello {
  std::uint16_t version = kProtocolVersion;
  std::string mesh;
  std::string node;
  std::uint64_t incarnation = 0;
  std::string nonce;  // kNonceBytes random bytes, the challenge for the peer's proof
};

struct Proof {
  std::string mac;  // kProofBytes
};

struct Heartbeat {
  bool reply = false;       // false: a ping; true: the answer to one
  std::uint64_t stamp = 0;  // the pinger's clock, echoed back for the round trip
};

// One node's entry in the registry (link state): who it is linked to and which
// filters its own destinations subscribe to. A record replaces an older one of
// the same node: newer means a higher (incarnation, version).
struct NodeRecord {
  std::string node;
  std::uint64_t incarnation = 0;
  std::uint64_t version = 0;
  std::vector<std::string> links;  // neighbours with an established link, sorted
  // Neighbours whose link is down but held: persistent events for the nodes
  // behind it wait in its outbox (route_plan.hpp). Sorted.
  std::vector<std::string> held;
  std::vector<std::string> filters;  // sorted, unique
  bool operator==(const NodeRecord&) const = default;
  bool newer_than(const NodeRecord& other) const {
    return incarnation != other.incarnation ? incarnation > other.incarnation
                                            : version > other.version;
  }
};

struct RegistryFrame {
  std::vector<NodeRecord> records;
};

struct EventsFrame {
  // Persistent batches carry their position in the sender's outbox for this
  // link: events[i] is at first + i, and the receiver acknowledges positions.
  bool persistent = false;
  std::uint64_t first = 0;
  std::vector<core::EventPtr> events;
};

// An events frame as received: the events still open to change, so that the
// receiver can attach a receipt before sharing them.
struct ReceivedEvents {
  bool persistent = false;
  std::uint64_t first = 0;
  std::vector<core::Event> events;
};

struct Ack {
  std::uint64_t next = 0;  // every persistent event below this position is stored
};

enum class GoodbyeCode : std::uint16_t {
  normal = 0,            // the node is stopping
  protocol_error = 1,    // a frame did not decode or came out of turn
  version_mismatch = 2,  // no protocol version in common
  wrong_mesh = 3,        // the peer belongs to another mesh
  bad_proof = 4,         // the peer does not know the mesh secret
  duplicate_link = 5,    // the two nodes already share a link
  same_node = 6,         // the peer has this node's name
  timeout = 7,           // handshake or heartbeats overdue
  frame_too_large = 8,   // a frame above the receiver's limit
  too_slow = 9,          // the peer reads too slowly: too much waits for it
  store_failed = 10,     // a persistent event could not be stored here
};
std::string_view to_string(GoodbyeCode code);

struct Goodbye {
  GoodbyeCode code = GoodbyeCode::normal;
  std::string reason;
};

// The memory of one direction of one link for the events encoding: an
// origin is named once per connection and then referred to by a number, and
// its sequence numbers and timestamps travel as differences from its previous
// event on the link (docs/mesh-protocol.md "Origins"). Sender and receiver
// each keep one, new with each connection, and use it for every events frame
// in order. Without one, every event names its origin in full.
class OriginTable {
 public:
  static constexpr std::size_t kMaxOrigins = 4096;
  struct Entry {
    std::string node;
    std::uint64_t incarnation = 0;
    std::uint64_t last_sequence = 0;
    std::int64_t last_timestamp = 0;
  };
  std::vector<Entry> entries;                        // ids 1..size, at index id-1
  std::unordered_map<std::string, std::size_t> ids;  // sender: node -> id
};

// What decode() yields (events arrive as ReceivedEvents).
using Frame = std::variant<Hello, Proof, Heartbeat, RegistryFrame, ReceivedEvents, Ack, Goodbye>;

// Whether `name` is a legal mesh or node name.
bool valid_name(std::string_view name);

// Encoders append one whole frame to `out`.
void encode(std::string& out, const Hello& f);
void encode(std::string& out, const Proof& f);
void encode(std::string& out, const Heartbeat& f);
void encode(std::string& out, const RegistryFrame& f);
void encode(std::string& out, const Ack& f);
void encode(std::string& out, const Goodbye& f);
// Events are compressed with zstd when their encoding passes
// `compress_above` bytes and compression makes them smaller. `origins`: the
// sending side's table of this link (nullptr: origins in full).
void encode(std::string& out, const EventsFrame& f, std::size_t compress_above = SIZE_MAX,
            OriginTable* origins = nullptr);

struct DecodeError {
  GoodbyeCode code = GoodbyeCode::protocol_error;
  std::string message;
};

// One event alone, as inside an events frame (the outbox stores events so).
void encode_event(std::string& out, const core::Event& event);
// nullopt when `bytes` hold exactly one valid event, else why not.
std::optional<std::string> decode_event(std::string_view bytes, core::Event& out);

// Splitting a byte stream into frames: the length of the frame at the start
// of `buffer` (header included) once it is all there, nullopt while more
// bytes are needed, or an error for a frame above `max_frame_bytes`.
struct FrameSize {
  std::optional<std::size_t> whole;
  std::optional<DecodeError> error;
};
FrameSize frame_size(std::string_view buffer, std::size_t max_frame_bytes);

// Decodes one whole frame (as measured by frame_size). Events get their
// `relayed` mark. Never throws; every field is checked (names, topics,
// lengths, counts, decompressed size at most `max_frame_bytes`).
struct Decoded {
  std::optional<Frame> frame;
  std::optional<DecodeError> error;
};
// `origins`: the receiving side's table of this link (nullptr: an events
// frame that refers to a table entry is malformed).
Decoded decode(std::string_view whole_frame, std::size_t max_frame_bytes,
               OriginTable* origins = nullptr);

}  // namespace skein::mesh
