// model::int8_gemm and its packed layout (int8_pack.h): the layout holds every quant and scale of the
// weight; the AVX-512 and AVX2 group kernels equal their plain C++ twin bit for bit; int8_gemm agrees with the plain
// C++ kernels on random Q4_0 and Q8_0 weights (fused outputs of different heights, token counts 1 and
// 3..9: 8-, 4- and 1-token passes), gives the same bits from a load-time packed copy as from packing
// per call, and is batch invariant: a token's outputs have the same bits alone or inside any batch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/gemm_test_data.h"
#include "engine/kernels/blocks.h"
#include "engine/model/int8_gemm.h"
#include "engine/model/int8_pack.h"
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

// n token rows of x quantized by the plain quantizer: int8 blocks (aq), scales (ad), offset sums (ac).
struct QuantizedTokens {
  std::vector<int8_t> aq;
  std::vector<float> ad;
  std::vector<int32_t> ac;
  QuantizedTokens(GgmlType type, const std::vector<float>& x, int n, int64_t cols)
      : aq(size_t(n) * size_t(cols)), ad(size_t(n) * size_t(cols / 32)), ac(ad.size()) {
    const size_t nb = size_t(cols / 32);
    for (int t = 0; t < n; ++t)
      detail::int8_quantize_row(x.data() + size_t(t) * size_t(cols), cols, type == GgmlType::Q4_0 ? 8 : 128,
                                aq.data() + size_t(t) * size_t(cols), ad.data() + size_t(t) * nb, ac.data() + size_t(t) * nb);
  }
};

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

// Row r's stored quant and scale of column c, read from the ggml blocks.
int stored_quant(const kernels::WeightView& w, int64_t r, int64_t c) {
  const auto* row = static_cast<const uint8_t*>(w.data) + size_t(r) * w.row_bytes;
  const int64_t b = c / 32, i = c % 32;
  if (w.type == GgmlType::Q4_0) {
    const auto& blk = reinterpret_cast<const kernels::BlockQ4_0*>(row)[b];
    return i < 16 ? (blk.qs[i] & 0x0F) : (blk.qs[i - 16] >> 4);
  }
  return reinterpret_cast<const kernels::BlockQ8_0*>(row)[b].qs[i];
}
uint16_t stored_scale(const kernels::WeightView& w, int64_t r, int b) {
  const auto* row = static_cast<const uint8_t*>(w.data) + size_t(r) * w.row_bytes;
  return w.type == GgmlType::Q4_0 ? reinterpret_cast<const kernels::BlockQ4_0*>(row)[b].d
                                  : reinterpret_cast<const kernels::BlockQ8_0*>(row)[b].d;
}

class Int8PackTypes : public ::testing::TestWithParam<GgmlType> {};

TEST_P(Int8PackTypes, HoldsEveryQuantAndScaleAndPadsTheLastGroup) {
  const GgmlType type = GetParam();
  QWeight w(type, 24, 288, 7);  // a group of 16 and one of 8 rows; 9 blocks: a half-filled last unit
  ASSERT_TRUE(int8_packable(w.view));
  const PackedWeight p = int8_pack_weight(w.view, 2);
  const size_t gb = int8_pack_group_bytes(type, 288);
  EXPECT_EQ(gb, 5 * int8_pack_unit_bytes(type));
  ASSERT_EQ(p.size, 2 * gb);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p.data()) % 64, 0u);
  for (int64_t r = 0; r < 32; ++r) {
    const uint8_t* g = p.data() + size_t(r / 16) * gb;
    for (int b = 0; b < 9; ++b) {
      const uint16_t d = int8_pack_scale_at(type, g, int(r % 16), b);
      EXPECT_EQ(d, r < 24 ? stored_scale(w.view, r, b) : 0) << "row " << r << " block " << b;
    }
    for (int64_t c = 0; c < 288; ++c) {
      const int q = int8_pack_quant_at(type, g, int(r % 16), c);
      const int pad = type == GgmlType::Q4_0 ? 0 : -128;  // zero bytes read back as stored
      ASSERT_EQ(q, r < 24 ? stored_quant(w.view, r, c) : pad) << "row " << r << " col " << c;
    }
  }
  QWeight f(GgmlType::F32, 16, 64, 1), odd(type, 12, 64, 2);
  EXPECT_FALSE(int8_packable(f.view));
  EXPECT_FALSE(int8_packable(odd.view));
}

