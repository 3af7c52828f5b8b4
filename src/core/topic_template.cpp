// Parsing, rendering and the coverage filter of stream topic templates
// (topic_template.hpp).
//
// parse() splits the text once into literal and placeholder pieces, so render()
// is a concatenation and one check_topic of the result, with no scanning of the
// template.
#include "core/topic_template.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "core/topic_names.hpp"
#include "core/utf8.hpp"

namespace skein::core {
namespace {

constexpr std::string_view kPlaceholders =
    "placeholders are {key}, {partition} and {header:NAME}; '{' and '}' appear only in them";
constexpr std::string_view kHeaderPrefix = "header:";

// How much of a placeholder an error message quotes.
constexpr std::size_t kQuoteBytes = 64;

// `text` made printable for an error message that may end up in JSON or a log:
// well-formed non-ASCII characters stay, control characters and ill-formed bytes
// become \xHH, and text longer than kQuoteBytes is cut (after a whole character)
// and followed by "...".
std::string printable(std::string_view text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  std::size_t i = 0;
  while (i < text.size() && i < kQuoteBytes) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      // Take the longest well-formed sequence (2..4 bytes) that starts here.
      std::size_t len = 0;
      for (std::size_t n = 2; n <= 4 && i + n <= text.size(); ++n) {
        if (is_valid_utf8(text.substr(i, n))) len = n;
      }
      if (len > 0) {
        out.append(text.substr(i, len));
        i += len;
        continue;
      }
    }
    if (c < 0x20 || c >= 0x7F) {
      out += "\\x";
      out += kDigits[c >> 4];
      out += kDigits[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  if (i < text.size()) out += "...";
  return out;
}

void fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
}

std::string at_byte(std::size_t offset) {
  return " at byte " + std::to_string(offset);
}

}  // namespace

std::optional<TopicTemplate> TopicTemplate::parse(std::string_view text, std::string* error) {
  TopicTemplate result;
  result.text_ = std::string(text);
  auto& pieces = result.pieces_;
  auto add_literal = [&](std::string_view literal) {
    if (!pieces.empty() && pieces.back().kind == Kind::literal) {
      pieces.back().text += literal;
    } else {
      pieces.push_back({Kind::literal, std::string(literal)});
    }
  };

  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t special = text.find_first_of("{}", i);
    if (special == std::string_view::npos) {
      add_literal(text.substr(i));
      break;
    }
    if (special > i) add_literal(text.substr(i, special - i));
    if (text[special] == '}') {
      fail(error, "unmatched '}'" + at_byte(special) + " (" + std::string(kPlaceholders) + ")");
      return std::nullopt;
    }
    const std::size_t close = text.find('}', special + 1);
    const std::string_view inner =
        text.substr(special + 1,
                    close == std::string_view::npos ? std::string_view::npos : close - special - 1);
    const bool header = inner.starts_with(kHeaderPrefix);
    // A header name may hold '{'; elsewhere a second '{' means the first was
    // never closed, which says more than "unknown placeholder {a{key}".
    if (close == std::string_view::npos || (!header && inner.find('{') != std::string_view::npos)) {
      fail(error, "unclosed '{'" + at_byte(special) + " (" + std::string(kPlaceholders) + ")");
      return std::nullopt;
    }
    if (inner == "key") {
      pieces.push_back({Kind::key, {}});
      result.uses_key_ = true;
    } else if (inner == "partition") {
      pieces.push_back({Kind::partition, {}});
      result.uses_partition_ = true;
    } else if (header) {
      const std::string_view name = inner.substr(kHeaderPrefix.size());
      if (name.empty()) {
        fail(error, "empty header name in {header:}" + at_byte(special) +
                        " (write {header:NAME} with the name of a record header)");
        return std::nullopt;
      }
      if (const std::size_t bad = find_invalid_utf8(name); bad != std::string_view::npos) {
        fail(error, "invalid UTF-8 in header name {header:" + printable(name) + "}" +
                        at_byte(special + 1 + kHeaderPrefix.size() + bad) +
                        " (header names are UTF-8 strings)");
        return std::nullopt;
      }
      pieces.push_back({Kind::header, std::string(name)});
      result.uses_headers_ = true;
    } else {
      fail(error, "unknown placeholder {" + printable(inner) + "}" + at_byte(special) + " (" +
                      std::string(kPlaceholders) + ")");
      return std::nullopt;
    }
    i = close + 1;
  }

  // Every value is at least one byte with no '/' in the sample, so a sample that
  // fails says the literal text is at fault (or the template is too long even
  // with one-byte values).
  std::string sample;
  for (const Piece& piece : pieces) {
    switch (piece.kind) {
      case Kind::literal:
        sample += piece.text;
        break;
      case Kind::key:
      case Kind::header:
        sample += 'x';
        break;
      case Kind::partition:
        sample += '0';
        break;
    }
  }
  if (auto invalid = check_topic(sample, Publisher::client)) {
    fail(error,
         "the template renders no valid topic (with \"x\" for {key} and headers, \"0\" for "
         "{partition}): " +
             invalid->message);
    return std::nullopt;
  }

  // The coverage filter, level by level, until the first level whose extent
  // depends on a value that may contain '/'.
  std::string& coverage = result.coverage_;
  std::string level;
  bool level_has_partition = false;
  auto end_level = [&] {
    if (!coverage.empty()) coverage += '/';
    coverage += level_has_partition ? std::string_view("*") : std::string_view(level);
    level.clear();
    level_has_partition = false;
  };
  bool tail = false;
  for (const Piece& piece : pieces) {
    if (piece.kind == Kind::key || piece.kind == Kind::header) {
      tail = true;
      break;
    }
    if (piece.kind == Kind::partition) {
      level_has_partition = true;
      continue;
    }
    for (const char c : piece.text) {
      if (c == '/') {
        end_level();
      } else {
        level += c;
      }
    }
  }
  if (tail) {
    // The level being built is cut short: '>' stands for it and all after it.
    coverage += coverage.empty() ? ">" : "/>";
  } else {
    end_level();
  }
  return result;
}

std::optional<std::string> TopicTemplate::render(std::optional<std::string_view> key,
                                                 std::int32_t partition,
                                                 const HeaderLookup& headers) const {
  // Checked at parse: a constant template is a valid topic.
  if (constant()) return text_;
  std::string topic;
  topic.reserve(std::min(text_.size() + 16, kMaxNameBytes));
  // False, before copying anything, when `part` would make the topic too long:
  // a huge key or header value costs nothing.
  auto append = [&topic](std::string_view part) {
    if (part.size() > kMaxNameBytes - topic.size()) return false;
    topic += part;
    return true;
  };
  for (const Piece& piece : pieces_) {
    bool fits = true;
    switch (piece.kind) {
      case Kind::literal:
        fits = append(piece.text);
        break;
      case Kind::key:
        if (!key) return std::nullopt;
        fits = append(*key);
        break;
      case Kind::partition: {
        char digits[16];
        const auto end = std::to_chars(digits, digits + sizeof digits, partition).ptr;
        fits = append(std::string_view(digits, static_cast<std::size_t>(end - digits)));
        break;
      }
      case Kind::header: {
        if (!headers) return std::nullopt;
        const std::optional<std::string_view> value = headers(piece.text);
        if (!value) return std::nullopt;
        fits = append(*value);
        break;
      }
    }
    if (!fits) return std::nullopt;
  }
  if (check_topic(topic, Publisher::client)) return std::nullopt;
  return topic;
}

}  // namespace skein::core
