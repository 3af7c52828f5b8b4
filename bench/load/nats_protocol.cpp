// The NATS text protocol client pieces of bench/load (nats_protocol.hpp).
#include "nats_protocol.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace skein::bench {

namespace {
namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;
}  // namespace

std::string nats_connect_line(std::string_view name) {
  std::string line = R"(CONNECT {"verbose":false,"pedantic":false,"protocol":1,"name":")";
  line += name;
  line += "\"}\r\n";
  return line;
}

asio::awaitable<std::string> NatsTcp::open(const Endpoint& endpoint) {
  if (auto error = co_await connect(socket, endpoint); !error.empty()) co_return error;
  std::string line;
  if (auto error = co_await read_line(line); !error.empty()) co_return error;
  if (!line.starts_with("INFO")) co_return "expected INFO, got: " + line;
  const std::string hello = nats_connect_line(name);
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(hello), as_tuple(use_awaitable));
  if (ec) co_return "write CONNECT: " + ec.message();
  co_return std::string();
}

asio::awaitable<std::string> NatsTcp::read_line(std::string& line) {
  co_return co_await nats_read_line(socket, in, line);
}

asio::awaitable<std::string> NatsTcp::await_pong() {
  co_return co_await nats_await_pong(socket, in);
}

asio::awaitable<std::string> nats_read_line(tcp::socket& socket, asio::streambuf& in,
                                            std::string& line) {
  auto [ec, n] = co_await asio::async_read_until(socket, in, "\r\n", as_tuple(use_awaitable));
  if (ec) co_return "read: " + ec.message();
  line.assign(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + n - 2);
  in.consume(n);
  co_return std::string();
}

asio::awaitable<std::string> nats_await_pong(tcp::socket& socket, asio::streambuf& in) {
  std::string line;
  for (;;) {
    if (auto error = co_await nats_read_line(socket, in, line); !error.empty()) co_return error;
    if (line == "PONG") co_return std::string();
    if (line == "PING") {
      static constexpr std::string_view kPong = "PONG\r\n";
      co_await asio::async_write(socket, asio::buffer(kPong.data(), kPong.size()),
                                 as_tuple(use_awaitable));
    } else if (line.starts_with("-ERR")) {
      co_return "server said " + line;
    }
  }
}

std::size_t parse_nats_item(std::string_view data, std::size_t eol, NatsItem& item,
                            std::string& error) {
  const std::string_view line = data.substr(0, eol);
  item.line = line;
  if (line.starts_with("MSG ")) {
    // MSG <subject> <sid> [reply-to] <#bytes>
    const auto subject_end = line.find(' ', 4);
    const auto size_at = line.rfind(' ');
    const auto size = parse_u64(line.substr(size_at + 1));
    if (subject_end == std::string_view::npos || !size) {
      error = "bad MSG line: " + std::string(line);
      return 0;
    }
    if (data.size() < eol + 2 + *size + 2) return 0;  // the payload is still to come
    item.kind = NatsItem::Kind::msg;
    item.subject = line.substr(4, subject_end - 4);
    item.payload = data.substr(eol + 2, *size);
    return eol + 2 + *size + 2;
  }
  if (line == "PING") {
    item.kind = NatsItem::Kind::ping;
  } else if (line == "PONG") {
    item.kind = NatsItem::Kind::pong;
  } else if (line == "+OK") {
    item.kind = NatsItem::Kind::ok;
  } else if (line.starts_with("-ERR")) {
    item.kind = NatsItem::Kind::err;
  } else if (line.starts_with("INFO")) {
    item.kind = NatsItem::Kind::info;
  } else {
    item.kind = NatsItem::Kind::other;
  }
  return eol + 2;
}

}  // namespace skein::bench