INSTANTIATE_TEST_SUITE_P(Types, Int8PackTypes, ::testing::Values(GgmlType::Q4_0, GgmlType::Q8_0));

using GroupKernel = void (*)(GgmlType, const uint8_t*, int, int, const int8_t*, const float*, const int32_t*, int, float*,
                             size_t);
using QuantizeRow = void (*)(const float*, int64_t, int32_t, int8_t*, float*, int32_t*);
struct SimdLevel {
  const char* name;
  kernels::Isa level;
  GroupKernel group;
  QuantizeRow quantize;
};
const SimdLevel kLevels[] = {{"avx512", kernels::Isa::kAvx512, detail::int8_group_avx512, detail::int8_quantize_row_avx512},
                             {"avx2", kernels::Isa::kAvx2, detail::int8_group_avx2, detail::int8_quantize_row_avx2}};

// The plain group kernel against the plain kernels' dots (runs at every ISA level), and each SIMD one
// this CPU runs against the plain one, bit for bit, for 1..17 tokens, 8 and 16 rows, even and odd block
// counts.
TEST_P(Int8PackTypes, GroupKernelMatchesPlainDotsAndSimdEqualsPlainBits) {
  const GgmlType type = GetParam();
  for (int64_t cols : {int64_t(256), int64_t(288)}) {
    for (int rows : {16, 8}) {
      QWeight w(type, rows, cols, 11 + uint32_t(rows));
      const int nb = int(cols / 32);
      std::vector<uint8_t> buf(int8_pack_group_bytes(type, cols) + 64);
      auto* g = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
      int8_pack_group(w.view, 0, g);
      for (int n : {1, 3, 4, 8, 9, 17}) {
        SCOPED_TRACE("cols " + std::to_string(cols) + " rows " + std::to_string(rows) + " n " + std::to_string(n));
        const auto x = activations(n, cols, 30 + uint32_t(n));
        const QuantizedTokens qt(type, x, n, cols);
        const auto& [aq, ad, ac] = qt;
        std::vector<float> ref(size_t(n) * size_t(rows)), dots(ref.size());
        detail::int8_group_ref(type, g, rows, nb, aq.data(), ad.data(), ac.data(), n, ref.data(), size_t(rows));
        plain_matmul(w.view, x.data(), n, dots.data());
        for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(ref[i], dots[i], 0.02f + 0.01f * std::fabs(dots[i])) << i;
        for (const SimdLevel& l : kLevels) {
          if (kernels::detected_isa() < l.level) continue;
          std::vector<float> simd(ref.size(), -1.0f);
          l.group(type, g, rows, nb, aq.data(), ad.data(), ac.data(), n, simd.data(), size_t(rows));
          EXPECT_EQ(0, std::memcmp(simd.data(), ref.data(), ref.size() * sizeof(float))) << l.name;
        }
      }
    }
  }
}

TEST_P(Int8PackTypes, PairKernelEqualsTwoSingleGroupsBitForBit) {
  if (kernels::detected_isa() < kernels::Isa::kAvx512) GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  const GgmlType type = GetParam();
  const int64_t cols = 288;  // an odd block count: the last unit half-filled
  const int nb = int(cols / 32);
  for (int rows : {32, 24}) {  // a second group of 16 rows, or of 8 (zero-padded)
    QWeight w(type, rows, cols, 5 + uint32_t(rows));
    const size_t gb = int8_pack_group_bytes(type, cols);
    std::vector<uint8_t> buf(2 * gb + 64);
    auto* g = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
    int8_pack_group(w.view, 0, g);
    int8_pack_group(w.view, 16, g + gb);
    for (int n : {2, 4, 5, 9}) {
      SCOPED_TRACE("rows " + std::to_string(rows) + " n " + std::to_string(n));
      const QuantizedTokens qt(type, activations(n, cols, 40 + uint32_t(n)), n, cols);
      const auto& [aq, ad, ac] = qt;
      const size_t ys = size_t(rows);
      std::vector<float> single(size_t(n) * ys, -1.0f), pair(single.size(), -2.0f);
      detail::int8_group_avx512(type, g, 16, nb, aq.data(), ad.data(), ac.data(), n, single.data(), ys);
      detail::int8_group_avx512(type, g + gb, rows - 16, nb, aq.data(), ad.data(), ac.data(), n, single.data() + 16, ys);
      detail::int8_group_pair_avx512(type, g, g + gb, rows - 16, nb, aq.data(), ad.data(), ac.data(), n, pair.data(),
                                     pair.data() + 16, ys);
      EXPECT_EQ(0, std::memcmp(single.data(), pair.data(), single.size() * sizeof(float)));
    }
  }
}

