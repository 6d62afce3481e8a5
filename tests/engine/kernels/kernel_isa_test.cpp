// Every SIMD kernel against the plain C++ one on random data, with stated error bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {
namespace {

const GgmlType kTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0,
                           GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_K};

std::vector<float> random_row(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<Isa> supported_simd() {
  std::vector<Isa> out;
  if (int(detected_isa()) >= int(Isa::kAvx2)) out.push_back(Isa::kAvx2);
  if (int(detected_isa()) >= int(Isa::kAvx512)) out.push_back(Isa::kAvx512);
  return out;
}

// A test that compares SIMD kernels with the plain ones checks nothing on a CPU without SIMD: it says so.
#define KUAI_SKIP_WITHOUT_SIMD()                                                              \
  if (supported_simd().empty()) GTEST_SKIP() << "no SIMD kernel on this CPU (" << isa_name(detected_isa()) \
                                             << "): nothing to compare with the plain one"

// Quantizers: SIMD output must dequantize to the same values as the plain output within 1 quantization
// step of rounding differences (bit-identical for most inputs; a tie may round the other way).
TEST(KernelIsa, ConversionsMatchPlain) {
  KUAI_SKIP_WITHOUT_SIMD();
  const int n = 2048;
  const auto x = random_row(n, 11);
  for (Isa isa : supported_simd()) {
    for (GgmlType t : kTypes) {
      const KernelTraits* p = kernel_traits(t, Isa::kPlain);
      const KernelTraits* s = kernel_traits(t, isa);
      std::vector<uint8_t> qp(row_bytes(t, n)), qs(row_bytes(t, n));
      p->from_float(x.data(), qp.data(), n);
      s->from_float(x.data(), qs.data(), n);
      std::vector<float> dp(n), ds(n), ds2(n);
      p->to_float(qp.data(), dp.data(), n);
      s->to_float(qs.data(), ds.data(), n);
      s->to_float(qp.data(), ds2.data(), n);
      // activation quantizers use the reference's arithmetic: identical bytes
      if (t == GgmlType::Q8_0 || t == GgmlType::Q8_K) {
        EXPECT_EQ(qp, qs) << isa_name(isa) << " " << ggml_type_name(t);
      }
      for (int i = 0; i < n; ++i) {
        EXPECT_EQ(ds2[size_t(i)], dp[size_t(i)]) << isa_name(isa) << " " << ggml_type_name(t) << " to_float @" << i;
        EXPECT_NEAR(ds[size_t(i)], dp[size_t(i)], 0.02 * (1 + std::fabs(dp[size_t(i)])))
            << isa_name(isa) << " " << ggml_type_name(t) << " from_float @" << i;
      }
    }
  }
}

// One weight row of type t against 4 activation rows (seeds act_seed..act_seed+3): the SIMD single and
// 4-row dots equal the plain single dot up to summation order, |simd - plain| <= 1e-5 * sum|w*a|.
void expect_dots_match_plain(Isa isa, GgmlType t, const std::vector<float>& w, uint32_t act_seed) {
  const int n = int(w.size());
  const KernelTraits* p = kernel_traits(t, Isa::kPlain);
  const KernelTraits* s = kernel_traits(t, isa);
  const KernelTraits* pa = kernel_traits(p->act_type, Isa::kPlain);
  std::vector<uint8_t> wq(row_bytes(t, n));
  p->from_float(w.data(), wq.data(), n);
  const size_t astride = row_bytes(p->act_type, n);
  std::vector<uint8_t> aq(astride * 4);
  for (int k = 0; k < 4; ++k) pa->from_float(random_row(n, act_seed + uint32_t(k)).data(), aq.data() + k * astride, n);
  std::vector<float> wd(n), ad(n);
  p->to_float(wq.data(), wd.data(), n);
  float out4[4];
  s->vec_dot_x4(n, wq.data(), aq.data(), astride, out4);
  for (int k = 0; k < 4; ++k) {
    pa->to_float(aq.data() + k * astride, ad.data(), n);
    double mag = 0;
    for (int i = 0; i < n; ++i) mag += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
    const float ref = p->vec_dot(n, wq.data(), aq.data() + k * astride);
    EXPECT_NEAR(s->vec_dot(n, wq.data(), aq.data() + k * astride), ref, 1e-5 * mag + 1e-6)
        << isa_name(isa) << " " << ggml_type_name(t) << " n=" << n;
    EXPECT_NEAR(out4[k], ref, 1e-5 * mag + 1e-6) << isa_name(isa) << " x4 " << ggml_type_name(t) << " n=" << n;
  }
}

TEST(KernelIsa, DotsMatchPlain) {
  KUAI_SKIP_WITHOUT_SIMD();
  for (int n : {256, 512, 4096}) {
    const auto w = random_row(n, 21);
    for (Isa isa : supported_simd())
      for (GgmlType t : kTypes)
        if (kernel_traits(t, Isa::kPlain)->vec_dot) expect_dots_match_plain(isa, t, w, 30);
  }
}

// Block counts that are odd or not a multiple of a K-quant super-block (kernels that take two blocks
// per step must finish the tail): 32-element block types only. Same bound as DotsMatchPlain.
TEST(KernelIsa, OddBlockCountsMatchPlain) {
  KUAI_SKIP_WITHOUT_SIMD();
  for (int n : {32, 96, 288}) {
    const auto w = random_row(n, 61);
    for (Isa isa : supported_simd())
      for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0})
        expect_dots_match_plain(isa, t, w, 70);
  }
}

