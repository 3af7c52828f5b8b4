// The mesh face: sessions, dialers, the engine's I/O (mesh_service.hpp).
#include "mesh/mesh_service.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <random>

#include "mesh/filter_summary.hpp"
#include "runtime/cross_shard.hpp"

namespace skein::mesh {

namespace {
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

std::string endpoint_text(const asio::ip::tcp::endpoint& e) {
  const auto a = e.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(e.port());
}

// "host:port" or "[v6]:port" into its parts; false when there is no port.
bool split_target(const std::string& target, std::string& host, std::string& port) {
  const auto colon = target.rfind(':');
  if (colon == std::string::npos || colon + 1 == target.size()) return false;
  host = target.substr(0, colon);
  port = target.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  return true;
}

unsigned mesh_shard(const runtime::ShardPool& pool) {
  return pool.size() > 1 ? 1 : 0;
}
}  // namespace

MeshService::MeshService(runtime::ShardPool& pool, core::Router& router,
                         runtime::SubscriptionService& subscriptions,
                         runtime::StreamService& streams, MeshSettings settings,
                         std::optional<asio::ip::tcp::endpoint> listen)
    : pool_(pool),
      router_(router),
      subscriptions_(subscriptions),
      settings_(std::move(settings)),
      shard_(mesh_shard(pool)),
      self_(router.node_name()),
      outbox_log_(pool, streams, shard_),
      engine_(std::make_unique<MeshEngine>(self_, router.incarnation(), *this, settings_.engine,
                                           &outbox_log_)),
      destination_(std::make_shared<MeshDestination>(shard_, settings_.queue_events,
                                                     [this] { post([this] { drain(); }); })),
      interest_(destination_.get(),
                [this] {
                  // On shard 0; the engine lives on the mesh's shard.
                  asio::post(pool_.executor(shard_), [this] { local_filters_changed(); });
                }),
      listen_(listen) {}

MeshService::~MeshService() = default;

void MeshService::load() {
  std::size_t restored = 0;
  for (auto& [peer, events] : outbox_log_.load()) {
    for (auto& [position, event] : events) {
      engine_->restore_outbox(peer, position, std::move(event));
      ++restored;
    }
  }
  if (restored > 0)
    spdlog::info("mesh: {} persistent event(s) wait in outboxes for their next hop", restored);
}

std::optional<std::string> MeshService::address() const {
  if (!listener_) return std::nullopt;
  return endpoint_text(listener_->bound());
}

void MeshService::local_filters_changed() {
  if (filter_update_scheduled_) return;
  // Changes that come together (a burst of devices connecting) go out as one
  // record version, after a short delay.
  filter_update_scheduled_ = true;
  if (!filter_timer_) filter_timer_ = std::make_unique<asio::steady_timer>(pool_.context(shard_));
  filter_timer_->expires_after(settings_.filter_update_delay);
  filter_timer_->async_wait([this](boost::system::error_code ec) {
    filter_update_scheduled_ = false;
    if (ec || stopping_) return;
    engine_->set_local_filters(interest_.advertised(settings_.max_advertised_filters));
    engine_->flush();
  });
}

void MeshService::start() {
  if (listen_) {
    listener_ = std::make_unique<runtime::TcpListener>(
        pool_, "mesh", *listen_,
        [this](unsigned, asio::ip::tcp::socket socket) { accept(std::move(socket)); });
    listener_->open();
  }
  asio::post(pool_.executor(shard_), [this] {
    tick_timer_ = std::make_unique<asio::steady_timer>(pool_.context(shard_));
    asio::co_spawn(pool_.executor(shard_), tick_loop(), asio::detached);
    for (const auto& target : settings_.links) {
      auto d = std::make_unique<Dialer>();
      d->target = target;
      d->timer = std::make_unique<asio::steady_timer>(pool_.context(shard_));
      Dialer& ref = *d;
      dialers_.push_back(std::move(d));
      asio::co_spawn(pool_.executor(shard_), dial(ref), asio::detached);
    }
  });
}

void MeshService::stop(std::chrono::steady_clock::time_point) {
  if (listener_) listener_->close();
  // Say goodbye on every link, from the mesh's shard.
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  asio::post(pool_.executor(shard_), [this, done] {
    stopping_ = true;
    if (tick_timer_) tick_timer_->cancel();
    if (filter_timer_) filter_timer_->cancel();
    for (auto& d : dialers_) d->timer->cancel();
    for (const auto& s :
         std::vector<std::shared_ptr<LinkSession>>(sessions_.begin(), sessions_.end()))
      s->close(Goodbye{GoodbyeCode::normal, "the node is stopping"});
    done->set_value();
  });
  finished.wait_for(std::chrono::seconds(2));
}

void MeshService::accept(asio::ip::tcp::socket socket) {
  // Sessions live on the mesh's shard: move the descriptor there.
  boost::system::error_code ec;
  const auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return;
  const auto fd = socket.release(ec);
  if (ec) return;
  asio::post(pool_.executor(shard_), [this, protocol, fd] {
    asio::ip::tcp::socket moved(pool_.context(shard_));
    boost::system::error_code ec2;
    moved.assign(protocol, fd, ec2);
    if (ec2 || stopping_) return;
    auto session = std::make_shared<LinkSession>(std::move(moved), false, settings_, self_,
                                                 router_.incarnation(), *this);
    asio::co_spawn(pool_.executor(shard_), serve(session), asio::detached);
  });
}

asio::awaitable<void> MeshService::serve(std::shared_ptr<LinkSession> session) {
  sessions_.insert(session);
  co_await session->run();
  sessions_.erase(session);
}

asio::awaitable<void> MeshService::dial(Dialer& d) {
  std::mt19937_64 jitter(std::random_device{}());
  auto backoff = settings_.reconnect_min;
  asio::ip::tcp::resolver resolver(pool_.context(shard_));
  while (!stopping_) {
    std::string host, port;
    if (!split_target(d.target, host, port)) {
      d.state = "invalid";
      d.last_error = "not HOST:PORT";
      spdlog::error("mesh: cannot dial \"{}\": not HOST:PORT", d.target);
      co_return;
    }
    d.state = "connecting";
    auto [rec, endpoints] = co_await resolver.async_resolve(host, port, kAsTuple);
    bool linked = false;
    if (rec) {
      d.last_error = "resolve: " + rec.message();
    } else {
      asio::ip::tcp::socket socket(pool_.context(shard_));
      auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, kAsTuple);
      if (cec) {
        d.last_error = "connect: " + cec.message();
      } else if (!stopping_) {
        auto session = std::make_shared<LinkSession>(std::move(socket), true, settings_, self_,
                                                     router_.incarnation(), *this);
        d.session = session;
        d.state = "handshake";
        const auto began = std::chrono::steady_clock::now();
        co_await serve(session);
        d.session.reset();
        linked = std::chrono::steady_clock::now() - began > settings_.dead_after;
        d.last_error = session->end_reason();
      }
    }
    if (stopping_) break;
    // Back off; a link that lasted a while starts again from the minimum.
    if (linked) backoff = settings_.reconnect_min;
    d.state = "waiting";
    const auto half = backoff.count() / 2;
    const auto wait = std::chrono::milliseconds(
        half + static_cast<std::int64_t>(jitter() % static_cast<std::uint64_t>(half + 1)));
    spdlog::debug("mesh: {} ({}); dialling again in {} ms", d.target, d.last_error, wait.count());
    d.timer->expires_after(wait);
    auto [tec] = co_await d.timer->async_wait(kAsTuple);
    (void)tec;
    backoff = std::min(backoff * 2, settings_.reconnect_max);
  }
}

