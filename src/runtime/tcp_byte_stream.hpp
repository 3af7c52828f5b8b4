// TcpByteStream: a ByteStream over a TCP socket. It waits for readability
// before it sizes a buffer, so an idle connection costs no read buffer, and
// it can move its socket to another shard (rehome).
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "runtime/byte_stream.hpp"

namespace skein::runtime {

class TcpByteStream final : public ByteStream {
 public:
  explicit TcpByteStream(boost::asio::ip::tcp::socket socket);

  boost::asio::awaitable<std::size_t> read_some(std::vector<std::uint8_t>& buffer,
                                                std::size_t max_bytes) override;
  std::size_t read_available(std::vector<std::uint8_t>& buffer, std::size_t max_bytes,
                             boost::system::error_code& ec) override;
  void wait_readable(boost::asio::any_io_executor executor,
                     std::function<void(boost::system::error_code)> ready) override;
  boost::asio::awaitable<void> write(std::span<const std::uint8_t> bytes) override;
  void close() override;
  std::string peer() const override;
  std::unique_ptr<ByteStream> rehome(boost::asio::any_io_executor executor) override;

 private:
  boost::asio::ip::tcp::socket socket_;
};

}  // namespace skein::runtime
