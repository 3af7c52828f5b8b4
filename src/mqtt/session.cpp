// A session's subscriptions, queues and acknowledgement tracking (session.hpp).
#include "mqtt/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <set>

#include "core/topic_names.hpp"
#include "mqtt/message.hpp"
#include "mqtt/mqtt_connection.hpp"
#include "mqtt/retained_store.hpp"
#include "mqtt/shared_groups.hpp"

namespace skein::mqtt {

namespace asio = boost::asio;

namespace {
// The router's queue in front of a session is drained at once into the
// session's own queues, which enforce max_queued_messages and answer receipts:
// so it is never full (a full one would drop receipts unanswered).
constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();
}  // namespace

Session::Session(MqttContext& context, unsigned shard, std::string client_id)
    : Destination(shard, kUnbounded, core::SlowPolicy::drop_oldest),
      context_(context),
      client_id_(std::move(client_id)),
      id_(context.next_session_id.fetch_add(1, std::memory_order_relaxed)) {
  count(context_.counters.sessions);
}

// The router's table may hold a session past the MQTT face (node shutdown):
// nothing of the context is touched here; end() uncounts the session.
Session::~Session() = default;

// ------------------------------------------------------------ connection life

void Session::attach(MqttConnection* connection, ProtocolVersion version, std::uint32_t expiry,
                     std::uint16_t client_receive_maximum) {
  connection_ = connection;
  online_.store(true, std::memory_order_relaxed);
  version_ = version;
  client_receive_maximum_ = client_receive_maximum == 0 ? 65535 : client_receive_maximum;
  // Its timers go too. A new connection before the will delay passed: no
  // will [MQTT-3.1.3-9].
  offline_.reset();
  const bool was_stored = stored();
  expiry_ = expiry;
  if (stored() || was_stored) write_session_record();
  // Resend what the last connection left unacknowledged, in order, with DUP
  // [MQTT-4.4.0-1]; a released QoS 2 message owes only its PUBREL.
  for (Outgoing& message : inflight_) {
    if (message.released)
      connection_->write_pubrel(message.packet_id);
    else
      connection_->write_publish(message, /*dup=*/true);
  }
  send_ready();
}

void Session::detach(std::optional<core::Event> will, std::uint32_t will_delay) {
  connection_ = nullptr;
  online_.store(false, std::memory_order_relaxed);
  hand_back_shared();
  if (expiry_ == 0) {
    // Ends now: nothing to keep offline (a storm of disconnects makes no box).
    if (will) publish(std::move(*will));
    end();
    return;
  }
  offline().disconnected_at = now_ms();
  write_session_record();
  if (will) {
    offline().pending_will = std::make_unique<core::Event>(std::move(*will));
    if (will_delay == 0 || will_delay >= expiry_) {
      // Published now, or when the session ends, whichever comes first.
      if (will_delay == 0) publish_will();
    } else {
      auto& timer = *(offline().will_timer =
                          std::make_unique<asio::steady_timer>(context_.pool.executor(shard())));
      timer.expires_after(std::chrono::seconds(will_delay));
      auto self = std::static_pointer_cast<Session>(shared_from_this());
      timer.async_wait([self](boost::system::error_code ec) {
        if (!ec && !self->connection_) self->publish_will();
      });
    }
  }
  if (expiry_ != 0xFFFFFFFF) {
    auto& timer = *(offline().expiry_timer =
                        std::make_unique<asio::steady_timer>(context_.pool.executor(shard())));
    timer.expires_after(std::chrono::seconds(expiry_));
    auto self = std::static_pointer_cast<Session>(shared_from_this());
    timer.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->connection_ && !self->ended_) self->end();
    });
  }
}

void Session::set_expiry(std::uint32_t expiry) {
  const bool was_stored = stored();
  expiry_ = expiry;
  if (stored() || was_stored) write_session_record();
}

Session::Offline& Session::offline() {
  if (!offline_) offline_ = std::make_unique<Offline>();
  return *offline_;
}

void Session::publish_will() {
  if (!offline_ || !offline_->pending_will) return;
  core::Event will = std::move(*offline_->pending_will);
  offline_->pending_will.reset();
  offline_->will_timer.reset();
  publish(std::move(will));
}

