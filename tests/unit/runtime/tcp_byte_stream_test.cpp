// TcpByteStream on its shard's ReadinessPoller, over real loopback sockets:
// reads, waits that hold only their listener, writes through a full socket,
// closing with a wait pending, moving to another io_context, shutdown, and
// more ready sockets than one epoll batch.
#include "runtime/tcp_byte_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <numeric>
#include <thread>

namespace skein::runtime {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::milliseconds;

// A connected pair: `server` for the stream, `client` a plain blocking socket.
struct Pair {
  tcp::socket server;
  tcp::socket client;
};

Pair connect_pair(asio::io_context& server_io, asio::io_context& client_io) {
  tcp::acceptor acceptor(client_io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket client(client_io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server(server_io);
  acceptor.accept(server);
  return {std::move(server), std::move(client)};
}

struct Listener : ReadinessListener {
  int calls = 0;
  boost::system::error_code last;
  void on_readable(boost::system::error_code ec) override {
    ++calls;
    last = ec;
  }
};

void run_until(asio::io_context& io, const std::function<bool()>& done,
               milliseconds limit = milliseconds(5000)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) {
    io.run_for(milliseconds(5));
    io.restart();
  }
}

// Reads until a read would block (the stream's edge is then armed), then
// waits with a new listener, which it returns.
std::shared_ptr<Listener> wait_when_idle(ByteStream& stream, asio::io_context& io) {
  std::vector<std::uint8_t> buffer;
  boost::system::error_code ec;
  while (stream.read_available(buffer, 0, ec) > 0) {
  }
  auto listener = std::make_shared<Listener>();
  stream.wait_readable(io.get_executor(), listener);
  return listener;
}

TEST(TcpByteStream, ReadsWhatIsThereAndSaysWhenThePeerCloses) {
  asio::io_context io, client_io;
  auto [server, client] = connect_pair(io, client_io);
  TcpByteStream stream(std::move(server));
  std::vector<std::uint8_t> buffer;
  boost::system::error_code ec;
  EXPECT_EQ(stream.read_available(buffer, 0, ec), 0u);
  EXPECT_FALSE(ec);
  EXPECT_EQ(buffer.capacity(), 0u) << "an idle read keeps no buffer";
  asio::write(client, asio::buffer(std::string("hello")));
  std::size_t got = 0;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { got = co_await stream.read_some(buffer, 0); },
      asio::detached);
  run_until(io, [&] { return got > 0; });
  ASSERT_EQ(got, 5u);
  EXPECT_EQ(std::string(buffer.begin(), buffer.end()), "hello");
  client.close();
  std::size_t at_end = 99;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { at_end = co_await stream.read_some(buffer, 0); },
      asio::detached);
  run_until(io, [&] { return at_end != 99; });
  EXPECT_EQ(at_end, 0u);
}

TEST(TcpByteStream, AWaitTellsItsListenerOnceBytesComeAndNeverInline) {
  asio::io_context io, client_io;
  auto [server, client] = connect_pair(io, client_io);
  TcpByteStream stream(std::move(server));
  auto listener = wait_when_idle(stream, io);
  EXPECT_EQ(listener->calls, 0);
  EXPECT_EQ(listener.use_count(), 2) << "the wait holds its listener";
  io.run_for(milliseconds(30));
  io.restart();
  EXPECT_EQ(listener->calls, 0) << "nothing came yet";
  asio::write(client, asio::buffer(std::string("x")));
  run_until(io, [&] { return listener->calls > 0; });
  EXPECT_EQ(listener->calls, 1);
  EXPECT_FALSE(listener->last);
  EXPECT_EQ(listener.use_count(), 1) << "the wait let go of its listener";
  std::vector<std::uint8_t> buffer;
  boost::system::error_code ec;
  EXPECT_EQ(stream.read_available(buffer, 0, ec), 1u);
}

TEST(TcpByteStream, WritesMoreThanTheSocketHoldsAsThePeerReads) {
  asio::io_context io, client_io;
  auto [server, client] = connect_pair(io, client_io);
  TcpByteStream stream(std::move(server));
  std::vector<std::uint8_t> sent(16 * 1024 * 1024);
  std::iota(sent.begin(), sent.end(), 0);
  bool written = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await stream.write(sent);
        written = true;
      },
      asio::detached);
  std::vector<std::uint8_t> received(sent.size());
  std::thread reader([&] { asio::read(client, asio::buffer(received)); });
  run_until(
      io, [&] { return written; }, milliseconds(20000));
  reader.join();
  EXPECT_TRUE(written);
  EXPECT_EQ(received, sent);
}

