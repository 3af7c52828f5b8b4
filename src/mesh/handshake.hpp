// The link handshake's checks (docs/mesh-protocol.md "Handshake"): each side
// sends HELLO with a fresh random nonce, checks the peer's HELLO, then proves
// that it knows the mesh secret with PROOF = HMAC-SHA256(secret, context),
// where the context binds the mesh, both node names in the prover's order and
// both nonces, so a proof can be neither replayed on another link nor sent
// back to its maker.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mesh/frame.hpp"

namespace skein::mesh {

// kNonceBytes from the system's random source.
std::string make_nonce();

// What `prover` sends to `verifier`: the prover's own nonce and the one the
// verifier sent it.
std::string make_proof(std::string_view secret, std::string_view mesh, std::string_view prover,
                       std::string_view verifier, std::string_view prover_nonce,
                       std::string_view verifier_nonce);

// Compares in constant time.
bool proof_matches(std::string_view expected, std::string_view got);

// Why this node refuses the peer's HELLO, or nullopt to go on.
std::optional<Goodbye> check_hello(const Hello& peer, std::string_view mesh, std::string_view self);

}  // namespace skein::mesh
