// The broker's side of ApiVersions, built from the generated table of served
// APIs (apis.hpp) so that what a client is told and what the codec can decode
// never drift apart: "ApiVersions answers truthfully".
//
// A request at a version we serve gets api_versions_response() in that
// version. A request at a version we do not serve (a newer client) gets, as
// KIP-511 specifies, an UNSUPPORTED_VERSION error in the v0 layout, listing
// only ApiVersions' own range, from which the client picks a version to retry
// with. Bytes only: no sockets.
#pragma once

#include <cstdint>

#include "kafka/protocol/messages/api_versions.hpp"
#include "kafka/protocol/writer.hpp"

namespace skein::kafka {

// Every served API with its version range, and `error_code`.
messages::ApiVersionsResponse api_versions_response(std::int16_t error_code = 0);

// Writes the whole response frame for an ApiVersions request whose version is
// not served: header v0, v0 body, UNSUPPORTED_VERSION. Returns writer.ok().
bool write_unsupported_api_versions(Writer& writer, std::int32_t correlation_id);

}  // namespace skein::kafka
