#include "support/paths.h"

#include <cstdlib>

// The CMake-configured defaults live in this one file so that a clone in another folder recompiles
// only it (the test sources themselves stay ccache hits).
#ifndef KUAI_TEST_BIN
#error "KUAI_TEST_BIN must be defined by the build"
#endif

namespace kuai::test {
namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

std::string kuai_bin() { return env_or("KUAI_BIN", KUAI_TEST_BIN); }
std::string shared_dir() { return env_or("KUAI_SHARED", KUAI_TEST_SHARED_DIR); }
std::string source_dir() { return env_or("KUAI_SOURCE_DIR", KUAI_TEST_SOURCE_DIR); }

}  // namespace kuai::test
