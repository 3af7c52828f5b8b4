// TcpByteStream: a ByteStream over a TCP socket watched by its shard's
// ReadinessPoller rather than by Asio's reactor, so that an idle connection
// (a quiet MQTT device) costs this object and nothing else: no buffer, no
// reactor state, no wait operation. It sizes a read buffer only once bytes
// are there, and it can move to another shard (rehome).
//
// Used from its shard's thread only.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>

#include "runtime/byte_stream.hpp"
#include "runtime/readiness_poller.hpp"

namespace skein::runtime {

class TcpByteStream final : public ByteStream, private PolledDescriptor {
 public:
  // Takes `socket`'s descriptor out of Asio (made non-blocking; its other
  // options, such as TCP_NODELAY from TcpListener, are kept) for the poller
  // of its shard. Callable from another thread than the socket's.
  explicit TcpByteStream(boost::asio::ip::tcp::socket&& socket);
  // `fd`: connected and non-blocking. Will be watched by `context`'s poller
  // from the first wait on (made on one shard for another: the poller is
  // touched on its own thread).
  TcpByteStream(boost::asio::io_context& context, int fd);
  ~TcpByteStream() override;

  // One per connection: from a SlabPool (slab_pool.hpp says why).
  static void* operator new(std::size_t size);
  static void operator delete(void* block, std::size_t size) noexcept;

  boost::asio::awaitable<std::size_t> read_some(std::vector<std::uint8_t>& buffer,
                                                std::size_t max_bytes) override;
  std::size_t read_available(std::vector<std::uint8_t>& buffer, std::size_t max_bytes,
                             boost::system::error_code& ec) override;
  void wait_readable(boost::asio::any_io_executor executor,
                     std::shared_ptr<ReadinessListener> listener) override;
  boost::asio::awaitable<void> write(std::span<const std::uint8_t> bytes) override;
  void close() override;
  std::string peer() const override;
  std::unique_ptr<ByteStream> rehome(boost::asio::any_io_executor executor) override;

 private:
  using Waiter = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  // Starts being watched by the poller (on its thread, before the first wait).
  void join();
  void on_events(std::uint32_t events) override;
  void on_shutdown() override;
  // Completes when the socket may be read (or written), or fails.
  boost::asio::awaitable<void> wait_for(bool write);
  // Runs `waiter` with `ec` from the shard's queue (never inline).
  void complete_later(Waiter waiter, boost::system::error_code ec);
  void notify_later(std::shared_ptr<ReadinessListener> listener, boost::system::error_code ec);

  ReadinessPoller* poller_;
  int fd_;
  // Edge-triggered readiness: true until a read (write) would block, and
  // again once epoll says so.
  bool readable_ = true;
  bool writable_ = true;
  bool joined_ = false;
  std::shared_ptr<ReadinessListener> listener_;  // wait_readable's, while it waits
  // What waits besides the listener, in a box made on first need: an idle
  // device's connection never waits on anything else.
  struct Waits {
    Waiter read;   // read_some's, while it waits (the CONNECT)
    Waiter write;  // write's, while the socket is full
    // The listener's executor when it is not this shard's (a stream that
    // could not follow its connection).
    std::optional<boost::asio::any_io_executor> listener_executor;
  };
  Waits& waits();
  std::unique_ptr<Waits> waits_;
};

}  // namespace skein::runtime
