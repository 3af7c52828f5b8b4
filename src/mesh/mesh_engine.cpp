// The mesh engine's rules (mesh_engine.hpp).
#include "mesh/mesh_engine.hpp"

#include <algorithm>

namespace skein::mesh {

MeshEngine::MeshEngine(std::string self, std::uint64_t incarnation, MeshIo& io,
                       EngineSettings settings, OutboxStore* store)
    : io_(io), settings_(settings), store_(store), registry_(std::move(self), incarnation) {}

MeshEngine::Link& MeshEngine::link(const std::string& peer) {
  auto it = links_.find(peer);
  if (it == links_.end()) it = links_.emplace(peer, Link{}).first;
  return it->second;
}

bool MeshEngine::link_is_up(const std::string& peer) const {
  auto it = links_.find(peer);
  return it != links_.end() && it->second.up;
}

std::vector<std::string> MeshEngine::links() const {
  std::vector<std::string> out;
  for (const auto& [peer, l] : links_) out.push_back(peer);
  return out;
}

const LinkCounters* MeshEngine::counters(const std::string& peer) const {
  auto it = links_.find(peer);
  return it == links_.end() ? nullptr : &it->second.counters;
}

const Outbox* MeshEngine::outbox(const std::string& peer) const {
  auto it = links_.find(peer);
  return it == links_.end() ? nullptr : &it->second.outbox;
}

RoutePlan& MeshEngine::plan() {
  if (!plan_ || plan_generation_ != registry_.generation()) {
    plan_.emplace(registry_.records(), registry_.self_name());
    plan_generation_ = registry_.generation();
  }
  return *plan_;
}

void MeshEngine::retry_unrouted() {
  if (unrouted_.empty()) return;
  const bool settled = Clock::now() >= settle_until_;
  std::vector<Unrouted> still;
  for (auto& u : unrouted_) {
    if (route(u.event, &u.arrived_from) == 0 && !settled) {
      still.push_back(std::move(u));
      continue;
    }
    // Routed (its outboxes answer for it) or given up: release the hold.
    if (u.event->receipt) u.event->receipt->stored(false);
  }
  unrouted_ = std::move(still);
}

void MeshEngine::registry_changed() {
  retry_unrouted();
  RoutePlan& p = plan();
  if (p.remote_filters() != remote_filters_) {
    remote_filters_ = p.remote_filters();
    io_.remote_filters_changed(remote_filters_);
  }
}

void MeshEngine::flood(const std::vector<NodeRecord>& records, const std::string* except) {
  if (records.empty()) return;
  std::string frame;
  encode(frame, RegistryFrame{records});
  for (auto& [peer, l] : links_)
    if (l.up && (except == nullptr || peer != *except)) io_.send(peer, frame);
}

void MeshEngine::links_changed() {
  std::vector<std::string> up, held;
  const auto now = Clock::now();
  for (const auto& [peer, l] : links_) {
    if (l.up) {
      up.push_back(peer);
    } else if (l.held_until && *l.held_until > now) {
      held.push_back(peer);
    }
  }
  if (registry_.set_links(std::move(up), std::move(held))) flood({registry_.self()}, nullptr);
}

void MeshEngine::link_up(const std::string& peer) {
  settle_until_ = Clock::now() + settings_.route_settle;
  Link& l = link(peer);
  l.up = true;
  l.held_until.reset();
  l.receiving.clear();
  l.outbox.rewind();
  l.origins_out = OriginTable{};  // a new connection starts a new table
  links_changed();
  // A full sync: the new peer learns every record this node holds.
  std::string frame;
  encode(frame, RegistryFrame{registry_.records()});
  io_.send(peer, std::move(frame));
  registry_changed();
  send_outbox(peer, l);
}

void MeshEngine::link_down(const std::string& peer) {
  auto it = links_.find(peer);
  if (it == links_.end() || !it->second.up) return;
  Link& l = it->second;
  l.up = false;
  l.direct.clear();
  l.receiving.clear();
  // Held: persistent events for nodes behind it keep queuing in its outbox.
  l.held_until = Clock::now() + settings_.outbox.max_age;
  links_changed();
  registry_changed();
}

void MeshEngine::set_local_filters(std::vector<std::string> filters) {
  if (registry_.set_filters(std::move(filters))) {
    flood({registry_.self()}, nullptr);
    registry_changed();
  }
}

void MeshEngine::on_frame(const std::string& peer, Frame frame) {
  if (auto* r = std::get_if<RegistryFrame>(&frame)) return on_registry(peer, std::move(*r));
  if (auto* e = std::get_if<ReceivedEvents>(&frame)) return on_events(peer, std::move(*e));
  if (auto* a = std::get_if<Ack>(&frame)) return on_ack(peer, *a);
  // Handshake, heartbeats and goodbyes belong to the link session.
  io_.close_link(peer, Goodbye{GoodbyeCode::protocol_error, "unexpected frame after handshake"});
}

void MeshEngine::on_registry(const std::string& peer, RegistryFrame frame) {
  std::vector<NodeRecord> taken;
  bool own_bumped = false;
  const auto now = Clock::now();
  for (auto& rec : frame.records) {
    switch (registry_.apply(rec, now)) {
      case Registry::Applied::taken:
        taken.push_back(std::move(rec));
        break;
      case Registry::Applied::own_bumped:
        own_bumped = true;
        break;
      case Registry::Applied::stale:
        break;
    }
  }
  flood(taken, &peer);
  if (own_bumped) flood({registry_.self()}, nullptr);
  if (!taken.empty() || own_bumped) registry_changed();
}

void MeshEngine::forward(const core::EventPtr& event) {
  if (event->relayed) return;  // forwarded when it arrived
  route(event, nullptr);
}

std::size_t MeshEngine::route(const core::EventPtr& event, const std::string* arrived_from) {
  std::size_t used = 0;
  hops_.clear();
  const bool persistent = event->delivery == core::DeliveryClass::persistent;
  plan().next_hops(event->origin.node, event->topic, persistent, hops_);
  for (const std::string& hop : hops_) {
    if (arrived_from != nullptr && hop == *arrived_from) continue;
    Link& l = link(hop);
    ++used;
    if (!persistent) {
      if (!l.up) continue;  // direct events are not kept for later
      l.direct.push_back(event);
      ++l.counters.events_out;
      continue;
    }
    const std::uint64_t position = l.outbox.add(event, Clock::now());
    ++l.counters.persistent_out;
    const std::shared_ptr<core::Receipt>& receipt = event->receipt;
    if (receipt) receipt->expect();
    if (store_ != nullptr) {
      store_->append(hop, position, event, [receipt](bool ok) {
        if (!receipt) return;
        if (ok) {
          receipt->stored();  // counts: the event is durable in an outbox
        } else {
          receipt->failed("a mesh outbox could not store the event");
        }
      });
    } else if (receipt) {
      receipt->stored();
    }
  }
  return used;
}

void MeshEngine::on_events(const std::string& peer, ReceivedEvents frame) {
  Link& l = link(peer);
  std::uint64_t position = frame.first;
  for (core::Event& e : frame.events) {
    const bool persistent = frame.persistent;
    // The batch says how the event travels (and so whether it is acknowledged).
    e.delivery = persistent ? core::DeliveryClass::persistent : core::DeliveryClass::direct;
    const std::uint64_t here = position++;
    ++(persistent ? l.counters.persistent_in : l.counters.events_in);
    if (e.origin.node == registry_.self_name()) {
      // Came back to where it entered: a route changed under it.
      ++l.counters.duplicates_in;
      ++duplicates_;
      if (persistent) l.receiving.emplace_back(here, true);
      continue;
    }
    EventKey key{e.origin.node, e.origin.incarnation, e.origin.sequence};
    const auto verdict = seen_.check(e.origin.node, e.origin.incarnation, e.origin.sequence);
    const bool take = verdict == SeenEvents::Verdict::fresh ||
                      (verdict == SeenEvents::Verdict::too_old && persistent);
    if (!take) {
      ++l.counters.duplicates_in;
      ++duplicates_;
      if (!persistent) continue;
      if (auto it = storing_.find(key); it != storing_.end()) {
        // The first copy is still being stored: this one is acknowledged with it.
        l.receiving.emplace_back(here, false);
        it->second.emplace_back(peer, here);
      } else {
        l.receiving.emplace_back(here, true);
      }
      continue;
    }
    if (persistent) {
      l.receiving.emplace_back(here, false);
      storing_.emplace(key, std::vector<std::pair<std::string, std::uint64_t>>{});
      // Stored once every local persistent destination and every onward
      // outbox has it; then the peer may forget it.
      std::weak_ptr<bool> alive = alive_;
      MeshIo* io = &io_;
      std::string from = peer;
      e.receipt = std::make_shared<core::Receipt>(
          [this, alive, io, from, here, key](std::optional<std::string> failure, std::size_t) {
            io->post([this, alive, from, here, key, ok = !failure.has_value()] {
              if (alive.lock()) received_stored(key, from, here, ok);
            });
          });
    }
    core::EventPtr event = std::make_shared<const core::Event>(std::move(e));
    const std::size_t hops = route(event, &peer);
    const std::size_t local = io_.deliver(event);
    if (persistent && hops == 0 && local == 0 && Clock::now() < settle_until_) {
      // Nobody here or beyond wants it, as far as this node knows yet; the
      // registry may be catching up after a link came back: hold it.
      unrouted_.push_back(Unrouted{event, peer});
      continue;
    }
    if (event->receipt) event->receipt->stored(false);  // the engine's own expectation
  }
  // Duplicates are acknowledged at once (when nothing before them waits).
  advance_acks(peer);
}

void MeshEngine::received_stored(const EventKey& key, const std::string& peer,
                                 std::uint64_t position, bool ok) {
  std::vector<std::pair<std::string, std::uint64_t>> copies{{peer, position}};
  if (auto it = storing_.find(key); it != storing_.end()) {
    copies.insert(copies.end(), it->second.begin(), it->second.end());
    storing_.erase(it);
  }
  if (!ok) {
    // Not acknowledged, and forgotten as seen: the peers send it again when
    // their links come back, and the copy is taken as new.
    seen_.forget(std::get<0>(key), std::get<1>(key), std::get<2>(key));
    for (const auto& [from, p] : copies)
      io_.close_link(from,
                     Goodbye{GoodbyeCode::store_failed, "could not store a persistent event"});
    return;
  }
  for (const auto& [from, p] : copies) {
    auto it = links_.find(from);
    if (it == links_.end() || !it->second.up) continue;
    for (auto& [q, stored] : it->second.receiving)
      if (q == p) stored = true;
    advance_acks(from);
  }
}

void MeshEngine::advance_acks(const std::string& peer) {
  auto it = links_.find(peer);
  if (it == links_.end() || !it->second.up) return;
  Link& l = it->second;
  bool advanced = false;
  while (!l.receiving.empty() && l.receiving.front().second) {
    l.acked_to_peer = l.receiving.front().first + 1;
    l.receiving.pop_front();
    advanced = true;
  }
  if (advanced) {
    std::string frame;
    encode(frame, Ack{l.acked_to_peer});
    io_.send(peer, std::move(frame));
  }
}

void MeshEngine::on_ack(const std::string& peer, const Ack& ack) {
  Link& l = link(peer);
  ++l.counters.acks_in;
  l.outbox.acknowledge(ack.next);
  if (store_ != nullptr) store_->trim(peer, l.outbox.acked());
  send_outbox(peer, l);
}

void MeshEngine::send_outbox(const std::string& peer, Link& l) {
  if (!l.up) return;
  while (l.outbox.has_unsent()) {
    // A window: no more than max_unacked_events sent and not yet acknowledged.
    const std::uint64_t in_flight = l.outbox.sent() - l.outbox.acked();
    if (in_flight >= settings_.max_unacked_events) break;
    const auto room = static_cast<std::size_t>(settings_.max_unacked_events - in_flight);
    const auto batch =
        l.outbox.take_unsent(std::min(room, settings_.max_batch_events), settings_.max_batch_bytes);
    if (batch.empty()) break;
    // A frame holds consecutive positions; a gap (events dropped by the
    // limits) starts a new frame.
    EventsFrame f;
    f.persistent = true;
    f.first = batch.front()->position;
    auto send = [&] {
      std::string frame;
      encode(frame, f, settings_.compress_above, &l.origins_out);
      io_.send(peer, std::move(frame));
    };
    for (const auto* entry : batch) {
      if (entry->position != f.first + f.events.size()) {
        send();
        f.events.clear();
        f.first = entry->position;
      }
      f.events.push_back(entry->event);
    }
    send();
  }
}

void MeshEngine::flush() {
  for (auto& [peer, l] : links_) {
    if (!l.up) continue;
    std::size_t i = 0;
    while (i < l.direct.size()) {
      EventsFrame f;
      std::size_t bytes = 0;
      for (; i < l.direct.size() && f.events.size() < settings_.max_batch_events &&
             bytes < settings_.max_batch_bytes;
           ++i) {
        bytes += event_bytes(*l.direct[i]);
        f.events.push_back(l.direct[i]);
      }
      std::string frame;
      encode(frame, f, settings_.compress_above, &l.origins_out);
      io_.send(peer, std::move(frame));
    }
    l.direct.clear();
    send_outbox(peer, l);
  }
}

void MeshEngine::tick(Clock::time_point now) {
  bool changed = false;
  for (auto& [peer, l] : links_) {
    if (!l.up && l.held_until && *l.held_until <= now) {
      l.held_until.reset();
      changed = true;
    }
    const std::size_t dropped = l.outbox.enforce(settings_.outbox, now);
    if (dropped > 0) {
      outbox_drops_ += dropped;
      if (store_ != nullptr) store_->trim(peer, l.outbox.acked());
    }
  }
  if (changed) links_changed();  // a hold ended: the own record says so
  retry_unrouted();
  const auto forgotten = registry_.age(plan().reachable(), now, settings_.node_expiry);
  if (changed || !forgotten.empty()) registry_changed();
}

void MeshEngine::restore_outbox(const std::string& peer, std::uint64_t position,
                                core::EventPtr event) {
  Link& l = link(peer);
  l.outbox.restore(position, std::move(event), Clock::now());
  if (!l.held_until) {
    l.held_until = Clock::now() + settings_.outbox.max_age;
    links_changed();
  }
}

}  // namespace skein::mesh
