// Text normalisation for matching (cache keys, phrase lists, keyword counts): Unicode NFKC with full
// case folding (so "ＡＢＣ" == "abc", "Straße" == "strasse"), default-ignorable code points removed,
// invalid UTF-8 bytes replaced by U+FFFD first. Output is valid UTF-8. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace kuai::text {

std::string normalize(std::string_view utf8);

}  // namespace kuai::text