void Session::publish(core::Event will) {
  const bool retain = will.retain;
  core::EventPtr event = context_.router.stamp(std::move(will));
  if (retain) {
    // A retained will is stored first, then published (as a retained PUBLISH is).
    asio::co_spawn(
        context_.pool.executor(shard()),
        [](MqttContext* context, core::EventPtr e, unsigned shard) -> asio::awaitable<void> {
          co_await context->retained.set(e);
          context->router.publish(shard, e);
        }(&context_, event, shard()),
        asio::detached);
    return;
  }
  context_.router.publish(shard(), event);
}

void Session::end() {
  if (ended_) return;
  ended_ = true;
  context_.counters.sessions.fetch_sub(1, std::memory_order_relaxed);
  if (offline_) offline_->expiry_timer.reset();
  publish_will();
  std::vector<storage::RecordSpec> records;
  for (const Outgoing& m : inflight_)
    if (m.stored) records.push_back(SessionStore::message_record(client_id_, m.stored, nullptr));
  for (const Outgoing& m : queued_)
    if (m.stored) records.push_back(SessionStore::message_record(client_id_, m.stored, nullptr));
  for (std::uint16_t id : pubrel_)
    if (written_) records.push_back(SessionStore::pubrel_record(client_id_, id, false));
  // A session never stored (a clean one) leaves nothing to delete.
  if (written_) records.push_back(SessionStore::session_tombstone(client_id_));
  if (!records.empty()) context_.store.write(shard(), std::move(records));
  inflight_.clear();
  queued_.clear();
  pubrel_.clear();
  auto self = std::static_pointer_cast<Session>(shared_from_this());
  auto& registry = context_.sessions[shard()];
  if (auto it = registry.find(client_id_); it != registry.end() && it->second == self)
    registry.erase(it);
  // Out of the router and the shared groups; late events are answered by drain().
  std::vector<SessionSubscription> subs;
  subs.swap(subs_);
  asio::co_spawn(
      context_.pool.executor(shard()),
      [](std::shared_ptr<Session> session,
         std::vector<SessionSubscription> subs) -> asio::awaitable<void> {
        for (auto& sub : subs) {
          if (sub.share.empty()) continue;
          std::string key = sub.share;
          co_await session->context_.shared.leave(std::move(key), session->id_);
        }
        co_await session->sync_router_filters();
      }(self, std::move(subs)),
      asio::detached);
}

// -------------------------------------------------------------- subscriptions

asio::awaitable<bool> Session::subscribe(SessionSubscription subscription) {
  const std::string filter = subscription.options.filter;
  auto at = find_subscription(filter);
  const bool existed = at != subs_.end() && at->options.filter == filter;
  const std::string share = subscription.share;
  std::vector<std::string> filters = subscription.filters;
  if (existed)
    *at = std::move(subscription);
  else
    subs_.insert(at, std::move(subscription));
  if (!share.empty()) {
    if (!existed) {
      std::weak_ptr<Session> member = std::static_pointer_cast<Session>(shared_from_this());
      std::string key = share;
      co_await context_.shared.join(std::move(key), std::move(filters), std::move(member), id_,
                                    shard());
    }
  } else {
    co_await sync_router_filters();
  }
  if (stored()) write_session_record();
  co_return existed;
}

asio::awaitable<bool> Session::unsubscribe(std::string filter) {
  auto it = find_subscription(filter);
  if (it == subs_.end() || it->options.filter != filter) co_return false;
  const std::string share = it->share;
  subs_.erase(it);
  if (!share.empty()) {
    std::string key = share;
    co_await context_.shared.leave(std::move(key), id_);
  } else
    co_await sync_router_filters();
  if (stored()) write_session_record();
  co_return true;
}

