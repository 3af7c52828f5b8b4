// Writing JSON text directly, for the fixed shapes the HTTP face sends on its
// hot paths (an event per subscriber, a 202 per publish), where building a
// nlohmann::json object first cost more than the rest of the publish.
#pragma once

#include <string>
#include <string_view>

namespace skein::http {

// Appends `text` as a JSON string literal, quotes included. Escapes '"', '\'
// and control characters; an ill-formed UTF-8 sequence becomes U+FFFD, so the
// output is always valid JSON.
void append_json_string(std::string& out, std::string_view text);

// The same for text already known to be valid UTF-8 (no second validation).
void append_json_string_valid(std::string& out, std::string_view text);

}  // namespace skein::http
