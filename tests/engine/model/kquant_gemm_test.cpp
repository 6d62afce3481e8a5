// model::kquant_gemm: the plain group kernel agrees with the plain Q4_K/Q6_K dots (every ISA level), the
// AVX-512 one equals it bit for bit, and kquant_gemm (mixed Q4_K / Q6_K outputs, rows not a multiple of
// 16) agrees with the plain dots and gives a token the same bits alone or inside any batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/gemm_test_data.h"
#include "engine/model/kquant_gemm.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {
namespace {

using gemm_testing::RandomWeight;

void plain_matmul(const kernels::WeightView& w, const float* x, int n, float* y, size_t ys) {
  const kernels::KernelTraits* k = kernels::kernel_traits(w.type, kernels::Isa::kPlain);
  const kernels::KernelTraits* ak = kernels::kernel_traits(k->act_type, kernels::Isa::kPlain);
  std::vector<uint8_t> a(row_bytes(k->act_type, uint64_t(w.cols)));
  for (int t = 0; t < n; ++t) {
    ak->from_float(x + size_t(t) * size_t(w.cols), a.data(), w.cols);
    for (int64_t r = 0; r < w.rows; ++r)
      y[size_t(t) * ys + size_t(r)] = k->vec_dot(int(w.cols), static_cast<const uint8_t*>(w.data) + size_t(r) * w.row_bytes, a.data());
  }
}

// Products of N(0, 0.05) weights with N(0, 1) activations over 512 columns: ~1.1 in size; both sides
// quantize activations to 8 bits, so agreement to a few hundredths.
void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.03f + 0.02f * std::fabs(want[i])) << i;
}

class KquantTypes : public ::testing::TestWithParam<GgmlType> {};

TEST_P(KquantTypes, GroupKernelMatchesPlainDotsAndSimdEqualsPlainBits) {
  const GgmlType type = GetParam();
  const int64_t cols = 512;
  const bool avx512 = kernels::detected_isa() >= kernels::Isa::kAvx512;
  const bool amx = kernels::detected_isa() >= kernels::Isa::kAmx;
  for (int rows : {16, 5}) {
    RandomWeight w(type, rows, cols, 21 + uint32_t(rows));
    std::vector<uint8_t> buf(2 * detail::kKquantSuperBytes + 64);
    auto* g = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
    detail::kquant_pack_group(w.view, 0, g);
    for (int n : {1, 4, 9, 17, 32}) {
      SCOPED_TRACE("rows " + std::to_string(rows) + " n " + std::to_string(n));
      const auto x = gemm_testing::normal_activations(n, cols, 40 + uint32_t(n));
      std::vector<int8_t> aq(size_t(n) * cols);
      std::vector<float> ad(size_t(n) * 2);
      std::vector<int32_t> as(size_t(n) * 32);
      for (int t = 0; t < n; ++t)
        detail::kquant_quantize_row(x.data() + size_t(t) * cols, cols, aq.data() + size_t(t) * cols, ad.data() + 2 * t,
                                    as.data() + 32 * t);
      std::vector<float> ref(size_t(n) * rows), dots(ref.size());
      detail::kquant_group_ref(type, g, rows, 2, aq.data(), ad.data(), as.data(), n, ref.data(), size_t(rows));
      plain_matmul(w.view, x.data(), n, dots.data(), size_t(rows));
      expect_close(ref, dots);
      if (!avx512) continue;
      std::vector<float> simd(ref.size(), -1.0f);
      detail::kquant_group_avx512(type, g, rows, 2, aq.data(), ad.data(), as.data(), n, simd.data(), size_t(rows));
      EXPECT_EQ(0, std::memcmp(simd.data(), ref.data(), ref.size() * sizeof(float)));
      if (!amx) continue;  // kernels_isa_avx512 and machines without AMX stop here
      // Whole tiles of tokens (zero rows past n), Q4_K in its own layout.
      const size_t n_pad = (size_t(n) + detail::kKquantAmxTokens - 1) / detail::kKquantAmxTokens * detail::kKquantAmxTokens;
      aq.resize(n_pad * cols, 0);
      ad.resize(n_pad * 2, 0.0f);
      as.resize(n_pad * 32, 0);
      std::vector<uint8_t> abuf(2 * detail::kKquantQ4kAmxSuperBytes + 64);
      auto* ag = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(abuf.data()) + 63) & ~uintptr_t(63));
      if (type == GgmlType::Q4_K) detail::kquant_pack_group_q4k_amx(w.view, 0, ag);
      std::vector<float> tiles(ref.size(), -1.0f);
      detail::kquant_group_amx(type, type == GgmlType::Q4_K ? ag : g, rows, 2, aq.data(), ad.data(), as.data(), n,
                               tiles.data(), size_t(rows));
      EXPECT_EQ(0, std::memcmp(tiles.data(), ref.data(), ref.size() * sizeof(float))) << "amx";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, KquantTypes, ::testing::Values(GgmlType::Q4_K, GgmlType::Q6_K));

