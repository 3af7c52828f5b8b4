// An in-process mesh for tests: many MeshEngines linked by in-memory links
// that carry the real encoded frames, run step by step on one thread, so
// that a topology, a cut or a subscription change is fast and repeatable.
//
// Each node has local subscribers (filter -> id) standing in for its router's
// destinations, and plays the part of the node's router for the mesh: a
// local publish reaches matching local subscribers and, when a remote filter
// matches, the engine (as the mesh's destination would). The harness records
// every event that crosses every link, in each direction.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/topic_names.hpp"
#include "mesh/mesh_engine.hpp"

namespace skein::mesh::testing {

struct EventId {
  std::string origin;
  std::uint64_t sequence;
  auto operator<=>(const EventId&) const = default;
};

class Harness;

class HarnessNode : public MeshIo {
 public:
  HarnessNode(Harness& h, std::string name, EngineSettings settings)
      : harness_(h), name_(std::move(name)), engine_(name_, 1, *this, settings) {}

  void send(const std::string& peer, std::string frames) override;
  std::size_t deliver(core::EventPtr event) override { return receive_locally(event); }
  void remote_filters_changed(const std::vector<std::string>& filters) override {
    remote_filters_ = filters;
  }
  void post(std::function<void()> fn) override { posted_.push_back(std::move(fn)); }
  void close_link(const std::string& peer, Goodbye why) override {
    closed_.push_back(peer + ": " + why.reason);
  }

  // A local subscription (id unique in the harness).
  void subscribe(int id, const std::string& filter) {
    subscribers_.emplace(id, filter);
    update_filters();
  }
  void unsubscribe(int id) {
    subscribers_.erase(id);
    update_filters();
  }

  // Publishes an event at this node (its origin and sequence set here).
  EventId publish(const std::string& topic, bool persistent = false) {
    core::Event e;
    e.topic = topic;
    e.payload = "payload of " + topic;
    e.origin.node = name_;
    e.origin.incarnation = 1;
    e.origin.sequence = ++sequence_;
    e.delivery = persistent ? core::DeliveryClass::persistent : core::DeliveryClass::direct;
    auto event = std::make_shared<const core::Event>(std::move(e));
    receive_locally(event);
    for (const auto& f : remote_filters_) {
      if (core::filter_matches(f, event->topic)) {
        engine_.forward(event);
        break;
      }
    }
    engine_.flush();
    return EventId{name_, sequence_};
  }

  // Deliveries per subscriber id: the events each got, in order.
  std::map<int, std::vector<EventId>> delivered;
  // Events this node received over links.
  std::vector<EventId> arrived;

  MeshEngine& engine() { return engine_; }
  const std::string& name() const { return name_; }
  const std::vector<std::string>& remote_filters() const { return remote_filters_; }
  const std::vector<std::string>& closed() const { return closed_; }
  bool run_posted() {
    if (posted_.empty()) return false;
    auto tasks = std::move(posted_);
    posted_.clear();
    for (auto& t : tasks) t();
    engine_.flush();
    return true;
  }
  const std::multimap<int, std::string>& subscribers() const { return subscribers_; }

 private:
  std::size_t receive_locally(const core::EventPtr& event) {
    if (event->relayed) arrived.push_back(EventId{event->origin.node, event->origin.sequence});
    std::size_t matched = 0;
    for (const auto& [id, filter] : subscribers_) {
      if (core::filter_matches(filter, event->topic)) {
        delivered[id].push_back(EventId{event->origin.node, event->origin.sequence});
        ++matched;
      }
    }
    return matched;
  }
  void update_filters() {
    std::vector<std::string> filters;
    for (const auto& [id, f] : subscribers_) filters.push_back(f);
    engine_.set_local_filters(std::move(filters));
    engine_.flush();
  }

  Harness& harness_;
  std::string name_;
  MeshEngine engine_;
  std::multimap<int, std::string> subscribers_;
  std::vector<std::string> remote_filters_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::string> closed_;
  std::uint64_t sequence_ = 0;
};

class Harness {
 public:
  explicit Harness(std::uint64_t seed = 1, EngineSettings settings = {})
      : random_(seed), settings_(settings) {}