asio::awaitable<void> Session::sync_router_filters() {
  // Several MQTT filters may need one Skein filter ("a" and "a/#" both need
  // "a"): the router holds each pair once, added and removed by difference.
  std::set<std::string> wanted;
  if (!ended_)
    for (const auto& sub : subs_)
      if (sub.share.empty()) wanted.insert(sub.filters.begin(), sub.filters.end());
  std::vector<std::string> add, remove;
  std::set_difference(wanted.begin(), wanted.end(), router_filters_.begin(), router_filters_.end(),
                      std::back_inserter(add));
  std::set_difference(router_filters_.begin(), router_filters_.end(), wanted.begin(), wanted.end(),
                      std::back_inserter(remove));
  if (add.empty() && remove.empty()) co_return;
  router_filters_.assign(wanted.begin(), wanted.end());
  // Named arguments of the exact parameter types: GCC 12 destroys converted
  // temporaries in a co_await expression twice.
  if (!add.empty()) {
    core::DestinationPtr self = shared_from_this();
    co_await context_.subscriptions.subscribe(std::move(self), std::move(add));
  }
  if (!remove.empty()) {
    core::DestinationPtr self = shared_from_this();
    co_await context_.subscriptions.unsubscribe(std::move(self), std::move(remove));
  }
}

void Session::send_retained(const SessionSubscription& sub, bool existed) {
  // Retain handling 0: always; 1: only for a new subscription; 2: never.
  // Never for shared subscriptions [MQTT-3.8.4-? v5 4.8.2].
  if (!sub.share.empty() || sub.options.retain_handling == 2) return;
  if (sub.options.retain_handling == 1 && existed) return;
  const auto messages = context_.retained.matching(sub.filters, now_ms());
  if (messages.empty()) return;
  std::vector<storage::RecordSpec> records;
  std::vector<std::shared_ptr<core::Receipt>> receipts;
  std::vector<std::uint32_t> ids;
  if (sub.identifier) ids.push_back(sub.identifier);
  for (const core::EventPtr& event : messages) {
    const auto qos = static_cast<QoS>(std::min<std::uint8_t>(
        published_qos(*event), static_cast<std::uint8_t>(sub.options.max_qos)));
    // Retained messages sent for a subscription carry retain 1 [MQTT-3.3.1-8 (v5 -9)].
    enqueue(event, qos, true, ids, {}, records, receipts);
  }
  store(std::move(records), std::move(receipts));
  send_ready();
}

// ------------------------------------------------------------------- delivery

Session::Match Session::match(const core::Event& event) const {
  Match m;
  for (const auto& sub : subs_) {
    if (!sub.share.empty()) continue;
    bool hit = false;
    for (const std::string& f : sub.filters)
      if (core::filter_matches(f, event.topic)) {
        hit = true;
        break;
      }
    if (!hit) continue;
    // No local: not to the session that published it [MQTT-3.8.3-3].
    if (sub.options.no_local && event.publisher == id_) continue;
    m.matched = true;
    const auto qos = std::min<std::uint8_t>(published_qos(event),
                                            static_cast<std::uint8_t>(sub.options.max_qos));
    m.qos = static_cast<QoS>(std::max<std::uint8_t>(static_cast<std::uint8_t>(m.qos), qos));
    // Retain as published keeps the flag; otherwise it is cleared [MQTT-3.3.1-12, -13].
    if (sub.options.retain_as_published && event.retain) m.retain = true;
    if (sub.identifier) m.identifiers.push_back(sub.identifier);
  }
  return m;
}

void Session::wake() {
  if (drain_posted_) return;
  drain_posted_ = true;
  auto self = std::static_pointer_cast<Session>(shared_from_this());
  asio::post(context_.pool.executor(shard()), [self] {
    self->drain_posted_ = false;
    self->drain();
  });
}

void Session::drain() {
  std::vector<core::EventPtr> events;
  take(events, kUnbounded);
  std::vector<storage::RecordSpec> records;
  std::vector<std::shared_ptr<core::Receipt>> receipts;
  for (core::EventPtr& event : events) {
    Match m = ended_ ? Match{} : match(*event);
    if (!m.matched) {
      // An unsubscribe raced this event, or no-local excluded it.
      if (event->receipt) event->receipt->stored(false);
      continue;
    }
    enqueue(std::move(event), m.qos, m.retain, std::move(m.identifiers), {}, records, receipts);
  }
  store(std::move(records), std::move(receipts));
  send_ready();
}

