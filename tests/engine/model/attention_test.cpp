// model::attn_chunk: the plain reference equals a direct softmax in double over several chunks with
// causal limits; the AVX-512 and AVX2 kernels agree with the reference (relative 1e-5); a query row gets
// the same bits alone or among other rows, on each; a level's kernel on binary16 or Q8_0 rows read in place
// gives the same bits as on those rows converted to float.
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

// A SIMD level's three kernels, and the head widths they take.
struct SimdKernels {
  const char* name;
  kernels::Isa level;
  int hd_multiple;
  ChunkFn f32;
  void (*f16)(const AttnChunkF16&, AttnAccum&, float*);
  void (*q8)(const AttnChunkQ8&, AttnAccum&, float*);
};
const SimdKernels kSimd[] = {
    {"avx512", kernels::Isa::kAvx512, 1, attn_chunk_avx512, attn_chunk_f16_avx512, attn_chunk_q8_avx512},
    {"avx2", kernels::Isa::kAvx2, 8, attn_chunk_avx2, attn_chunk_f16_avx2, attn_chunk_q8_avx2},
};

// The levels this CPU runs whose kernels take head width hd (a test that finds none skips, saying why).
std::vector<const SimdKernels*> simd_for(int hd) {
  std::vector<const SimdKernels*> out;
  for (const SimdKernels& k : kSimd)
    if (kernels::detected_isa() >= k.level && hd % k.hd_multiple == 0) out.push_back(&k);
  return out;
}
#define SKIP_WITHOUT_SIMD(list, hd)                                                                   \
  if ((list).empty())                                                                                 \
  GTEST_SKIP() << "no SIMD attention kernel for head width " << (hd) << " at this run's level: " \
               << kernels::isa_name(kernels::detected_isa())

TEST_P(AttnChunkShapes, SimdAgreesWithReferenceAndRowsAreIndependent) {
  const Shape sh = GetParam();
  const auto simd = simd_for(sh.hd);
  SKIP_WITHOUT_SIMD(simd, sh.hd);
  const Case c(sh.hd, sh.nq, sh.n_keys, sh.chunk, 6);
  const auto ref = c.run(attn_chunk_ref, 0, c.nq);
  for (const SimdKernels* k : simd) {
    const auto got = c.run(k->f32, 0, c.nq);
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-5 + 1e-5 * std::fabs(ref[i])) << k->name << " " << i;
  }
  std::vector<ChunkFn> fns{attn_chunk_ref};
  for (const SimdKernels* k : simd) fns.push_back(k->f32);
  for (ChunkFn fn : fns) {
    const auto all = c.run(fn, 0, c.nq);
    for (int r : {0, c.nq / 2, c.nq - 1}) {
      const auto one = c.run(fn, r, 1);
      EXPECT_EQ(0, std::memcmp(one.data(), all.data() + size_t(r) * c.hd, size_t(c.hd) * sizeof(float))) << "row " << r;
    }
  }
}

// A level's F16 kernel behind the AttnChunk signature: the chunk's rows as binary16, by pointer.
template <const SimdKernels* K>
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
  K->f16(AttnChunkF16{c.hd, c.nq, c.q, c.lim, c.n, kp.data(), vp.data(), c.scale}, a, scratch);
}

// A level's Q8_0 kernel behind the AttnChunk signature: the chunk's rows quantised to Q8_0 blocks (as
// the KV store writes them), by pointer.
template <const SimdKernels* K>
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
  K->q8(AttnChunkQ8{c.hd, c.nq, c.q, c.lim, c.n, kp.data(), vp.data(), c.scale}, a, scratch);
}

struct InPlace {
  const SimdKernels* k;
  ChunkFn f16, q8;
};
const InPlace kInPlace[] = {{&kSimd[0], f16_kernel<&kSimd[0]>, q8_kernel<&kSimd[0]>},
                            {&kSimd[1], f16_kernel<&kSimd[1]>, q8_kernel<&kSimd[1]>}};

TEST_P(AttnChunkShapes, F16RowsInPlaceGiveTheBitsOfTheConvertedRows) {
  const Shape sh = GetParam();
  SKIP_WITHOUT_SIMD(simd_for(sh.hd), sh.hd);
  Case c(sh.hd, sh.nq, sh.n_keys, sh.chunk, 8);
  for (auto* rows : {&c.k, &c.v})  // values a binary16 holds exactly
    for (float& x : *rows) x = kernels::fp16_to_fp32(kernels::fp32_to_fp16(x));
  for (const InPlace& ip : kInPlace) {
    if (kernels::detected_isa() < ip.k->level || sh.hd % ip.k->hd_multiple != 0) continue;
    const auto f32 = c.run(ip.k->f32, 0, c.nq);
    const auto f16 = c.run(ip.f16, 0, c.nq);
    EXPECT_EQ(0, std::memcmp(f32.data(), f16.data(), f32.size() * sizeof(float))) << ip.k->name;
  }
}

TEST_P(AttnChunkShapes, Q8RowsInPlaceGiveTheBitsOfTheDecodedRows) {
  const Shape sh = GetParam();
  SKIP_WITHOUT_SIMD(simd_for(sh.hd), sh.hd);
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
  for (const InPlace& ip : kInPlace) {
    if (kernels::detected_isa() < ip.k->level) continue;
    const auto f32 = c.run(ip.k->f32, 0, c.nq);
    const auto q8 = c.run(ip.q8, 0, c.nq);
    EXPECT_EQ(0, std::memcmp(f32.data(), q8.data(), f32.size() * sizeof(float))) << ip.k->name;
    const auto one = c.run(ip.q8, c.nq - 1, 1);
    EXPECT_EQ(0, std::memcmp(one.data(), q8.data() + size_t(c.nq - 1) * c.hd, size_t(c.hd) * sizeof(float))) << ip.k->name;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttnChunkShapes,
                         ::testing::Values(Shape{64, 8, 300, 256}, Shape{64, 128, 200, 64}, Shape{128, 12, 97, 64},
                                           Shape{80, 5, 70, 32}, Shape{16, 3, 5, 256}, Shape{8, 4, 40, 16},
                                           Shape{24, 6, 50, 32}, Shape{100, 3, 33, 16}));

TEST(AttnChunk, DispatchTakesTheLevelsKernelWhereItFitsTheHead) {
  for (int hd : {8, 12}) {  // the avx2 kernel takes widths that are a multiple of 8
    const Case c(hd, 4, 40, 16, 7);
    ChunkFn want_fn = attn_chunk_ref;
    if (kernels::detected_isa() >= kernels::Isa::kAvx512) want_fn = attn_chunk_avx512;
    else if (kernels::detected_isa() >= kernels::Isa::kAvx2 && hd % 8 == 0) want_fn = attn_chunk_avx2;
    const auto want = c.run(want_fn, 0, c.nq);
    const auto chosen = c.run(attn_chunk, 0, c.nq);
    EXPECT_EQ(0, std::memcmp(want.data(), chosen.data(), want.size() * sizeof(float))) << "hd " << hd;
  }
}

}  // namespace
}  // namespace kuai::engine::model
