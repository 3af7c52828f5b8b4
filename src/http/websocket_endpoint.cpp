// The WebSocket writer and reader of a subscription.
#include "http/websocket_endpoint.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

#include "http/corked_stream.hpp"
#include "http/event_encoding.hpp"
#include "http/subscriber_lifetime.hpp"

namespace skein::http {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using namespace boost::asio::experimental::awaitable_operators;
using WebSocket = websocket::stream<CorkedStream>;

namespace {
constexpr std::size_t kBatch = 256;

// Ends the connection from our side: a close frame, then the end of our
// half of TCP. Written directly rather than with Beast's async_close, whose
// closing handshake can wait forever on a read pending in our other
// coroutine; the client still receives a well-formed close frame (RFC 6455
// §5.5.1: a server frame is unmasked, the payload a 2-byte code and a reason).
asio::awaitable<void> send_close_and_end(WebSocket& ws, websocket::close_code code,
                                         std::string_view reason) {
  std::string frame;
  frame += static_cast<char>(0x88);  // FIN + opcode close
  frame += static_cast<char>(2 + reason.size());
  frame += static_cast<char>(static_cast<unsigned>(code) >> 8);
  frame += static_cast<char>(static_cast<unsigned>(code) & 0xff);
  frame += reason;
  auto& tcp = beast::get_lowest_layer(ws);
  auto [ec, n] = co_await asio::async_write(tcp.socket(), asio::buffer(frame),
                                            asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  beast::error_code ignored;
  tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  // Give the client a moment to read it and close its side; the reading
  // coroutine ends first when it does, which cancels this wait. Closing at
  // once could reset the connection and lose the frame in the client's buffer.
  asio::steady_timer linger(ws.get_executor());
  linger.expires_after(std::chrono::seconds(2));
  co_await linger.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> write_events(WebSocket& ws, StreamSubscriber& subscriber) {
  std::deque<core::EventPtr> batch;
  // The WebSocket layer pings on its own; the idle wait only bounds how long
  // a finish() can go unnoticed.
  while (co_await subscriber.next_batch(batch, kBatch, std::chrono::seconds(30))) {
    // Beast frames each event; the corked stream sends the batch in one write.
    ws.next_layer().cork();
    for (const auto& event : batch) {
      auto [ec, n] = co_await ws.async_write(asio::buffer(cached_json(*event)),
                                             asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
    batch.clear();
    if (co_await ws.next_layer().uncork()) co_return;
  }
  if (subscriber.overflowed()) {
    // Within StreamSubscriber::kOverflowGrace; a stalled client is cut instead.
    co_await send_close_and_end(ws, websocket::close_code::policy_error,
                                "slow subscriber: queue full");
  } else if (subscriber.finishing() && !subscriber.closed()) {
    co_await send_close_and_end(ws, websocket::close_code::going_away, subscriber.finish_reason());
  }
}

asio::awaitable<void> read_until_closed(WebSocket& ws) {
  beast::flat_buffer buffer;
  for (;;) {
    auto [ec, n] = co_await ws.async_read(buffer, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    buffer.clear();
  }
}
}  // namespace

asio::awaitable<void> serve_websocket(HttpContext& context, unsigned shard,
                                      beast::tcp_stream stream, Request upgrade,
                                      SubscribeRequest subscribe,
                                      std::shared_ptr<StreamSubscriber>& active) {
  // The HTTP connection's deadline (http.idle_timeout) must not follow the
  // stream into the WebSocket, or every subscriber is cut when it passes;
  // the WebSocket's own timeout takes over, pinging a quiet client (a
  // subscriber sends nothing) rather than dropping it.
  stream.expires_never();
  WebSocket ws(CorkedStream(std::move(stream)));
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& response) { response.set(bhttp::field::server, kServerName); }));
  ws.read_message_max(64 * 1024);
  auto filters = subscribe.filters;
  auto subscriber =
      co_await open_subscriber(context, shard, ws.get_executor(), std::move(subscribe));
  active = subscriber;
  // A stop that came while the subscription was being set up finds no
  // subscriber to finish: honour it here.
  if (context.draining.load()) subscriber->finish();
  subscriber->on_close([&ws] {
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().cancel(ignored);
  });
  auto [ec] = co_await ws.async_accept(upgrade, asio::as_tuple(asio::use_awaitable));
  context.counters.count_response(101);
  if (!ec) {
    ws.text(true);
    co_await (write_events(ws, *subscriber) || read_until_closed(ws));
  }
  active.reset();
  co_await close_subscriber(context, std::move(subscriber), std::move(filters));
}

}  // namespace skein::http
