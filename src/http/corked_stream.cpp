// Flushing a CorkedStream.
#include "http/corked_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace skein::http {

namespace asio = boost::asio;

asio::awaitable<boost::beast::error_code> CorkedStream::uncork() {
  // Stay corked while sending, so that a write Beast starts meanwhile joins
  // the buffer instead of racing this one on the socket.
  while (!pending_.empty()) {
    sending_.swap(pending_);
    auto [ec, n] = co_await asio::async_write(next_, asio::buffer(sending_),
                                              asio::as_tuple(asio::use_awaitable));
    sending_.clear();
    if (ec) {
      corked_ = false;
      co_return ec;
    }
  }
  corked_ = false;
  co_return boost::beast::error_code{};
}

void teardown(boost::beast::role_type role, CorkedStream& stream, boost::beast::error_code& ec) {
  boost::beast::teardown(role, stream.next_layer(), ec);
}

}  // namespace skein::http
