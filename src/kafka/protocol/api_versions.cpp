// ApiVersions answers from the table of served APIs (api_versions.hpp).
#include "kafka/protocol/api_versions.hpp"

#include "kafka/protocol/apis.hpp"
#include "kafka/protocol/error_codes.hpp"
#include "kafka/protocol/request_header.hpp"

namespace skein::kafka {

namespace {

messages::ApiVersionsResponse::ApiVersion entry(const ApiInfo& api) {
  messages::ApiVersionsResponse::ApiVersion v;
  v.api_key = api.key;
  v.min_version = api.versions.min;
  v.max_version = api.versions.max;
  return v;
}

}  // namespace

messages::ApiVersionsResponse api_versions_response(std::int16_t error_code) {
  messages::ApiVersionsResponse response;
  response.error_code = error_code;
  for (const ApiInfo& api : supported_apis()) response.api_keys.push_back(entry(api));
  return response;
}

bool write_unsupported_api_versions(Writer& writer, std::int32_t correlation_id) {
  messages::ApiVersionsResponse response;
  response.error_code = code(ErrorCode::unsupported_version);
  response.api_keys.push_back(entry(*find_api(messages::ApiVersionsRequest::kApiKey)));
  return write_response_frame(writer, 0, correlation_id, response);
}

}  // namespace skein::kafka
