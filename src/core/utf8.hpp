// UTF-8 well-formedness (RFC 3629): no overlong forms, no UTF-16 surrogates,
// nothing above U+10FFFF, no truncated sequence.
#pragma once

#include <cstddef>
#include <string_view>

namespace skein::core {

// The byte offset of the first ill-formed sequence, or npos when `text` is valid.
std::size_t find_invalid_utf8(std::string_view text);

inline bool is_valid_utf8(std::string_view text) {
  return find_invalid_utf8(text) == std::string_view::npos;
}

}  // namespace skein::core
