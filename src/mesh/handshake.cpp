// HMAC proofs and HELLO checks (handshake.hpp), with OpenSSL.
#include "mesh/handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace skein::mesh {

std::string make_nonce() {
  std::string nonce(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) !=
      1)
    throw std::runtime_error("mesh: no random bytes for a handshake nonce");
  return nonce;
}

std::string make_proof(std::string_view secret, std::string_view mesh, std::string_view prover,
                       std::string_view verifier, std::string_view prover_nonce,
                       std::string_view verifier_nonce) {
  // Length-prefixed parts, so that no two contexts share bytes.
  std::string context = "skein-mesh-proof-v1";
  for (std::string_view part : {mesh, prover, verifier, prover_nonce, verifier_nonce}) {
    context.push_back(static_cast<char>(part.size() >> 8));
    context.push_back(static_cast<char>(part.size() & 0xff));
    context.append(part);
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(context.data()), context.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

bool proof_matches(std::string_view expected, std::string_view got) {
  return expected.size() == got.size() &&
         CRYPTO_memcmp(expected.data(), got.data(), expected.size()) == 0;
}

std::optional<Goodbye> check_hello(const Hello& peer, std::string_view mesh,
                                   std::string_view self) {
  if (peer.version != kProtocolVersion)
    return Goodbye{GoodbyeCode::version_mismatch, "protocol version " +
                                                      std::to_string(peer.version) + " is not " +
                                                      std::to_string(kProtocolVersion)};
  if (peer.mesh != mesh)
    return Goodbye{
        GoodbyeCode::wrong_mesh,
        "mesh \"" + peer.mesh + "\" is not this node's mesh \"" + std::string(mesh) + "\""};
  if (!valid_name(peer.node))
    return Goodbye{GoodbyeCode::protocol_error, "node name \"" + peer.node + "\" is not valid"};
  if (peer.node == self)
    return Goodbye{GoodbyeCode::same_node, "the peer has this node's name \"" + peer.node + "\""};
  return std::nullopt;
}

}  // namespace skein::mesh
