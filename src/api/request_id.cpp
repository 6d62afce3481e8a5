#include "api/request_id.h"

#include <fmt/format.h>

#include <cstdint>
#include <random>

namespace kuai::api {

std::string new_request_id(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  return fmt::format("{}{:016x}{:08x}", prefix, a, b >> 32);
}

}  // namespace kuai::api
