// Where tests find what they need: the kuai binary under test, ../shared (models, tokenizer vectors)
// and the source tree (tests/data). Each reads its environment variable first (KUAI_BIN, KUAI_SHARED,
// KUAI_SOURCE_DIR) and otherwise falls back to the paths CMake configured, so a test run straight from
// the build folder, by ctest or by hand, finds the same files.
#pragma once

#include <string>

namespace kuai::test {

std::string kuai_bin();
std::string shared_dir();
std::string source_dir();

}  // namespace kuai::test
