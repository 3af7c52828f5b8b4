// ByteStream: an ordered, reliable byte connection, whatever carries it (a TCP
// socket, a WebSocket's binary messages). The MQTT face reads and writes
// through it so that MQTT over TCP and MQTT over WebSocket (served by the
// HTTP face at /mqtt) share one protocol implementation.
//
// Reads and writes are each used by one coroutine at a time, on one thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace skein::runtime {

// Told once a stream can be read, or has ended (ByteStream::wait_readable).
// Held by shared pointer while the wait lasts: an idle connection is owned
// by its wait, with no callback object of its own.
class ReadinessListener {
 public:
  // `ec` set when the stream closed or failed.
  virtual void on_readable(boost::system::error_code ec) = 0;

 protected:
  ~ReadinessListener() = default;
};

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  // Waits until bytes arrive and appends what is available (at most
  // `max_bytes`) to `buffer`. Returns how many were appended; 0 when the
  // peer closed. Throws boost::system::system_error on errors. An idle
  // stream holds no buffer of its own while it waits.
  virtual boost::asio::awaitable<std::size_t> read_some(std::vector<std::uint8_t>& buffer,
                                                        std::size_t max_bytes) = 0;
  // Appends what can be read now without waiting (at most `max_bytes`; 0:
  // no limit) to `buffer` and returns how many bytes; 0 with `ec` clear
  // when nothing is there yet; `ec` set when the peer closed (eof) or the
  // stream failed.
  virtual std::size_t read_available(std::vector<std::uint8_t>& buffer, std::size_t max_bytes,
                                     boost::system::error_code& ec) = 0;
  // Tells `listener` on `executor` once bytes can be read, or with an error
  // when the stream closed or failed; never from within this call. A TCP
  // stream holds no buffer, no coroutine and no allocation while it waits:
  // an idle connection costs only the listener's pointer.
  virtual void wait_readable(boost::asio::any_io_executor executor,
                             std::shared_ptr<ReadinessListener> listener) = 0;
  // Writes every byte; throws boost::system::system_error on errors.
  virtual boost::asio::awaitable<void> write(std::span<const std::uint8_t> bytes) = 0;
  // Closes at once (from the stream's thread); pending operations fail.
  virtual void close() = 0;
  // "127.0.0.1:50312" (or how the peer is known), for log lines.
  virtual std::string peer() const = 0;

  // Moves the stream onto `executor`'s thread, when the transport can (a TCP
  // socket is re-registered there); nullptr when it cannot, and the stream
  // stays usable as it is, its completions hopping to wherever it is used.
  virtual std::unique_ptr<ByteStream> rehome(boost::asio::any_io_executor executor) = 0;
};

using ByteStreamPtr = std::unique_ptr<ByteStream>;

}  // namespace skein::runtime
