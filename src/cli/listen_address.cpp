// Listener address parsing and formatting.
#include "cli/listen_address.hpp"

#include <charconv>

namespace skein::cli {

namespace asio = boost::asio;

std::variant<asio::ip::tcp::endpoint, std::string> parse_listen_address(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  std::string_view host, port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return "listen address " + quoted + ": expected [IPv6]:PORT";
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return "listen address " + quoted + ": expected HOST:PORT";
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return "listen address " + quoted + ": write IPv6 addresses in brackets, [::1]:PORT";
  }
  unsigned number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number > 65535)
    return "listen address " + quoted + ": port must be a number from 0 to 65535";
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code bad;
  auto address = asio::ip::make_address(host, bad);
  if (bad)
    return "listen address " + quoted + ": \"" + std::string(host) + "\" is not an IP address";
  return asio::ip::tcp::endpoint(address, static_cast<unsigned short>(number));
}

std::string format_endpoint(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string port = std::to_string(endpoint.port());
  if (address.is_v6()) return "[" + address.to_string() + "]:" + port;
  return address.to_string() + ":" + port;
}

}  // namespace skein::cli