void Session::offer_shared(core::EventPtr event, const std::string& share, bool answer) {
  std::vector<storage::RecordSpec> records;
  std::vector<std::shared_ptr<core::Receipt>> receipts;
  auto it = std::find_if(subs_.begin(), subs_.end(),
                         [&](const auto& entry) { return entry.share == share; });
  if (ended_ || it == subs_.end()) {
    // Left the group meanwhile: give it back for another member.
    context_.shared.hand_back(share, std::move(event), id_, answer);
    return;
  }
  const SessionSubscription& sub = *it;
  const auto qos = static_cast<QoS>(std::min<std::uint8_t>(
      published_qos(*event), static_cast<std::uint8_t>(sub.options.max_qos)));
  std::vector<std::uint32_t> ids;
  if (sub.identifier) ids.push_back(sub.identifier);
  const bool retain = sub.options.retain_as_published && event->retain;
  enqueue(std::move(event), qos, retain, std::move(ids), share, records, receipts, answer);
  store(std::move(records), std::move(receipts));
  send_ready();
}

void Session::enqueue(core::EventPtr event, QoS qos, bool retain, std::vector<std::uint32_t> ids,
                      std::string share, std::vector<storage::RecordSpec>& records,
                      std::vector<std::shared_ptr<core::Receipt>>& receipts, bool answer) {
  std::shared_ptr<core::Receipt> receipt = answer ? event->receipt : nullptr;
  auto answer_not_kept = [&] {
    if (receipt) receipt->stored(false);
  };
  if (expired(*event, now_ms())) {
    count(context_.counters.dropped_expired);
    answer_not_kept();
    return;
  }
  if (qos == QoS::at_most_once && !connection_) {
    count(context_.counters.dropped_offline_qos0);
    answer_not_kept();
    return;
  }
  if (queued_.size() >= context_.settings.max_queued_messages) {
    count(context_.counters.dropped_queue_full);
    answer_not_kept();
    return;
  }
  Outgoing message;
  message.qos = qos;
  message.retain = retain;
  message.identifiers = std::move(ids);
  message.share = std::move(share);
  if (qos != QoS::at_most_once && stored()) {
    message.stored = next_store_sequence_++;
    records.push_back(
        SessionStore::message_record(client_id_, message.stored, event.get(), qos, retain));
    if (receipt) receipts.push_back(receipt);  // answered once the record is durable
  } else {
    answer_not_kept();
  }
  message.event = std::move(event);
  queued_.push_back(std::move(message));
}

void Session::store(std::vector<storage::RecordSpec> records,
                    std::vector<std::shared_ptr<core::Receipt>> receipts) {
  if (records.empty()) return;
  context_.store.write(shard(), std::move(records), [receipts = std::move(receipts)](bool ok) {
    for (const auto& receipt : receipts) {
      if (ok)
        receipt->stored();
      else
        receipt->failed("an MQTT session could not store it");
    }
  });
}

std::size_t Session::window() const {
  return std::min<std::size_t>(context_.settings.max_inflight, client_receive_maximum_);
}

std::uint16_t Session::next_packet_id() {
  // Ids go out in sequence, so the ids in flight lie in the cyclic span from
  // the oldest's to the newest's: a candidate outside it is free without a
  // scan; one inside it (after a wrap) is checked [MQTT-2.2.1-3].
  auto in_span = [this](std::uint16_t id) {
    if (inflight_.empty()) return false;
    const std::uint16_t oldest = inflight_.front().packet_id;
    const std::uint16_t newest = inflight_.back().packet_id;
    return oldest <= newest ? (id >= oldest && id <= newest) : (id >= oldest || id <= newest);
  };
  while (true) {
    last_packet_id_ =
        static_cast<std::uint16_t>(last_packet_id_ == 65535 ? 1 : last_packet_id_ + 1);
    if (inflight_.empty() || !in_span(last_packet_id_)) return last_packet_id_;
    bool used = false;
    for (const Outgoing& m : inflight_)
      if (m.packet_id == last_packet_id_) {
        used = true;
        break;
      }
    if (!used) return last_packet_id_;
  }
}