// The plain 4-row kernels (prefill) unpack each weight block once but keep the single-row integer sums
// and their order: bit-identical to 4 single-row dots.
TEST(KernelIsa, PlainX4IsFourSingleDots) {
  const int n = 1024;
  const auto w = random_row(n, 41);
  for (GgmlType t : kTypes) {
    const KernelTraits* p = kernel_traits(t, Isa::kPlain);
    if (!p->vec_dot) continue;
    const KernelTraits* pa = kernel_traits(p->act_type, Isa::kPlain);
    std::vector<uint8_t> wq(row_bytes(t, n));
    p->from_float(w.data(), wq.data(), n);
    const size_t astride = row_bytes(p->act_type, n) + 64;  // a padded stride, as a batch could have
    std::vector<uint8_t> aq(astride * 4);
    for (int k = 0; k < 4; ++k) pa->from_float(random_row(n, 50 + k).data(), aq.data() + k * astride, n);
    float out4[4];
    p->vec_dot_x4(n, wq.data(), aq.data(), astride, out4);
    for (int k = 0; k < 4; ++k)
      EXPECT_EQ(out4[k], p->vec_dot(n, wq.data(), aq.data() + k * astride)) << ggml_type_name(t) << " row " << k;
  }
}

// K-quant kernels at the edges of their integer ranges: weights whose sub-block scales and mins reach
// the 6-bit maximum (rows with one huge outlier per sub-block) and activations at +-127, where an int16
// intermediate would saturate if a kernel summed more than one maddubs pair per lane. Same bound as
// DotsMatchPlain.
TEST(KernelIsa, KQuantDotsAtRangeEdges) {
  KUAI_SKIP_WITHOUT_SIMD();
  const int n = 2048;
  std::vector<float> w(n), a(n);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < n; ++i) {
    w[size_t(i)] = (i % 16 == 0) ? 100.0f * (i % 32 == 0 ? 1.0f : -1.0f) : u(rng);
    a[size_t(i)] = (i % 3 == 0) ? -1.0f : 1.0f;  // quantizes to +-127
  }
  for (Isa isa : supported_simd()) {
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K}) {
      const KernelTraits* p = kernel_traits(t, Isa::kPlain);
      const KernelTraits* s = kernel_traits(t, isa);
      const KernelTraits* pa = kernel_traits(p->act_type, Isa::kPlain);
      std::vector<uint8_t> wq(row_bytes(t, n));
      p->from_float(w.data(), wq.data(), n);
      const size_t astride = row_bytes(p->act_type, n);
      std::vector<uint8_t> aq(astride * 4);
      for (int k = 0; k < 4; ++k) pa->from_float(a.data(), aq.data() + k * astride, n);
      std::vector<float> wd(n), ad(n);
      p->to_float(wq.data(), wd.data(), n);
      pa->to_float(aq.data(), ad.data(), n);
      double mag = 0;
      for (int i = 0; i < n; ++i) mag += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
      const float ref = p->vec_dot(n, wq.data(), aq.data());
      float out4[4];
      s->vec_dot_x4(n, wq.data(), aq.data(), astride, out4);
      EXPECT_NEAR(s->vec_dot(n, wq.data(), aq.data()), ref, 1e-5 * mag) << isa_name(isa) << " " << ggml_type_name(t);
      for (int k = 0; k < 4; ++k)
        EXPECT_NEAR(out4[k], ref, 1e-5 * mag) << isa_name(isa) << " x4 " << ggml_type_name(t);
    }
  }
}