  HarnessNode& add(const std::string& name) {
    auto node = std::make_unique<HarnessNode>(*this, name, settings_);
    auto& ref = *node;
    nodes_.emplace(name, std::move(node));
    return ref;
  }
  HarnessNode& node(const std::string& name) { return *nodes_.at(name); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, _] : nodes_) out.push_back(n);
    return out;
  }

  void link(const std::string& a, const std::string& b) {
    up_.insert(key(a, b));
    // A new connection: new origin tables both ways.
    tables_[{a, b}] = OriginTable{};
    tables_[{b, a}] = OriginTable{};
    node(a).engine().link_up(b);
    node(b).engine().link_up(a);
  }
  // Both ends see the link go; frames in flight on it are lost.
  void cut(const std::string& a, const std::string& b) {
    up_.erase(key(a, b));
    std::erase_if(wire_, [&](const Frame& f) { return key(f.from, f.to) == key(a, b); });
    node(a).engine().link_down(b);
    node(b).engine().link_down(a);
  }
  bool is_up(const std::string& a, const std::string& b) const { return up_.contains(key(a, b)); }

  void enqueue(const std::string& from, const std::string& to, std::string bytes) {
    if (!is_up(from, to)) return;
    wire_.push_back(Frame{from, to, std::move(bytes)});
  }

  // Delivers frames (in order per link, links interleaved at random) and
  // posted work until nothing is left. Returns the number of steps.
  std::size_t run(std::size_t max_steps = 10'000'000) {
    std::size_t steps = 0;
    while (steps < max_steps) {
      bool any = false;
      for (auto& [_, n] : nodes_) any |= n->run_posted();
      if (wire_.empty()) {
        if (!any) break;
        continue;
      }
      // Pick a random link with frames, take its oldest frame: per-link FIFO.
      const auto& pick = wire_[random_() % wire_.size()];
      const auto link_key = key(pick.from, pick.to);
      const std::string from = pick.from;
      const std::string to = pick.to;
      auto it = std::find_if(wire_.begin(), wire_.end(),
                             [&](const Frame& f) { return f.from == from && f.to == to; });
      std::string bytes = std::move(it->bytes);
      wire_.erase(it);
      (void)link_key;
      deliver(from, to, bytes);
      ++steps;
    }
    return steps;
  }

  // Events seen crossing each directed link: (from, to) -> event -> count.
  std::map<std::pair<std::string, std::string>, std::map<EventId, int>> crossings;
  std::vector<std::string> decode_errors;

 private:
  struct Frame {
    std::string from, to, bytes;
  };
  static std::pair<std::string, std::string> key(const std::string& a, const std::string& b) {
    return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
  }
  void deliver(const std::string& from, const std::string& to, std::string_view bytes) {
    while (!bytes.empty()) {
      const auto size = frame_size(bytes, 64 << 20);
      if (!size.whole) {
        decode_errors.push_back("partial frame");
        return;
      }
      auto decoded = decode(bytes.substr(0, *size.whole), 64 << 20, &tables_[{from, to}]);
      bytes.remove_prefix(*size.whole);
      if (!decoded.frame) {
        decode_errors.push_back(decoded.error->message);
        return;
      }
      if (auto* e = std::get_if<ReceivedEvents>(&*decoded.frame))
        for (const auto& ev : e->events)
          ++crossings[{from, to}][EventId{ev.origin.node, ev.origin.sequence}];
      node(to).engine().on_frame(from, std::move(*decoded.frame));
      node(to).engine().flush();
    }
  }

  std::mt19937_64 random_;
  EngineSettings settings_;
  std::map<std::string, std::unique_ptr<HarnessNode>> nodes_;
  std::set<std::pair<std::string, std::string>> up_;
  std::deque<Frame> wire_;
  std::map<std::pair<std::string, std::string>, OriginTable> tables_;  // receiving side
};

inline void HarnessNode::send(const std::string& peer, std::string frames) {
  harness_.enqueue(name_, peer, std::move(frames));
}

}  // namespace skein::mesh::testing
