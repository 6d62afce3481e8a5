// An Entry as text, for sharing through Redis: JSON with the vector as base64 of its little-endian
// float32 bytes. Features are not stored: decode recomputes them from the query text.
// Pure; any thread.
#pragma once

#include "cache/store.h"

#include <optional>
#include <string>
#include <string_view>

namespace kuai::cache {

std::string encode_entry(const Entry& e);
// nullopt on malformed input (never throws).
std::optional<Entry> decode_entry(std::string_view text);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace kuai::cache
