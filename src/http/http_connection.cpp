// The request loop: header first (so that limits are enforced before a body
// is read and "Expect: 100-continue" is honoured), then the body, then the
// endpoint.
#include "http/http_connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "http/json_error.hpp"
#include "http/metrics_endpoint.hpp"
#include "http/mqtt_websocket.hpp"
#include "http/publish_endpoint.hpp"
#include "http/request_target.hpp"
#include "http/sse_endpoint.hpp"
#include "http/streams_endpoint.hpp"
#include "http/websocket_endpoint.hpp"
#include "runtime/stream_service.hpp"

namespace skein::http {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

void append_response(const Response& response, std::string& out) {
  out += response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(response.result_int());
  out += ' ';
  out += response.reason();
  out += "\r\n";
  for (const auto& field : response) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
  out += response.body();
}

Response make_response(const Request& request, bhttp::status status, std::string body,
                       std::string_view content_type) {
  Response response(status, request.version());
  response.set(bhttp::field::server, kServerName);
  response.set(bhttp::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

HttpConnection::HttpConnection(HttpContext& context, unsigned shard, asio::ip::tcp::socket socket)
    : context_(context), shard_(shard), stream_(std::move(socket)) {}

void HttpConnection::request_stop() {
  stopping_ = true;
  if (streaming_) {
    streaming_->finish();
  } else if (waiting_for_request_) {
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
  }
}

asio::awaitable<void> HttpConnection::run() {
  for (;;) {
    Next next = co_await serve_one();
    if (next == Next::handed_over) co_return;
    if (next == Next::close || stopping_) break;
  }
  co_await flush();
  close_gracefully();
}

void HttpConnection::close_gracefully() {
  beast::error_code ignored;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  stream_.socket().close(ignored);
}

asio::awaitable<HttpConnection::Next> HttpConnection::serve_one() {
  Parser parser;
  parser.header_limit(static_cast<std::uint32_t>(context_.settings.max_header_bytes));
  parser.body_limit(context_.settings.max_event_bytes);

  waiting_for_request_ = true;
  stream_.expires_after(context_.settings.idle_timeout);
  auto [ec, n] =
      co_await bhttp::async_read_header(stream_, buffer_, parser, as_tuple(use_awaitable));
  waiting_for_request_ = false;
  if (ec == bhttp::error::header_limit) {
    Request dummy;
    co_await refuse_and_close(dummy, bhttp::status::request_header_fields_too_large,
                              json_error("header_too_large", "request header is too large"));
    co_return Next::close;
  }
  if (ec == bhttp::error::body_limit) {
    // Beast checks Content-Length against body_limit as soon as the header is
    // complete, so an oversized publish ends the header read with this error
    // (the header itself is whole): answer it with 413, not a silent close.
    co_await refuse_too_large(parser.get());
    co_return Next::close;
  }
  if (ec) co_return Next::close;  // the client went, timed out, or sent garbage

  Request& header = parser.get();
  auto target = parse_request_target(header.target());
  if (!target) {
    co_await refuse_and_close(header, bhttp::status::bad_request,
                              json_error("bad_target", "the request target is not a valid path"));
    co_return Next::close;
  }

  if (target->path == "/mqtt" && header.method() == bhttp::verb::get &&
      boost::beast::websocket::is_upgrade(header)) {
    if (!co_await flush()) co_return Next::close;
    co_await serve_mqtt_websocket(context_, shard_, std::move(stream_), parser.release());
    co_return Next::handed_over;
  }

  if (target->path == "/v1/subscribe" && header.method() == bhttp::verb::get) {
    std::optional<std::string_view> last_event_id;
    if (auto it = header.find("Last-Event-ID"); it != header.end()) last_event_id = it->value();
    auto subscribe = parse_subscribe_request(*target, context_.settings, last_event_id);
    if (!subscribe.request)
      co_return co_await reply(
          make_response(header, bhttp::status::bad_request, subscribe.error_body));
    if (subscribe.request->replay && (context_.streams == nullptr ||
                                      !context_.streams->find(subscribe.request->replay->stream))) {
      co_return co_await reply(
          make_response(header, bhttp::status::not_found,
                        json_error("not_found", "no stream " + subscribe.request->replay->stream)));
    }
    if (!co_await flush()) co_return Next::close;  // answers before the stream
    if (boost::beast::websocket::is_upgrade(header)) {
      co_await serve_websocket(context_, shard_, std::move(stream_), parser.release(),
                               std::move(*subscribe.request), streaming_);
    } else {
      co_await serve_sse(context_, shard_, stream_, std::move(*subscribe.request), streaming_);
      close_gracefully();
    }
    co_return Next::handed_over;
  }

  co_return co_await serve_body(parser, *target);
}

asio::awaitable<HttpConnection::Next> HttpConnection::serve_body(Parser& parser,
                                                                 const RequestTarget& target) {
  const Request& header = parser.get();
  if (auto length = parser.content_length();
      length && *length > context_.settings.max_event_bytes) {
    co_await refuse_too_large(header);
    co_return Next::close;
  }
  if (auto expect = header.find(bhttp::field::expect);
      expect != header.end() && beast::iequals(expect->value(), "100-continue")) {
    bhttp::response<bhttp::empty_body> proceed(bhttp::status::continue_, header.version());
    if (!co_await flush()) co_return Next::close;
    auto [wec, wn] = co_await bhttp::async_write(stream_, proceed, as_tuple(use_awaitable));
    if (wec) co_return Next::close;
  }
  auto [ec, n] = co_await bhttp::async_read(stream_, buffer_, parser, as_tuple(use_awaitable));
  if (ec == bhttp::error::body_limit) {  // a chunked body grew over the limit
    co_await refuse_too_large(parser.get());
    co_return Next::close;
  }
  if (ec) co_return Next::close;
  Response response = co_await route(parser.get(), target);
  co_return co_await reply(std::move(response));
}

asio::awaitable<Response> HttpConnection::route(const Request& request,
                                                const RequestTarget& target) {
  const std::string& path = target.path;
  const auto method = request.method();
  if (path.starts_with(kTopicsPrefix)) {
    if (method != bhttp::verb::post) {
      auto response = make_response(request, bhttp::status::method_not_allowed,
                                    json_error("method_not_allowed", "use POST to publish"));
      response.set(bhttp::field::allow, "POST");
      co_return response;
    }
    const auto topic = std::string_view(path).substr(kTopicsPrefix.size());
    if (wants_persistent(request, target)) {
      co_return co_await handle_persistent_publish(context_, shard_, request, topic);
    }
    co_return handle_publish(context_, shard_, request, topic);
  }
  if (path == kStreamsPath || path.starts_with(std::string(kStreamsPath) + "/")) {
    co_return co_await handle_streams(context_, request, path);
  }
  const bool get = method == bhttp::verb::get;
  if (path == "/v1/subscribe") {  // a GET never reaches here: it became a stream
    auto response = make_response(request, bhttp::status::method_not_allowed,
                                  json_error("method_not_allowed", "use GET to subscribe"));
    response.set(bhttp::field::allow, "GET");
    co_return response;
  }
  if (get && path == "/healthz") co_return handle_healthz(request);
  if (get && path == "/readyz") co_return handle_readyz(context_, request);
  if (get && path == "/metrics") co_return handle_metrics(context_, request);
  if (path == "/v1/mesh") {
    if (!get) {
      auto response = make_response(request, bhttp::status::method_not_allowed,
                                    json_error("method_not_allowed", "use GET"));
      response.set(bhttp::field::allow, "GET");
      co_return response;
    }
    if (!context_.mesh_status)
      co_return make_response(request, bhttp::status::not_found,
                              json_error("not_found", "this node has no mesh"));
    std::string body = co_await context_.mesh_status();
    co_return make_response(request, bhttp::status::ok, std::move(body));
  }
  co_return make_response(request, bhttp::status::not_found,
                          json_error("not_found", "no such endpoint: " + path));
}

asio::awaitable<HttpConnection::Next> HttpConnection::reply(Response response) {
  context_.counters.count_response(response.result_int());
  const bool keep_alive = response.keep_alive() && !stopping_;
  response.keep_alive(keep_alive);
  append_response(response, pending_out_);
  // Pipelined requests already read are answered together, in one write.
  if (keep_alive && next_request_buffered() && pending_out_.size() < kMaxPendingOut)
    co_return Next::keep_going;
  const bool written = co_await flush();
  co_return (!written || !keep_alive) ? Next::close : Next::keep_going;
}

bool HttpConnection::next_request_buffered() const {
  auto data = buffer_.data();
  std::string_view buffered(static_cast<const char*>(data.data()), data.size());
  return buffered.find("\r\n\r\n") != std::string_view::npos;
}

asio::awaitable<bool> HttpConnection::flush() {
  if (pending_out_.empty()) co_return true;
  auto [ec, n] =
      co_await asio::async_write(stream_, asio::buffer(pending_out_), as_tuple(use_awaitable));
  pending_out_.clear();
  co_return !ec;
}

asio::awaitable<void> HttpConnection::refuse_too_large(const Request& request) {
  co_await refuse_and_close(
      request, bhttp::status::payload_too_large,
      json_error("too_large", "the body is over the limit of " +
                                  std::to_string(context_.settings.max_event_bytes) +
                                  " bytes (http.max_event_bytes)"));
}

// Answers, then reads and discards what the client still sends for a moment,
// so that closing does not reset the connection before it reads the answer.
asio::awaitable<void> HttpConnection::refuse_and_close(const Request& request, bhttp::status status,
                                                       std::string body) {
  if (!co_await flush()) co_return;
  Response response = make_response(request, status, std::move(body));
  response.keep_alive(false);
  context_.counters.count_response(response.result_int());
  stream_.expires_after(std::chrono::seconds(5));
  auto [ec, n] = co_await bhttp::async_write(stream_, response, as_tuple(use_awaitable));
  if (ec) co_return;
  beast::error_code ignored;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  stream_.expires_after(std::chrono::seconds(2));
  char scratch[16 * 1024];
  std::size_t discarded = 0;
  while (discarded < 8 * context_.settings.max_event_bytes) {
    auto [rec, rn] =
        co_await stream_.async_read_some(asio::buffer(scratch), as_tuple(use_awaitable));
    if (rec) break;
    discarded += rn;
  }
}

}  // namespace skein::http
