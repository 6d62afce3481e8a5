// Q4_0 weights times a batch of float activations, one weight read for all tokens (the decode batch's
// matrix-matrix product). Each work item packs 16 weight rows once (a weight's last group of 8 is padded
// with zero rows) — nibbles to bytes, transposed so one 32-bit lane holds 4 consecutive weights of one
// row — and then runs every token against the packed tile with AVX-512 VNNI (vpdpbusd on zmm: 16 rows x
// 4 weights per instruction). One token skips the packing and reads the rows directly. Activations are
// quantized once per call to int8 blocks of 32 with a float scale. Q4_0 nibbles are used unsigned
// (q in [0, 15]); the -8 offset comes off afterwards as 8 * sum(activation block).
//
// Batch invariance: a token's outputs are computed by the same instructions in the same order whatever
// the other tokens of the batch are (integer block sums are exact; float accumulation runs over blocks
// in order, one accumulator per token; every path does the same per-row steps), so a sequence decodes to
// the same bits alone or batched. Threads: call from one thread; work is split over the pool by tiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/kernels/matmul.h"

namespace kuai::engine {
class ThreadPool;
}

namespace kuai::engine::model {

struct Q4GemmScratch {
  std::vector<int8_t> aq;                  // (n_tokens, cols) quantized activations
  std::vector<float> ad;                   // (n_tokens, cols / 32) block scales
  std::vector<int32_t> ac;                 // (n_tokens, cols / 32) 8 * block sums
  std::vector<std::vector<uint8_t>> pack;  // per pool thread: one packed tile
};

// True when every output is Q4_0 with rows % 8 == 0 and cols % 32 == 0 and the CPU has AVX-512 VNNI
// (the engine's kernels run at the avx512 level).
bool q4_0_gemm_supported(std::span<const kernels::MatmulOut> outs);

// Same contract as kernels::matmul (y[t][r] = sum_c W[r][c] * x[t][c], every output from the same x).
// Precondition: q4_0_gemm_supported(outs).
void q4_0_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
               int n_tokens, Q4GemmScratch& scratch);

namespace detail {
// Rows [0, rows) of `w` (rows = 8 or 16; Q4_0 rows, nb blocks each, row_bytes apart) for n tokens:
// y[t * ys + r]. pack: at least nb * 576 + 16 * row_bytes bytes, 64-byte aligned.
void q4_0_tile_avx512(const uint8_t* w, size_t row_bytes, int rows, int nb, const int8_t* aq, const float* ad,
                      const int32_t* ac, int n, float* y, size_t ys, uint8_t* pack);
}  // namespace detail

}  // namespace kuai::engine::model
