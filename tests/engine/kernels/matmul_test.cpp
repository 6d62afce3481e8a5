// kernels::matmul (the engine's matrix products) against plain single-row dots: every weight type, token
// counts that do and do not fill the 4-token prefill tiles, row counts that do not fill a row tile,
// fused outputs of different types (Q4_K_M files mix Q4_K and Q6_K) sharing one activation buffer.
// Bound: |matmul - plain| <= 1e-5 * sum |w * a| (only the summation order differs).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/matmul.h"
#include "engine/kernels/type_traits.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::kernels {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct Weight {
  std::vector<uint8_t> bytes;
  WeightView view;
};

Weight make_weight(GgmlType t, int64_t rows, int64_t cols, uint32_t seed) {
  Weight w;
  const KernelTraits* p = kernel_traits(t, Isa::kPlain);
  const size_t rb = row_bytes(t, uint64_t(cols));
  w.bytes.resize(rb * size_t(rows));
  const auto f = random_values(size_t(rows * cols), seed);
  for (int64_t r = 0; r < rows; ++r) p->from_float(f.data() + r * cols, w.bytes.data() + size_t(r) * rb, cols);
  w.view = WeightView{t, w.bytes.data(), rows, cols, rb};
  return w;
}

// y[t][r] by the plain kernels, and the bound for it
void plain_product(const WeightView& w, const float* x, size_t x_stride, int n_tokens, std::vector<float>& y,
                   std::vector<double>& bound) {
  const KernelTraits* p = kernel_traits(w.type, Isa::kPlain);
  const KernelTraits* pa = kernel_traits(p->act_type, Isa::kPlain);
  const int n = int(w.cols);
  std::vector<uint8_t> aq(row_bytes(p->act_type, uint64_t(n)));
  std::vector<float> ad(static_cast<size_t>(n)), wd(static_cast<size_t>(n));
  y.assign(size_t(n_tokens) * size_t(w.rows), 0);
  bound.assign(y.size(), 0);
  for (int t = 0; t < n_tokens; ++t) {
    pa->from_float(x + size_t(t) * x_stride, aq.data(), n);
    pa->to_float(aq.data(), ad.data(), n);
    for (int64_t r = 0; r < w.rows; ++r) {
      const auto* row = static_cast<const uint8_t*>(w.data) + size_t(r) * w.row_bytes;
      p->to_float(row, wd.data(), n);
      double mag = 0;
      for (int i = 0; i < n; ++i) mag += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
      const size_t at = size_t(t) * size_t(w.rows) + size_t(r);
      y[at] = p->vec_dot(n, row, aq.data());
      bound[at] = 1e-5 * mag + 1e-6;
    }
  }
}

TEST(Matmul, EveryTypeAndTokenCountMatchesPlainDots) {
  ThreadPool pool(2);
  MatmulScratch scratch;
  const int64_t cols = 512;
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K,
                     GgmlType::Q6_K}) {
    const Weight w = make_weight(t, 37, cols, 3);
    for (int n_tokens : {1, 4, 7, 9}) {
      const auto x = random_values(size_t(n_tokens) * size_t(cols), 100 + uint32_t(n_tokens));
      std::vector<float> y(size_t(n_tokens) * 37, -1.0f), want;
      std::vector<double> bound;
      matmul(pool, w.view, x.data(), n_tokens, y.data(), scratch);
      plain_product(w.view, x.data(), size_t(cols), n_tokens, want, bound);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], want[i], bound[i]) << ggml_type_name(t) << " tokens=" << n_tokens << " at " << i;
    }
  }
}

TEST(Matmul, FusedOutputsOfMixedTypesWithStridedInput) {
  ThreadPool pool(2);
  MatmulScratch scratch;
  const int64_t cols = 1024;
  const size_t x_stride = size_t(cols) + 16;
  const int n_tokens = 6;
  const Weight a = make_weight(GgmlType::Q4_K, 300, cols, 5);
  const Weight b = make_weight(GgmlType::Q6_K, 70, cols, 6);
  const Weight c = make_weight(GgmlType::Q8_0, 45, cols, 7);
  const auto x = random_values(x_stride * n_tokens, 8);
  std::vector<float> ya(300 * n_tokens), yb(70 * n_tokens), yc(45 * n_tokens);
  const MatmulOut outs[3] = {{&a.view, ya.data(), 300}, {&b.view, yb.data(), 70}, {&c.view, yc.data(), 45}};
  matmul(pool, outs, x.data(), x_stride, n_tokens, scratch);
  for (const auto& [w, y] : {std::pair{&a, &ya}, std::pair{&b, &yb}, std::pair{&c, &yc}}) {
    std::vector<float> want;
    std::vector<double> bound;
    plain_product(w->view, x.data(), x_stride, n_tokens, want, bound);
    for (size_t i = 0; i < y->size(); ++i)
      ASSERT_NEAR((*y)[i], want[i], bound[i]) << ggml_type_name(w->view.type) << " at " << i;
  }
}

// Decode batches tokens of different sequences: on AVX-512 a Q8_0 token's products have the same bits
// in a batch (4-row kernel, then single rows for the rest) as alone (the one-row kernel), so a greedy
// sequence decodes alike whatever it shares a step with. (AVX2's two kernels sum in another order.)
TEST(Matmul, Q8_0TokenInABatchHasTheBitsOfTheTokenAlone) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "the property is only claimed on AVX-512; this CPU runs "
                                                   << isa_name(detected_isa());
  ThreadPool pool(2);
  MatmulScratch scratch;
  const int64_t cols = 2080, rows = 40;  // 65 blocks: 4-block steps and an odd last block
  const Weight w = make_weight(GgmlType::Q8_0, rows, cols, 9);
  const int n_tokens = 7;
  const auto x = random_values(size_t(n_tokens) * size_t(cols), 10);
  std::vector<float> batched(size_t(n_tokens) * size_t(rows)), alone(static_cast<size_t>(rows));
  matmul(pool, w.view, x.data(), n_tokens, batched.data(), scratch);
  for (int t = 0; t < n_tokens; ++t) {
    matmul(pool, w.view, x.data() + size_t(t) * size_t(cols), 1, alone.data(), scratch);
    for (int64_t r = 0; r < rows; ++r)
      ASSERT_EQ(batched[size_t(t) * size_t(rows) + size_t(r)], alone[size_t(r)]) << "token " << t << " row " << r;
  }
}

}  // namespace
}  // namespace kuai::engine::kernels
