// One mesh link's handshake, reader, writer and heartbeats (link_session.hpp).
#include "mesh/link_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "mesh/handshake.hpp"

namespace skein::mesh {

namespace {
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 64 * 1024;

std::uint64_t now_us() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        LinkSession::Clock::now().time_since_epoch())
                                        .count());
}
}  // namespace

LinkSession::LinkSession(asio::ip::tcp::socket socket, bool dialled, const MeshSettings& settings,
                         std::string self, std::uint64_t incarnation, LinkOwner& owner)
    : socket_(std::move(socket)),
      dialled_(dialled),
      settings_(settings),
      self_(std::move(self)),
      incarnation_(incarnation),
      owner_(owner),
      wake_(socket_.get_executor()),
      deadline_(socket_.get_executor()) {
  boost::system::error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

void LinkSession::shut(std::string reason) {
  if (closed_) return;
  closed_ = true;
  if (end_reason_.empty()) end_reason_ = std::move(reason);
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  wake_.cancel();
  deadline_.cancel();
}

void LinkSession::send(std::string frames) {
  if (closed_ || closing_) return;
  if (out_.size() + frames.size() > settings_.max_pending_bytes) {
    close(Goodbye{GoodbyeCode::too_slow,
                  "the peer reads too slowly (" + std::to_string(out_.size()) + " bytes waiting)"});
    return;
  }
  const bool was_empty = out_.empty();
  if (out_.empty()) {
    out_ = std::move(frames);
  } else {
    out_.append(frames);
  }
  ++stats_.frames_out;
  if (was_empty) wake_.cancel();
}

void LinkSession::close(Goodbye why) {
  if (closed_ || closing_) return;
  spdlog::info("mesh: closing the link to {} ({}): {}", peer_.empty() ? remote_ : peer_,
               to_string(why.code), why.reason);
  end_reason_ = std::string(to_string(why.code)) + ": " + why.reason;
  encode(out_, why);
  closing_ = true;
  wake_.cancel();
  if (!established_) shut(end_reason_);  // no writer yet: write_now sent what it could
}

asio::awaitable<void> LinkSession::write_now(std::string bytes) {
  auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), kAsTuple);
  if (!ec) stats_.bytes_out += n;
}

asio::awaitable<std::optional<Frame>> LinkSession::read_frame() {
  std::string chunk(kReadChunk, '\0');
  for (;;) {
    const std::string_view buffered = std::string_view(in_).substr(in_start_);
    const FrameSize size = frame_size(buffered, settings_.max_frame_bytes);
    if (size.error) {
      handshake_error_ = *size.error;
      co_return std::nullopt;
    }
    if (size.whole) {
      Decoded d = decode(buffered.substr(0, *size.whole), settings_.max_frame_bytes);
      in_start_ += *size.whole;
      ++stats_.frames_in;
      if (d.error) handshake_error_ = *d.error;
      co_return std::move(d.frame);
    }
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), kAsTuple);
    if (ec) co_return std::nullopt;
    stats_.bytes_in += n;
    in_.append(chunk, 0, n);
  }
}

asio::awaitable<bool> LinkSession::refuse(Goodbye why) {
  spdlog::warn("mesh: refused the link with {}{}: {}", remote_,
               peer_.empty() ? "" : " (node " + peer_ + ")", why.reason);
  end_reason_ = std::string(to_string(why.code)) + ": " + why.reason;
  std::string bytes;
  encode(bytes, why);
  co_await write_now(std::move(bytes));
  shut(end_reason_);
  co_return false;
}

