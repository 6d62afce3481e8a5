// Random weights and activations shared by the batched GEMM tests (int8_gemm, float_gemm).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/matmul.h"
#include "engine/kernels/type_traits.h"

namespace kuai::engine::model::gemm_testing {

// `rows` × `cols` weights ~ N(0, 0.05) stored in `type` by the plain C++ quantizer.
struct RandomWeight {
  std::vector<uint8_t> bytes;
  kernels::WeightView view;
  RandomWeight(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
    const size_t rb = row_bytes(type, uint64_t(cols));
    bytes.resize(rb * size_t(rows));
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = nd(rng);
      kernels::kernel_traits(type, kernels::Isa::kPlain)->from_float(row.data(), bytes.data() + size_t(r) * rb, cols);
    }
    view = {type, bytes.data(), rows, cols, rb};
  }
};

// `n` tokens of `cols` activations ~ N(0, 1).
inline std::vector<float> normal_activations(int n, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(size_t(n) * size_t(cols));
  for (float& v : x) v = nd(rng);
  return x;
}

}  // namespace kuai::engine::model::gemm_testing
