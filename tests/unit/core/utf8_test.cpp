// UTF-8 validation, including the ASCII fast path's 8-byte boundaries: an
// ill-formed byte is found at its exact offset wherever it falls.
#include "core/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

namespace skein::core {
namespace {

TEST(Utf8, ValidTextOfEveryLength) {
  for (std::size_t n = 0; n < 40; ++n) EXPECT_TRUE(is_valid_utf8(std::string(n, 'a'))) << n;
  EXPECT_TRUE(
      is_valid_utf8("0123456789abcdef caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"));
}

TEST(Utf8, FindsTheFirstBadByteAtEveryOffset) {
  for (std::size_t at = 0; at < 33; ++at) {
    std::string text(40, 'x');
    text[at] = '\xff';
    EXPECT_EQ(find_invalid_utf8(text), at);
    text[at] = '\xc3';  // a lead byte followed by ASCII: truncated sequence
    EXPECT_EQ(find_invalid_utf8(text), at);
  }
}

TEST(Utf8, RefusesOverlongSurrogatesAndOutOfRange) {
  EXPECT_EQ(find_invalid_utf8("abcdefgh\xc0\xaf"), 8u);             // overlong '/'
  EXPECT_EQ(find_invalid_utf8("abcdefghi\xed\xa0\x80"), 9u);        // U+D800
  EXPECT_EQ(find_invalid_utf8("abcdefghij\xf4\x90\x80\x80"), 10u);  // > U+10FFFF
  EXPECT_EQ(find_invalid_utf8("abcdefgh\xe2\x82"), 8u);             // truncated at the end
  EXPECT_EQ(find_invalid_utf8("\x80"), 0u);                         // stray continuation
}

}  // namespace
}  // namespace skein::core
