// GGML tensor element types, with the numeric ids that GGUF files store (so a file written by
// another tool reads the same here). Header-only and constexpr: no allocation, safe from any thread.
//
// A tensor row of `n` elements of a quantized type is n / block_size blocks of type_size bytes
// each; n must be a multiple of block_size (checked by the GGUF reader for every tensor's ne[0]).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kuai::engine {

// Ids are GGUF's (ggml.h `enum ggml_type`). Gaps are ids that upstream removed; they are unknown here.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

// Elements per super-block of the K-quants (Q2_K … Q8_K) and the IQ types.
inline constexpr uint32_t kQK_K = 256;

struct GgmlTypeTraits {
  std::string_view name;   // lower-case, as llama.cpp prints it: "f32", "q4_k", "bf16" …
  uint32_t block_size;     // elements per block (1 for plain types)
  uint32_t type_size;      // bytes per block
  bool quantized;          // true for block-quantized types
};

namespace detail {
struct GgmlTypeRow {
  uint32_t id;
  GgmlTypeTraits traits;
};
inline constexpr GgmlTypeRow kGgmlTypeTable[] = {
    {0, {"f32", 1, 4, false}},
    {1, {"f16", 1, 2, false}},
    {2, {"q4_0", 32, 2 + 16, true}},
    {3, {"q4_1", 32, 2 + 2 + 16, true}},
    {6, {"q5_0", 32, 2 + 4 + 16, true}},
    {7, {"q5_1", 32, 2 + 2 + 4 + 16, true}},
    {8, {"q8_0", 32, 2 + 32, true}},
    {9, {"q8_1", 32, 2 + 2 + 32, true}},
    {10, {"q2_k", kQK_K, 16 + 64 + 2 + 2, true}},
    {11, {"q3_k", kQK_K, 32 + 64 + 12 + 2, true}},
    {12, {"q4_k", kQK_K, 2 + 2 + 12 + 128, true}},
    {13, {"q5_k", kQK_K, 2 + 2 + 12 + 32 + 128, true}},
    {14, {"q6_k", kQK_K, 128 + 64 + 16 + 2, true}},
    {15, {"q8_k", kQK_K, 4 + 256 + 32, true}},
    {16, {"iq2_xxs", kQK_K, 2 + 64, true}},
    {17, {"iq2_xs", kQK_K, 2 + 64 + 8, true}},
    {18, {"iq3_xxs", kQK_K, 2 + 64 + 32, true}},
    {19, {"iq1_s", kQK_K, 2 + 32 + 16, true}},
    {20, {"iq4_nl", 32, 2 + 16, true}},
    {21, {"iq3_s", kQK_K, 2 + 64 + 32 + 8 + 4, true}},
    {22, {"iq2_s", kQK_K, 2 + 64 + 16, true}},
    {23, {"iq4_xs", kQK_K, 2 + 2 + 4 + 128, true}},
    {24, {"i8", 1, 1, false}},
    {25, {"i16", 1, 2, false}},
    {26, {"i32", 1, 4, false}},
    {27, {"i64", 1, 8, false}},
    {28, {"f64", 1, 8, false}},
    {29, {"iq1_m", kQK_K, 32 + 16 + 8, true}},
    {30, {"bf16", 1, 2, false}},
    {34, {"tq1_0", kQK_K, 48 + 4 + 2, true}},
    {35, {"tq2_0", kQK_K, 64 + 2, true}},
    {39, {"mxfp4", 32, 1 + 16, true}},
};
}  // namespace detail

// Traits of a raw id read from a file; nullopt for ids this build does not know.
constexpr std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t id) {
  for (const auto& row : detail::kGgmlTypeTable)
    if (row.id == id) return row.traits;
  return std::nullopt;
}

constexpr bool ggml_type_known(uint32_t id) { return ggml_type_traits(id).has_value(); }

// Traits of an enum value (always known).
constexpr GgmlTypeTraits ggml_type_traits(GgmlType type) { return *ggml_type_traits(static_cast<uint32_t>(type)); }

constexpr std::string_view ggml_type_name(GgmlType type) { return ggml_type_traits(type).name; }
constexpr uint32_t ggml_block_size(GgmlType type) { return ggml_type_traits(type).block_size; }
constexpr uint32_t ggml_type_size(GgmlType type) { return ggml_type_traits(type).type_size; }
constexpr bool ggml_is_quantized(GgmlType type) { return ggml_type_traits(type).quantized; }

// Parses a name as printed by ggml_type_name ("q4_k", "F16" — case-insensitive).
constexpr std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  for (const auto& row : detail::kGgmlTypeTable) {
    const auto& n = row.traits.name;
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i) same = lower(name[i]) == n[i];
    if (same) return static_cast<GgmlType>(row.id);
  }
  return std::nullopt;
}

// Bytes of a row of `n` elements. Precondition: n % ggml_block_size(type) == 0 (callers working on
// tensors from the reader get this guaranteed for ne[0]).
constexpr uint64_t row_bytes(GgmlType type, uint64_t n) {
  const auto t = ggml_type_traits(type);
  return n / t.block_size * t.type_size;
}

static_assert(ggml_type_size(GgmlType::Q4_K) == 144);
static_assert(ggml_type_size(GgmlType::Q6_K) == 210);
static_assert(ggml_type_size(GgmlType::Q8_K) == 292);
static_assert(row_bytes(GgmlType::Q8_0, 64) == 68);

}  // namespace kuai::engine
