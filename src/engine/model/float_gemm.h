// F32, F16 and BF16 weights times a batch of float activations with AVX-512 FMA (float_gemm_avx2.cpp: the
// same scheme in 8-lane registers, 3 rows x 4 tokens, on CPUs without AVX-512), register-blocked:
// each micro-kernel step keeps 4 weight rows x 6 tokens of 16-float partial sums in 24 zmm registers,
// so one weight vector load feeds 6 FMAs and one activation load feeds 4 (kernels::matmul's 4-row dot
// reloads every weight vector per 4 tokens and every activation per row). Weights and activations are
// both read along the input dimension, as stored, so no packing is needed; F16/BF16 vectors are widened
// to float on load. Work items are tiles of 32 weight rows (128-256 KiB: they stay in the 1-2 MiB L2
// while every token group passes over them), split over the pool by output rows.
//
// Arithmetic per output: one 16-lane accumulator over the input in order (a masked load zero-fills
// the last partial vector), then _mm512_reduce_add_ps. It does not depend on the other tokens of the
// call, so a token's outputs have the same bits in any batch that takes this kernel.
// Threads: call from one thread; work is split over the pool.
#pragma once

#include <cstddef>
#include <span>

#include "engine/kernels/matmul.h"

namespace kuai::engine {
class ThreadPool;
}

namespace kuai::engine::model {

// True when every output has the same type, F32, F16 or BF16, with the same cols, and the engine's
// kernels run at the avx2 level or above (kernels::detected_isa()).
bool float_gemm_supported(std::span<const kernels::MatmulOut> outs);

// Whether the forward pass should take float_gemm for a product of n_tokens: supported, and at least
// kFloatGemmMinTokens tokens. Decode (one token per row read, memory-bound) stays on kernels::matmul's
// prefetching one-row dot; the price is that a decode token in a batch of >= 16 tokens may differ in
// the last bits from the same token alone (as kernels::matmul's float 4-row and one-row dots already do).
constexpr int kFloatGemmMinTokens = 16;
bool float_gemm_preferred(std::span<const kernels::MatmulOut> outs, int n_tokens);

// Same contract as kernels::matmul. Precondition: float_gemm_supported(outs).
void float_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
                int n_tokens);

namespace detail {
// Rows [0, rows) of w (row_bytes apart, cols elements of type) times tokens [0, n) of x (x_stride
// floats apart) into y[t * ys + r]. rows <= 32.
void float_tile_avx512(GgmlType type, const void* w, size_t row_bytes, int rows, int cols, const float* x,
                       size_t x_stride, int n, float* y, size_t ys);
void float_tile_avx2(GgmlType type, const void* w, size_t row_bytes, int rows, int cols, const float* x,
                     size_t x_stride, int n, float* y, size_t ys);
}  // namespace detail

}  // namespace kuai::engine::model