TEST(TcpByteStream, ClosingFailsAPendingWaitAndTheNextRead) {
  asio::io_context io, client_io;
  auto [server, client] = connect_pair(io, client_io);
  TcpByteStream stream(std::move(server));
  auto listener = wait_when_idle(stream, io);
  stream.close();
  EXPECT_EQ(listener->calls, 0) << "not from within close()";
  run_until(io, [&] { return listener->calls > 0; });
  EXPECT_EQ(listener->calls, 1);
  EXPECT_EQ(listener->last, asio::error::operation_aborted);
  std::vector<std::uint8_t> buffer;
  boost::system::error_code ec;
  EXPECT_EQ(stream.read_available(buffer, 0, ec), 0u);
  EXPECT_TRUE(ec);
  // The peer sees the end.
  char byte;
  boost::system::error_code peer_ec;
  client.read_some(asio::buffer(&byte, 1), peer_ec);
  EXPECT_EQ(peer_ec, asio::error::eof);
}

TEST(TcpByteStream, MovesToAnotherContextAndServesThere) {
  asio::io_context first, second, client_io;
  auto [server, client] = connect_pair(first, client_io);
  auto stream = std::make_unique<TcpByteStream>(std::move(server));
  std::vector<std::uint8_t> buffer;
  boost::system::error_code ec;
  stream->read_available(buffer, 0, ec);
  auto moved = stream->rehome(second.get_executor());
  ASSERT_TRUE(moved);
  stream.reset();  // the old object no longer owns the socket
  EXPECT_EQ(ReadinessPoller::of(first).size(), 0u);
  auto listener = std::make_shared<Listener>();
  moved->wait_readable(second.get_executor(), listener);
  EXPECT_EQ(ReadinessPoller::of(second).size(), 1u);
  asio::write(client, asio::buffer(std::string("moved")));
  run_until(second, [&] { return listener->calls > 0; });
  ASSERT_EQ(listener->calls, 1);
  EXPECT_EQ(moved->read_available(buffer, 0, ec), 5u);
}

TEST(TcpByteStream, ShutdownDropsWaitingListeners) {
  asio::io_context client_io;
  std::shared_ptr<Listener> listener;
  tcp::socket client(client_io);
  {
    // A shard's context: its services shut down before it is destroyed.
    struct ShardContext : asio::io_context {
      using asio::execution_context::shutdown;
    } io;
    auto pair = connect_pair(io, client_io);
    client = std::move(pair.client);
    auto stream = std::make_shared<TcpByteStream>(std::move(pair.server));
    listener = wait_when_idle(*stream, io);
    EXPECT_EQ(listener.use_count(), 2);
    io.stop();
    io.shutdown();
    EXPECT_EQ(listener.use_count(), 1) << "shutdown let go of the listener (and what it owns)";
  }
  EXPECT_EQ(listener->calls, 0);
}

TEST(TcpByteStream, MoreReadySocketsThanOneEpollBatchAreAllTold) {
  asio::io_context io, client_io;
  constexpr int kStreams = 700;  // more than the poller's batch of 256
  std::vector<std::unique_ptr<TcpByteStream>> streams;
  std::vector<tcp::socket> clients;
  std::vector<std::shared_ptr<Listener>> listeners;
  for (int i = 0; i < kStreams; ++i) {
    auto [server, client] = connect_pair(io, client_io);
    streams.push_back(std::make_unique<TcpByteStream>(std::move(server)));
    clients.push_back(std::move(client));
    listeners.push_back(wait_when_idle(*streams.back(), io));
  }
  for (auto& client : clients) asio::write(client, asio::buffer(std::string("!")));
  run_until(io, [&] {
    return std::all_of(listeners.begin(), listeners.end(), [](auto& l) { return l->calls > 0; });
  });
  for (const auto& listener : listeners) EXPECT_EQ(listener->calls, 1);
}

}  // namespace
}  // namespace skein::runtime
