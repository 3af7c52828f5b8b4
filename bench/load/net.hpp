// What every load generator in bench/load needs from the network: a
// HOST:PORT endpoint, a TCP connect with Nagle off, and a decimal parser for
// the numbers in protocol text.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace skein::bench {

struct Endpoint {
  std::string host;
  std::string port;
};

// "host:port" or "http://host:port[/]" or "ws://host:port".
std::optional<Endpoint> parse_endpoint(std::string_view text);

// Connects `socket` to `endpoint` with Nagle off; an empty string on success,
// else what failed.
boost::asio::awaitable<std::string> connect(boost::asio::ip::tcp::socket& socket,
                                            const Endpoint& endpoint);

// Parses the decimal at the start of `text`; nullopt if there is none.
std::optional<std::uint64_t> parse_u64(std::string_view text);

}  // namespace skein::bench
