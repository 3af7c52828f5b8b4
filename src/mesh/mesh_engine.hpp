// MeshEngine: one node's part of the mesh, with no I/O of its own (the link
// sessions, the in-process test harness and the benchmarks drive it alike).
// It runs on one thread; everything here is called there.
//
// Inputs: a link is established or lost, a frame arrived on a link, the local
// filters changed, a local event is to be forwarded, time passed. Outputs,
// through MeshIo: bytes for a link, an event for the local router, the set of
// remote filters the mesh must attract locally, work to run later on this
// thread.
//
// Events: an event from this node goes to the next hops of this node's plan;
// an event from a link is checked against SeenEvents, forwarded to the next
// hops (never back where it came from) and delivered locally. Direct events
// are batched per link until flush(); persistent events go through the link's
// outbox and are acknowledged by the peer once it stored them (its local
// persistent destinations and its own outboxes onward).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/event.hpp"
#include "mesh/frame.hpp"
#include "mesh/outbox.hpp"
#include "mesh/registry.hpp"
#include "mesh/route_plan.hpp"
#include "mesh/seen_events.hpp"

namespace skein::mesh {

class MeshIo {
 public:
  virtual ~MeshIo() = default;
  // Queues whole frames on the established link to `peer`.
  virtual void send(const std::string& peer, std::string frames) = 0;
  // An event that arrived over a link, for this node's own destinations.
  // Returns how many of them it matched.
  virtual std::size_t deliver(core::EventPtr event) = 0;
  // The filters of other nodes changed: what the mesh must attract here.
  virtual void remote_filters_changed(const std::vector<std::string>& filters) = 0;
  // Runs `fn` later on the engine's thread (receipts complete anywhere).
  virtual void post(std::function<void()> fn) = 0;
  // A link broke the rules at the engine's level; close it with this goodbye.
  virtual void close_link(const std::string& peer, Goodbye why) = 0;
};

struct EngineSettings {
  // Events per frame. The receiver publishes a frame's events to its
  // subscribers in one go, so a frame larger than their queues (MQTT's
  // default 1000) would overflow a subscriber that is only a moment behind.
  std::size_t max_batch_events = 256;
  std::size_t max_batch_bytes = std::size_t{1} << 20;
  // Events frames above this many bytes are compressed (zstd).
  std::size_t compress_above = 4096;
  // Persistent events sent but not acknowledged, per link.
  std::size_t max_unacked_events = 8192;
  std::chrono::milliseconds node_expiry{std::chrono::seconds(60)};
  // After a link comes up, a persistent event that arrives with nowhere to
  // go is held this long (unacknowledged) while the registry catches up: a
  // node that just restarted learns the nodes behind its other links only
  // as those links come back.
  std::chrono::milliseconds route_settle{std::chrono::seconds(5)};
  OutboxLimits outbox;
};

// What the engine counts per link (events each way; bytes are the session's).
struct LinkCounters {
  std::uint64_t events_out = 0, events_in = 0, duplicates_in = 0;
  std::uint64_t persistent_out = 0, persistent_in = 0, acks_in = 0;
};

class MeshEngine {
 public:
  using Clock = std::chrono::steady_clock;

  MeshEngine(std::string self, std::uint64_t incarnation, MeshIo& io, EngineSettings settings,
             OutboxStore* store = nullptr);

  const std::string& self() const { return registry_.self_name(); }

  // A link to `peer` finished its handshake / is gone.
  void link_up(const std::string& peer);
  void link_down(const std::string& peer);
  bool link_is_up(const std::string& peer) const;

  // The filters of this node's own destinations (not the mesh's).
  void set_local_filters(std::vector<std::string> filters);

  // A frame from an established link (registry, events, ack).
  void on_frame(const std::string& peer, Frame frame);

  // An event published on this node (not relayed) that the mesh attracted.
  // Persistent events: the engine expects once per next hop on its receipt
  // and answers when the outbox has it durably.
  void forward(const core::EventPtr& event);

  // Writes the direct batches and outbox events that are due. Call after
  // every burst of input.
  void flush();

  // Heartbeat of the engine: ages the registry, enforces outbox limits.
  void tick(Clock::time_point now);

  // Restores an outbox entry read back at start (before links come up).
  void restore_outbox(const std::string& peer, std::uint64_t position, core::EventPtr event);

  // Introspection (GET /v1/mesh).
  const Registry& registry() const { return registry_; }
  RoutePlan& plan();
  const LinkCounters* counters(const std::string& peer) const;
  const Outbox* outbox(const std::string& peer) const;
  std::vector<std::string> links() const;
  std::uint64_t duplicates() const { return duplicates_; }
  std::uint64_t outbox_drops() const { return outbox_drops_; }

 private:
  struct Link {
    bool up = false;
    std::vector<core::EventPtr> direct;  // waiting for flush()
    Outbox outbox;
    LinkCounters counters;
    // Persistent events received from this peer: (position, stored?) in order.
    std::deque<std::pair<std::uint64_t, bool>> receiving;
    std::uint64_t acked_to_peer = 0;
    OriginTable origins_out;  // this connection's origin table, sending side
    // A link that went down keeps its outbox filling until then (route_plan.hpp).
    std::optional<Clock::time_point> held_until;
  };

  Link& link(const std::string& peer);
  void links_changed();
  void registry_changed();
  void flood(const std::vector<NodeRecord>& records, const std::string* except);
  // Returns the number of next hops the event went to.
  std::size_t route(const core::EventPtr& event, const std::string* arrived_from);
  void retry_unrouted();
  void on_registry(const std::string& peer, RegistryFrame frame);
  void on_events(const std::string& peer, ReceivedEvents frame);
  void on_ack(const std::string& peer, const Ack& ack);
  // An event's identity mesh-wide: origin, incarnation, sequence.
  using EventKey = std::tuple<std::string, std::uint64_t, std::uint64_t>;
  void received_stored(const EventKey& key, const std::string& peer, std::uint64_t position,
                       bool ok);
  void advance_acks(const std::string& peer);
  void send_outbox(const std::string& peer, Link& l);

  MeshIo& io_;
  EngineSettings settings_;
  OutboxStore* store_;
  Registry registry_;
  std::optional<RoutePlan> plan_;
  std::uint64_t plan_generation_ = 0;
  std::vector<std::string> remote_filters_;
  SeenEvents seen_;
  std::map<std::string, Link, std::less<>> links_;
  std::vector<std::string> hops_;  // scratch
  struct Unrouted {
    core::EventPtr event;  // its receipt still holds the engine's expectation
    std::string arrived_from;
  };
  std::vector<Unrouted> unrouted_;
  // Persistent events being stored here, with the other copies (peer,
  // position) that arrived meanwhile and wait for the same answer.
  std::map<EventKey, std::vector<std::pair<std::string, std::uint64_t>>> storing_;
  Clock::time_point settle_until_{};
  std::uint64_t duplicates_ = 0;
  std::uint64_t outbox_drops_ = 0;
  // Alive while the engine is: receipts completing late check it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace skein::mesh
