// model::attn_chunk: the plain reference equals a direct softmax in double over several chunks with
// causal limits; the AVX-512 kernel agrees with the reference (relative 1e-5); and a query row gets the
// same bits alone or among other rows, on both; the kernel on binary16 or Q8_0 rows read in place gives
// the same bits as on those rows converted to float.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/fp16.h"
#include "engine/kernels/type_traits.h"
#include "engine/kv/kv_convert.h"
#include "engine/model/attention.h"

namespace kuai::engine::model {
namespace {

using ChunkFn = void (*)(const AttnChunk&, AttnAccum&, float*);

struct Case {
  int hd, nq, n_keys, chunk, stride_pad;
  std::vector<float> q, k, v;
  std::vector<int32_t> visible;  // per row: keys [0, visible) (causal)
  Case(int hd_, int nq_, int n_keys_, int chunk_, uint32_t seed)
      : hd(hd_), nq(nq_), n_keys(n_keys_), chunk(chunk_), stride_pad(hd_ + 16) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    q.resize(size_t(nq) * hd);
    k.resize(size_t(n_keys) * stride_pad);
    v.resize(k.size());
    for (auto& x : q) x = 2.0f * nd(rng);
    for (auto& x : k) x = nd(rng);
    for (auto& x : v) x = nd(rng);
    for (int i = 0; i < nq; ++i) visible.push_back(std::max(1, n_keys - (i * 7) % (n_keys / 2 + 1)));
  }
  // Runs rows [r0, r0 + rows) through `fn` chunk by chunk; returns the normalised outputs.
  std::vector<float> run(ChunkFn fn, int r0, int rows) const {
    std::vector<float> m(size_t(rows), -INFINITY), l(size_t(rows), 0.0f), acc(size_t(rows) * hd, 0.0f);
    std::vector<float> scratch(attn_scratch_floats(hd, chunk, rows));
    std::vector<int32_t> lim(static_cast<size_t>(rows));
    AttnAccum a{m.data(), l.data(), acc.data()};
    for (int p0 = 0; p0 < n_keys; p0 += chunk) {
      const int n = std::min(chunk, n_keys - p0);
      for (int i = 0; i < rows; ++i) lim[size_t(i)] = std::clamp(visible[size_t(r0 + i)] - p0, 0, n);
      const AttnChunk c{hd, rows, q.data() + size_t(r0) * hd, lim.data(), n, k.data() + size_t(p0) * stride_pad,
                        v.data() + size_t(p0) * stride_pad, size_t(stride_pad), 1.0f / std::sqrt(float(hd))};
      fn(c, a, scratch.data());
    }
    for (int i = 0; i < rows; ++i)
      for (int d = 0; d < hd; ++d) acc[size_t(i) * hd + d] /= l[size_t(i)];
    return acc;
  }
  std::vector<double> direct() const {
    std::vector<double> out(size_t(nq) * hd, 0.0);
    for (int i = 0; i < nq; ++i) {
      std::vector<double> s(static_cast<size_t>(visible[size_t(i)]));
      double mx = -1e300, sum = 0;
      for (int j = 0; j < visible[size_t(i)]; ++j) {
        double d = 0;
        for (int e = 0; e < hd; ++e) d += double(q[size_t(i) * hd + e]) * k[size_t(j) * stride_pad + e];
        s[size_t(j)] = d / std::sqrt(double(hd));
        mx = std::max(mx, s[size_t(j)]);
      }
      for (int j = 0; j < visible[size_t(i)]; ++j) {
        const double w = std::exp(s[size_t(j)] - mx);
        sum += w;
        for (int e = 0; e < hd; ++e) out[size_t(i) * hd + e] += w * v[size_t(j) * stride_pad + e];
      }
      for (int e = 0; e < hd; ++e) out[size_t(i) * hd + e] /= sum;
    }
    return out;
  }
};

struct Shape {
  int hd, nq, n_keys, chunk;
};
class AttnChunkShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(AttnChunkShapes, ReferenceMatchesDirectSoftmax) {
  const Shape sh = GetParam();
  const Case c(sh.hd, sh.nq, sh.n_keys, sh.chunk, 5);
  const auto ref = c.run(attn_chunk_ref, 0, c.nq);
  const auto want = c.direct();
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(ref[i], want[i], 1e-4 + 1e-4 * std::fabs(want[i])) << i;
}

TEST_P(AttnChunkShapes, Avx512AgreesWithReferenceAndRowsAreIndependent) {
  const Shape sh = GetParam();
  if (kernels::detected_isa() < kernels::Isa::kAvx512)
    GTEST_SKIP() << "the AVX-512 kernel needs that level; this run: " << kernels::isa_name(kernels::detected_isa());
  const Case c(sh.hd, sh.nq, sh.n_keys, sh.chunk, 6);
  const auto ref = c.run(attn_chunk_ref, 0, c.nq);
  const auto simd = c.run(attn_chunk_avx512, 0, c.nq);
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(simd[i], ref[i], 1e-5 + 1e-5 * std::fabs(ref[i])) << i;
  for (ChunkFn fn : {ChunkFn(attn_chunk_ref), ChunkFn(attn_chunk_avx512)}) {
    const auto all = c.run(fn, 0, c.nq);
    for (int r : {0, c.nq / 2, c.nq - 1}) {
      const auto one = c.run(fn, r, 1);
      EXPECT_EQ(0, std::memcmp(one.data(), all.data() + size_t(r) * c.hd, size_t(c.hd) * sizeof(float))) << "row " << r;
    }
  }
}

// attn_chunk_f16_avx512 behind the AttnChunk signature: the chunk's rows as binary16, by pointer.
void f16_kernel(const AttnChunk& c, AttnAccum& a, float* scratch) {
  std::vector<uint16_t> k(size_t(c.n) * size_t(c.hd)), v(k.size());
  std::vector<const uint16_t*> kp(size_t(c.n)), vp(size_t(c.n));
  for (int j = 0; j < c.n; ++j) {
    for (int e = 0; e < c.hd; ++e) {
      k[size_t(j) * size_t(c.hd) + size_t(e)] = kernels::fp32_to_fp16(c.k[size_t(j) * c.kv_stride + size_t(e)]);
      v[size_t(j) * size_t(c.hd) + size_t(e)] = kernels::fp32_to_fp16(c.v[size_t(j) * c.kv_stride + size_t(e)]);
    }
    kp[size_t(j)] = k.data() + size_t(j) * size_t(c.hd);
    vp[size_t(j)] = v.data() + size_t(j) * size_t(c.hd);
  }
  attn_chunk_f16_avx512(AttnChunkF16{c.hd, c.nq, c.q, c.lim, c.n, kp.data(), vp.data(), c.scale}, a, scratch);
}

TEST_P(AttnChunkShapes, F16RowsInPlaceGiveTheBitsOfTheConvertedRows) {
  const Shape sh = GetParam();
  if (kernels::detected_isa() < kernels::Isa::kAvx512)
    GTEST_SKIP() << "the AVX-512 kernel needs that level; this run: " << kernels::isa_name(kernels::detected_isa());
  Case c(sh.hd, sh.nq, sh.n_keys, sh.chunk, 8);
  for (auto* rows : {&c.k, &c.v})  // values a binary16 holds exactly
    for (float& x : *rows) x = kernels::fp16_to_fp32(kernels::fp32_to_fp16(x));
  const auto f32 = c.run(attn_chunk_avx512, 0, c.nq);
  const auto f16 = c.run(f16_kernel, 0, c.nq);
  EXPECT_EQ(0, std::memcmp(f32.data(), f16.data(), f32.size() * sizeof(float)));
}

// attn_chunk_q8_avx512 behind the AttnChunk signature: the chunk's rows quantised to Q8_0 blocks (as the
// KV store writes them), by pointer.
void q8_kernel(const AttnChunk& c, AttnAccum& a, float* scratch) {
  const size_t row_bytes = size_t(c.hd / 32) * 34;
  std::vector<uint8_t> k(size_t(c.n) * row_bytes), v(k.size());
  std::vector<const uint8_t*> kp(size_t(c.n)), vp(size_t(c.n));
  for (int j = 0; j < c.n; ++j) {
    kv::kv_f32_to_q8_0(c.k + size_t(j) * c.kv_stride, k.data() + size_t(j) * row_bytes, c.hd);
    kv::kv_f32_to_q8_0(c.v + size_t(j) * c.kv_stride, v.data() + size_t(j) * row_bytes, c.hd);
    kp[size_t(j)] = k.data() + size_t(j) * row_bytes;
    vp[size_t(j)] = v.data() + size_t(j) * row_bytes;
  }
  attn_chunk_q8_avx512(AttnChunkQ8{c.hd, c.nq, c.q, c.lim, c.n, kp.data(), vp.data(), c.scale}, a, scratch);
}

TEST_P(AttnChunkShapes, Q8RowsInPlaceGiveTheBitsOfTheDecodedRows) {
  const Shape sh = GetParam();
  if (kernels::detected_isa() < kernels::Isa::kAvx512)
    GTEST_SKIP() << "the AVX-512 kernel needs that level; this run: " << kernels::isa_name(kernels::detected_isa());
  if (sh.hd % 32 != 0) GTEST_SKIP() << "Q8_0 rows are read in place only where a head is whole blocks of 32 (hd " << sh.hd << ")";
  Case c(sh.hd, sh.nq, sh.n_keys, sh.chunk, 9);
  // The rows as the store decodes them: Q8_0 and back.
  std::vector<uint8_t> block(size_t(c.hd / 32) * 34);
  for (auto* rows : {&c.k, &c.v})
    for (int j = 0; j < c.n_keys; ++j) {
      float* row = rows->data() + size_t(j) * size_t(c.stride_pad);
      kv::kv_f32_to_q8_0(row, block.data(), c.hd);
      kv::kv_q8_0_to_f32(block.data(), row, c.hd);
    }
  const auto f32 = c.run(attn_chunk_avx512, 0, c.nq);
  const auto q8 = c.run(q8_kernel, 0, c.nq);
  EXPECT_EQ(0, std::memcmp(f32.data(), q8.data(), f32.size() * sizeof(float)));
  const auto one = c.run(q8_kernel, c.nq - 1, 1);
  EXPECT_EQ(0, std::memcmp(one.data(), q8.data() + size_t(c.nq - 1) * c.hd, size_t(c.hd) * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttnChunkShapes,
                         ::testing::Values(Shape{64, 8, 300, 256}, Shape{64, 128, 200, 64}, Shape{128, 12, 97, 64},
                                           Shape{80, 5, 70, 32}, Shape{16, 3, 5, 256}, Shape{8, 4, 40, 16},
                                           Shape{24, 6, 50, 32}, Shape{100, 3, 33, 16}));

TEST(AttnChunk, DispatchTakesAvx512AtThatLevelAndTheReferenceBelow) {
  const Case c(8, 4, 40, 16, 7);
  const bool avx512 = kernels::detected_isa() >= kernels::Isa::kAvx512;
  const auto want = c.run(avx512 ? ChunkFn(attn_chunk_avx512) : ChunkFn(attn_chunk_ref), 0, c.nq);
  const auto chosen = c.run(attn_chunk, 0, c.nq);
  EXPECT_EQ(0, std::memcmp(want.data(), chosen.data(), want.size() * sizeof(float)));
}

}  // namespace
}  // namespace kuai::engine::model