// The activations' quantization (what kquant_gemm runs, always at avx512 or above) against the plain
// reference: normal values, a row of zeros, and values at exact halves of a step (ties round to even).
TEST(KquantGemm, QuantizeRowAvx512EqualsPlainBits) {
  if (kernels::detected_isa() < kernels::Isa::kAvx512) GTEST_SKIP() << "this run: " << kernels::isa_name(kernels::detected_isa());
  const int64_t cols = 768;
  auto x = gemm_testing::normal_activations(3, cols, 7);
  std::fill(x.begin() + cols, x.begin() + 2 * cols, 0.0f);
  for (int64_t i = 0; i < cols; ++i) x[size_t(2 * cols + i)] = float(i % 255 - 127) + (i % 256 == 0 ? 0.0f : 0.5f);
  for (int t = 0; t < 3; ++t) {
    std::vector<int8_t> q0(static_cast<size_t>(cols)), q1(static_cast<size_t>(cols));
    std::vector<float> d0(3), d1(3);
    std::vector<int32_t> s0(48), s1(48);
    detail::kquant_quantize_row(x.data() + size_t(t) * cols, cols, q0.data(), d0.data(), s0.data());
    detail::kquant_quantize_row_avx512(x.data() + size_t(t) * cols, cols, q1.data(), d1.data(), s1.data());
    EXPECT_EQ(q0, q1) << "row " << t;
    EXPECT_EQ(0, std::memcmp(d0.data(), d1.data(), 3 * sizeof(float))) << "row " << t;
    EXPECT_EQ(s0, s1) << "row " << t;
  }
}

TEST(KquantGemm, MixedOutputsMatchPlainDotsAndAreBatchInvariant) {
  const int64_t cols = 768;
  RandomWeight a(GgmlType::Q4_K, 40, cols, 3), b(GgmlType::Q6_K, 24, cols, 4);
  const kernels::MatmulOut probe[2] = {{&a.view, nullptr, 40}, {&b.view, nullptr, 24}};
  EXPECT_FALSE(kquant_gemm_preferred(probe, kKquantGemmMinTokens - 1));
  if (!kquant_gemm_supported(probe)) {
    EXPECT_LT(kernels::detected_isa(), kernels::Isa::kAvx512);
    GTEST_SKIP() << "kquant_gemm exists only on AVX-512; this run: " << kernels::isa_name(kernels::detected_isa());
  }
  EXPECT_TRUE(kquant_gemm_preferred(probe, kKquantGemmMinTokens));
  RandomWeight f(GgmlType::Q8_0, 16, cols, 5);
  const kernels::MatmulOut mixed[2] = {{&a.view, nullptr, 40}, {&f.view, nullptr, 16}};
  EXPECT_FALSE(kquant_gemm_supported(mixed));
  ThreadPool pool(2);
  const int n = 19;
  const auto x = gemm_testing::normal_activations(n, cols, 9);
  std::vector<float> ya(size_t(n) * 40), yb(size_t(n) * 24), ra(ya.size()), rb(yb.size());
  const kernels::MatmulOut outs[2] = {{&a.view, ya.data(), 40}, {&b.view, yb.data(), 24}};
  KquantGemmScratch s;
  kquant_gemm(pool, outs, x.data(), size_t(cols), n, s);
  plain_matmul(a.view, x.data(), n, ra.data(), 40);
  plain_matmul(b.view, x.data(), n, rb.data(), 24);
  expect_close(ya, ra);
  expect_close(yb, rb);
  for (int t : {0, 7, 18}) {
    std::vector<float> sa(40), sb(24);
    const kernels::MatmulOut one[2] = {{&a.view, sa.data(), 40}, {&b.view, sb.data(), 24}};
    KquantGemmScratch s1;
    kquant_gemm(pool, one, x.data() + size_t(t) * cols, size_t(cols), 1, s1);
    EXPECT_EQ(0, std::memcmp(sa.data(), ya.data() + size_t(t) * 40, 40 * sizeof(float))) << "token " << t;
    EXPECT_EQ(0, std::memcmp(sb.data(), yb.data() + size_t(t) * 24, 24 * sizeof(float))) << "token " << t;
  }
}

}  // namespace
}  // namespace kuai::engine::model
