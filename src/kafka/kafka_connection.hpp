// KafkaConnection: one Kafka client connection, on one shard. It reads a
// size-prefixed request frame, parses the header, has the API's handler
// answer it, sends the response frame (record data straight from segment
// files), and only then reads the next request: like a Kafka broker, it
// answers each connection's requests one at a time and in order, which is
// what clients rely on to match responses by order as well as by
// correlation id.
//
// A frame over kafka.max_request_bytes, an API we do not serve, a malformed
// header or body, or a version we do not serve (other than ApiVersions, which
// is answered with the versions we do serve) closes the connection with a
// log line saying why, as Kafka does.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "kafka/handlers.hpp"
#include "kafka/kafka_context.hpp"

namespace skein::kafka {

class KafkaConnection {
 public:
  KafkaConnection(KafkaContext& context, unsigned shard, boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> run();
  // Finish the request in hand, then close. Call on the connection's shard.
  void request_stop();

 private:
  // The response frame for one request, in `out`; false to close.
  boost::asio::awaitable<bool> serve(std::span<const std::byte> frame, Writer& out);
  bool serve_raw_sasl(std::span<const std::byte> token, Writer& out);

  KafkaContext& context_;
  boost::asio::ip::tcp::socket socket_;
  std::string peer_;
  Session session_;
  bool stopping_ = false;
  bool busy_ = false;  // serving a request: a stop waits for its answer
  // After a SaslHandshake v0 the client sends its SASL token as a bare
  // size-prefixed frame, without a Kafka header, and expects a bare answer.
  bool raw_sasl_next_ = false;
};

}  // namespace skein::kafka
