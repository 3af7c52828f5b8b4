// The wait/wake hand-shake between the router and a subscriber's writer: a
// timer that is cancelled to wake the writer. Both run on the same shard, so
// checking the queue before waiting cannot miss a wake-up.
#include "http/stream_subscriber.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace skein::http {

namespace asio = boost::asio;

StreamSubscriber::StreamSubscriber(unsigned home_shard, asio::any_io_executor executor,
                                   std::size_t capacity, core::SlowPolicy policy)
    : Destination(home_shard, capacity, policy), timer_(executor), grace_(executor) {}

asio::awaitable<bool> StreamSubscriber::next_batch(std::deque<core::EventPtr>& out, std::size_t max,
                                                   std::chrono::steady_clock::duration idle) {
  if (queued() == 0 && !closed() && !finishing_) {
    timer_.expires_after(idle);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (closed()) co_return false;
  if (finishing_ && queued() == 0) co_return false;
  take(out, max);
  co_return true;
}

void StreamSubscriber::finish(std::string reason) {
  finishing_ = true;
  finish_reason_ = std::move(reason);
  timer_.cancel();
}

void StreamSubscriber::wake() {
  timer_.cancel();
  if (!closed() || !abort_) return;
  grace_.expires_after(kOverflowGrace);
  auto self = std::static_pointer_cast<StreamSubscriber>(shared_from_this());
  grace_.async_wait([self](boost::system::error_code ec) {
    // on_close(nullptr) (the connection ending) cancels this wait and clears abort_.
    if (ec || !self->abort_) return;
    auto abort = std::move(self->abort_);
    self->abort_ = nullptr;
    abort();
  });
}

}  // namespace skein::http
