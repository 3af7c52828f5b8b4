// StreamSubscriber: the destination behind one SSE or WebSocket subscription.
//
// Lives on the shard of its connection. The router offers events to it there;
// the connection's writer waits in next_batch() until events are queued, the
// keep-alive interval passes, or the subscriber closes (slow-consumer
// overflow, client gone) or finishes (node shutdown: queued events are still
// written). When it overflows, the writer gets kOverflowGrace to end the
// write in progress and say goodbye (a WebSocket close frame, an SSE
// comment); then the connection is aborted, so that a writer stuck on a
// stalled client wakes up too.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <string>

#include "core/destination.hpp"

namespace skein::http {

class StreamSubscriber final : public core::Destination {
 public:
  StreamSubscriber(unsigned home_shard, boost::asio::any_io_executor executor, std::size_t capacity,
                   core::SlowPolicy policy);

  // Waits until events are queued, `idle` passes or the subscriber closes, then
  // moves up to `max` events into `out`. Returns false once closed, or once
  // finishing with nothing left to write.
  boost::asio::awaitable<bool> next_batch(std::deque<core::EventPtr>& out, std::size_t max,
                                          std::chrono::steady_clock::duration idle);

  // The connection's executor, where the subscriber lives.
  boost::asio::any_io_executor executor() { return timer_.get_executor(); }

  // Node shutdown, or the end of a replayed stream: let the writer send what
  // is queued, then report the end, saying why (a WebSocket close reason).
  void finish(std::string reason = "node shutting down");
  bool finishing() const { return finishing_; }
  const std::string& finish_reason() const { return finish_reason_; }

  // What to do to the connection when the subscriber closes. Reset it (pass
  // nullptr) before the connection goes away.
  void on_close(std::function<void()> abort) {
    abort_ = std::move(abort);
    if (!abort_) grace_.cancel();
  }

  static constexpr std::chrono::seconds kOverflowGrace{2};

 protected:
  void wake() override;

 private:
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer grace_;
  std::function<void()> abort_;
  bool finishing_ = false;
  std::string finish_reason_;
};

}  // namespace skein::http
