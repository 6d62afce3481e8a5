#include "cache/dot.h"
#include "cpu/isa.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace kuai::cache {
namespace {

// Every SIMD kernel against the plain C++ one on random data, lengths that hit every tail path.
TEST(DotTest, KernelsMatchReference) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  // the variants the level allows (cpu/isa.h: every feature of the files' build flags, capped by KUAI_ISA)
  const bool avx2 = cpu::isa_at_least(cpu::Isa::kAvx2);
  const bool avx512 = cpu::isa_at_least(cpu::Isa::kAvx512);
  EXPECT_STREQ(dot_f32_isa(), avx512 ? "avx512" : avx2 ? "avx2" : "scalar");
  for (size_t n : {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 384, 512, 1023}) {
    std::vector<float> a(n), b(n);
    for (size_t i = 0; i < n; ++i) { a[i] = u(rng); b[i] = u(rng); }
    double ref = 0;
    for (size_t i = 0; i < n; ++i) ref += double(a[i]) * b[i];
    const double tol = 1e-5 * (1 + std::sqrt(double(n)));
    EXPECT_NEAR(dot_f32_ref(a.data(), b.data(), n), ref, tol) << n;
    EXPECT_NEAR(dot_f32(a.data(), b.data(), n), ref, tol) << n << " " << dot_f32_isa();
    if (avx2) {
      EXPECT_NEAR(dot_f32_avx2(a.data(), b.data(), n), ref, tol) << n;
    }
    if (avx512) {
      EXPECT_NEAR(dot_f32_avx512(a.data(), b.data(), n), ref, tol) << n;
    }
  }
}

}  // namespace
}  // namespace kuai::cache
