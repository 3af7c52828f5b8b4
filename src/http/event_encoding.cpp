// SSE and JSON renderings of an event; base64 through OpenSSL's EVP codec.
#include "http/event_encoding.hpp"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "core/utf8.hpp"

namespace skein::http {

bool is_text_payload(std::string_view payload) {
  return payload.find('\r') == std::string_view::npos &&
         payload.find('\0') == std::string_view::npos && !payload.starts_with(kBase64Marker) &&
         core::is_valid_utf8(payload);
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  if (text.size() % 4 != 0) return false;
  out.assign(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return false;
  // EVP_DecodeBlock counts padding as zero bytes: drop them.
  std::size_t size = static_cast<std::size_t>(n);
  if (text.ends_with("=="))
    size -= 2;
  else if (text.ends_with("="))
    size -= 1;
  out.resize(size);
  return true;
}

void append_sse(const core::Event& event, std::string& out) {
  out += "id: ";
  out += std::to_string(event.origin.sequence);
  out += "\nevent: ";
  out += event.topic;
  out += '\n';
  if (!is_text_payload(event.payload)) {
    out += "data: ";
    out += kBase64Marker;
    out += base64_encode(event.payload);
    out += "\n\n";
    return;
  }
  std::string_view rest = event.payload;
  for (;;) {
    const std::size_t newline = rest.find('\n');
    out += "data: ";
    out += rest.substr(0, newline);
    out += '\n';
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  out += '\n';
}

std::string to_json(const core::Event& event) {
  nlohmann::json j;
  j["topic"] = event.topic;
  j["id"] = std::to_string(event.origin.sequence);
  j["origin"] = event.origin.node;
  j["timestamp"] = event.timestamp_ms;
  if (event.key) {
    if (is_text_payload(*event.key))
      j["key"] = *event.key;
    else
      j["key_base64"] = base64_encode(*event.key);
  }
  if (!event.content_type.empty()) j["content_type"] = event.content_type;
  if (!event.headers.empty()) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& h : event.headers) headers[h.name] = h.value;
    j["headers"] = std::move(headers);
  }
  if (is_text_payload(event.payload))
    j["payload"] = event.payload;
  else
    j["payload_base64"] = base64_encode(event.payload);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace skein::http

namespace skein::http {

namespace {
constexpr unsigned kSseSlot = 0;
constexpr unsigned kJsonSlot = 1;
}  // namespace

const std::string& cached_sse(const core::Event& event) {
  return event.encodings.get(kSseSlot, [&event] {
    std::string out;
    append_sse(event, out);
    return out;
  });
}

const std::string& cached_json(const core::Event& event) {
  return event.encodings.get(kJsonSlot, [&event] { return to_json(event); });
}

}  // namespace skein::http
