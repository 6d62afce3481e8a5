// kernels/ops.h: the AVX-512 swiglu and gelu agree with their references (std::exp) across the range an
// activation takes, tails included, and in place; gelu is the tanh form; RoPE from precomputed angles rotates each pair by its angle.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/ops.h"
#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {
namespace {

TEST(Swiglu, Avx512AgreesWithReferenceIncludingTailsAndExtremes) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "this CPU runs below the avx512 level";
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  for (int n : {1, 15, 16, 17, 100, 2048}) {
    std::vector<float> g(static_cast<size_t>(n)), u(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) g[size_t(i)] = nd(rng), u[size_t(i)] = nd(rng);
    if (n >= 16) g[0] = 0.0f, g[1] = -100.0f, g[2] = 100.0f, g[3] = -0.0f, g[4] = 88.0f, g[5] = -88.0f;
    std::vector<float> ref(static_cast<size_t>(n)), simd(static_cast<size_t>(n), -7.0f);
    swiglu_ref(ref.data(), g.data(), u.data(), n);
    swiglu_avx512(simd.data(), g.data(), u.data(), n);
    for (int i = 0; i < n; ++i)
      EXPECT_NEAR(simd[size_t(i)], ref[size_t(i)], 1e-30f + 1e-6f * std::fabs(ref[size_t(i)])) << "n " << n << " i " << i;
    std::vector<float> inplace = g;  // out aliasing gate, as the forward pass calls it
    swiglu_avx512(inplace.data(), inplace.data(), u.data(), n);
    EXPECT_EQ(inplace, simd);
  }
}

TEST(Gelu, Avx512AgreesWithReferenceAndTheTanhForm) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (int n : {1, 15, 16, 17, 1536}) {
    std::vector<float> x(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) x[size_t(i)] = nd(rng), b[size_t(i)] = 0.1f * nd(rng);
    if (n >= 16) x[0] = 0.0f, x[1] = -100.0f, x[2] = 100.0f, x[3] = -0.0f, x[4] = 88.0f, x[5] = -88.0f;
    std::vector<float> ref = x;
    gelu_ref(ref.data(), b.data(), n);
    for (int i = 0; i < n; ++i) {  // 0.5 v (1 + tanh(√(2/π)(v + 0.044715 v³)))
      const double v = double(x[size_t(i)]) + b[size_t(i)];
      const double tanh_form = 0.5 * v * (1 + std::tanh(0.7978845608 * (v + 0.044715 * v * v * v)));
      EXPECT_NEAR(ref[size_t(i)], tanh_form, 1e-6 + 1e-5 * std::fabs(tanh_form)) << "n " << n << " i " << i;
    }
    if (detected_isa() < Isa::kAvx512) continue;  // the reference is what runs below that level
    std::vector<float> simd = x;
    gelu_avx512(simd.data(), b.data(), n);
    // Relative 1e-6, and absolute 1e-9 in the far negative tail (outputs ~1e-8, where exp magnifies the
    // rounding of its argument).
    for (int i = 0; i < n; ++i)
      EXPECT_NEAR(simd[size_t(i)], ref[size_t(i)], 1e-9f + 1e-6f * std::fabs(ref[size_t(i)])) << "n " << n << " i " << i;
  }
}

TEST(Rope, AnglesRotateEachPair) {
  const int hd = 8, pos = 5;
  const float inv_freq[4] = {1.0f, 0.5f, 0.25f, 0.125f};
  std::vector<float> cs(hd);
  rope_angles(hd, pos, inv_freq, cs.data());
  std::vector<float> v = {1, 0, 0, 1, 2, 0, 0, 3}, w = v;
  rope_normal(v.data(), hd, cs.data());
  for (int i = 0; i < hd / 2; ++i) {
    const double th = pos * double(inv_freq[i]), a = w[size_t(2 * i)], b = w[size_t(2 * i + 1)];
    EXPECT_NEAR(v[size_t(2 * i)], a * std::cos(th) - b * std::sin(th), 1e-5) << i;
    EXPECT_NEAR(v[size_t(2 * i + 1)], a * std::sin(th) + b * std::cos(th), 1e-5) << i;
  }
  std::vector<float> x = w;  // neox pairs (i, i + hd / 2)
  rope_neox(x.data(), hd, cs.data());
  for (int i = 0; i < hd / 2; ++i) {
    const double th = pos * double(inv_freq[i]), a = w[size_t(i)], b = w[size_t(i + hd / 2)];
    EXPECT_NEAR(x[size_t(i)], a * std::cos(th) - b * std::sin(th), 1e-5) << i;
    EXPECT_NEAR(x[size_t(i + hd / 2)], a * std::sin(th) + b * std::cos(th), 1e-5) << i;
  }
}

}  // namespace
}  // namespace kuai::engine::kernels
