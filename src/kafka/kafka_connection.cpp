// The request loop of one Kafka connection (kafka_connection.hpp).
#include "kafka/kafka_connection.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "kafka/protocol/api_versions.hpp"
#include "kafka/protocol/request_header.hpp"
#include "kafka/send_output.hpp"

namespace skein::kafka {

namespace asio = boost::asio;

KafkaConnection::KafkaConnection(KafkaContext& context, unsigned shard,
                                 asio::ip::tcp::socket socket)
    : context_(context), socket_(std::move(socket)) {
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  peer_ =
      ec ? "(unknown peer)" : remote.address().to_string() + ":" + std::to_string(remote.port());
  session_.shard = shard;
}

void KafkaConnection::request_stop() {
  stopping_ = true;
  // Between requests: the pending read of the next frame ends now.
  if (!busy_) {
    boost::system::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ignored);
    socket_.cancel(ignored);
  }
}

asio::awaitable<void> KafkaConnection::run() {
  std::vector<std::byte> frame;
  while (!stopping_) {
    std::byte size_bytes[4];
    auto [ec, n] = co_await asio::async_read(socket_, asio::buffer(size_bytes),
                                             asio::as_tuple(asio::use_awaitable));
    if (ec) break;  // the client closed, or a stop
    const std::uint32_t size = (std::to_integer<std::uint32_t>(size_bytes[0]) << 24) |
                               (std::to_integer<std::uint32_t>(size_bytes[1]) << 16) |
                               (std::to_integer<std::uint32_t>(size_bytes[2]) << 8) |
                               std::to_integer<std::uint32_t>(size_bytes[3]);
    if ((size < 8 && !raw_sasl_next_) || size > context_.settings.max_request_bytes) {
      spdlog::warn("kafka: {} sent a request frame of {} bytes (limit {}): closing", peer_, size,
                   context_.settings.max_request_bytes);
      break;
    }
    frame.resize(size);
    auto [read_ec, read_n] = co_await asio::async_read(socket_, asio::buffer(frame),
                                                       asio::as_tuple(asio::use_awaitable));
    if (read_ec) break;
    busy_ = true;
    Writer out;
    const bool keep = raw_sasl_next_ ? serve_raw_sasl(frame, out) : co_await serve(frame, out);
    if (out.size() > 0) {
      if (auto send_ec = co_await send_output(socket_, out)) {
        spdlog::debug("kafka: {}: send failed: {}", peer_, send_ec.message());
        break;
      }
    }
    busy_ = false;
    if (!keep) break;
  }
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

bool KafkaConnection::serve_raw_sasl(std::span<const std::byte> token, Writer& out) {
  raw_sasl_next_ = false;
  const std::string user = plain_user(token);
  if (user.empty()) {
    spdlog::warn("kafka: {} failed SASL PLAIN authentication: closing", peer_);
    return false;
  }
  session_.principal = "User:" + user;
  out.write_int32(0);  // PLAIN's answer is empty
  return true;
}

asio::awaitable<bool> KafkaConnection::serve(std::span<const std::byte> frame, Writer& out) {
  const ParsedRequest request = parse_request_header(frame);
  const RequestHeader& header = request.header;
  if (request.status == HeaderStatus::unknown_api) {
    spdlog::warn("kafka: {} sent api key {} (version {}), which is not served: closing", peer_,
                 header.api_key, header.api_version);
    co_return false;
  }
  if (request.status != HeaderStatus::ok) {
    spdlog::warn("kafka: {} sent a malformed request header: closing", peer_);
    co_return false;
  }
  if (!request.version_supported) {
    if (header.api_key == static_cast<std::int16_t>(ApiKey::api_versions)) {
      // A newer client: tell it, in v0, which versions we do serve.
      co_return write_unsupported_api_versions(out, header.correlation_id);
    }
    spdlog::warn("kafka: {} sent {} version {}, which is not served: closing", peer_,
                 find_api(header.api_key)->name, header.api_version);
    co_return false;
  }
  if (header.client_id) session_.client_id = *header.client_id;
  const HandlerOutcome outcome = co_await dispatch(context_, session_, request, out);
  if (header.api_key == static_cast<std::int16_t>(ApiKey::sasl_handshake) &&
      header.api_version == 0 && !session_.sasl_mechanism.empty())
    raw_sasl_next_ = true;
  if (outcome == HandlerOutcome::malformed) {
    spdlog::warn("kafka: {} sent a malformed {} v{} request: closing", peer_,
                 find_api(header.api_key)->name, header.api_version);
    co_return false;
  }
  if (!out.ok()) {
    spdlog::error("kafka: cannot encode the {} v{} response for {}: {}",
                  find_api(header.api_key)->name, header.api_version, peer_, out.error());
    out = Writer{};  // send none of it: the bytes would not mean what was meant
    co_return false;
  }
  co_return outcome == HandlerOutcome::answered;
}

}  // namespace skein::kafka
