// MeshService: the mesh face of a node (DESIGN.md §3, docs/mesh-protocol.md).
// It owns the engine and runs it on one shard (the mesh's shard), with the
// link sessions: a listener for peers that dial in, a dialer per configured
// `--link` that reconnects with exponential backoff, and the MeshDestination
// through which the router hands over what other nodes want. It is the
// engine's MeshIo: frames go to sessions, arrived events to the router, and
// remote filters become the destination's subscriptions.
//
// One link per pair of nodes: when a second connection between the same two
// nodes completes its handshake, the one dialled by the node whose name sorts
// first is kept, on both sides alike, and the other is closed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/router.hpp"
#include "mesh/link_session.hpp"
#include "mesh/local_interest.hpp"
#include "mesh/mesh_destination.hpp"
#include "mesh/mesh_engine.hpp"
#include "mesh/mesh_settings.hpp"
#include "mesh/outbox_log.hpp"
#include "runtime/service.hpp"
#include "runtime/shard_pool.hpp"
#include "runtime/subscription_service.hpp"
#include "runtime/tcp_listener.hpp"

namespace skein::mesh {

class MeshService : public runtime::Service, public MeshIo, public LinkOwner {
 public:
  // `listen`: where peers dial in (nullopt: dial only).
  MeshService(runtime::ShardPool& pool, core::Router& router,
              runtime::SubscriptionService& subscriptions, runtime::StreamService& streams,
              MeshSettings settings, std::optional<asio::ip::tcp::endpoint> listen);

  // Reads the outboxes back from disk (after the streams are open, before
  // the shards run): persistent events no peer acknowledged go out again.
  void load();
  ~MeshService() override;

  std::string_view name() const override { return "mesh"; }
  void start() override;
  void stop(std::chrono::steady_clock::time_point deadline) override;

  // "host:port" bound, when listening.
  std::optional<std::string> address() const;
  // Feeds the node's own filters (install as the subscription observer
  // before anything subscribes).
  LocalInterest& local_interest() { return interest_; }
  // GET /v1/mesh: the JSON document (runs on the mesh's shard).
  boost::asio::awaitable<std::string> status_json();
  // /metrics lines (from any thread; refreshed every heartbeat).
  void render_metrics(std::string& out);

  // MeshIo
  void send(const std::string& peer, std::string frames) override;
  std::size_t deliver(core::EventPtr event) override;
  void remote_filters_changed(const std::vector<std::string>& filters) override;
  void post(std::function<void()> fn) override;
  void close_link(const std::string& peer, Goodbye why) override;

  // LinkOwner
  bool established(const std::shared_ptr<LinkSession>& session) override;
  void frame(LinkSession& session, Frame frame) override;
  void read_done(LinkSession& session) override;
  void ended(LinkSession& session) override;

 private:
  struct Dialer {
    std::string target;  // host:port
    std::string state = "connecting";
    std::string last_error;
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::shared_ptr<LinkSession> session;
  };

  void accept(asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> serve(std::shared_ptr<LinkSession> session);
  boost::asio::awaitable<void> dial(Dialer& dialer);
  boost::asio::awaitable<void> sync_subscriptions();
  boost::asio::awaitable<void> tick_loop();
  void drain();
  void refresh_metrics();
  void local_filters_changed();  // mesh shard

  runtime::ShardPool& pool_;
  core::Router& router_;
  runtime::SubscriptionService& subscriptions_;
  MeshSettings settings_;
  unsigned shard_;
  std::string self_;
  OutboxLog outbox_log_;
  std::unique_ptr<MeshEngine> engine_;
  std::shared_ptr<MeshDestination> destination_;
  LocalInterest interest_;
  std::unique_ptr<runtime::TcpListener> listener_;
  std::optional<asio::ip::tcp::endpoint> listen_;
  // Mesh shard only:
  std::set<std::shared_ptr<LinkSession>> sessions_;
  std::map<std::string, std::shared_ptr<LinkSession>> links_;
  std::vector<std::unique_ptr<Dialer>> dialers_;
  std::vector<std::string> wanted_filters_;
  std::set<std::string> subscribed_filters_;
  bool syncing_ = false;
  bool stopping_ = false;
  std::unique_ptr<boost::asio::steady_timer> tick_timer_;
  std::unique_ptr<boost::asio::steady_timer> filter_timer_;
  bool filter_update_scheduled_ = false;
  std::vector<core::EventPtr> draining_;
  // Any thread:
  mutable std::mutex metrics_mutex_;
  std::string metrics_text_;
};

}  // namespace skein::mesh
