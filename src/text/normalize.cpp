#include "text/normalize.h"

#include "text/utf8.h"

#include <utf8proc.h>

#include <cstdlib>

namespace kuai::text {
namespace {

bool ascii_only(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

}  // namespace

std::string normalize(std::string_view in) {
  if (ascii_only(in)) {
    // NFKC of ASCII is itself; case folding is lowercasing. Control chars pass through as utf8proc does.
    std::string out(in);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    return out;
  }
  std::string valid = utf8_sanitize(in);
  utf8proc_uint8_t* buf = nullptr;
  auto opts = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
                                             UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                                    static_cast<utf8proc_ssize_t>(valid.size()), &buf, opts);
  if (n < 0) {  // cannot happen for sanitized input; keep the text rather than lose it
    std::free(buf);
    return valid;
  }
  std::string out(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
  std::free(buf);
  return out;
}

}  // namespace kuai::text
