#include "engine/model/kquant_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/blocks.h"
#include "engine/kernels/fp16.h"
#include "engine/kernels/type_traits.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {

namespace {

constexpr int kGroupRows = 16;

// One Q6_K super-block of a row as unsigned quants (q + 32) in element order, its 16 int8 scales, d.
struct Unpacked {
  uint8_t q[256];
  uint8_t sc[16];
  uint16_t d = 0;
};

void unpack_q6_k(const kernels::BlockQ6_K& b, Unpacked& u) {
  for (int c = 0; c < 2; ++c) {
    const uint8_t* ql = b.ql + 64 * c;
    const uint8_t* qh = b.qh + 32 * c;
    uint8_t* y = u.q + 128 * c;
    for (int l = 0; l < 32; ++l) {
      y[l] = uint8_t((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
      y[l + 32] = uint8_t((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      y[l + 64] = uint8_t((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      y[l + 96] = uint8_t((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
  std::memcpy(u.sc, b.scales, 16);
  u.d = b.d;
}

// Q4_K's weights 4j..4j+3 of a super-block as one 32-bit word (a byte each, in [0, 15]): they sit in
// chunk c = j / 16 of 32 bytes, low nibbles for its first 32 weights and high nibbles for the next 32.
// The packs work a word at a time (per byte, the pack was a third of a Q4_K prompt's time).
uint32_t q4_k_word(const kernels::BlockQ4_K& b, int j) {
  const int c = j / 16, l0 = (4 * j) % 64;
  uint32_t v;
  std::memcpy(&v, b.qs + 32 * c + l0 % 32, 4);
  return l0 < 32 ? v & 0x0F0F0F0Fu : (v >> 4) & 0x0F0F0F0Fu;
}

void pack_q4_k_quants(const kernels::BlockQ4_K& b, int r, uint8_t* sb) {
  for (int j = 0; j < 64; ++j) {
    const uint32_t v = q4_k_word(b, j);
    std::memcpy(sb + 64 * j + 4 * r, &v, 4);
  }
}

}  // namespace

void detail::kquant_pack_group(const kernels::WeightView& w, int64_t r0, uint8_t* dst) {
  const int n_super = int(w.cols / 256);
  const int rows = int(std::min<int64_t>(kGroupRows, w.rows - r0));
  if (rows < kGroupRows) std::memset(dst, 0, size_t(n_super) * kKquantSuperBytes);  // every byte of a full group is written
  Unpacked u;
  for (int r = 0; r < rows; ++r) {
    const auto* row = static_cast<const uint8_t*>(w.data) + size_t(r0 + r) * w.row_bytes;
    for (int s = 0; s < n_super; ++s) {
      uint8_t* sb = dst + size_t(s) * kKquantSuperBytes;
      if (w.type == GgmlType::Q4_K) {
        const auto& b = reinterpret_cast<const kernels::BlockQ4_K*>(row)[s];
        pack_q4_k_quants(b, r, sb);
        for (int j = 0; j < 8; ++j) kernels::q4k_scale_min(j, b.scales, sb[4096 + 16 * j + r], sb[4096 + 128 + 16 * j + r]);
        std::memcpy(sb + 4352 + 2 * r, &b.d, 2);
        std::memcpy(sb + 4384 + 2 * r, &b.dmin, 2);
      } else {
        unpack_q6_k(reinterpret_cast<const kernels::BlockQ6_K*>(row)[s], u);
        for (int j = 0; j < 64; ++j) std::memcpy(sb + 64 * j + 4 * r, u.q + 4 * j, 4);
        for (int j = 0; j < 16; ++j) sb[4096 + 16 * j + r] = u.sc[j];
        std::memcpy(sb + 4352 + 2 * r, &u.d, 2);
        std::memset(sb + 4384 + 2 * r, 0, 2);
      }
    }
  }
}

void detail::kquant_pack_group_q4k_amx(const kernels::WeightView& w, int64_t r0, uint8_t* dst) {
  const int n_super = int(w.cols / 256);
  const int rows = int(std::min<int64_t>(kGroupRows, w.rows - r0));
  if (rows < kGroupRows) std::memset(dst, 0, size_t(n_super) * kKquantQ4kAmxSuperBytes);
  for (int r = 0; r < rows; ++r) {
    const auto* row = static_cast<const uint8_t*>(w.data) + size_t(r0 + r) * w.row_bytes;
    for (int s = 0; s < n_super; ++s) {
      const auto& b = reinterpret_cast<const kernels::BlockQ4_K*>(row)[s];
      uint8_t* sb = dst + size_t(s) * kKquantQ4kAmxSuperBytes;
      uint8_t sc[8], m[8];
      for (int j = 0; j < 8; ++j) kernels::q4k_scale_min(j, b.scales, sc[j], m[j]);
      for (int v = 0; v < 64; ++v) {
        // Each byte times a factor < 8 stays below 128: one 32-bit multiply scales the 4 bytes apart.
        const uint32_t q = q4_k_word(b, v), sub = uint32_t(sc[v / 8]);  // 8 vectors a sub-block of 32
        const uint32_t lo = q * (sub & 7), hi = q * (sub >> 3);
        std::memcpy(sb + 64 * v + 4 * r, &lo, 4);
        std::memcpy(sb + 4096 + 64 * v + 4 * r, &hi, 4);
      }
      for (int j = 0; j < 8; ++j) {
        const int16_t mj = m[j];
        std::memcpy(sb + 8192 + 64 * (j / 2) + 4 * r + 2 * (j % 2), &mj, 2);
      }
      std::memcpy(sb + 8192 + 256 + 2 * r, &b.d, 2);
      std::memcpy(sb + 8192 + 256 + 32 + 2 * r, &b.dmin, 2);
    }
  }
}

void detail::kquant_quantize_row(const float* x, int64_t cols, int8_t* q, float* d, int32_t* s16) {
  for (int64_t s = 0; s < cols / 256; ++s) {
    const float* xs = x + s * 256;
    float amax = 0;
    for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(xs[i]));
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    d[s] = amax / 127.0f;
    for (int k = 0; k < 16; ++k) {
      int32_t sum = 0;
      for (int i = 16 * k; i < 16 * k + 16; ++i) {
        const int v = std::clamp(int(std::nearbyint(xs[i] * inv)), -127, 127);
        q[s * 256 + i] = int8_t(v);
        sum += v;
      }
      s16[s * 16 + k] = sum;
    }
  }
}

void detail::kquant_group_ref(GgmlType type, const uint8_t* g, int rows, int n_super, const int8_t* aq, const float* ad,
                              const int32_t* as, int n, float* y, size_t ys) {
  const bool q4 = type == GgmlType::Q4_K;
  const size_t cols = size_t(n_super) * 256;
  for (int t = 0; t < n; ++t) {
    for (int r = 0; r < rows; ++r) {
      float acc = 0.0f;
      for (int s = 0; s < n_super; ++s) {
        const uint8_t* sb = g + size_t(s) * kKquantSuperBytes;
        const int8_t* a = aq + size_t(t) * cols + size_t(s) * 256;
        const int32_t* a16 = as + (size_t(t) * size_t(n_super) + size_t(s)) * 16;
        const int sub = q4 ? 32 : 16;
        int32_t isum = 0, msum = 0;
        for (int k = 0; k < 256 / sub; ++k) {
          int32_t dot = 0;
          for (int e = k * sub; e < (k + 1) * sub; ++e) dot += int32_t(sb[64 * (e / 4) + 4 * r + e % 4]) * a[e];
          if (q4) {
            isum += int32_t(sb[4096 + 16 * k + r]) * dot;
            msum += int32_t(sb[4096 + 128 + 16 * k + r]) * (a16[2 * k] + a16[2 * k + 1]);
          } else {
            isum += int32_t(int8_t(sb[4096 + 16 * k + r])) * (dot - 32 * a16[k]);
          }
        }
        uint16_t dh, mh;
        std::memcpy(&dh, sb + 4352 + 2 * r, 2);
        std::memcpy(&mh, sb + 4384 + 2 * r, 2);
        const float da = ad[size_t(t) * size_t(n_super) + size_t(s)];
        acc = std::fma(kernels::fp16_to_fp32(dh) * da, float(isum), acc);
        if (q4) acc = std::fma(-(kernels::fp16_to_fp32(mh) * da), float(msum), acc);
      }
      y[size_t(t) * ys + size_t(r)] = acc;
    }
  }
}

bool kquant_gemm_supported(std::span<const kernels::MatmulOut> outs) {
  if (outs.empty() || kernels::detected_isa() < kernels::Isa::kAvx512) return false;
  for (const auto& o : outs) {
    const kernels::WeightView& w = *o.w;
    if ((w.type != GgmlType::Q4_K && w.type != GgmlType::Q6_K) || w.cols % 256 != 0 || w.cols != outs[0].w->cols ||
        w.rows <= 0)
      return false;
  }
  return true;
}

bool kquant_gemm_preferred(std::span<const kernels::MatmulOut> outs, int n_tokens) {
  return n_tokens >= kKquantGemmMinTokens && kquant_gemm_supported(outs);
}

void kquant_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
                 int n_tokens, KquantGemmScratch& s) {
  if (outs.empty() || n_tokens <= 0) return;
  const int64_t cols = outs[0].w->cols;
  const int n_super = int(cols / 256);
  const bool amx = kernels::detected_isa() >= kernels::Isa::kAmx;
  // The AMX kernel reads whole tiles of 16 tokens: the rows past n_tokens are zeros.
  const size_t n_rows = amx ? (size_t(n_tokens) + detail::kKquantAmxTokens - 1) / detail::kKquantAmxTokens * detail::kKquantAmxTokens
                            : size_t(n_tokens);
  s.aq.resize(n_rows * size_t(cols));
  s.ad.resize(n_rows * size_t(n_super));
  s.as.resize(n_rows * size_t(n_super) * 16);
  std::fill(s.aq.begin() + ptrdiff_t(size_t(n_tokens) * size_t(cols)), s.aq.end(), int8_t(0));
  std::fill(s.ad.begin() + ptrdiff_t(size_t(n_tokens) * size_t(n_super)), s.ad.end(), 0.0f);
  std::fill(s.as.begin() + ptrdiff_t(size_t(n_tokens) * size_t(n_super) * 16), s.as.end(), 0);
  pool.parallel_for(n_tokens, std::max<int64_t>(1, 4096 / cols), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t)
      detail::kquant_quantize_row_avx512(x + size_t(t) * x_stride, cols, s.aq.data() + size_t(t) * size_t(cols),
                                         s.ad.data() + size_t(t) * size_t(n_super),
                                         s.as.data() + size_t(t) * size_t(n_super) * 16);
  });
  const size_t pack_bytes = size_t(n_super) * std::max(detail::kKquantSuperBytes, detail::kKquantQ4kAmxSuperBytes) + 64;
  if (s.pack.size() < size_t(pool.size())) s.pack.resize(size_t(pool.size()));
  for (auto& p : s.pack)
    if (p.size() < pack_bytes) p.resize(pack_bytes);
  const size_t n_outs = outs.size();
  std::vector<int64_t> before(n_outs + 1, 0);
  for (size_t o = 0; o < n_outs; ++o) before[o + 1] = before[o] + (outs[o].w->rows + kGroupRows - 1) / kGroupRows;
  const auto group_kernel = amx ? detail::kquant_group_amx : detail::kquant_group_avx512;
  pool.parallel_for(before[n_outs], 1, [&](int64_t begin, int64_t end, int ith) {
    auto addr = reinterpret_cast<uintptr_t>(s.pack[size_t(ith)].data());
    auto* pack = reinterpret_cast<uint8_t*>((addr + 63) & ~uintptr_t(63));
    for (int64_t gi = begin; gi < end; ++gi) {
      size_t o = 0;
      while (before[o + 1] <= gi) ++o;
      const kernels::WeightView& w = *outs[o].w;
      const int64_t r0 = (gi - before[o]) * kGroupRows;
      const int rows = int(std::min<int64_t>(kGroupRows, w.rows - r0));
      if (amx && w.type == GgmlType::Q4_K) detail::kquant_pack_group_q4k_amx(w, r0, pack);
      else detail::kquant_pack_group(w, r0, pack);
      group_kernel(w.type, pack, rows, n_super, s.aq.data(), s.ad.data(), s.as.data(), n_tokens, outs[o].y + r0,
                   outs[o].y_stride);
    }
  });
}

}  // namespace kuai::engine::model
