// LinkSession: one TCP connection between two nodes of the mesh, from the
// handshake to its close (docs/mesh-protocol.md). It lives on the mesh's shard.
//
// run() exchanges HELLO and PROOF (handshake.hpp) under a deadline, asks its
// owner whether to go on (one link per pair of nodes), then reads frames and
// hands them over; heartbeats are answered and sent here, and a link silent
// for longer than `dead_after` is closed. Whatever the engine sends is queued
// and written by one writer, many frames per write. A link whose queue passes
// `max_pending_bytes` has a peer too slow to keep up and is closed (its
// persistent events are sent again when it reconnects).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mesh/frame.hpp"
#include "mesh/mesh_settings.hpp"

namespace skein::mesh {

namespace asio = boost::asio;

class LinkSession;

class LinkOwner {
 public:
  virtual ~LinkOwner() = default;
  // The handshake succeeded: whether this session becomes the link to its
  // peer (false: refused as a duplicate; the session says so and closes).
  virtual bool established(const std::shared_ptr<LinkSession>& session) = 0;
  // A frame after the handshake (not heartbeats or goodbyes).
  virtual void frame(LinkSession& session, Frame frame) = 0;
  // Every frame of one read was handed over.
  virtual void read_done(LinkSession& session) = 0;
  // The session closed (after established() or not).
  virtual void ended(LinkSession& session) = 0;
};

struct LinkStats {
  std::uint64_t bytes_in = 0, bytes_out = 0, frames_in = 0, frames_out = 0;
  std::optional<std::chrono::microseconds> rtt;
};

class LinkSession : public std::enable_shared_from_this<LinkSession> {
 public:
  using Clock = std::chrono::steady_clock;

  LinkSession(asio::ip::tcp::socket socket, bool dialled, const MeshSettings& settings,
              std::string self, std::uint64_t incarnation, LinkOwner& owner);

  // Runs the connection to its end. Call once, on the session's executor.
  asio::awaitable<void> run();

  // Queues whole frames (after the handshake).
  void send(std::string frames);
  // Says why in a GOODBYE, then closes once it is written.
  void close(Goodbye why);

  const std::string& peer() const { return peer_; }
  bool dialled() const { return dialled_; }
  const std::string& remote() const { return remote_; }
  const LinkStats& stats() const { return stats_; }
  Clock::time_point since() const { return since_; }
  std::uint64_t peer_incarnation() const { return peer_incarnation_; }
  std::size_t pending_bytes() const { return out_.size(); }
  // Why the session ended (empty while it runs).
  const std::string& end_reason() const { return end_reason_; }

 private:
  asio::awaitable<bool> handshake();
  asio::awaitable<bool> refuse(Goodbye why);           // says why, closes, returns false
  asio::awaitable<std::optional<Frame>> read_frame();  // during the handshake
  asio::awaitable<void> write_now(std::string bytes);  // during the handshake
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> heartbeat_loop();
  // Splits and hands over every whole frame in in_; false on a protocol error.
  bool take_frames();
  void shut(std::string reason);

  asio::ip::tcp::socket socket_;
  bool dialled_;
  const MeshSettings& settings_;
  std::string self_;
  std::uint64_t incarnation_;
  LinkOwner& owner_;
  std::string peer_;
  std::uint64_t peer_incarnation_ = 0;
  std::string remote_;
  std::string in_;
  std::size_t in_start_ = 0;  // consumed bytes at the front of in_
  std::string out_;
  asio::steady_timer wake_;      // the writer's doorbell
  asio::steady_timer deadline_;  // handshake timeout
  bool closing_ = false;         // a goodbye is queued: write it, then close
  bool closed_ = false;
  bool established_ = false;
  Clock::time_point since_ = Clock::now();
  Clock::time_point last_in_ = Clock::now();
  LinkStats stats_;
  std::string end_reason_;
  std::optional<DecodeError> handshake_error_;
  OriginTable origins_in_;  // this connection's origin table, receiving side  // why a handshake
                            // frame was refused
};

}  // namespace skein::mesh
