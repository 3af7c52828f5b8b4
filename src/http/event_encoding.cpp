// SSE and JSON renderings of an event; base64 through OpenSSL's EVP codec.
#include "http/event_encoding.hpp"

#include <openssl/evp.h>

#include "core/utf8.hpp"
#include "http/json_text.hpp"

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
  out += event.position ? event.position->cursor : std::to_string(event.origin.sequence);
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
  std::string out;
  out.reserve(event.payload.size() + event.topic.size() + 128);
  out += "{\"topic\":";
  append_json_string(out, event.topic);
  out += ",\"id\":\"";
  out += event.position ? event.position->cursor : std::to_string(event.origin.sequence);
  out += "\",\"origin\":";
  append_json_string(out, event.origin.node);
  out += ",\"timestamp\":";
  out += std::to_string(event.timestamp_ms);
  if (event.position) {
    out += ",\"stream\":";
    append_json_string(out, event.position->stream);
    out += ",\"partition\":" + std::to_string(event.position->partition) +
           ",\"offset\":" + std::to_string(event.position->offset);
  }
  if (event.key) {
    const bool text = is_text_payload(*event.key);
    out += text ? ",\"key\":" : ",\"key_base64\":";
    append_json_string(out, text ? *event.key : base64_encode(*event.key));
  }
  if (!event.content_type.empty()) {
    out += ",\"content_type\":";
    append_json_string(out, event.content_type);
  }
  if (!event.headers.empty()) {
    out += ",\"headers\":{";
    for (std::size_t i = 0; i < event.headers.size(); ++i) {
      if (i > 0) out += ',';
      append_json_string(out, event.headers[i].name);
      out += ':';
      append_json_string(out, event.headers[i].value);
    }
    out += '}';
  }
  const bool text = is_text_payload(event.payload);
  out += text ? ",\"payload\":" : ",\"payload_base64\":";
  // is_text_payload has validated the text; base64 is ASCII.
  append_json_string_valid(out,
                           text ? std::string_view(event.payload) : base64_encode(event.payload));
  out += '}';
  return out;
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
