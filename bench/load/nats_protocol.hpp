// The client side of the NATS text protocol (core NATS, no headers), shared by
// the load generators: the CONNECT line, a TCP connection that reads INFO,
// sends CONNECT and waits for PONGs, and a scanner that splits what a server
// sends (MSG with its payload, PING, PONG, +OK, -ERR, INFO) out of a byte
// stream, however the reads cut it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/streambuf.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "net.hpp"

namespace skein::bench {

// "CONNECT {...}\r\n": not verbose, not pedantic, protocol 1, named `name`.
std::string nats_connect_line(std::string_view name);

// One line from `socket` without its CRLF, read through `in` (which keeps
// what came after it); error text or "".
boost::asio::awaitable<std::string> nats_read_line(boost::asio::ip::tcp::socket& socket,
                                                   boost::asio::streambuf& in, std::string& line);
// Reads lines until a PONG, answering the server's PINGs; error text or "".
boost::asio::awaitable<std::string> nats_await_pong(boost::asio::ip::tcp::socket& socket,
                                                    boost::asio::streambuf& in);

// A TCP client of the NATS text protocol: connects, reads INFO, sends CONNECT.
// `in` holds what was read and not yet used (after open(), perhaps the start
// of the server's next messages).
struct NatsTcp {
  explicit NatsTcp(boost::asio::any_io_executor executor, std::string name = "http_ws_load")
      : socket(std::move(executor)), name(std::move(name)) {}

  boost::asio::ip::tcp::socket socket;
  boost::asio::streambuf in;
  std::string name;  // the CONNECT "name"

  // Connect, INFO, CONNECT; error text or "".
  boost::asio::awaitable<std::string> open(const Endpoint& endpoint);
  // One line without its CRLF; error text or "".
  boost::asio::awaitable<std::string> read_line(std::string& line);
  // Reads until a PONG, answering the server's PINGs; error text or "".
  boost::asio::awaitable<std::string> await_pong();
};

// One thing a server sent, as found by scan_nats. The views point into the
// scanned data.
struct NatsItem {
  enum class Kind { msg, ping, pong, ok, err, info, other };
  Kind kind = Kind::other;
  std::string_view line;     // the control line, without its CRLF
  std::string_view subject;  // msg
  std::string_view payload;  // msg
};

struct NatsScan {
  std::size_t used = 0;  // bytes of whole items handled (a partial one is left)
  bool stopped = false;  // the callback asked to stop
  std::string error;     // a MSG line that does not parse
};

// Parses one control line at the front of `data` (which holds at least up to
// its CRLF at `eol`); sets `item` and returns the bytes it takes, or 0 when
// it is a MSG whose payload is not all there yet. A MSG line that does not
// parse sets `error`.
std::size_t parse_nats_item(std::string_view data, std::size_t eol, NatsItem& item,
                            std::string& error);

// Calls `on_item(const NatsItem&)` for each whole item at the front of
// `data`, in order, until it returns false or the data ends.
template <typename OnItem>
NatsScan scan_nats(std::string_view data, OnItem&& on_item) {
  NatsScan scan;
  for (;;) {
    const std::string_view rest = data.substr(scan.used);
    const auto eol = rest.find("\r\n");
    if (eol == std::string_view::npos) break;
    NatsItem item;
    const std::size_t size = parse_nats_item(rest, eol, item, scan.error);
    if (!scan.error.empty() || size == 0) break;
    scan.used += size;
    if (!on_item(static_cast<const NatsItem&>(item))) {
      scan.stopped = true;
      break;
    }
  }
  return scan;
}

}  // namespace skein::bench