TEST(Int8Gemm, SimdQuantizeRowEqualsPlainBits) {
  if (kernels::detected_isa() < kernels::Isa::kAvx2) GTEST_SKIP() << "this CPU has no AVX2";
  const int64_t cols = 320;
  std::vector<float> x = activations(4, cols, 77);
  x[5] = 1e-30f;                                            // a tiny value
  for (int64_t c = 64; c < 96; ++c) x[size_t(c)] = 2.5f;    // a constant block
  x[100] = -x[101];
  for (int t = 0; t < 4; ++t) {
    for (int32_t offset : {8, 128}) {
      const float* row = x.data() + size_t(t) * size_t(cols);
      std::vector<int8_t> q_ref(static_cast<size_t>(cols));
      std::vector<float> d_ref(size_t(cols / 32));
      std::vector<int32_t> c_ref(d_ref.size());
      detail::int8_quantize_row(row, cols, offset, q_ref.data(), d_ref.data(), c_ref.data());
      for (const SimdLevel& l : kLevels) {
        if (kernels::detected_isa() < l.level) continue;
        std::vector<int8_t> q_simd(static_cast<size_t>(cols), 99);
        std::vector<float> d_simd(d_ref.size(), -1);
        std::vector<int32_t> c_simd(d_ref.size(), -1);
        l.quantize(row, cols, offset, q_simd.data(), d_simd.data(), c_simd.data());
        EXPECT_EQ(q_ref, q_simd) << l.name;
        EXPECT_EQ(0, std::memcmp(d_ref.data(), d_simd.data(), d_ref.size() * sizeof(float))) << l.name;
        EXPECT_EQ(c_ref, c_simd) << l.name;
      }
    }
  }
}

TEST(Int8Gemm, SupportedOnlyForQ4_0OrQ8_0RowsOf8OfOneTypeFromAvx2) {
  QWeight w(GgmlType::Q4_0, 16, 64, 1), odd(GgmlType::Q4_0, 12, 64, 2), q8(GgmlType::Q8_0, 16, 64, 1);
  QWeight f(GgmlType::F32, 16, 64, 1);
  const kernels::MatmulOut ok{&w.view, nullptr, 16}, bad{&odd.view, nullptr, 12}, ok8{&q8.view, nullptr, 16};
  const kernels::MatmulOut mixed[2] = {ok, ok8}, f32{&f.view, nullptr, 16};
  const bool simd = kernels::detected_isa() >= kernels::Isa::kAvx2;
  EXPECT_EQ(int8_gemm_supported(std::span(&ok, 1)), simd);
  EXPECT_EQ(int8_gemm_supported(std::span(&ok8, 1)), simd);
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
      EXPECT_LT(kernels::detected_isa(), kernels::Isa::kAvx2);
      GTEST_SKIP() << "int8_gemm needs AVX2 at least; this run is at "
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
    {  // the same bits from load-time packed copies
      QWeight pa(type, 24, cols, 3), pb(type, 8, cols, 4);
      const PackedWeight ka = int8_pack_weight(pa.view, 2), kb = int8_pack_weight(pb.view, 1);
      pa.view.packed = ka.data();
      pb.view.packed = kb.data();
      std::vector<float> qa(ya.size()), qb(yb.size());
      const kernels::MatmulOut pouts[2] = {{&pa.view, qa.data(), 24}, {&pb.view, qb.data(), 8}};
      EXPECT_TRUE(int8_gemm_preferred(pouts, n));
      int8_gemm(pool, pouts, x.data(), size_t(cols), n, qs);
      EXPECT_EQ(0, std::memcmp(qa.data(), ya.data(), ya.size() * sizeof(float)));
      EXPECT_EQ(0, std::memcmp(qb.data(), yb.data(), yb.size() * sizeof(float)));
    }
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
