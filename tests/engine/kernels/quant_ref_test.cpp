// Reference quantizers: round-trip error bounds per type, and bit-exact known values for the formats.
#include "engine/kernels/quant_ref.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/blocks.h"
#include "engine/kernels/fp16.h"
#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {
namespace {

std::vector<float> random_row(int n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// Root-mean-square error of a round trip relative to the data's RMS.
double relative_rms_error(GgmlType type, const std::vector<float>& x) {
  const KernelTraits* k = kernel_traits(type, Isa::kPlain);
  std::vector<uint8_t> q(row_bytes(type, x.size()));
  std::vector<float> back(x.size());
  k->from_float(x.data(), q.data(), int64_t(x.size()));
  k->to_float(q.data(), back.data(), int64_t(x.size()));
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += double(back[i] - x[i]) * (back[i] - x[i]);
    ref += double(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

TEST(Fp16, ExactForRepresentableValues) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.9604644775390625e-08f}) {
    EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(v)), v) << v;
  }
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16(1e6f), 0x7c00);  // overflow -> inf
  // round to nearest even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10
  EXPECT_EQ(fp32_to_fp16(1.0f + 0.00048828125f), 0x3c00);
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
}

TEST(Fp16, AllHalvesRoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = uint16_t(h);
    if ((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff)) continue;  // NaN payloads
    EXPECT_EQ(fp32_to_fp16(fp16_to_fp32(bits)), bits) << h;
  }
}

// Stated bounds: relative RMS error of a round trip on Gaussian data.
TEST(QuantRef, RoundTripErrorBounds) {
  const auto x = random_row(4096, 1);
  EXPECT_EQ(relative_rms_error(GgmlType::F32, x), 0.0);
  EXPECT_LT(relative_rms_error(GgmlType::F16, x), 1e-3);
  EXPECT_LT(relative_rms_error(GgmlType::BF16, x), 5e-3);
  EXPECT_LT(relative_rms_error(GgmlType::Q8_0, x), 0.01);
  EXPECT_LT(relative_rms_error(GgmlType::Q6_K, x), 0.03);
  EXPECT_LT(relative_rms_error(GgmlType::Q4_K, x), 0.12);
  EXPECT_LT(relative_rms_error(GgmlType::Q4_0, x), 0.15);
  EXPECT_LT(relative_rms_error(GgmlType::Q8_K, x), 0.01);
}

TEST(QuantRef, ZeroRowsStayZero) {
  std::vector<float> zeros(512, 0.0f);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_K}) {
    const KernelTraits* k = kernel_traits(t, Isa::kPlain);
    std::vector<uint8_t> q(row_bytes(t, zeros.size()));
    std::vector<float> back(zeros.size(), 1.0f);
    k->from_float(zeros.data(), q.data(), 512);
    k->to_float(q.data(), back.data(), 512);
    for (float v : back) EXPECT_EQ(v, 0.0f) << ggml_type_name(t);
  }
}

TEST(QuantRef, Q8_0LayoutMatchesGgml) {
  // x = j - 16 for j < 32: amax 16 -> d = 16/127, q = round(x * 127/16).
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[size_t(j)] = float(j - 16);
  BlockQ8_0 b;
  ref::from_float_q8_0(x.data(), &b, 32);
  EXPECT_EQ(b.d, fp32_to_fp16(16.0f / 127.0f));
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[16], 0);
  EXPECT_EQ(b.qs[31], int8_t(std::lrintf(15 * 127.0f / 16)));
}

TEST(QuantRef, Q4_0NibbleOrder) {
  // element j in the low nibble of qs[j], element j+16 in the high nibble.
  std::vector<float> x(32, 0.0f);
  x[0] = -8.0f;  // sets d = 1
  x[1] = 3.0f;
  x[17] = -2.0f;
  BlockQ4_0 b;
  ref::from_float_q4_0(x.data(), &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  EXPECT_EQ(b.qs[0] & 0xF, 0);
  EXPECT_EQ(b.qs[1] & 0xF, 11);
  EXPECT_EQ(b.qs[1] >> 4, 6);
}

TEST(QuantRef, DotsMatchDequantizedProducts) {
  // dot(w, a) of the integer kernels equals the float dot of the dequantized rows (up to float rounding).
  const int n = 1024;
  const auto w = random_row(n, 7), a = random_row(n, 8);
  for (GgmlType t : {GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K}) {
    const KernelTraits* k = kernel_traits(t, Isa::kPlain);
    const KernelTraits* ka = kernel_traits(k->act_type, Isa::kPlain);
    std::vector<uint8_t> wq(row_bytes(t, n)), aq(row_bytes(k->act_type, n));
    k->from_float(w.data(), wq.data(), n);
    ka->from_float(a.data(), aq.data(), n);
    std::vector<float> wd(n), ad(n);
    k->to_float(wq.data(), wd.data(), n);
    ka->to_float(aq.data(), ad.data(), n);
    double expect = 0;
    for (int i = 0; i < n; ++i) expect += double(wd[size_t(i)]) * ad[size_t(i)];
    EXPECT_NEAR(k->vec_dot(n, wq.data(), aq.data()), expect, 1e-3 * std::sqrt(double(n))) << ggml_type_name(t);
  }
}

}  // namespace
}  // namespace kuai::engine::kernels
