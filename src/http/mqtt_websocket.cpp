// The WebSocket side of MQTT over WebSocket (mqtt_websocket.hpp).
#include "http/mqtt_websocket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "http/json_error.hpp"

namespace skein::http {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;

namespace {

class WebSocketByteStream final : public runtime::ByteStream {
 public:
  using Socket = websocket::stream<beast::tcp_stream>;

  WebSocketByteStream(std::unique_ptr<Socket> ws, std::string peer)
      : ws_(std::move(ws)), peer_(std::move(peer)) {}

  asio::awaitable<std::size_t> read_some(std::vector<std::uint8_t>& buffer,
                                         std::size_t max_bytes) override {
    if (pending_.size() == 0) {
      // Text frames are not MQTT [MQTT-6.0.0-1]: the connection closes.
      auto [ec, n] =
          co_await ws_->async_read_some(pending_, 64 * 1024, asio::as_tuple(asio::use_awaitable));
      if (ec == websocket::error::closed) co_return 0;
      if (ec) throw boost::system::system_error(ec);
      if (!ws_->got_binary()) co_return 0;
    }
    co_return take(buffer, max_bytes);
  }

  std::size_t read_available(std::vector<std::uint8_t>& buffer, std::size_t max_bytes,
                             boost::system::error_code& ec) override {
    if (failed_) {
      ec = failed_;
      return 0;
    }
    return take(buffer, max_bytes);
  }

  void wait_readable(asio::any_io_executor executor,
                     std::shared_ptr<runtime::ReadinessListener> listener) override {
    if (pending_.size() > 0 || failed_) {
      asio::post(executor,
                 [listener = std::move(listener), ec = failed_] { listener->on_readable(ec); });
      return;
    }
    // A WebSocket is read by messages: the next one waits in pending_.
    ws_->async_read_some(
        pending_, 64 * 1024,
        asio::bind_executor(executor, [this, listener = std::move(listener)](
                                          boost::system::error_code ec, std::size_t) {
          if (ec == websocket::error::closed) ec = asio::error::eof;
          // Text frames are not MQTT [MQTT-6.0.0-1]: the connection closes.
          if (!ec && !ws_->got_binary()) ec = asio::error::eof;
          if (ec) failed_ = ec;
          listener->on_readable(ec);
        }));
  }

  asio::awaitable<void> write(std::span<const std::uint8_t> bytes) override {
    co_await ws_->async_write(asio::buffer(bytes.data(), bytes.size()), asio::use_awaitable);
  }

  void close() override {
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(*ws_).socket().close(ignored);
  }

  std::string peer() const override { return peer_; }

  // A WebSocket stays on the shard that accepted it; its completions hop.
  std::unique_ptr<runtime::ByteStream> rehome(asio::any_io_executor) override { return nullptr; }

 private:
  std::size_t take(std::vector<std::uint8_t>& buffer, std::size_t max_bytes) {
    const std::size_t n = max_bytes == 0 ? pending_.size() : std::min(pending_.size(), max_bytes);
    const auto* bytes = static_cast<const std::uint8_t*>(pending_.data().data());
    buffer.insert(buffer.end(), bytes, bytes + n);
    pending_.consume(n);
    if (pending_.size() == 0) pending_.shrink_to_fit();
    return n;
  }

  std::unique_ptr<Socket> ws_;
  beast::flat_buffer pending_;
  boost::system::error_code failed_;  // once the WebSocket ended or failed
  std::string peer_;
};

bool offers_mqtt(const Request& upgrade) {
  auto it = upgrade.find(bhttp::field::sec_websocket_protocol);
  if (it == upgrade.end()) return false;
  std::string_view list = it->value();
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "mqtt") return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

asio::awaitable<void> serve_mqtt_websocket(HttpContext& context, unsigned shard,
                                           beast::tcp_stream stream, Request upgrade) {
  stream.expires_never();  // MQTT's keep alive takes over
  if (!offers_mqtt(upgrade) || !context.mqtt_websocket) {
    Response response = make_response(
        upgrade, bhttp::status::bad_request,
        json_error("bad_subprotocol", context.mqtt_websocket
                                          ? "MQTT over WebSocket needs Sec-WebSocket-Protocol: mqtt"
                                          : "MQTT over WebSocket is off on this node"));
    response.keep_alive(false);
    co_await bhttp::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
    context.counters.count_response(400);
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    co_return;
  }
  std::string peer = "?";
  {
    beast::error_code ec;
    auto endpoint = stream.socket().remote_endpoint(ec);
    if (!ec) peer = "ws:" + endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }
  auto ws = std::make_unique<WebSocketByteStream::Socket>(std::move(stream));
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = websocket::stream_base::none();
  ws->set_option(timeouts);
  ws->set_option(websocket::stream_base::decorator([](websocket::response_type& response) {
    response.set(bhttp::field::server, kServerName);
    response.set(bhttp::field::sec_websocket_protocol, "mqtt");
  }));
  ws->read_message_max(context.settings.max_event_bytes + 64 * 1024 * 1024);
  auto [ec] = co_await ws->async_accept(upgrade, asio::as_tuple(asio::use_awaitable));
  context.counters.count_response(101);
  if (ec) co_return;
  ws->binary(true);
  context.mqtt_websocket(shard, std::make_unique<WebSocketByteStream>(std::move(ws), peer));
}

}  // namespace skein::http
