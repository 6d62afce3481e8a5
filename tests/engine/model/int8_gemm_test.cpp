// model::int8_gemm: agrees with the plain C++ kernels on random Q4_0 and Q8_0 weights (fused outputs of
// different heights, token counts 1 (unpacked path) and 3..9 (packed: 8-, 4- and 1-token passes)), and is
// batch invariant: a token's outputs have the same bits alone (unpacked path) or inside any batch (packed
// path).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/gemm_test_data.h"
#include "engine/model/int8_gemm.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {
namespace {

using QWeight = gemm_testing::RandomWeight;

std::vector<float> activations(int n, int64_t cols, uint32_t seed) {
  std::vector<float> x = gemm_testing::normal_activations(n, cols, seed);
  for (int64_t c = 0; c < cols; c += 7) x[size_t(c)] = 0.0f;  // some zeros, and one all-zero block
  for (int64_t c = 32; c < 64 && c < cols; ++c) x[size_t(c)] = 0.0f;
  return x;
}

// The plain C++ reference: each token quantized by the plain Q8_0 quantizer, each output the plain dot.
void plain_matmul(const kernels::WeightView& w, const float* x, int n, float* y) {
  const kernels::KernelTraits* k = kernels::kernel_traits(w.type, kernels::Isa::kPlain);
  const kernels::KernelTraits* ak = kernels::kernel_traits(k->act_type, kernels::Isa::kPlain);
  std::vector<uint8_t> a(row_bytes(k->act_type, uint64_t(w.cols)));
  for (int t = 0; t < n; ++t) {
    ak->from_float(x + size_t(t) * size_t(w.cols), a.data(), w.cols);
    for (int64_t r = 0; r < w.rows; ++r)
      y[size_t(t) * size_t(w.rows) + size_t(r)] =
          k->vec_dot(int(w.cols), static_cast<const uint8_t*>(w.data) + size_t(r) * w.row_bytes, a.data());
  }
}

TEST(Int8Gemm, SupportedOnlyForQ4_0OrQ8_0RowsOf8OfOneTypeOnAvx512) {
  QWeight w(GgmlType::Q4_0, 16, 64, 1), odd(GgmlType::Q4_0, 12, 64, 2), q8(GgmlType::Q8_0, 16, 64, 1);
  QWeight f(GgmlType::F32, 16, 64, 1);
  const kernels::MatmulOut ok{&w.view, nullptr, 16}, bad{&odd.view, nullptr, 12}, ok8{&q8.view, nullptr, 16};
  const kernels::MatmulOut mixed[2] = {ok, ok8}, f32{&f.view, nullptr, 16};
  const bool avx512 = kernels::detected_isa() == kernels::Isa::kAvx512;
  EXPECT_EQ(int8_gemm_supported(std::span(&ok, 1)), avx512);
  EXPECT_EQ(int8_gemm_supported(std::span(&ok8, 1)), avx512);
  EXPECT_FALSE(int8_gemm_supported(std::span(&bad, 1)));
  EXPECT_FALSE(int8_gemm_supported(mixed));
  EXPECT_FALSE(int8_gemm_supported(std::span(&f32, 1)));
}

// Q4_0 and Q8_0 x 256 columns = 8 blocks; 288 = 9 blocks (the one-token path's odd last block)
class Int8GemmCols : public ::testing::TestWithParam<std::tuple<GgmlType, int64_t>> {};

TEST_P(Int8GemmCols, MatchesMatmulAndIsBatchInvariant) {
  const auto [type, cols] = GetParam();
  QWeight a(type, 24, cols, 3), b(type, 8, cols, 4);
  {
    const kernels::MatmulOut probe[2] = {{&a.view, nullptr, 24}, {&b.view, nullptr, 8}};
    if (!int8_gemm_supported(probe)) {
      EXPECT_NE(kernels::detected_isa(), kernels::Isa::kAvx512);
      GTEST_SKIP() << "int8_gemm exists only on AVX-512; this CPU runs "
                   << kernels::isa_name(kernels::detected_isa());
    }
  }
  ThreadPool pool(2);
  for (int n : {1, 3, 4, 7, 9}) {
    SCOPED_TRACE("n_tokens " + std::to_string(n));
    const auto x = activations(n, cols, 10 + uint32_t(n));
    std::vector<float> ya(size_t(n) * 24), yb(size_t(n) * 8), ra(ya.size()), rb(yb.size());
    const kernels::MatmulOut outs[2] = {{&a.view, ya.data(), 24}, {&b.view, yb.data(), 8}};
    plain_matmul(a.view, x.data(), n, ra.data());
    plain_matmul(b.view, x.data(), n, rb.data());
    Int8GemmScratch qs;
    int8_gemm(pool, outs, x.data(), size_t(cols), n, qs);
    // Both quantize activations to 8 bits per block of 32: agreement to a small fraction of the scale.
    for (size_t i = 0; i < ya.size(); ++i) EXPECT_NEAR(ya[i], ra[i], 0.02f + 0.01f * std::fabs(ra[i])) << i;
    for (size_t i = 0; i < yb.size(); ++i) EXPECT_NEAR(yb[i], rb[i], 0.02f + 0.01f * std::fabs(rb[i])) << i;
    // Each token alone gives the same bits.
    for (int t = 0; t < n; ++t) {
      std::vector<float> sa(24), sb(8);
      const kernels::MatmulOut one[2] = {{&a.view, sa.data(), 24}, {&b.view, sb.data(), 8}};
      Int8GemmScratch s1;
      int8_gemm(pool, one, x.data() + size_t(t) * size_t(cols), size_t(cols), 1, s1);
      EXPECT_EQ(0, std::memcmp(sa.data(), ya.data() + size_t(t) * 24, 24 * sizeof(float))) << "token " << t;
      EXPECT_EQ(0, std::memcmp(sb.data(), yb.data() + size_t(t) * 8, 8 * sizeof(float))) << "token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Blocks, Int8GemmCols,
                         ::testing::Combine(::testing::Values(GgmlType::Q4_0, GgmlType::Q8_0),
                                            ::testing::Values(int64_t(256), int64_t(288))));

}  // namespace
}  // namespace kuai::engine::model
