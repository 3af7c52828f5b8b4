// CorkedStream: the TCP stream under a WebSocket subscriber, able to hold
// writes back. Between cork() and uncork() every write completes at once into
// a buffer; uncork() sends the buffer in one write. A batch of N events thus
// costs one system call instead of N, while Beast still frames each message
// (one text frame per event) and handles pings, pongs and close.
//
// Writes that Beast issues while uncork() is sending (a pong, say) are
// buffered too and sent by the same uncork(), so two writes never overlap on
// the socket.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <string>

namespace skein::http {

class CorkedStream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using next_layer_type = boost::beast::tcp_stream;

  explicit CorkedStream(boost::beast::tcp_stream stream) : next_(std::move(stream)) {}

  executor_type get_executor() { return next_.get_executor(); }
  next_layer_type& next_layer() { return next_; }
  const next_layer_type& next_layer() const { return next_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return next_.async_read_some(buffers, std::forward<Token>(token));
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& buffers) {
          if (!corked_) {
            next_.async_write_some(buffers, std::move(handler));
            return;
          }
          std::size_t n = 0;
          for (auto buffer : boost::beast::buffers_range_ref(buffers)) {
            pending_.append(static_cast<const char*>(buffer.data()), buffer.size());
            n += buffer.size();
          }
          auto executor = boost::asio::get_associated_executor(handler, get_executor());
          boost::asio::post(executor, boost::beast::bind_front_handler(
                                          std::move(handler), boost::beast::error_code{}, n));
        },
        token, buffers);
  }

  void cork() { corked_ = true; }
  // Sends everything held back, then lets writes through again.
  boost::asio::awaitable<boost::beast::error_code> uncork();

 private:
  boost::beast::tcp_stream next_;
  bool corked_ = false;
  std::string pending_;
  std::string sending_;
};

// WebSocket closing hands the TCP teardown to the stream underneath.
void teardown(boost::beast::role_type role, CorkedStream& stream, boost::beast::error_code& ec);

template <class Handler>
void async_teardown(boost::beast::role_type role, CorkedStream& stream, Handler&& handler) {
  boost::beast::async_teardown(role, stream.next_layer(), std::forward<Handler>(handler));
}

}  // namespace skein::http
