// The JSON error body every HTTP endpoint answers with:
//   {"error": "<stable code>", "message": "<what went wrong>", ...extra}
#pragma once

#include <string>
#include <string_view>

#include "core/topic_names.hpp"

namespace skein::http {

std::string json_error(std::string_view code, std::string_view message);

// {"error":"invalid_topic"|"invalid_filter", "rule":"<rule id>", "offset":N, "message":...}
std::string json_name_error(std::string_view code, const core::NameError& error);

}  // namespace skein::http
