#include "engine/kernels/quant_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/blocks.h"
#include "engine/kernels/fp16.h"

namespace kuai::engine::kernels::ref {
namespace {

int nearest_int(float x) { return int(std::lrintf(x)); }

// The element with the largest magnitude, sign kept.
float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

// Fits x ≈ scale * L - min with L in [0, nmax] for one sub-block; min >= 0 (i.e. the offset is <= 0).
// Starts from the range and refines (scale, min) by least squares over a few rounds.
void fit_scale_min(const float* x, int n, int nmax, float& scale, float& min, uint8_t* L) {
  float lo = *std::min_element(x, x + n), hi = *std::max_element(x, x + n);
  if (lo > 0) lo = 0;
  if (hi == lo) {
    scale = 0;
    min = -lo;
    std::fill(L, L + n, 0);
    return;
  }
  scale = (hi - lo) / nmax;
  min = -lo;
  float best_err = INFINITY, best_scale = scale, best_min = min;
  for (int round = 0; round < 4; ++round) {
    const float inv = scale > 0 ? 1.0f / scale : 0;
    double sl = 0, sll = 0, sx = 0, sxl = 0;
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int((x[i] + min) * inv), 0, nmax);
      L[i] = uint8_t(l);
      const float e = scale * l - min - x[i];
      err += e * e;
      sl += l;
      sll += double(l) * l;
      sx += x[i];
      sxl += double(x[i]) * l;
    }
    if (err < best_err) {
      best_err = err;
      best_scale = scale;
      best_min = min;
    }
    // least squares for x = s*L + b with b = -min
    const double det = n * sll - sl * sl;
    if (det <= 0) break;
    double s = (n * sxl - sl * sx) / det;
    double b = (sx - s * sl) / n;
    if (b > 0) {  // the offset must stay <= 0: refit with b = 0
      b = 0;
      s = sll > 0 ? sxl / sll : 0;
    }
    if (s <= 0) break;
    scale = float(s);
    min = float(-b);
  }
  scale = best_scale;
  min = best_min;
}

}  // namespace

void to_float_f32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, size_t(n) * 4); }
void from_float_f32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, size_t(n) * 4); }

void to_float_f16(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(s[i]);
}
void from_float_f16(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(src[i]);
}
void to_float_bf16(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(s[i]);
}
void from_float_bf16(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_bf16(src[i]);
}

void to_float_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK8_0; ++j) dst[i * kQK8_0 + j] = d * b[i].qs[j];
  }
}
void from_float_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* x = src + i * kQK8_0;
    float amax = 0;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) b[i].qs[j] = int8_t(nearest_int(x[j] * id));
  }
}

void to_float_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      dst[i * kQK4_0 + j] = d * ((b[i].qs[j] & 0xF) - 8);
      dst[i * kQK4_0 + j + 16] = d * ((b[i].qs[j] >> 4) - 8);
    }
  }
}
void from_float_q4_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    const float max = signed_absmax(x, kQK4_0);
    const float d = max / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = std::min(15, int(x[j] * id + 8.5f));
      const int q1 = std::min(15, int(x[j + 16] * id + 8.5f));
      b[i].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

void to_float_q4_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    float* y = dst + i * kQK_K;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc, m;
      q4k_scale_min(2 * c, b[i].scales, sc, m);
      const float d1 = d * sc, m1 = dmin * m;
      q4k_scale_min(2 * c + 1, b[i].scales, sc, m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) y[l] = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) y[l + 32] = d2 * (q[l] >> 4) - m2;
      q += 32;
      y += 64;
    }
  }
}
void from_float_q4_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    uint8_t L[kQK_K];
    float scales[8], mins[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      fit_scale_min(x + 32 * j, 32, 15, scales[j], mins[j], L + 32 * j);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0;
    std::memset(b[i].scales, 0, sizeof(b[i].scales));
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
      ls[j] = uint8_t(std::min(63, nearest_int(inv_scale * scales[j])));
      lm[j] = uint8_t(std::min(63, nearest_int(inv_min * mins[j])));
      if (j < 4) {
        b[i].scales[j] = ls[j];
        b[i].scales[j + 4] = lm[j];
      } else {
        b[i].scales[j + 4] = uint8_t((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
        b[i].scales[j - 4] |= uint8_t((ls[j] >> 4) << 6);
        b[i].scales[j] |= uint8_t((lm[j] >> 4) << 6);
      }
    }
    b[i].d = fp32_to_fp16(max_scale / 63.0f);
    b[i].dmin = fp32_to_fp16(max_min / 63.0f);
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      q4k_scale_min(j, b[i].scales, sc, m);
      const float dd = d * sc;
      if (dd == 0) {
        std::fill(L + 32 * j, L + 32 * j + 32, 0);
        continue;
      }
      const float dm = dmin * m;
      for (int l = 0; l < 32; ++l) L[32 * j + l] = uint8_t(std::clamp(nearest_int((x[32 * j + l] + dm) / dd), 0, 15));
    }
    uint8_t* q = b[i].qs;
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
  }
}