asio::awaitable<bool> LinkSession::handshake() {
  auto self = shared_from_this();
  deadline_.expires_after(settings_.handshake_timeout);
  deadline_.async_wait([self](boost::system::error_code ec) {
    if (!ec && !self->established_ && !self->closed_) {
      spdlog::warn("mesh: the handshake with {} timed out", self->remote_);
      self->shut("handshake timed out");
    }
  });
  const std::string my_nonce = make_nonce();
  std::string hello_bytes;
  encode(hello_bytes, Hello{kProtocolVersion, settings_.mesh_name, self_, incarnation_, my_nonce});
  co_await write_now(std::move(hello_bytes));

  std::optional<Frame> first = co_await read_frame();
  if (!first && handshake_error_) {
    Goodbye why{handshake_error_->code, handshake_error_->message};
    co_return co_await refuse(std::move(why));
  }
  if (!first) {
    if (!closed_) spdlog::info("mesh: {} closed the connection before its hello", remote_);
    shut(closed_ ? end_reason_ : "no hello from " + remote_);
    co_return false;
  }
  if (auto* goodbye = std::get_if<Goodbye>(&*first)) {
    spdlog::warn("mesh: {} refused the link ({}): {}", remote_, to_string(goodbye->code),
                 goodbye->reason);
    shut("refused by the peer: " + goodbye->reason);
    co_return false;
  }
  auto* hello = std::get_if<Hello>(&*first);
  if (hello == nullptr) {
    Goodbye why{GoodbyeCode::protocol_error, "the first frame is not HELLO"};
    co_return co_await refuse(std::move(why));
  }
  peer_ = hello->node;
  peer_incarnation_ = hello->incarnation;
  if (auto bad = check_hello(*hello, settings_.mesh_name, self_)) {
    Goodbye why = std::move(*bad);
    co_return co_await refuse(std::move(why));
  }
  const std::string peer_nonce = hello->nonce;
  std::string proof_bytes;
  encode(proof_bytes, Proof{make_proof(settings_.secret, settings_.mesh_name, self_, peer_,
                                       my_nonce, peer_nonce)});
  co_await write_now(std::move(proof_bytes));

  std::optional<Frame> second = co_await read_frame();
  if (!second && handshake_error_) {
    Goodbye why{handshake_error_->code, handshake_error_->message};
    co_return co_await refuse(std::move(why));
  }
  if (!second) {
    shut(closed_ ? end_reason_ : "no proof from " + peer_);
    co_return false;
  }
  if (auto* goodbye = std::get_if<Goodbye>(&*second)) {
    spdlog::warn("mesh: {} ({}) refused the link ({}): {}", peer_, remote_,
                 to_string(goodbye->code), goodbye->reason);
    shut("refused by the peer: " + goodbye->reason);
    co_return false;
  }
  auto* proof = std::get_if<Proof>(&*second);
  if (proof == nullptr) {
    Goodbye why{GoodbyeCode::protocol_error, "the second frame is not PROOF"};
    co_return co_await refuse(std::move(why));
  }
  const std::string expected =
      make_proof(settings_.secret, settings_.mesh_name, peer_, self_, peer_nonce, my_nonce);
  if (!proof_matches(expected, proof->mac)) {
    Goodbye why{GoodbyeCode::bad_proof, "the peer does not know this mesh's secret"};
    co_return co_await refuse(std::move(why));
  }
  if (closed_) co_return false;
  deadline_.cancel();
  co_return true;
}

asio::awaitable<void> LinkSession::run() {
  auto self = shared_from_this();
  if (!co_await handshake()) {
    owner_.ended(*this);
    co_return;
  }
  if (!owner_.established(self)) {
    end_reason_ = "duplicate link";
    std::string bytes;
    encode(bytes, Goodbye{GoodbyeCode::duplicate_link,
                          "these nodes already share a link; keeping the one " +
                              std::string(self_ < peer_ ? self_ : peer_) + " dialled"});
    co_await write_now(std::move(bytes));
    shut(end_reason_);
    owner_.ended(*this);
    co_return;
  }
  established_ = true;
  since_ = Clock::now();
  last_in_ = since_;
  spdlog::info("mesh: linked with {} at {} ({})", peer_, remote_,
               dialled_ ? "dialled" : "accepted");
  asio::co_spawn(socket_.get_executor(), write_loop(), asio::detached);
  asio::co_spawn(socket_.get_executor(), heartbeat_loop(), asio::detached);
  // Frames that came with the proof are already buffered.
  if (!take_frames()) {
    shut(end_reason_);
  } else {
    owner_.read_done(*this);
    co_await read_loop();
  }
  if (closing_ && !closed_) {
    // A goodbye is queued: the writer sends it, then shuts the socket (which
    // cancels this wait); a peer that does not read gets a bounded wait.
    deadline_.expires_after(settings_.handshake_timeout);
    auto [ec] = co_await deadline_.async_wait(kAsTuple);
    (void)ec;
  }
  if (!closed_) shut(end_reason_.empty() ? "closed" : end_reason_);
  owner_.ended(*this);
}