// AVX-512's one-row Q8_0 dot (decode) takes the 4-row kernel's steps for one row in its order: a token's
// products have the same bits in a batch of 4 as alone. Block counts cover every tail: 4-block steps
// only, a pair after them, an odd last block, both.
TEST(KernelIsa, Avx512Q8_0SingleRowEqualsFourRowKernel) {
  if (int(detected_isa()) < int(Isa::kAvx512))
    GTEST_SKIP() << "the kernel exists only on AVX-512; this CPU runs " << isa_name(detected_isa());
  const KernelTraits* s = kernel_traits(GgmlType::Q8_0, Isa::kAvx512);
  for (int n : {32, 64, 96, 128, 192, 224, 288, 2048, 2080}) {
    std::vector<uint8_t> wq(row_bytes(GgmlType::Q8_0, n));
    s->from_float(random_row(n, 81).data(), wq.data(), n);
    const size_t astride = row_bytes(GgmlType::Q8_0, n) + 34;  // padded, as a batch could be
    std::vector<uint8_t> aq(astride * 4);
    for (int k = 0; k < 4; ++k) s->from_float(random_row(n, 90 + uint32_t(k)).data(), aq.data() + k * astride, n);
    float out4[4];
    s->vec_dot_x4(n, wq.data(), aq.data(), astride, out4);
    for (int k = 0; k < 4; ++k)
      EXPECT_EQ(s->vec_dot(n, wq.data(), aq.data() + k * astride), out4[k]) << "n=" << n << " row " << k;
  }
}

// Q8_0 and Q4_0 one-row dots take the 4-row kernel's steps at every level (plain, avx2 and avx512 where
// the table uses dot_qx_q8_0): a token's products have the same bits alone or batched by kernels::matmul.
TEST(KernelIsa, QxQ8_0SingleRowEqualsFourRowKernel) {
  KUAI_SKIP_WITHOUT_SIMD();
  for (Isa isa : supported_simd()) {
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0}) {
      const KernelTraits* s = kernel_traits(t, isa);
      const KernelTraits* sa = kernel_traits(GgmlType::Q8_0, isa);
      for (int n : {32, 64, 96, 2048, 2080}) {
        std::vector<uint8_t> wq(row_bytes(t, n));
        s->from_float(random_row(n, 81).data(), wq.data(), n);
        const size_t astride = row_bytes(GgmlType::Q8_0, n) + 34;
        std::vector<uint8_t> aq(astride * 4);
        for (int k = 0; k < 4; ++k) sa->from_float(random_row(n, 90 + uint32_t(k)).data(), aq.data() + k * astride, n);
        float out4[4];
        s->vec_dot_x4(n, wq.data(), aq.data(), astride, out4);
        for (int k = 0; k < 4; ++k)
          EXPECT_EQ(s->vec_dot(n, wq.data(), aq.data() + k * astride), out4[k])
              << isa_name(isa) << " " << ggml_type_name(t) << " n=" << n << " row " << k;
      }
    }
  }
}

}  // namespace
}  // namespace kuai::engine::kernels
