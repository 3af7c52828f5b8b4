// Request and response headers and frames (the public protocol guide's
// "Headers" section). A frame is an int32 size, then the header, then the body:
//
//   request header v1   api_key int16 | api_version int16 | correlation_id int32
//                       | client_id nullable string (int16 length)
//   request header v2   v1 + a tagged-field section
//   response header v0  correlation_id int32
//   response header v1  v0 + a tagged-field section
//
// The header version follows from the API's flexible versions: a flexible
// request has header v2 and its response header v1, except ApiVersions,
// whose response header stays v0 in every version (a client reads it before
// it knows what the broker speaks). client_id stays a classic int16-length
// string even in header v2: the header's definition is never flexible in that
// field, unlike every other string of a flexible request.
//
// Header v0 (no client_id) exists only for ControlledShutdown v0, which no
// client sends; it is not handled. Bytes only: no sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "kafka/protocol/apis.hpp"
#include "kafka/protocol/types.hpp"
#include "kafka/protocol/writer.hpp"

namespace skein::kafka {

struct RequestHeader {
  std::int16_t api_key = 0;
  std::int16_t api_version = 0;
  std::int32_t correlation_id = 0;
  std::optional<std::string> client_id;

  bool operator==(const RequestHeader&) const = default;
};

enum class HeaderStatus {
  ok,           // the header parsed; the API is served (the version may not be)
  unknown_api,  // an api key we do not serve: disconnect, as Kafka does
  malformed,    // too short or a bad client_id: disconnect
};

struct ParsedRequest {
  HeaderStatus status = HeaderStatus::malformed;
  // api_key, api_version and correlation_id are set whenever the frame holds
  // their eight bytes, unknown APIs included (for logging).
  RequestHeader header;
  // Whether api_version is one we serve. When it is not, an ApiVersions
  // request is answered with write_unsupported_api_versions (api_versions.hpp)
  // and any other request by closing the connection, since no response
  // layout exists for a version we do not know.
  bool version_supported = false;
  std::span<const std::byte> body;  // the rest of the frame, after the header
};

// Parses the header at the start of `frame` (the bytes after the size
// prefix). The header's layout depends on the API and version it names; for a
// version above those served, the API's flexible threshold still decides, as
// flexible ranges are open-ended in the protocol, so the correlation id of any
// ApiVersions request can be read and answered.
ParsedRequest parse_request_header(std::span<const std::byte> frame);

// The versions served for `api_key`, nullopt when the API is not served.
std::optional<VersionRange> supported_versions(std::int16_t api_key);
bool is_supported(std::int16_t api_key, std::int16_t api_version);
// Whether `api_version` of the API uses compact types and tagged fields
// (versions above those served included); false for an unknown API.
bool is_flexible(std::int16_t api_key, std::int16_t api_version);
// 1 or 2.
int request_header_version(std::int16_t api_key, std::int16_t api_version);
// 0 or 1.
int response_header_version(std::int16_t api_key, std::int16_t api_version);

// Writes a request header (for tests, fuzzing and clients of other brokers).
void write_request_header(Writer& writer, const RequestHeader& header);
void write_response_header(Writer& writer, std::int16_t api_key, std::int16_t api_version,
                           std::int32_t correlation_id);

// Writes a whole response frame: size, header, body. Returns writer.ok();
// the size prefix counts file pieces too.
template <class Response>
bool write_response_frame(Writer& writer, std::int16_t api_version, std::int32_t correlation_id,
                          const Response& body) {
  const std::size_t start = writer.size();
  const std::size_t size_at = writer.reserve_int32();
  write_response_header(writer, Response::kApiKey, api_version, correlation_id);
  body.encode(writer, api_version);
  const std::size_t length = writer.size() - start - 4;
  if (length > 0x7FFFFFFF) writer.fail("response frame over 2 GiB");
  writer.patch_int32(size_at, static_cast<std::int32_t>(length));
  return writer.ok();
}
bool write_response_frame(Writer& writer, std::int16_t api_version, std::int32_t correlation_id,
                          const AnyResponse& body);

// Writes a whole request frame (tests, fuzzing). The header's api_key must be
// the body's.
bool write_request_frame(Writer& writer, const RequestHeader& header, const AnyRequest& body);

}  // namespace skein::kafka
