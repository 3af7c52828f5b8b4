// Reading a TCP socket without holding a buffer while idle; moving a socket
// between shards (tcp_byte_stream.hpp).
#include "runtime/tcp_byte_stream.hpp"

#include <sys/ioctl.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace skein::runtime {

namespace asio = boost::asio;
using asio::ip::tcp;

TcpByteStream::TcpByteStream(tcp::socket socket) : socket_(std::move(socket)) {
  socket_.non_blocking(true);
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
}

std::size_t TcpByteStream::read_available(std::vector<std::uint8_t>& buffer, std::size_t max_bytes,
                                          boost::system::error_code& ec) {
  constexpr std::size_t kChunk = 64 * 1024;
  int available = 0;
  std::size_t want = kChunk;
  // Size the buffer by what is waiting (a busy connection), not by the chunk.
  if (::ioctl(socket_.native_handle(), FIONREAD, &available) == 0 && available > 0)
    want = std::max<std::size_t>(static_cast<std::size_t>(available), 4096);
  want = std::min(want, max_bytes == 0 ? kChunk : max_bytes);
  const std::size_t old = buffer.size();
  buffer.resize(old + want);
  const std::size_t n = socket_.read_some(asio::buffer(buffer.data() + old, want), ec);
  buffer.resize(old + n);
  if (ec == asio::error::would_block || ec == asio::error::try_again) ec.clear();
  if (buffer.empty()) buffer.shrink_to_fit();
  return n;
}

void TcpByteStream::wait_readable(asio::any_io_executor executor,
                                  std::function<void(boost::system::error_code)> ready) {
  // The socket lives on the caller's shard (rehome put it there): the wait
  // completes there with no binding, and holds nothing but `ready`.
  if (executor == socket_.get_executor()) {
    socket_.async_wait(tcp::socket::wait_read, std::move(ready));
    return;
  }
  socket_.async_wait(tcp::socket::wait_read, asio::bind_executor(executor, std::move(ready)));
}

asio::awaitable<std::size_t> TcpByteStream::read_some(std::vector<std::uint8_t>& buffer,
                                                      std::size_t max_bytes) {
  // Try first (a busy connection usually has bytes waiting), wait only when
  // there are none: the wait itself needs no buffer.
  while (true) {
    boost::system::error_code ec;
    const std::size_t n = read_available(buffer, max_bytes, ec);
    if (n > 0) co_return n;
    if (ec == asio::error::eof) co_return 0;
    if (ec) throw boost::system::system_error(ec);
    co_await socket_.async_wait(tcp::socket::wait_read, asio::use_awaitable);
  }
}

asio::awaitable<void> TcpByteStream::write(std::span<const std::uint8_t> bytes) {
  co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                             asio::use_awaitable);
}

void TcpByteStream::close() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

std::string TcpByteStream::peer() const {
  boost::system::error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  if (ec) return "?";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

std::unique_ptr<ByteStream> TcpByteStream::rehome(asio::any_io_executor executor) {
  const auto protocol = socket_.local_endpoint().protocol();
  const auto handle = socket_.release();  // no operation is pending: we are between reads
  return std::make_unique<TcpByteStream>(tcp::socket(executor, protocol, handle));
}

}  // namespace skein::runtime
