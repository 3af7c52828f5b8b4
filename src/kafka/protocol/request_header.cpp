// Request and response headers and frames (request_header.hpp).
#include "kafka/protocol/request_header.hpp"

#include <utility>

#include "kafka/protocol/reader.hpp"

namespace skein::kafka {

namespace {

constexpr std::int16_t kApiVersionsKey = static_cast<std::int16_t>(ApiKey::api_versions);

}  // namespace

std::optional<VersionRange> supported_versions(std::int16_t api_key) {
  const ApiInfo* api = find_api(api_key);
  if (api == nullptr) return std::nullopt;
  return api->versions;
}

bool is_supported(std::int16_t api_key, std::int16_t api_version) {
  const ApiInfo* api = find_api(api_key);
  return api != nullptr && api->versions.contains(api_version);
}

bool is_flexible(std::int16_t api_key, std::int16_t api_version) {
  const ApiInfo* api = find_api(api_key);
  return api != nullptr && api->flexible_from >= 0 && api_version >= api->flexible_from;
}

int request_header_version(std::int16_t api_key, std::int16_t api_version) {
  return is_flexible(api_key, api_version) ? 2 : 1;
}

int response_header_version(std::int16_t api_key, std::int16_t api_version) {
  if (api_key == kApiVersionsKey) return 0;
  return is_flexible(api_key, api_version) ? 1 : 0;
}

ParsedRequest parse_request_header(std::span<const std::byte> frame) {
  ParsedRequest out;
  Reader reader(frame);
  out.header.api_key = reader.read_int16();
  out.header.api_version = reader.read_int16();
  out.header.correlation_id = reader.read_int32();
  if (!reader.ok()) return out;  // malformed
  const ApiInfo* api = find_api(out.header.api_key);
  if (api == nullptr) {
    out.status = HeaderStatus::unknown_api;
    return out;
  }
  // Never compact, even in header v2 (see the file comment).
  reader.read_nullable_string(out.header.client_id, false);
  if (request_header_version(out.header.api_key, out.header.api_version) >= 2) {
    reader.skip_tagged_fields();  // the header defines no tagged field
  }
  if (!reader.ok()) return out;
  out.status = HeaderStatus::ok;
  out.version_supported = api->versions.contains(out.header.api_version);
  out.body = reader.rest();
  return out;
}

void write_request_header(Writer& writer, const RequestHeader& header) {
  writer.write_int16(header.api_key);
  writer.write_int16(header.api_version);
  writer.write_int32(header.correlation_id);
  writer.write_nullable_string(header.client_id, false);
  if (request_header_version(header.api_key, header.api_version) >= 2) {
    writer.write_unsigned_varint(0);
  }
}

void write_response_header(Writer& writer, std::int16_t api_key, std::int16_t api_version,
                           std::int32_t correlation_id) {
  writer.write_int32(correlation_id);
  if (response_header_version(api_key, api_version) >= 1) writer.write_unsigned_varint(0);
}

bool write_response_frame(Writer& writer, std::int16_t api_version, std::int32_t correlation_id,
                          const AnyResponse& body) {
  return std::visit(
      [&](const auto& message) {
        return write_response_frame(writer, api_version, correlation_id, message);
      },
      body);
}

bool write_request_frame(Writer& writer, const RequestHeader& header, const AnyRequest& body) {
  if (api_key_of(body) != header.api_key) {
    writer.fail("request header and body are of different APIs");
    return false;
  }
  const std::size_t start = writer.size();
  const std::size_t size_at = writer.reserve_int32();
  write_request_header(writer, header);
  encode_message(body, writer, header.api_version);
  const std::size_t length = writer.size() - start - 4;
  if (length > 0x7FFFFFFF) writer.fail("request frame over 2 GiB");
  writer.patch_int32(size_at, static_cast<std::int32_t>(length));
  return writer.ok();
}

}  // namespace skein::kafka
