// Quantized block layouts, byte-for-byte the same as ggml's (so GGUF files from other tools load as-is).
// A row of n weights of a block type is n / block_size blocks laid end to end, no padding.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kuai::engine::kernels {

constexpr int kQK8_0 = 32;  // weights per Q8_0 block
constexpr int kQK4_0 = 32;  // weights per Q4_0 block
constexpr int kQK_K = 256;  // weights per K-quant super-block
constexpr int kKScaleBytes = 12;

// Q8_0: x = d * q, q in [-127, 127]. 34 bytes / 32 weights.
struct BlockQ8_0 {
  uint16_t d;  // binary16 scale
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q4_0: x = d * (q - 8), q in [0, 15]; qs[j] holds element j (low nibble) and element j+16 (high nibble).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_K: 8 sub-blocks of 32; x = d * sc[j] * q - dmin * m[j]; sc, m are 6-bit, packed in `scales`.
// qs: for each 64-element chunk c, 32 bytes: low nibbles = elements 64c..64c+31, high = 64c+32..64c+63.
struct BlockQ4_K {
  uint16_t d;     // binary16 super-scale for the sub-block scales
  uint16_t dmin;  // binary16 super-scale for the sub-block mins
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Q6_K: 16 sub-blocks of 16; x = d * scales[j] * (q - 32), q 6-bit (4 low bits in ql, 2 high in qh).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Q8_K: activations only (never stored in files): x = d * q; bsums[j] = sum of q over 16-element group j.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// Q4_K scale/min unpacking for sub-block j (0..7), as ggml packs them.
inline void q4k_scale_min(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace kuai::engine::kernels