bool MeshService::established(const std::shared_ptr<LinkSession>& session) {
  if (stopping_) return false;
  const std::string& peer = session->peer();
  auto it = links_.find(peer);
  if (it != links_.end()) {
    // Keep the connection dialled by the node whose name sorts first.
    const bool self_first = self_ < peer;
    const bool keep_new = session->dialled() == self_first;
    if (!keep_new) return false;
    auto old = it->second;
    links_.erase(it);
    engine_->link_down(peer);
    old->close(
        Goodbye{GoodbyeCode::duplicate_link,
                "replaced by the link " + std::string(self_first ? self_ : peer) + " dialled"});
  }
  links_[peer] = session;
  for (auto& d : dialers_)
    if (d->session == session) d->state = "linked";
  engine_->link_up(peer);
  engine_->flush();
  return true;
}

void MeshService::frame(LinkSession& session, Frame frame) {
  auto it = links_.find(session.peer());
  if (it == links_.end() || it->second.get() != &session) return;
  engine_->on_frame(session.peer(), std::move(frame));
}

void MeshService::read_done(LinkSession&) {
  engine_->flush();
}

void MeshService::ended(LinkSession& session) {
  auto it = links_.find(session.peer());
  if (it == links_.end() || it->second.get() != &session) return;
  links_.erase(it);
  spdlog::info("mesh: link to {} down: {}", session.peer(), session.end_reason());
  engine_->link_down(session.peer());
  engine_->flush();
}

void MeshService::send(const std::string& peer, std::string frames) {
  auto it = links_.find(peer);
  if (it != links_.end()) it->second->send(std::move(frames));
}