bool LinkSession::take_frames() {
  for (;;) {
    const std::string_view buffered = std::string_view(in_).substr(in_start_);
    const FrameSize size = frame_size(buffered, settings_.max_frame_bytes);
    if (size.error) {
      close(Goodbye{size.error->code, size.error->message});
      return false;
    }
    if (!size.whole) break;
    Decoded d = decode(buffered.substr(0, *size.whole), settings_.max_frame_bytes, &origins_in_);
    in_start_ += *size.whole;
    ++stats_.frames_in;
    if (!d.frame) {
      close(Goodbye{d.error->code, d.error->message});
      return false;
    }
    if (auto* hb = std::get_if<Heartbeat>(&*d.frame)) {
      if (hb->reply) {
        stats_.rtt = std::chrono::microseconds(now_us() - hb->stamp);
      } else {
        std::string pong;
        encode(pong, Heartbeat{true, hb->stamp});
        send(std::move(pong));
      }
      continue;
    }
    if (auto* goodbye = std::get_if<Goodbye>(&*d.frame)) {
      spdlog::info("mesh: {} closed the link ({}): {}", peer_, to_string(goodbye->code),
                   goodbye->reason);
      end_reason_ = "closed by the peer: " + goodbye->reason;
      return false;
    }
    if (std::holds_alternative<Hello>(*d.frame) || std::holds_alternative<Proof>(*d.frame)) {
      close(Goodbye{GoodbyeCode::protocol_error, "handshake frame after the handshake"});
      return false;
    }
    owner_.frame(*this, std::move(*d.frame));
    if (closed_ || closing_) return false;
  }
  // Keep the buffer from growing: drop what was consumed.
  if (in_start_ > 0) {
    in_.erase(0, in_start_);
    in_start_ = 0;
  }
  return true;
}

asio::awaitable<void> LinkSession::read_loop() {
  auto self = shared_from_this();
  std::string chunk(kReadChunk, '\0');
  while (!closed_ && !closing_) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), kAsTuple);
    if (ec) {
      if (end_reason_.empty())
        end_reason_ = ec == asio::error::eof ? "the peer closed the connection" : ec.message();
      co_return;
    }
    stats_.bytes_in += n;
    last_in_ = Clock::now();
    in_.append(chunk, 0, n);
    const bool ok = take_frames();
    owner_.read_done(*this);
    if (!ok) co_return;
  }
}

asio::awaitable<void> LinkSession::write_loop() {
  auto self = shared_from_this();
  std::string writing;
  while (!closed_) {
    if (out_.empty()) {
      if (closing_) break;
      wake_.expires_at(asio::steady_timer::time_point::max());
      auto [ec] = co_await wake_.async_wait(kAsTuple);
      (void)ec;
      continue;
    }
    writing.clear();
    writing.swap(out_);
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(writing), kAsTuple);
    if (ec) {
      if (end_reason_.empty()) end_reason_ = "write failed: " + ec.message();
      break;
    }
    stats_.bytes_out += n;
  }
  shut(end_reason_.empty() ? "closed" : end_reason_);
}

asio::awaitable<void> LinkSession::heartbeat_loop() {
  auto self = shared_from_this();
  asio::steady_timer timer(socket_.get_executor());
  while (!closed_ && !closing_) {
    timer.expires_after(settings_.heartbeat);
    auto [ec] = co_await timer.async_wait(kAsTuple);
    if (ec || closed_ || closing_) break;
    if (Clock::now() - last_in_ > settings_.dead_after) {
      close(Goodbye{GoodbyeCode::timeout,
                    "nothing heard for " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           Clock::now() - last_in_)
                                           .count()) +
                        " ms"});
      // A peer that cannot be heard may not read either: do not wait for the goodbye.
      shut(end_reason_);
      break;
    }
    std::string ping;
    encode(ping, Heartbeat{false, now_us()});
    send(std::move(ping));
  }
}

}  // namespace skein::mesh
