// The NATS side of the http_ws_load tool, the peer that skein is measured
// against: publishers speak the NATS text protocol over TCP (PUB bench.<p>,
// pipelined, a PING after every half window so that at most a window is
// unconfirmed), subscribers speak NATS over WebSocket (SUB bench.> and count
// MSGs). NATS messages carry no sequence, so the publishers write theirs in
// the first 12 bytes of the payload and the subscribers check it grows.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdio>

#include "harness.hpp"
#include "nats_protocol.hpp"

namespace skein::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::as_tuple;
using asio::use_awaitable;

namespace {
constexpr std::size_t kSequenceDigits = 12;
}  // namespace

asio::awaitable<void> nats_publisher(Run& run, std::size_t index) {
  auto& tally = run.publishers[index];
  NatsTcp nats(co_await asio::this_coro::executor);
  if (auto error = co_await nats.open(run.options.nats); !error.empty()) {
    run.fail_publisher(index, error);
    co_return;
  }
  const std::uint64_t total = events_for(run.options, static_cast<int>(index));
  const std::size_t chunk = std::max<std::size_t>(1, run.options.window / 2);
  const std::string head =
      "PUB bench." + std::to_string(index) + " " + std::to_string(run.payload.size()) + "\r\n";
  const bool numbered = run.payload.size() >= kSequenceDigits;
  std::string batch;
  std::uint64_t sent = 0, acked = 0;
  std::size_t chunks_in_flight = 0;
  std::uint64_t chunk_sizes[2] = {0, 0};
  while (acked < total && !run.stopping.load(std::memory_order_relaxed)) {
    if (sent < total && chunks_in_flight < 2) {
      const auto k = std::min<std::uint64_t>(chunk, total - sent);
      batch.clear();
      for (std::uint64_t i = 0; i < k; ++i) {
        batch += head;
        const auto at = batch.size();
        batch += run.payload;
        if (numbered) {
          char digits[kSequenceDigits + 1];
          std::snprintf(digits, sizeof digits, "%012llu",
                        static_cast<unsigned long long>(sent + i + 1));
          batch.replace(at, kSequenceDigits, digits, kSequenceDigits);
        }
        batch += "\r\n";
      }
      batch += "PING\r\n";
      auto [ec, n] =
          co_await asio::async_write(nats.socket, asio::buffer(batch), as_tuple(use_awaitable));
      if (ec) {
        run.fail_publisher(index, "write after " + std::to_string(acked) + ": " + ec.message());
        co_return;
      }
      sent += k;
      chunk_sizes[chunks_in_flight++] = k;
      if (chunks_in_flight < 2 && sent < total) continue;
    }
    if (auto error = co_await nats.await_pong(); !error.empty()) {
      run.fail_publisher(index, error + " after " + std::to_string(acked));
      co_return;
    }
    acked += chunk_sizes[0];
    chunk_sizes[0] = chunk_sizes[1];
    --chunks_in_flight;
    tally.acked.store(acked, std::memory_order_relaxed);
  }
  tally.finished = Clock::now();
  tally.done.store(true);
}

asio::awaitable<void> nats_prober(Run& run) {
  NatsTcp nats(co_await asio::this_coro::executor);
  if (auto error = co_await nats.open(run.options.nats); !error.empty()) co_return;
  static constexpr std::string_view kProbeMessage = "PUB bench.probe 5\r\nprobe\r\nPING\r\n";
  asio::steady_timer timer(nats.socket.get_executor());
  while (!run.probe_done.load() && !run.stopping.load()) {
    auto [ec, n] = co_await asio::async_write(
        nats.socket, asio::buffer(kProbeMessage.data(), kProbeMessage.size()),
        as_tuple(use_awaitable));
    if (ec || !(co_await nats.await_pong()).empty()) co_return;
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(as_tuple(use_awaitable));
  }
}

asio::awaitable<void> nats_ws_subscriber(Run& run, std::size_t index) {
  auto& tally = run.subscribers[index];
  const auto& e = run.options.nats_ws;
  websocket::stream<beast::tcp_stream> ws(co_await asio::this_coro::executor);
  if (auto error = co_await connect(beast::get_lowest_layer(ws).socket(), e); !error.empty()) {
    run.fail_subscriber(index, error);
    co_return;
  }
  ws.read_message_max(64 << 20);
  auto [hec] = co_await ws.async_handshake(e.host + ":" + e.port, "/", as_tuple(use_awaitable));
  if (hec) {
    run.fail_subscriber(index, "websocket handshake: " + hec.message());
    co_return;
  }
  ws.binary(true);
  const std::string hello = nats_connect_line("http_ws_load") + "SUB bench.> 1\r\nPING\r\n";
  if (auto [ec, n] = co_await ws.async_write(asio::buffer(hello), as_tuple(use_awaitable)); ec) {
    run.fail_subscriber(index, "websocket write: " + ec.message());
    co_return;
  }
  tally.connected.store(true);
  const auto expected = run.options.events;
  const auto publishers = static_cast<std::size_t>(run.options.publishers);
  const bool numbered = run.payload.size() >= kSequenceDigits;
  // The server frames its output as it pleases: a frame may hold many
  // protocol messages or part of one, so the frames are read as one stream.
  beast::flat_buffer buffer;
  while (!run.stopping.load(std::memory_order_relaxed)) {
    auto [ec, n] = co_await ws.async_read(buffer, as_tuple(use_awaitable));
    if (ec) {
      run.fail_subscriber(index, "websocket read after " + std::to_string(tally.received.load()) +
                                     " events: " + ec.message());
      co_return;
    }
    const std::string_view data(static_cast<const char*>(buffer.data().data()),
                                buffer.data().size());
    bool pong_owed = false, done = false;
    std::string failure;
    const NatsScan scan = scan_nats(data, [&](const NatsItem& item) {
      switch (item.kind) {
        case NatsItem::Kind::msg: {
          const int p = publisher_of(item.subject);
          if (p == -1) {
            tally.probed.store(true);
            return true;
          }
          std::uint64_t id = tally.received.load(std::memory_order_relaxed) + 1;
          if (numbered) id = parse_u64(item.payload.substr(0, kSequenceDigits)).value_or(0);
          if (p >= 0 && tally.count(p, id, expected, publishers)) {
            done = true;
            return false;
          }
          if (p < 0) ++tally.unknown;
          return true;
        }
        case NatsItem::Kind::ping:
          pong_owed = true;
          return true;
        case NatsItem::Kind::err:
          failure = "server said " + std::string(item.line);
          return false;
        default:
          return true;
      }
    });
    if (!scan.error.empty() || !failure.empty()) {
      run.fail_subscriber(index, scan.error.empty() ? failure : scan.error);
      co_return;
    }
    if (done) co_return;
    buffer.consume(scan.used);
    if (pong_owed) {
      static constexpr std::string_view kPong = "PONG\r\n";
      co_await ws.async_write(asio::buffer(kPong.data(), kPong.size()), as_tuple(use_awaitable));
    }
  }
}

}  // namespace skein::bench
