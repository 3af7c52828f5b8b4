// SaslHandshake and SaslAuthenticate with the PLAIN mechanism (RFC 4616:
// authzid NUL authcid NUL password). Until the security work brings a user
// store and SCRAM, every well-formed PLAIN login is accepted and names the
// connection's principal (User:<name>), which the Authorizer (allow-all for
// now) will see. A malformed one fails authentication.
#include "kafka/handlers.hpp"
#include "kafka/protocol/error_codes.hpp"

namespace skein::kafka {

std::string plain_user(std::span<const std::byte> token_bytes) {
  const std::string token(reinterpret_cast<const char*>(token_bytes.data()), token_bytes.size());
  const auto first = token.find('\0');
  const auto second = first == std::string::npos ? first : token.find('\0', first + 1);
  if (second == std::string::npos) return {};
  return token.substr(first + 1, second - first - 1);
}

awaitable<m::SaslHandshakeResponse> handle_sasl_handshake(KafkaContext&, Session& session,
                                                          const m::SaslHandshakeRequest& request) {
  m::SaslHandshakeResponse response;
  response.mechanisms = {"PLAIN"};
  if (request.mechanism == "PLAIN")
    session.sasl_mechanism = request.mechanism;
  else
    response.error_code = code(ErrorCode::unsupported_sasl_mechanism);
  co_return response;
}

awaitable<m::SaslAuthenticateResponse> handle_sasl_authenticate(
    KafkaContext&, Session& session, const m::SaslAuthenticateRequest& request) {
  m::SaslAuthenticateResponse response;
  response.error_message = std::nullopt;
  if (session.sasl_mechanism != "PLAIN") {
    response.error_code = code(ErrorCode::illegal_sasl_state);
    response.error_message = "SaslAuthenticate before a SaslHandshake choosing PLAIN";
    co_return response;
  }
  const std::string user = plain_user(request.auth_bytes);
  if (user.empty()) {
    response.error_code = code(ErrorCode::sasl_authentication_failed);
    response.error_message = "malformed PLAIN credentials";
    co_return response;
  }
  session.principal = "User:" + user;
  co_return response;
}

}  // namespace skein::kafka
