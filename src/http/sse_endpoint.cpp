// The SSE writer: batches of queued events rendered into one buffer per write,
// a comment line when idle so that proxies and clients see a live stream, and
// a watcher that notices the client going away while nothing is written.
#include "http/sse_endpoint.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>

#include "http/event_encoding.hpp"
#include "http/subscriber_lifetime.hpp"

namespace skein::http {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {
constexpr std::size_t kBatch = 512;

constexpr std::string_view kHeader =
    "HTTP/1.1 200 OK\r\n"
    "Server: skein\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\n"
    "Connection: close\r\n"
    "\r\n"
    ": subscribed\n\n";

constexpr std::string_view kSlowFarewell = ": disconnected: slow subscriber, queue full\n\n";

asio::awaitable<void> write_events(beast::tcp_stream& stream, StreamSubscriber& subscriber,
                                   std::chrono::seconds keepalive) {
  std::deque<core::EventPtr> batch;
  std::string out;
  while (co_await subscriber.next_batch(batch, kBatch, keepalive)) {
    out.clear();
    if (batch.empty()) out = ": keep-alive\n\n";
    for (const auto& event : batch) out += cached_sse(*event);
    batch.clear();
    auto [ec, n] = co_await asio::async_write(stream.socket(), asio::buffer(out),
                                              asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
  if (subscriber.overflowed()) {
    // Within StreamSubscriber::kOverflowGrace; a stalled client is cut instead.
    co_await asio::async_write(stream.socket(), asio::buffer(kSlowFarewell),
                               asio::as_tuple(asio::use_awaitable));
  }
}

// An SSE client sends nothing after its request: any read completing means
// it closed (or broke the protocol); either way the stream ends.
asio::awaitable<void> watch_client(beast::tcp_stream& stream) {
  char scratch[512];
  for (;;) {
    auto [ec, n] = co_await stream.socket().async_read_some(asio::buffer(scratch),
                                                            asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}
}  // namespace

asio::awaitable<void> serve_sse(HttpContext& context, unsigned shard, beast::tcp_stream& stream,
                                SubscribeRequest subscribe,
                                std::shared_ptr<StreamSubscriber>& active) {
  auto filters = subscribe.filters;
  auto subscriber =
      co_await open_subscriber(context, shard, stream.get_executor(), std::move(subscribe));
  active = subscriber;
  // A stop that came while the subscription was being set up finds no
  // subscriber to finish: honour it here.
  if (context.draining.load()) subscriber->finish();
  subscriber->on_close([&stream] {
    beast::error_code ignored;
    stream.socket().cancel(ignored);
  });
  stream.expires_never();
  auto [ec, n] = co_await asio::async_write(stream.socket(), asio::buffer(kHeader),
                                            asio::as_tuple(asio::use_awaitable));
  context.counters.count_response(200);
  if (!ec) {
    co_await (write_events(stream, *subscriber, context.settings.sse_keepalive) ||
              watch_client(stream));
  }
  active.reset();
  co_await close_subscriber(context, std::move(subscriber), std::move(filters));
}

}  // namespace skein::http
