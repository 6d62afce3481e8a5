// Q4_0 and Q8_0 weights times a batch of float activations with AVX-512 VNNI (or AVX2's vpmaddubsw where
// the CPU has no AVX-512: int8_gemm_avx2.cpp), one weight read for all tokens (prefill, the decode batch's matrix-matrix product, and single-token decode alike). The weights
// are read in int8_pack.h's interleaved layout: the copy LlamaModel makes at load time
// (WeightView::packed), or, for a weight without one, each 16-row group packed into scratch per call.
// A group is one stream read front to back; one 512-bit vpdpbusd takes 16 rows x 4 weights, 8 tokens
// per pass over the group (then 4, then 1). Activations are quantized once per call to int8 blocks of
// 32 with a float scale; the weight offset (8 or 128) comes off afterwards as offset * sum(activation
// block), so integer block sums are exact.
//
// Batch invariance: a token's outputs are computed by the same instructions in the same order whatever
// the other tokens of the batch are (integer block sums are exact; float accumulation runs over blocks
// in order, one accumulator per token), so a sequence decodes to the same bits alone or batched.
// Threads: call from one thread; work is split over the pool by groups.
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

struct Int8GemmScratch {
  std::vector<int8_t> aq;                  // (n_tokens, cols) quantized activations
  std::vector<float> ad;                   // (n_tokens, cols / 32) block scales
  std::vector<int32_t> ac;                 // (n_tokens, cols / 32) offset * block sums
  std::vector<std::vector<uint8_t>> pack;  // per pool thread: one packed group (weights without a copy)
};

// True when every output has the same type, Q4_0 or Q8_0, rows % 8 == 0, cols % 32 == 0, and the
// engine's kernels run at the avx2 level or above (kernels::detected_isa(), which KUAI_ISA can cap).
bool int8_gemm_supported(std::span<const kernels::MatmulOut> outs);

// Whether the forward pass should take int8_gemm for a product of n_tokens: supported, and for Q8_0
// either every output has its packed copy or there are at least kInt8GemmMinTokensQ8_0 tokens. A Q8_0
// weight packed per call costs a pass over its rows that one token does not repay: kernels::matmul's
// one-row dot reads the stored rows directly.
constexpr int kInt8GemmMinTokensQ8_0 = 16;
bool int8_gemm_preferred(std::span<const kernels::MatmulOut> outs, int n_tokens);

// Same contract as kernels::matmul (y[t][r] = sum_c W[r][c] * x[t][c], every output from the same x).
// Precondition: int8_gemm_supported(outs).
void int8_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
               int n_tokens, Int8GemmScratch& scratch);

namespace detail {
// Token row x (cols floats) -> int8 blocks of 32 with scale d = max|x| / 127, and offset * sum(q) per
// block (offset: what the packed weights carry above their true value, 8 for Q4_0, 128 for Q8_0).
void int8_quantize_row(const float* x, int64_t cols, int32_t offset, int8_t* q, float* d, int32_t* c);
// The same with AVX-512 / AVX2 (the same bits; call only at that level).
void int8_quantize_row_avx512(const float* x, int64_t cols, int32_t offset, int8_t* q, float* d, int32_t* c);
void int8_quantize_row_avx2(const float* x, int64_t cols, int32_t offset, int8_t* q, float* d, int32_t* c);
// n tokens (aq: (n, nb * 32), ad / ac: (n, nb)) against one packed group `g` of Q4_0 or Q8_0 rows,
// int8_pack.h's layout; rows (8 or 16) of the group are stored: y[t * ys + r]. The AVX-512 kernel and
// its plain C++ twin: the same exact integer block sums, then per row and token in block order
// acc = fma(d_w * d_a, float(sum - ac), acc), so both give the same bits.
void int8_group_avx512(GgmlType type, const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad,
                       const int32_t* ac, int n, float* y, size_t ys);
// Two groups at once (g0 of 16 rows, g1 of rows1; outputs y0 and y1 at stride ys): the same bits as
// int8_group_avx512 on each.
void int8_group_pair_avx512(GgmlType type, const uint8_t* g0, const uint8_t* g1, int rows1, int nb, const int8_t* aq,
                            const float* ad, const int32_t* ac, int n, float* y0, float* y1, size_t ys);
// The AVX2 kernel (int8_gemm_avx2.cpp): the same bits as the plain twin.
void int8_group_avx2(GgmlType type, const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad,
                     const int32_t* ac, int n, float* y, size_t ys);
void int8_group_ref(GgmlType type, const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad,
                    const int32_t* ac, int n, float* y, size_t ys);
}  // namespace detail

}  // namespace kuai::engine::model
