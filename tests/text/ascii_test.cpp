#include "text/ascii.h"

#include <gtest/gtest.h>

#include <cctype>

namespace kuai::text {
namespace {

// Every byte against <cctype> in the C locale (bytes from 0x80 are in no class).
TEST(AsciiTest, ClassesMatchCtypeForEveryByte) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool ascii = b < 0x80;
    EXPECT_EQ(ascii_alpha(c), ascii && std::isalpha(b) != 0) << b;
    EXPECT_EQ(ascii_upper(c), ascii && std::isupper(b) != 0) << b;
    EXPECT_EQ(ascii_digit(c), ascii && std::isdigit(b) != 0) << b;
    EXPECT_EQ(ascii_alnum(c), ascii && std::isalnum(b) != 0) << b;
    EXPECT_EQ(ascii_space(c), ascii && std::isspace(b) != 0) << b;
    EXPECT_EQ(ascii_hspace(c), ascii && std::isspace(b) != 0 && b != '\n') << b;
    EXPECT_EQ(ascii_lower(c), ascii ? static_cast<char>(std::tolower(b)) : c) << b;
  }
}

}  // namespace
}  // namespace kuai::text