std::size_t MeshService::deliver(core::EventPtr event) {
  return router_.publish(shard_, event);
}

void MeshService::post(std::function<void()> fn) {
  asio::post(pool_.executor(shard_), std::move(fn));
}

void MeshService::close_link(const std::string& peer, Goodbye why) {
  auto it = links_.find(peer);
  if (it != links_.end()) it->second->close(std::move(why));
}

void MeshService::remote_filters_changed(const std::vector<std::string>& filters) {
  wanted_filters_ = filters;
  if (syncing_) return;
  syncing_ = true;
  asio::co_spawn(pool_.executor(shard_), sync_subscriptions(), asio::detached);
}

asio::awaitable<void> MeshService::sync_subscriptions() {
  // One change at a time, until the destination's filters are the wanted ones.
  for (;;) {
    const std::set<std::string> wanted(wanted_filters_.begin(), wanted_filters_.end());
    std::vector<runtime::SubscriptionService::Change> changes;
    for (const auto& f : wanted)
      if (!subscribed_filters_.contains(f)) changes.push_back({true, f, destination_});
    for (const auto& f : subscribed_filters_)
      if (!wanted.contains(f)) changes.push_back({false, f, destination_});
    if (changes.empty()) break;
    co_await subscriptions_.apply(std::move(changes));
    subscribed_filters_ = wanted;
  }
  syncing_ = false;
}

void MeshService::drain() {
  destination_->drained();
  draining_.clear();
  destination_->take(draining_, 4096);
  for (const auto& event : draining_) {
    engine_->forward(event);
    // This destination's own expectation; the outboxes answer for themselves.
    if (event->receipt) event->receipt->stored(false);
  }
  draining_.clear();
  engine_->flush();
  if (destination_->queued() > 0) post([this] { drain(); });
}

asio::awaitable<void> MeshService::tick_loop() {
  while (!stopping_) {
    const std::uint64_t dropped_before = engine_->outbox_drops();
    engine_->tick(std::chrono::steady_clock::now());
    if (const auto dropped = engine_->outbox_drops() - dropped_before; dropped > 0) {
      spdlog::warn(
          "mesh: dropped {} persistent event(s) from outboxes over their limits "
          "(mesh.outbox_max_bytes, mesh.outbox_max_age_s); {} dropped since start",
          dropped, engine_->outbox_drops());
    }
    engine_->flush();
    refresh_metrics();
    tick_timer_->expires_after(settings_.heartbeat);
    auto [ec] = co_await tick_timer_->async_wait(kAsTuple);
    if (ec) break;
  }
}

void MeshService::refresh_metrics() {
  std::string out;
  auto line = [&](const char* name, const std::string& labels, std::uint64_t v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += " " + std::to_string(v) + "\n";
  };
  out += "# HELP skein_mesh_nodes Nodes in this node's registry, itself included.\n";
  out += "# TYPE skein_mesh_nodes gauge\n";
  line("skein_mesh_nodes", "", engine_->registry().size());
  out += "# HELP skein_mesh_duplicates_total Events that arrived twice and were dropped.\n";
  out += "# TYPE skein_mesh_duplicates_total counter\n";
  line("skein_mesh_duplicates_total", "", engine_->duplicates());
  out += "# HELP skein_mesh_outbox_dropped_total Persistent events dropped by outbox limits.\n";
  out += "# TYPE skein_mesh_outbox_dropped_total counter\n";
  line("skein_mesh_outbox_dropped_total", "", engine_->outbox_drops());
  out += "# HELP skein_mesh_link_up Whether the link to a peer is established.\n";
  out += "# TYPE skein_mesh_link_up gauge\n";
  for (const auto& peer : engine_->links())
    line("skein_mesh_link_up", "peer=\"" + peer + "\"", engine_->link_is_up(peer) ? 1 : 0);
  struct Metric {
    const char* name;
    const char* type;
    const char* help;
  };
  const Metric per_link[] = {
      {"skein_mesh_link_bytes_sent_total", "counter", "Bytes written to a link."},
      {"skein_mesh_link_bytes_received_total", "counter", "Bytes read from a link."},
      {"skein_mesh_link_events_sent_total", "counter", "Events sent on a link."},
      {"skein_mesh_link_events_received_total", "counter", "Events received on a link."},
      {"skein_mesh_link_rtt_microseconds", "gauge", "Heartbeat round-trip time of a link."},
      {"skein_mesh_outbox_events", "gauge", "Persistent events waiting for a peer's ack."},
      {"skein_mesh_outbox_bytes", "gauge", "Bytes of those events."},
  };
  for (const auto& m : per_link) {
    out += std::string("# HELP ") + m.name + " " + m.help + "\n";
    out += std::string("# TYPE ") + m.name + " " + m.type + "\n";
    for (const auto& peer : engine_->links()) {
      const std::string labels = "peer=\"" + peer + "\"";
      const LinkCounters* c = engine_->counters(peer);
      const Outbox* o = engine_->outbox(peer);
      auto s = links_.find(peer);
      const LinkStats* st = s == links_.end() ? nullptr : &s->second->stats();
      const std::string name = m.name;
      std::uint64_t v = 0;
      if (name == "skein_mesh_link_bytes_sent_total") v = st ? st->bytes_out : 0;
      if (name == "skein_mesh_link_bytes_received_total") v = st ? st->bytes_in : 0;
      if (name == "skein_mesh_link_events_sent_total") v = c->events_out + c->persistent_out;
      if (name == "skein_mesh_link_events_received_total") v = c->events_in + c->persistent_in;
      if (name == "skein_mesh_link_rtt_microseconds")
        v = st && st->rtt ? static_cast<std::uint64_t>(st->rtt->count()) : 0;
      if (name == "skein_mesh_outbox_events") v = o->depth();
      if (name == "skein_mesh_outbox_bytes") v = o->bytes();
      line(m.name, labels, v);
    }
  }
  std::lock_guard lock(metrics_mutex_);
  metrics_text_ = std::move(out);
}

