// HttpConnection: one accepted TCP connection on its shard. Reads requests one
// after another (keep-alive, pipelining), answers each through the endpoint
// for its path, and hands the connection over to a stream (SSE, WebSocket)
// when a subscription asks for one. Owned by the coroutine that runs it; the
// server keeps a non-owning pointer per shard so that it can ask it to stop.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <memory>

#include "http/http_context.hpp"
#include "http/http_types.hpp"
#include "http/request_target.hpp"
#include "http/stream_subscriber.hpp"

namespace skein::http {

class HttpConnection {
 public:
  HttpConnection(HttpContext& context, unsigned shard, boost::asio::ip::tcp::socket socket);

  boost::asio::awaitable<void> run();

  // On the connection's shard: finish the request in progress (or the
  // queued events of a stream), then close.
  void request_stop();

  // Serving an SSE or WebSocket stream (rather than requests).
  bool streaming() const { return streaming_ != nullptr; }

 private:
  // What to do after a request has been answered.
  enum class Next { keep_going, close, handed_over };
  using Parser = bhttp::request_parser<bhttp::string_body>;

  boost::asio::awaitable<Next> serve_one();
  // After the header of a request that is not a subscription: limits,
  // "Expect: 100-continue", the body, then the endpoint.
  boost::asio::awaitable<Next> serve_body(Parser& parser, const RequestTarget& target);
  // Queues the answer; writes it (with any queued before it) unless another
  // pipelined request is already buffered.
  boost::asio::awaitable<Next> reply(Response response);
  // Writes the queued answers; false when the connection failed.
  boost::asio::awaitable<bool> flush();
  bool next_request_buffered() const;
  boost::asio::awaitable<void> refuse_and_close(const Request& request, bhttp::status status,
                                                std::string body);
  // 413 naming http.max_event_bytes, then close.
  boost::asio::awaitable<void> refuse_too_large(const Request& request);
  boost::asio::awaitable<Response> route(const Request& request, const RequestTarget& target);
  void close_gracefully();

  HttpContext& context_;
  const unsigned shard_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  static constexpr std::size_t kMaxPendingOut = 64 * 1024;
  std::string pending_out_;  // answers not written yet
  bool waiting_for_request_ = false;
  bool stopping_ = false;
  std::shared_ptr<StreamSubscriber> streaming_;
};

}  // namespace skein::http
