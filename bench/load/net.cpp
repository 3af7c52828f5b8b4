// The endpoint parser, TCP connect and number parser of bench/load (net.hpp).
#include "net.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

namespace skein::bench {

namespace {
namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;
}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  for (std::string_view scheme : {"http://", "ws://"}) {
    if (text.starts_with(scheme)) text.remove_prefix(scheme.size());
  }
  while (text.ends_with('/')) text.remove_suffix(1);
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return std::nullopt;
  }
  return Endpoint{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

asio::awaitable<std::string> connect(tcp::socket& socket, const Endpoint& endpoint) {
  tcp::resolver resolver(socket.get_executor());
  auto [ec, results] =
      co_await resolver.async_resolve(endpoint.host, endpoint.port, as_tuple(use_awaitable));
  if (ec) co_return "resolve " + endpoint.host + ": " + ec.message();
  auto [cec, ep] = co_await asio::async_connect(socket, results, as_tuple(use_awaitable));
  if (cec) co_return "connect " + endpoint.host + ":" + endpoint.port + ": " + cec.message();
  socket.set_option(tcp::no_delay(true));
  co_return std::string();
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  return value;
}

}  // namespace skein::bench
