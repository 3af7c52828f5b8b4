// HOST:PORT listener addresses as settings and the ready file write them:
//   0.0.0.0:8080   127.0.0.1:0   [::1]:8080   :8080 (all IPv4 interfaces)   localhost:8080
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace skein::cli {

// The endpoint to bind, or an error message. Host names other than
// "localhost" are refused: a listener binds an address, not a name.
std::variant<boost::asio::ip::tcp::endpoint, std::string> parse_listen_address(
    std::string_view text);

// "127.0.0.1:41234" or "[::1]:41234".
std::string format_endpoint(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace skein::cli
