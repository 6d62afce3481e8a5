// Parses byte sizes written by people: "512MiB", "1GiB", "64MB", "4096" (bytes). Binary (KiB, MiB,
// GiB) and decimal (KB, MB, GB) suffixes, case-insensitive, optional space. Errors are returned.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kuai::engine::kv {

// Bytes, or nullopt (with `error` set when given) for an empty, negative, malformed or overflowing size.
std::optional<uint64_t> parse_byte_size(std::string_view text, std::string* error = nullptr);

}  // namespace kuai::engine::kv
