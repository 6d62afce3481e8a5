// model::q4_0_gemm: agrees with kernels::matmul on random Q4_0 weights (fused outputs of different
// heights, token counts 1 (unpacked path) and 3..9 (packed: 8-, 4- and 1-token passes)), and is batch invariant: a token's
// outputs have the same bits alone (unpacked path) or inside any batch (packed path).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/q4_0_gemm.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {
namespace {

struct Q4Weight {
  std::vector<uint8_t> bytes;
  kernels::WeightView view;
  Q4Weight(int64_t rows, int64_t cols, uint32_t seed) {
    const size_t rb = row_bytes(GgmlType::Q4_0, uint64_t(cols));
    bytes.resize(rb * size_t(rows));
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = nd(rng);
      kernels::kernel_traits(GgmlType::Q4_0)->from_float(row.data(), bytes.data() + size_t(r) * rb, cols);
    }
    view = {GgmlType::Q4_0, bytes.data(), rows, cols, rb};
  }
};

std::vector<float> activations(int n, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(size_t(n) * size_t(cols));
  for (float& v : x) v = nd(rng);
  for (int64_t c = 0; c < cols; c += 7) x[size_t(c)] = 0.0f;  // some zeros, and one all-zero block
  for (int64_t c = 32; c < 64 && c < cols; ++c) x[size_t(c)] = 0.0f;
  return x;
}

TEST(Q4Gemm, SupportedOnlyForQ4_0RowsOf8OnAvx512) {
  Q4Weight w(16, 64, 1), odd(12, 64, 2);
  const kernels::MatmulOut ok{&w.view, nullptr, 16}, bad{&odd.view, nullptr, 12};
  const bool avx512 = kernels::detected_isa() == kernels::Isa::kAvx512;
  EXPECT_EQ(q4_0_gemm_supported(std::span(&ok, 1)), avx512);
  EXPECT_FALSE(q4_0_gemm_supported(std::span(&bad, 1)));
}

// 256 columns = 8 blocks; 288 = 9 blocks (the one-token path's odd last block)
class Q4GemmCols : public ::testing::TestWithParam<int64_t> {};

TEST_P(Q4GemmCols, MatchesMatmulAndIsBatchInvariant) {
  const int64_t cols = GetParam();
  Q4Weight a(24, cols, 3), b(8, cols, 4);
  {
    const kernels::MatmulOut probe[2] = {{&a.view, nullptr, 24}, {&b.view, nullptr, 8}};
    if (!q4_0_gemm_supported(probe)) {
      EXPECT_NE(kernels::detected_isa(), kernels::Isa::kAvx512);
      GTEST_SKIP() << "q4_0_gemm exists only on AVX-512; this CPU runs "
                   << kernels::isa_name(kernels::detected_isa());
    }
  }
  ThreadPool pool(2);
  for (int n : {1, 3, 4, 7, 9}) {
    SCOPED_TRACE("n_tokens " + std::to_string(n));
    const auto x = activations(n, cols, 10 + uint32_t(n));
    std::vector<float> ya(size_t(n) * 24), yb(size_t(n) * 8), ra(ya.size()), rb(yb.size());
    const kernels::MatmulOut outs[2] = {{&a.view, ya.data(), 24}, {&b.view, yb.data(), 8}};
    const kernels::MatmulOut refs[2] = {{&a.view, ra.data(), 24}, {&b.view, rb.data(), 8}};
    kernels::MatmulScratch ms;
    kernels::matmul(pool, refs, x.data(), size_t(cols), n, ms);
    Q4GemmScratch qs;
    q4_0_gemm(pool, outs, x.data(), size_t(cols), n, qs);
    // Both quantize activations to 8 bits per block of 32: agreement to a small fraction of the scale.
    for (size_t i = 0; i < ya.size(); ++i) EXPECT_NEAR(ya[i], ra[i], 0.02f + 0.01f * std::fabs(ra[i])) << i;
    for (size_t i = 0; i < yb.size(); ++i) EXPECT_NEAR(yb[i], rb[i], 0.02f + 0.01f * std::fabs(rb[i])) << i;
    // Each token alone gives the same bits.
    for (int t = 0; t < n; ++t) {
      std::vector<float> sa(24), sb(8);
      const kernels::MatmulOut one[2] = {{&a.view, sa.data(), 24}, {&b.view, sb.data(), 8}};
      Q4GemmScratch s1;
      q4_0_gemm(pool, one, x.data() + size_t(t) * size_t(cols), size_t(cols), 1, s1);
      EXPECT_EQ(0, std::memcmp(sa.data(), ya.data() + size_t(t) * 24, 24 * sizeof(float))) << "token " << t;
      EXPECT_EQ(0, std::memcmp(sb.data(), yb.data() + size_t(t) * 8, 8 * sizeof(float))) << "token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Blocks, Q4GemmCols, ::testing::Values(int64_t(256), int64_t(288)));

}  // namespace
}  // namespace kuai::engine::model
