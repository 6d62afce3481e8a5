// Matrix products of weights (any type with kernels) and float activations, split across the pool by
// output rows. y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tokens, r < rows.
// Activations are first converted to the weight type's activation format (Q8_0 / Q8_K / F32), once
// per distinct format. With n_tokens > 1 (prefill, batches) each weight row is dotted with 4
// activation rows per read (vec_dot_x4) and rows are walked in small tiles so the weights stay in
// cache across tokens: matrix-matrix, not a matrix-vector product per token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/gguf/ggml_type.h"

namespace kuai::engine {
class ThreadPool;
}

namespace kuai::engine::kernels {

// A 2-D weight: `rows` rows of `cols` elements of `type`, row r at data + r * row_bytes.
// `packed`, when set, is the same weight in another layout that a batched kernel of engine/model reads
// instead (model/int8_pack.h: Q4_0 and Q8_0 interleaved by 16 rows); kernels here read `data` only.
struct WeightView {
  GgmlType type = GgmlType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  const void* packed = nullptr;  // not owned
};

// One output of a fused product: y is (n_tokens, rows) with row stride y_stride floats.
struct MatmulOut {
  const WeightView* w;
  float* y;
  size_t y_stride;
};

// Reusable scratch for the converted activations (one per caller thread).
struct MatmulScratch {
  std::vector<uint8_t> act[3];  // one per distinct activation format in a call
};

// Computes every output from the same x: (n_tokens, cols) floats, row stride x_stride. All weights must
// share cols and have kernels (kernel_can_matmul). Fusing outputs (q, k, v; gate, up) into one call
// halves the pool synchronisations in decode.
void matmul(ThreadPool& pool, std::span<const MatmulOut> outs, const float* x, size_t x_stride, int n_tokens,
            MatmulScratch& scratch);

// Convenience for a single output.
void matmul(ThreadPool& pool, const WeightView& w, const float* x, int n_tokens, float* y, MatmulScratch& scratch);

// Dequantizes row r of a weight into dst (cols floats): embedding lookup.
void weight_row_to_float(const WeightView& w, int64_t r, float* dst);

}  // namespace kuai::engine::kernels