void Session::send_ready() {
  if (!connection_) return;
  std::vector<storage::RecordSpec> records;
  const std::int64_t now = now_ms();
  while (!queued_.empty()) {
    Outgoing& next = queued_.front();
    if (next.qos != QoS::at_most_once && inflight_.size() >= window()) break;
    if (connection_->backlogged()) break;
    if (expired(*next.event, now)) {
      count(context_.counters.dropped_expired);
      forget(next, records);
      queued_.pop_front();
      continue;
    }
    if (next.qos == QoS::at_most_once) {
      connection_->write_publish(next, false);
      queued_.pop_front();
      continue;
    }
    next.packet_id = next_packet_id();
    if (next.stored) {
      // The id goes into the stored record, so that after a restart the
      // message is resent as the same PUBLISH (DUP, same id) [MQTT-4.4.0-1].
      records.push_back(SessionStore::message_record(client_id_, next.stored, next.event.get(),
                                                     next.qos, next.retain, next.packet_id));
    }
    if (!connection_->write_publish(next, false)) {
      // Larger than the client takes: discarded as if sent [MQTT-3.1.2-25].
      forget(next, records);
      queued_.pop_front();
      continue;
    }
    inflight_.push_back(std::move(next));
    queued_.pop_front();
  }
  if (!records.empty()) context_.store.write(shard(), std::move(records));
}

void Session::forget(const Outgoing& message, std::vector<storage::RecordSpec>& records) {
  if (message.stored)
    records.push_back(SessionStore::message_record(client_id_, message.stored, nullptr));
}

void Session::on_puback(std::uint16_t packet_id) {
  for (auto it = inflight_.begin(); it != inflight_.end(); ++it) {
    if (it->packet_id != packet_id || it->qos != QoS::at_least_once) continue;
    std::vector<storage::RecordSpec> records;
    forget(*it, records);
    inflight_.erase(it);
    if (!records.empty()) context_.store.write(shard(), std::move(records));
    send_ready();
    return;
  }
}

void Session::on_pubrec(std::uint16_t packet_id, std::uint8_t reason_code) {
  for (auto it = inflight_.begin(); it != inflight_.end(); ++it) {
    if (it->packet_id != packet_id || it->qos != QoS::exactly_once) continue;
    std::vector<storage::RecordSpec> records;
    if (!it->released) forget(*it, records);  // the client has it: only PUBREL is owed
    if (!records.empty()) context_.store.write(shard(), std::move(records));
    if (reason_code >= 0x80) {
      inflight_.erase(it);  // refused: the flow ends here [MQTT-4.3.3-?]
      send_ready();
      return;
    }
    it->released = true;
    it->stored = 0;
    connection_->write_pubrel(packet_id);
    return;
  }
  // Unknown id: v5 answers PUBREL 0x92 so that the client can finish.
  if (connection_) connection_->write_pubrel(packet_id, reason::packet_identifier_not_found);
}

void Session::on_pubcomp(std::uint16_t packet_id) {
  for (auto it = inflight_.begin(); it != inflight_.end(); ++it) {
    if (it->packet_id != packet_id || !it->released) continue;
    inflight_.erase(it);
    send_ready();
    return;
  }
}

void Session::hand_back_shared() {
  // A member whose connection went gives its shared messages to the others.
  auto give = [&](core::LazyQueue<Outgoing>& messages) {
    std::vector<storage::RecordSpec> records;
    for (auto it = messages.begin(); it != messages.end();) {
      if (it->share.empty() || it->released) {
        ++it;
        continue;
      }
      forget(*it, records);
      context_.shared.hand_back(it->share, it->event, id_);
      it = messages.erase(it);
    }
    if (!records.empty()) context_.store.write(shard(), std::move(records));
  };
  give(inflight_);
  give(queued_);
}

// ---------------------------------------------------------- incoming QoS 2

bool Session::awaiting_pubrel(std::uint16_t packet_id) const {
  return std::binary_search(pubrel_.begin(), pubrel_.end(), packet_id);
}

void Session::hold_pubrel(std::uint16_t packet_id) {
  auto at = std::lower_bound(pubrel_.begin(), pubrel_.end(), packet_id);
  if (at == pubrel_.end() || *at != packet_id) pubrel_.insert(at, packet_id);
}

std::vector<SessionSubscription>::iterator Session::find_subscription(const std::string& filter) {
  return std::lower_bound(
      subs_.begin(), subs_.end(), filter,
      [](const SessionSubscription& sub, const std::string& f) { return sub.options.filter < f; });
}

