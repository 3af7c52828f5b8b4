// The JSON string escaper: copies runs that need no escaping in one append.
#include "http/json_text.hpp"

#include "core/utf8.hpp"

namespace skein::http {

namespace {
constexpr char kHex[] = "0123456789abcdef";

// `text` is valid UTF-8 here.
void append_escaped(std::string& out, std::string_view text) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(text.data() + run, text.size() - run);
}
}  // namespace

void append_json_string_valid(std::string& out, std::string_view text) {
  out += '"';
  append_escaped(out, text);
  out += '"';
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (;;) {
    const std::size_t bad = core::find_invalid_utf8(text);
    if (bad == std::string_view::npos) break;
    append_escaped(out, text.substr(0, bad));
    out += "\\ufffd";
    text.remove_prefix(bad + 1);
  }
  append_escaped(out, text);
  out += '"';
}

}  // namespace skein::http
