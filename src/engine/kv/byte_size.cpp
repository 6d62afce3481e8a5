#include "engine/kv/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace kuai::engine::kv {

namespace {

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace

std::optional<uint64_t> parse_byte_size(std::string_view text, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<uint64_t> {
    if (error) *error = std::string(why) + ": '" + std::string(text) + "' (e.g. 512MiB, 2GiB, 100MB)";
    return std::nullopt;
  };
  const std::string s = lower(text);
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return fail("not a byte size");
  const std::string number = s.substr(0, i);
  const std::string unit = s.substr(i);
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value) || value < 0) return fail("not a byte size");
  double mult = 0;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kib") mult = 1024.0;
  else if (unit == "m" || unit == "mib") mult = 1024.0 * 1024;
  else if (unit == "g" || unit == "gib") mult = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tib") mult = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb") mult = 1e3;
  else if (unit == "mb") mult = 1e6;
  else if (unit == "gb") mult = 1e9;
  else if (unit == "tb") mult = 1e12;
  else return fail("unknown byte-size unit");
  const double bytes = value * mult;
  if (bytes >= 1.8e19) return fail("byte size too large");
  return uint64_t(bytes);
}

}  // namespace kuai::engine::kv