void Session::record_pubrel(std::uint16_t packet_id, std::function<void()> done) {
  if (!stored() || !awaiting_pubrel(packet_id)) {
    done();
    return;
  }
  context_.store.write(shard(), {SessionStore::pubrel_record(client_id_, packet_id, true)},
                       [done = std::move(done)](bool) { done(); });
}

bool Session::release(std::uint16_t packet_id) {
  auto at = std::lower_bound(pubrel_.begin(), pubrel_.end(), packet_id);
  if (at == pubrel_.end() || *at != packet_id) return false;
  pubrel_.erase(at);
  if (stored())
    context_.store.write(shard(), {SessionStore::pubrel_record(client_id_, packet_id, false)});
  return true;
}

// -------------------------------------------------------------- persistence

StoredSession Session::snapshot() const {
  StoredSession s;
  s.client_id = client_id_;
  s.version = version_;
  s.expiry = expiry_;
  s.disconnected_at = offline_ ? offline_->disconnected_at : -1;
  for (const auto& sub : subs_)
    s.subscriptions.push_back(StoredSubscription{sub.options.filter, sub.options, sub.identifier});
  return s;
}

void Session::write_session_record() {
  written_ = true;
  if (!stored()) {
    context_.store.write(shard(), {SessionStore::session_tombstone(client_id_)});
    return;
  }
  context_.store.write(shard(), {SessionStore::session_record(snapshot())});
}

asio::awaitable<void> Session::restore(StoredSession stored) {
  version_ = stored.version;
  expiry_ = stored.expiry;
  written_ = true;
  offline().disconnected_at = stored.disconnected_at < 0 ? now_ms() : stored.disconnected_at;
  pubrel_.assign(stored.awaiting_pubrel.begin(), stored.awaiting_pubrel.end());
  for (auto& [sequence, kept] : stored.messages) {
    Outgoing message;
    message.qos = static_cast<QoS>(std::min<std::uint8_t>(published_qos(kept.event), 2));
    message.retain = kept.event.retain;
    message.stored = sequence;
    message.packet_id = kept.packet_id;
    message.event = std::make_shared<const core::Event>(std::move(kept.event));
    next_store_sequence_ = std::max(next_store_sequence_, sequence + 1);
    // Sent before the restart: in flight again, resent with DUP and its id.
    if (message.packet_id != 0)
      inflight_.push_back(std::move(message));
    else
      queued_.push_back(std::move(message));
  }
  // Ids continue after the last one sent (they went out in sequence order).
  if (!inflight_.empty()) last_packet_id_ = inflight_.back().packet_id;
  for (const StoredSubscription& s : stored.subscriptions) {
    SessionSubscription sub;
    if (auto error = translate_subscription(s.options, sub)) {
      spdlog::warn("mqtt: session {}: stored subscription {} dropped: {}", client_id_, s.filter,
                   *error);
      continue;
    }
    sub.identifier = s.identifier;
    co_await subscribe(std::move(sub));
  }
  if (expiry_ != 0xFFFFFFFF) {
    const std::int64_t left_ms =
        static_cast<std::int64_t>(expiry_) * 1000 - (now_ms() - offline().disconnected_at);
    auto& timer = *(offline().expiry_timer =
                        std::make_unique<asio::steady_timer>(context_.pool.executor(shard())));
    timer.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(left_ms, 0)));
    auto self = std::static_pointer_cast<Session>(shared_from_this());
    timer.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->connection_ && !self->ended_) self->end();
    });
  }
}

std::optional<std::string> translate_subscription(const Subscription& options,
                                                  SessionSubscription& out) {
  std::string group, filter = options.filter;
  if (options.filter.starts_with("$share/")) {
    if (!SharedGroups::parse(options.filter, group, filter))
      return "MQTT-4.8.2-1: " + options.filter + " is not $share/{name}/{filter}";
    out.share = options.filter;
  }
  if (auto error = check_mqtt_topic_filter(filter)) return error;
  core::MqttTranslation translated = core::from_mqtt_filter(filter);
  if (translated.error) return translated.error->message;
  out.filters = std::move(translated.filters);
  out.options = options;
  return std::nullopt;
}

}  // namespace skein::mqtt