void MeshService::render_metrics(std::string& out) {
  std::lock_guard lock(metrics_mutex_);
  out += metrics_text_;
}

asio::awaitable<std::string> MeshService::status_json() {
  auto build = [this] {
    using nlohmann::json;
    json doc;
    doc["node"] = self_;
    doc["mesh"] = settings_.mesh_name;
    doc["incarnation"] = router_.incarnation();
    doc["listen"] = listener_ ? json(endpoint_text(listener_->bound())) : json(nullptr);
    doc["duplicates"] = engine_->duplicates();
    doc["outbox_dropped"] = engine_->outbox_drops();
    RoutePlan& plan = engine_->plan();
    json links = json::array();
    const auto now = std::chrono::steady_clock::now();
    for (const auto& peer : engine_->links()) {
      json l;
      l["peer"] = peer;
      const bool up = engine_->link_is_up(peer);
      l["state"] = up ? "up" : "down";
      auto s = links_.find(peer);
      if (s != links_.end()) {
        const LinkSession& session = *s->second;
        l["direction"] = session.dialled() ? "dialled" : "accepted";
        l["address"] = session.remote();
        l["up_ms"] =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - session.since()).count();
        const auto& st = session.stats();
        l["rtt_ms"] = st.rtt ? json(static_cast<double>(st.rtt->count()) / 1000.0) : json(nullptr);
        l["bytes_out"] = st.bytes_out;
        l["bytes_in"] = st.bytes_in;
        l["pending_bytes"] = session.pending_bytes();
      }
      const LinkCounters* c = engine_->counters(peer);
      l["events_out"] = c->events_out;
      l["events_in"] = c->events_in;
      l["persistent_out"] = c->persistent_out;
      l["persistent_in"] = c->persistent_in;
      l["duplicates_in"] = c->duplicates_in;
      const Outbox* o = engine_->outbox(peer);
      l["outbox"] = {{"events", o->depth()},
                     {"bytes", o->bytes()},
                     {"acked", o->acked()},
                     {"next", o->next()},
                     {"dropped", o->dropped()}};
      links.push_back(std::move(l));
    }
    doc["links"] = std::move(links);
    json dialing = json::array();
    for (const auto& d : dialers_)
      dialing.push_back(
          {{"address", d->target}, {"state", d->state}, {"last_error", d->last_error}});
    doc["dialing"] = std::move(dialing);
    json nodes = json::array();
    for (const auto& r : engine_->registry().records()) {
      const auto distance = plan.distance(r.node);
      nodes.push_back({{"name", r.node},
                       {"incarnation", r.incarnation},
                       {"version", r.version},
                       {"links", r.links},
                       {"held", r.held},
                       {"filters", r.filters},
                       {"reachable", distance >= 0},
                       {"distance", distance}});
    }
    doc["nodes"] = std::move(nodes);
    doc["local_filters"] = engine_->registry().self().filters;
    doc["remote_filters"] = plan.remote_filters();
    // Those of them in effect in this node's router (the rest are on their way).
    doc["attracting"] =
        std::vector<std::string>(subscribed_filters_.begin(), subscribed_filters_.end());
    return doc.dump();
  };
  std::string text = co_await runtime::run_on(pool_.executor(shard_), build);
  co_return text;
}

}  // namespace skein::mesh