void to_float_q6_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    float* y = dst + i * kQK_K;
    for (int c = 0; c < kQK_K; c += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}
void from_float_q6_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < 16; ++j) {
      const float mx = signed_absmax(x + 16 * j, 16);
      scales[j] = mx / -32.0f;
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    int8_t L[kQK_K];
    if (max_abs_scale == 0) {
      std::memset(&b[i], 0, sizeof(BlockQ6_K));
      std::fill(L, L + kQK_K, int8_t(32));
    } else {
      const float iscale = -128.0f / max_scale;
      b[i].d = fp32_to_fp16(1.0f / iscale);
      const float d = fp16_to_fp32(b[i].d);
      for (int j = 0; j < 16; ++j) {
        b[i].scales[j] = int8_t(std::clamp(nearest_int(iscale * scales[j]), -128, 127));
        const float dd = d * b[i].scales[j];
        for (int l = 0; l < 16; ++l) {
          const int q = dd != 0 ? std::clamp(nearest_int(x[16 * j + l] / dd), -32, 31) : 0;
          L[16 * j + l] = int8_t(q + 32);
        }
      }
    }
    uint8_t* ql = b[i].ql;
    uint8_t* qh = b[i].qh;
    for (int c = 0; c < kQK_K; c += 128) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = uint8_t(L[c + l]), q2 = uint8_t(L[c + l + 32]);
        const uint8_t q3 = uint8_t(L[c + l + 64]), q4 = uint8_t(L[c + l + 96]);
        ql[l] = uint8_t((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = uint8_t((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
  }
}

void to_float_q8_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i)
    for (int j = 0; j < kQK_K; ++j) dst[i * kQK_K + j] = b[i].d * b[i].qs[j];
}
void from_float_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    const float max = signed_absmax(x, kQK_K);
    if (max == 0) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) b[i].qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[i].qs[16 * j + l];
      b[i].bsums[j] = int16_t(sum);
    }
    b[i].d = 1.0f / iscale;
  }
}

float dot_f32_f32(int n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0;
  for (int i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}
float dot_f16_f32(int n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0;
  for (int i = 0; i < n; ++i) sum += fp16_to_fp32(x[i]) * y[i];
  return sum;
}
float dot_bf16_f32(int n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0;
  for (int i = 0; i < n; ++i) sum += bf16_to_fp32(x[i]) * y[i];
  return sum;
}
float dot_q8_0_q8_0(int n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int i = 0; i < n / kQK8_0; ++i) {
    int s = 0;
    for (int j = 0; j < kQK8_0; ++j) s += x[i].qs[j] * y[i].qs[j];
    sum += float(s) * fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d);
  }
  return sum;
}
float dot_q4_0_q8_0(int n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int i = 0; i < n / kQK4_0; ++i) {
    int s = 0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      s += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
      s += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
    }
    sum += float(s) * fp16_to_fp32(x[i].d) * fp16_to_fp32(y[i].d);
  }
  return sum;
}
float dot_q4_k_q8_k(int n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int i = 0; i < n / kQK_K; ++i) {
    const uint8_t* q = x[i].qs;
    const int8_t* a8 = y[i].qs;
    int sum_scaled = 0, sum_mins = 0;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc1, m1, sc2, m2;
      q4k_scale_min(2 * c, x[i].scales, sc1, m1);
      q4k_scale_min(2 * c + 1, x[i].scales, sc2, m2);
      int s1 = 0, s2 = 0;
      for (int l = 0; l < 32; ++l) {
        s1 += (q[l] & 0xF) * a8[l];
        s2 += (q[l] >> 4) * a8[l + 32];
      }
      sum_scaled += sc1 * s1 + sc2 * s2;
      sum_mins += m1 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]) + m2 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
      q += 32;
      a8 += 64;
    }
    sum += y[i].d * (fp16_to_fp32(x[i].d) * float(sum_scaled) - fp16_to_fp32(x[i].dmin) * float(sum_mins));
  }
  return sum;
}
float dot_q6_k_q8_k(int n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int i = 0; i < n / kQK_K; ++i) {
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    const int8_t* a8 = y[i].qs;
    int total = 0;
    for (int c = 0; c < kQK_K; c += 128) {
      int s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        s[is] += q1 * a8[l];
        s[is + 2] += q2 * a8[l + 32];
        s[is + 4] += q3 * a8[l + 64];
        s[is + 6] += q4 * a8[l + 96];
      }
      for (int k = 0; k < 8; ++k) total += sc[k] * s[k];
      ql += 64;
      qh += 32;
      sc += 8;
      a8 += 128;
    }
    sum += fp16_to_fp32(x[i].d) * y[i].d * float(total);
  }
  return sum;
}


