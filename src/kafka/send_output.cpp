// writev for bytes, sendfile for file ranges (send_output.hpp).
#include "kafka/send_output.hpp"

#include <sys/sendfile.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <vector>

namespace skein::kafka {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// Sends one file range; the socket is non-blocking, so a full send buffer
// (EAGAIN) waits for writability instead of blocking the shard.
asio::awaitable<error_code> send_file(asio::ip::tcp::socket& socket,
                                      const storage::FileRange& range) {
  off_t offset = static_cast<off_t>(range.position);
  std::size_t left = range.length;
  while (left > 0) {
    const ssize_t n = ::sendfile(socket.native_handle(), range.fd(), &offset, left);
    if (n > 0) {
      left -= static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) co_return error_code(EIO, boost::system::system_category());  // file too short
    if (errno == EINTR) continue;
    if (errno != EAGAIN) co_return error_code(errno, boost::system::system_category());
    auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_write,
                                           asio::as_tuple(asio::use_awaitable));
    if (ec) co_return ec;
  }
  co_return error_code{};
}

// Writes and empties a run of memory pieces.
asio::awaitable<error_code> write_run(asio::ip::tcp::socket& socket,
                                      std::vector<asio::const_buffer>& run) {
  if (run.empty()) co_return error_code{};
  auto [ec, n] = co_await asio::async_write(socket, run, asio::as_tuple(asio::use_awaitable));
  run.clear();
  co_return ec;
}

}  // namespace

asio::awaitable<error_code> send_output(asio::ip::tcp::socket& socket, const Writer& output) {
  if (!output.has_files()) {
    auto [ec, n] = co_await asio::async_write(
        socket, asio::buffer(output.memory().data(), output.memory().size()),
        asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }
  socket.native_non_blocking(true);
  std::vector<asio::const_buffer> run;  // consecutive memory pieces
  for (const Writer::Piece& piece : output.pieces()) {
    if (piece.file == nullptr) {
      if (!piece.bytes.empty()) run.emplace_back(piece.bytes.data(), piece.bytes.size());
      continue;
    }
    if (auto ec = co_await write_run(socket, run)) co_return ec;
    if (auto ec = co_await send_file(socket, *piece.file)) co_return ec;
  }
  co_return co_await write_run(socket, run);
}

}  // namespace skein::kafka