void dot_q4_k_q8_k_x4(int n, const void* w, const void* a, size_t a_stride, float* out) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* y[4];
  for (int r = 0; r < 4; ++r) y[r] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a) + r * a_stride);
  float sum[4] = {0, 0, 0, 0};
  for (int i = 0; i < n / kQK_K; ++i) {
    uint8_t q[kQK_K], sc[8], m[8];
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        q[64 * c + l] = x[i].qs[32 * c + l] & 0xF;
        q[64 * c + 32 + l] = x[i].qs[32 * c + l] >> 4;
      }
    }
    for (int j = 0; j < 8; ++j) q4k_scale_min(j, x[i].scales, sc[j], m[j]);
    const float d = fp16_to_fp32(x[i].d), dmin = fp16_to_fp32(x[i].dmin);
    for (int r = 0; r < 4; ++r) {
      const BlockQ8_K& yb = y[r][i];
      int sum_scaled = 0, sum_mins = 0;
      for (int c = 0; c < 4; ++c) {
        int s1 = 0, s2 = 0;
        for (int l = 0; l < 32; ++l) {
          s1 += q[64 * c + l] * yb.qs[64 * c + l];
          s2 += q[64 * c + 32 + l] * yb.qs[64 * c + 32 + l];
        }
        sum_scaled += sc[2 * c] * s1 + sc[2 * c + 1] * s2;
        sum_mins += m[2 * c] * (yb.bsums[4 * c] + yb.bsums[4 * c + 1]) +
                    m[2 * c + 1] * (yb.bsums[4 * c + 2] + yb.bsums[4 * c + 3]);
      }
      sum[r] += yb.d * (d * float(sum_scaled) - dmin * float(sum_mins));
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = sum[r];
}

void dot_q6_k_q8_k_x4(int n, const void* w, const void* a, size_t a_stride, float* out) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* y[4];
  for (int r = 0; r < 4; ++r) y[r] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a) + r * a_stride);
  float sum[4] = {0, 0, 0, 0};
  for (int i = 0; i < n / kQK_K; ++i) {
    // q[e] = signed 6-bit value of element e (0..255), in the activation's element order
    int8_t q[kQK_K];
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    for (int c = 0; c < kQK_K; c += 128) {
      for (int l = 0; l < 32; ++l) {
        q[c + l] = int8_t(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        q[c + l + 32] = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        q[c + l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        q[c + l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      ql += 64;
      qh += 32;
    }
    const float d = fp16_to_fp32(x[i].d);
    for (int r = 0; r < 4; ++r) {
      const int8_t* a8 = y[r][i].qs;
      const int8_t* sc = x[i].scales;
      int total = 0;
      for (int c = 0; c < kQK_K; c += 128) {
        int s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int l = 0; l < 32; ++l) {
          const int is = l / 16;
          s[is] += q[c + l] * a8[l];
          s[is + 2] += q[c + l + 32] * a8[l + 32];
          s[is + 4] += q[c + l + 64] * a8[l + 64];
          s[is + 6] += q[c + l + 96] * a8[l + 96];
        }
        for (int k = 0; k < 8; ++k) total += sc[k] * s[k];
        sc += 8;
        a8 += 128;
      }
      sum[r] += d * y[r][i].d * float(total);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = sum[r];
}

}  // namespace kuai::engine::kernels::ref
