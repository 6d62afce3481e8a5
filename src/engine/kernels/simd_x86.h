// x86 SIMD kernel bodies shared by kernel_avx2.cpp and kernel_avx512.cpp. Everything here has internal
// linkage (anonymous namespace) on purpose: each including file compiles it with its own ISA flags, and
// the two copies must never be merged by the linker. kVnni selects AVX512-VNNI (VL) dot instructions
// over AVX2's maddubs + madd pair.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "engine/kernels/blocks.h"
#include "engine/kernels/prefetch_x86.h"
#include "engine/kernels/reduce_avx2.h"

namespace kuai::engine::kernels {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// Sum of products of signed bytes x*y in groups of 4 -> 8 int32 lanes.
template <bool kVnni>
inline __m256i dot_i8(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  if constexpr (kVnni) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy);
#endif
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// unsigned bytes u (< 128) times signed bytes y in groups of 4 -> int32 lanes
template <bool kVnni>
inline __m256i dot_u8i8(__m256i u, __m256i y) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  if constexpr (kVnni) return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, y);
#endif
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

inline __m256i q4_0_bytes(const uint8_t* qs) {  // 32 values in [-8, 7], element order
  const __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i bytes = _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp);
  return _mm256_sub_epi8(_mm256_and_si256(bytes, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// ---- Q8_0 / Q4_0 weights x Q8_0 activations ----
template <bool kQ4>
inline __m256i qx_bytes(const void* w, int i, float& dx) {
  if constexpr (kQ4) {
    const auto* x = static_cast<const BlockQ4_0*>(w) + i;
    dx = h2f(x->d);
    return q4_0_bytes(x->qs);
  } else {
    const auto* x = static_cast<const BlockQ8_0*>(w) + i;
    dx = h2f(x->d);
    return load256(x->qs);
  }
}

// Decode's one-token dots stream each weight row once. The hardware prefetcher stops at every 4 KiB
// page and restarts behind the loads, so the weight bytes this far ahead are requested by hand: a
// Q8_0 matvec over 256 MiB went from ~60 to ~66 GB/s here (2 threads; 1-4 KiB ahead gained less).
// Rows of one tile (and a thread's next tile) are contiguous, so "ahead" is usually the next row; a
// prefetch never faults, even past the weight's end.
constexpr size_t kRowPrefetchBytes = 8192;

inline void prefetch_ahead(const void* p) {
  _mm_prefetch(static_cast<const char*>(p) + kRowPrefetchBytes, _MM_HINT_T0);
}

// The same for `bytes` of weights from p (one request per cache line).
template <size_t kBytes>
inline void prefetch_ahead_span(const void* p) {
  prefetch_lines_spaced<kBytes>(static_cast<const char*>(p) + kRowPrefetchBytes);
}

// One accumulator, blocks in order: dot_qx_q8_0_x4's steps for one row, so a token's products have the
// same bits alone (decode) or in a batch of 4 (KernelIsa.SingleRowEqualsFourRowKernel; the engine's
// batched = alone depends on it). The integer products are independent, so the core still overlaps
// the blocks; only the FMA chain is serial.
template <bool kVnni, bool kQ4>
float dot_qx_q8_0(int n, const void* w, const void* a) {
  using Block = std::conditional_t<kQ4, BlockQ4_0, BlockQ8_0>;
  const auto* y = static_cast<const BlockQ8_0*>(a);
  __m256 acc = _mm256_setzero_ps();
  const int nb = n / 32;
  for (int i = 0; i < nb; ++i) {
    if (i % 2 == 0) prefetch_ahead(static_cast<const Block*>(w) + i);  // one cache line per two blocks (68 or 36 bytes)
    float d0;
    const __m256i q0 = qx_bytes<kQ4>(w, i, d0);
    const __m256 p0 = _mm256_cvtepi32_ps(dot_i8<kVnni>(q0, load256(y[i].qs)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d0 * h2f(y[i].d)), p0, acc);
  }
  return hsum(acc);
}

template <bool kVnni, bool kQ4>
void dot_qx_q8_0_x4(int n, const void* w, const void* a, size_t stride, float* out) {
  const auto* y0 = static_cast<const BlockQ8_0*>(a);
  const auto* y1 = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(a) + stride);
  const auto* y2 = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(a) + 2 * stride);
  const auto* y3 = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(a) + 3 * stride);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (int i = 0; i < n / 32; ++i) {
    __m256i qx;
    float dx;
    if constexpr (kQ4) {
      const auto* x = static_cast<const BlockQ4_0*>(w) + i;
      qx = q4_0_bytes(x->qs);
      dx = h2f(x->d);
    } else {
      const auto* x = static_cast<const BlockQ8_0*>(w) + i;
      qx = load256(x->qs);
      dx = h2f(x->d);
    }
    // |x| and sign transfer once for the 4 activation rows
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    auto one = [&](const BlockQ8_0& yb, __m256& acc) {
      const __m256i sy = _mm256_sign_epi8(load256(yb.qs), qx);
      const __m256 p = _mm256_cvtepi32_ps(dot_u8i8<kVnni>(ax, sy));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(dx * h2f(yb.d)), p, acc);
    };
    one(y0[i], acc0);
    one(y1[i], acc1);
    one(y2[i], acc2);
    one(y3[i], acc3);
  }
  out[0] = hsum(acc0);
  out[1] = hsum(acc1);
  out[2] = hsum(acc2);
  out[3] = hsum(acc3);
}

// ---- float weights x F32 activations ----
enum class FloatKind { kF32, kF16, kBF16 };

template <FloatKind K>
inline __m256 load8(const void* w, int i) {
  if constexpr (K == FloatKind::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  } else if constexpr (K == FloatKind::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <FloatKind K>
inline float scalar_at(const void* w, int i) {
  if constexpr (K == FloatKind::kF32) {
    return static_cast<const float*>(w)[i];
  } else if constexpr (K == FloatKind::kF16) {
    return h2f(static_cast<const uint16_t*>(w)[i]);
  } else {
    uint32_t b = uint32_t(static_cast<const uint16_t*>(w)[i]) << 16;
    float f;
    __builtin_memcpy(&f, &b, 4);
    return f;
  }
}

template <FloatKind K>
float dot_float(int n, const void* w, const void* a) {
  const float* y = static_cast<const float*>(a);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  int i = 0;
  constexpr size_t kWeightBytes = K == FloatKind::kF32 ? 4 : 2;
  for (; i + 32 <= n; i += 32) {
    prefetch_ahead_span<32 * kWeightBytes>(static_cast<const char*>(w) + size_t(i) * kWeightBytes);
    acc0 = _mm256_fmadd_ps(load8<K>(w, i), _mm256_loadu_ps(y + i), acc0);
    acc1 = _mm256_fmadd_ps(load8<K>(w, i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(load8<K>(w, i + 16), _mm256_loadu_ps(y + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(load8<K>(w, i + 24), _mm256_loadu_ps(y + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load8<K>(w, i), _mm256_loadu_ps(y + i), acc0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) s += scalar_at<K>(w, i) * y[i];
  return s;
}

template <FloatKind K>
void dot_float_x4(int n, const void* w, const void* a, size_t stride, float* out) {
  const float* y0 = static_cast<const float*>(a);
  const float* y1 = reinterpret_cast<const float*>(static_cast<const char*>(a) + stride);
  const float* y2 = reinterpret_cast<const float*>(static_cast<const char*>(a) + 2 * stride);
  const float* y3 = reinterpret_cast<const float*>(static_cast<const char*>(a) + 3 * stride);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = load8<K>(w, i);
    acc0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(y0 + i), acc0);
    acc1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(y1 + i), acc1);
    acc2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(y2 + i), acc2);
    acc3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(y3 + i), acc3);
  }
  out[0] = hsum(acc0);
  out[1] = hsum(acc1);
  out[2] = hsum(acc2);
  out[3] = hsum(acc3);
  for (; i < n; ++i) {
    const float x = scalar_at<K>(w, i);
    out[0] += x * y0[i];
    out[1] += x * y1[i];
    out[2] += x * y2[i];
    out[3] += x * y3[i];
  }
}

// ---- Q4_K / Q6_K weights x Q8_K activations ----
// Sub-block scales multiply the int16 pair sums of maddubs inside the widening step (madd with the
// scale instead of 1; VNNI's vpdpwssd also folds the accumulate). Mins (Q4_K) and the -32 offset
// (Q6_K) go through the activation's 16-element sums (bsums), so each piece needs one maddubs.
// maddubs cannot saturate here: |u * y| pairs are at most 2 * 63 * 127 < 32767.

// acc += (maddubs(u, y) as int16 pairs) * scale16, summed into int32 lanes
template <bool kVnni>
inline __m256i madd_scaled(__m256i acc, __m256i u, __m256i y, __m256i scale16) {
  const __m256i p = _mm256_maddubs_epi16(u, y);
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  if constexpr (kVnni) return _mm256_dpwssd_epi32(acc, p, scale16);
#endif
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p, scale16));
}

// Q4_K super-block scales: sc[j] as int16 broadcasts are built per use; mins16 holds m[j] in int16
// lanes 2j and 2j+1 (one per 16-element bsums group).
// All 8 at once in 32-bit words (q4k_scale_min's bit layout, 4 bytes per word): sc[0..3] and m[0..3]
// are the low 6 bits of bytes 0..3 and 4..7; sc[4..7] and m[4..7] take the low and high nibbles of
// bytes 8..11 plus, as bits 4-5, the top 2 bits of bytes 0..3 and 4..7.
inline void q4k_scales(const uint8_t* packed, uint8_t sc[8], __m256i& mins16) {
  uint32_t q0, q1, q2;
  __builtin_memcpy(&q0, packed, 4);
  __builtin_memcpy(&q1, packed + 4, 4);
  __builtin_memcpy(&q2, packed + 8, 4);
  const uint32_t sc_lo = q0 & 0x3F3F3F3Fu, m_lo = q1 & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (q2 & 0x0F0F0F0Fu) | (((q0 >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((q2 >> 4) & 0x0F0F0F0Fu) | (((q1 >> 6) & 0x03030303u) << 4);
  const uint64_t sc64 = sc_lo | (uint64_t(sc_hi) << 32), m64 = m_lo | (uint64_t(m_hi) << 32);
  __builtin_memcpy(sc, &sc64, 8);
  const __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(m64)));  // m[0..7] as int16
  mins16 = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
}

template <bool kVnni>
float dot_q4_k_q8_k(int n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 accf = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (int i = 0; i < n / kQK_K; ++i) {
    prefetch_ahead_span<sizeof(BlockQ4_K)>(x + i);
    uint8_t sc[8];
    __m256i mins16;
    q4k_scales(x[i].scales, sc, mins16);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(x[i].qs + 32 * c);
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      acc0 = madd_scaled<kVnni>(acc0, lo, load256(y[i].qs + 64 * c), _mm256_set1_epi16(sc[2 * c]));
      acc1 = madd_scaled<kVnni>(acc1, hi, load256(y[i].qs + 64 * c + 32), _mm256_set1_epi16(sc[2 * c + 1]));
    }
    const __m256i mins = _mm256_madd_epi16(load256(y[i].bsums), mins16);
    accf = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(_mm256_add_epi32(acc0, acc1)), accf);
    accm = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].dmin) * y[i].d), _mm256_cvtepi32_ps(mins), accm);
  }
  return hsum(_mm256_sub_ps(accf, accm));
}

// 4 activation rows per weight read: unpack nibbles and scales once, 4 accumulators.
template <bool kVnni>
void dot_q4_k_q8_k_x4(int n, const void* w, const void* a, size_t stride, float* out) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* y[4];
  for (int r = 0; r < 4; ++r) y[r] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a) + r * stride);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  __m256 accf[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8];
    __m256i mins16;
    q4k_scales(x[i].scales, sc, mins16);
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load256(x[i].qs + 32 * c);
      const __m256i lo = _mm256_and_si256(q, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      const __m256i s_lo = _mm256_set1_epi16(sc[2 * c]), s_hi = _mm256_set1_epi16(sc[2 * c + 1]);
      for (int r = 0; r < 4; ++r) {
        acc[r] = madd_scaled<kVnni>(acc[r], lo, load256(y[r][i].qs + 64 * c), s_lo);
        acc[r] = madd_scaled<kVnni>(acc[r], hi, load256(y[r][i].qs + 64 * c + 32), s_hi);
      }
    }
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    for (int r = 0; r < 4; ++r) {
      const __m256i mins = _mm256_madd_epi16(load256(y[r][i].bsums), mins16);
      accf[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[r][i].d), _mm256_cvtepi32_ps(acc[r]), accf[r]);
      accf[r] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * y[r][i].d), _mm256_cvtepi32_ps(mins), accf[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(accf[r]);
}

// Q6_K: the 4 pieces of 32 six-bit values (0..63) of one 128-element half, element order.
inline void q6k_half(const uint8_t* ql, const uint8_t* qh, __m256i q[4]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
  const __m256i l0 = load256(ql), l1 = load256(ql + 32), h = load256(qh);
  q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
  q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
  q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
  q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
}

// int16 lanes 0-7 = sc[0] (elements 0-15 of a piece), lanes 8-15 = sc[1]
inline __m256i q6k_piece_scale(const int8_t* sc) {
  return _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
}

// sum_j sc[j] * bsums[j] as int32 lanes, times 32: the (q - 32) offset of a whole super-block
inline __m256i q6k_offset(const int8_t* sc, const int16_t* bsums) {
  const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
  return _mm256_slli_epi32(_mm256_madd_epi16(load256(bsums), sc16), 5);
}

template <bool kVnni>
float dot_q6_k_q8_k(int n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  __m256 accf = _mm256_setzero_ps();
  for (int i = 0; i < n / kQK_K; ++i) {
    prefetch_ahead_span<sizeof(BlockQ6_K)>(x + i);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      __m256i q[4];
      q6k_half(x[i].ql + 64 * half, x[i].qh + 32 * half, q);
      const int8_t* sc = x[i].scales + 8 * half;
      const int8_t* q8 = y[i].qs + 128 * half;
      acc0 = madd_scaled<kVnni>(acc0, q[0], load256(q8), q6k_piece_scale(sc));
      acc1 = madd_scaled<kVnni>(acc1, q[1], load256(q8 + 32), q6k_piece_scale(sc + 2));
      acc0 = madd_scaled<kVnni>(acc0, q[2], load256(q8 + 64), q6k_piece_scale(sc + 4));
      acc1 = madd_scaled<kVnni>(acc1, q[3], load256(q8 + 96), q6k_piece_scale(sc + 6));
    }
    const __m256i total = _mm256_sub_epi32(_mm256_add_epi32(acc0, acc1), q6k_offset(x[i].scales, y[i].bsums));
    accf = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(total), accf);
  }
  return hsum(accf);
}

template <bool kVnni>
void dot_q6_k_q8_k_x4(int n, const void* w, const void* a, size_t stride, float* out) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* y[4];
  for (int r = 0; r < 4; ++r) y[r] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a) + r * stride);
  __m256 accf[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int i = 0; i < n / kQK_K; ++i) {
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int half = 0; half < 2; ++half) {
      __m256i q[4];
      q6k_half(x[i].ql + 64 * half, x[i].qh + 32 * half, q);
      for (int k = 0; k < 4; ++k) {
        const __m256i scv = q6k_piece_scale(x[i].scales + 8 * half + 2 * k);
        for (int r = 0; r < 4; ++r)
          acc[r] = madd_scaled<kVnni>(acc[r], q[k], load256(y[r][i].qs + 128 * half + 32 * k), scv);
      }
    }
    const float d = h2f(x[i].d);
    for (int r = 0; r < 4; ++r) {
      const __m256i total = _mm256_sub_epi32(acc[r], q6k_offset(x[i].scales, y[r][i].bsums));
      accf[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * y[r][i].d), _mm256_cvtepi32_ps(total), accf[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum(accf[r]);
}

#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
// ---- 512-bit K-quant 4-row kernels (prefill is compute-bound: twice the bytes per instruction) ----
// Each zmm holds 64 weights in activation element order, so the activation side is one plain 64-byte
// load per row; sub-block scales become int16 vectors with one scale per 16 (Q6_K) or 32 (Q4_K) lanes.

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

inline float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

void dot_q4_k_q8_k_x4_512(int n, const void* w, const void* a, size_t stride, float* out) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_K* y[4];
  for (int r = 0; r < 4; ++r) y[r] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a) + r * stride);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  // low 256 bits keep the low nibbles (elements 64c..64c+31), high 256 bits the high nibbles
  const __m512i shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  __m512 accf[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  __m256 accm[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8];
    __m256i mins16;
    q4k_scales(x[i].scales, sc, mins16);
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int c = 0; c < 4; ++c) {
      const __m512i q2 = _mm512_broadcast_i64x4(load256(x[i].qs + 32 * c));
      const __m512i q = _mm512_and_si512(_mm512_srlv_epi16(q2, shift), m4);
      const __m512i scv = _mm512_inserti64x4(_mm512_set1_epi16(sc[2 * c]), _mm256_set1_epi16(sc[2 * c + 1]), 1);
      for (int r = 0; r < 4; ++r)
        acc[r] = _mm512_dpwssd_epi32(acc[r], _mm512_maddubs_epi16(q, load512(y[r][i].qs + 64 * c)), scv);
    }
    const float d = h2f(x[i].d), dmin = h2f(x[i].dmin);
    for (int r = 0; r < 4; ++r) {
      const __m256i mins = _mm256_madd_epi16(load256(y[r][i].bsums), mins16);
      accf[r] = _mm512_fmadd_ps(_mm512_set1_ps(d * y[r][i].d), _mm512_cvtepi32_ps(acc[r]), accf[r]);
      accm[r] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * y[r][i].d), _mm256_cvtepi32_ps(mins), accm[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum512(accf[r]) - hsum(accm[r]);
}

void dot_q6_k_q8_k_x4_512(int n, const void* w, const void* a, size_t stride, float* out) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_K* y[4];
  for (int r = 0; r < 4; ++r) y[r] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(a) + r * stride);
  const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(3);
  // high-bit shifts: pieces 0|1 take qh bits 0-1|2-3, pieces 2|3 bits 4-5|6-7
  const __m512i sh01 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i sh23 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
  // int16 lane l of a zmm of 64 elements takes scale (l / 8) of its 4 scales
  const __m512i idx = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0,
                                       0, 0, 0, 0, 0);
  __m512 accf[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int i = 0; i < n / kQK_K; ++i) {
    const __m512i sc16 = _mm512_castsi256_si512(
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales))));
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int half = 0; half < 2; ++half) {
      const __m512i l = load512(x[i].ql + 64 * half);
      const __m512i h = _mm512_broadcast_i64x4(load256(x[i].qh + 32 * half));
      const __m512i q01 = _mm512_or_si512(_mm512_and_si512(l, m4),
                                          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(h, sh01), m2), 4));
      const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                          _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(h, sh23), m2), 4));
      const __m512i s01 = _mm512_permutexvar_epi16(_mm512_add_epi16(idx, _mm512_set1_epi16(int16_t(8 * half))), sc16);
      const __m512i s23 =
          _mm512_permutexvar_epi16(_mm512_add_epi16(idx, _mm512_set1_epi16(int16_t(8 * half + 4))), sc16);
      for (int r = 0; r < 4; ++r) {
        const int8_t* q8 = y[r][i].qs + 128 * half;
        acc[r] = _mm512_dpwssd_epi32(acc[r], _mm512_maddubs_epi16(q01, load512(q8)), s01);
        acc[r] = _mm512_dpwssd_epi32(acc[r], _mm512_maddubs_epi16(q23, load512(q8 + 64)), s23);
      }
    }
    const float d = h2f(x[i].d);
    for (int r = 0; r < 4; ++r) {
      const __m512i off = _mm512_castsi256_si512(q6k_offset(x[i].scales, y[r][i].bsums));
      const __m512i total = _mm512_sub_epi32(acc[r], _mm512_inserti64x4(off, _mm256_setzero_si256(), 1));
      accf[r] = _mm512_fmadd_ps(_mm512_set1_ps(d * y[r][i].d), _mm512_cvtepi32_ps(total), accf[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = hsum512(accf[r]);
}
#endif

#if defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__AVX512DQ__)
// Q8_0 weights x 4 Q8_0 activation rows, two blocks per zmm (low 256 bits block i, high block i + 1).
// AVX-512 has no vpsignb: |x| by vpabsb, and y is negated where x < 0 by a masked subtract.
inline __m512i load2x256(const void* lo, const void* hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(load256(lo)), load256(hi), 1);
}

void dot_q8_0_q8_0_x4_512(int n, const void* w, const void* a, size_t stride, float* out) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const BlockQ8_0* y[4];
  for (int r = 0; r < 4; ++r) y[r] = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(a) + r * stride);
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  const int nb = n / 32;
  int i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i qx = load2x256(x[i].qs, x[i + 1].qs);
    const __m512i ax = _mm512_abs_epi8(qx);
    const __mmask64 neg = _mm512_movepi8_mask(qx);
    const float d0 = h2f(x[i].d), d1 = h2f(x[i + 1].d);
    for (int r = 0; r < 4; ++r) {
      const __m512i qy = load2x256(y[r][i].qs, y[r][i + 1].qs);
      const __m512i sy = _mm512_mask_sub_epi8(qy, neg, _mm512_setzero_si512(), qy);
      const __m512 p = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ax, sy));
      const __m512 sc = _mm512_insertf32x8(_mm512_set1_ps(d0 * h2f(y[r][i].d)), _mm256_set1_ps(d1 * h2f(y[r][i + 1].d)), 1);
      acc[r] = _mm512_fmadd_ps(sc, p, acc[r]);
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
  for (; i < nb; ++i) {  // odd block count: the last block through 256-bit VNNI
    const __m256i qx = load256(x[i].qs);
    const __m256i ax = _mm256_sign_epi8(qx, qx);
    for (int r = 0; r < 4; ++r) {
      const __m256i sy = _mm256_sign_epi8(load256(y[r][i].qs), qx);
      out[r] += h2f(x[i].d) * h2f(y[r][i].d) * float(hsum_i32(dot_u8i8<true>(ax, sy)));
    }
  }
}
// Q8_0 weights x one Q8_0 activation row (decode's matrix-vector products): dot_q8_0_q8_0_x4_512's
// steps for one row, in its order (one accumulator, block pairs in turn, the odd last block added after
// the reduction), so a token's result has the same bits in a batch of 4 as alone. Four blocks per
// iteration convert their 8 binary16 scales with one vcvtph2ps each side (~10 instructions per block
// instead of ~16 for the 256-bit loop), and the weights are prefetched ahead (prefetch_ahead).
inline __m128i halves4(const BlockQ8_0* b) {  // b[0..3].d as 4 binary16 in the low 64 bits
  const uint64_t h = uint64_t(b[0].d) | uint64_t(b[1].d) << 16 | uint64_t(b[2].d) << 32 | uint64_t(b[3].d) << 48;
  return _mm_cvtsi64_si128(int64_t(h));
}

inline __m512 q8_0_pair_product(const BlockQ8_0* x, const BlockQ8_0* y) {  // blocks x[0], x[1] . y[0], y[1]
  const __m512i qx = load2x256(x[0].qs, x[1].qs), qy = load2x256(y[0].qs, y[1].qs);
  const __m512i sy = _mm512_mask_sub_epi8(qy, _mm512_movepi8_mask(qx), _mm512_setzero_si512(), qy);
  return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(qx), sy));
}

float dot_q8_0_q8_0_512(int n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const __m512i lo_pair = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i hi_pair = _mm512_add_epi32(lo_pair, _mm512_set1_epi32(2));
  __m512 acc = _mm512_setzero_ps();
  const int nb = n / 32;
  int i = 0;
  for (; i + 4 <= nb; i += 4) {
    prefetch_ahead_span<4 * sizeof(BlockQ8_0)>(x + i);
    // scale of block i + k in float lane k: the same products as d0 * h2f(y.d) in the 4-row kernel
    const __m512 sc = _mm512_castps128_ps512(_mm_mul_ps(_mm_cvtph_ps(halves4(x + i)), _mm_cvtph_ps(halves4(y + i))));
    acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(lo_pair, sc), q8_0_pair_product(x + i, y + i), acc);
    acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(hi_pair, sc), q8_0_pair_product(x + i + 2, y + i + 2), acc);
  }
  for (; i + 2 <= nb; i += 2) {
    const __m512 sc = _mm512_insertf32x8(_mm512_set1_ps(h2f(x[i].d) * h2f(y[i].d)),
                                         _mm256_set1_ps(h2f(x[i + 1].d) * h2f(y[i + 1].d)), 1);
    acc = _mm512_fmadd_ps(sc, q8_0_pair_product(x + i, y + i), acc);
  }
  float out = _mm512_reduce_add_ps(acc);
  if (i < nb) {  // odd block count: the last block through 256-bit VNNI
    const __m256i qx = load256(x[i].qs);
    const __m256i sy = _mm256_sign_epi8(load256(y[i].qs), qx);
    out += h2f(x[i].d) * h2f(y[i].d) * float(hsum_i32(dot_u8i8<true>(_mm256_sign_epi8(qx, qx), sy)));
  }
  return out;
}
#endif

// ---- activation quantizers (bit-identical to the reference: same scale arithmetic, same rounding) ----
inline void from_float_q8_0_simd(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / 32; ++i) {
    const float* x = src + i * 32;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    const float d = hmax(amax) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; ++k)
      q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    // pack 32 int32 -> 32 int8 in order
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);  // lane-interleaved
    const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), p);
  }
}

inline float hmin(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  m = _mm_min_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// Q8_K activations, bit-identical to ref::from_float_q8_k (the signed value of largest magnitude sets
// the scale; on a +a / -a tie the first one in the row wins, found by a scalar scan).
inline void from_float_q8_k_simd(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    __m256 vmax = _mm256_loadu_ps(x), vmin = vmax;
    for (int k = 8; k < kQK_K; k += 8) {
      const __m256 v = _mm256_loadu_ps(x + k);
      vmax = _mm256_max_ps(vmax, v);
      vmin = _mm256_min_ps(vmin, v);
    }
    const float hi = hmax(vmax), lo = hmin(vmin);
    float max;
    if (hi > -lo) {
      max = hi;
    } else if (-lo > hi) {
      max = lo;
    } else {
      max = 0;
      for (int k = 0; k < kQK_K; ++k)
        if (std::fabs(x[k]) == hi) {
          max = x[k];
          break;
        }
    }
    if (max == 0) {
      __builtin_memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    const float iscale = -127.0f / max;
    const __m256 is = _mm256_set1_ps(iscale);
    for (int k = 0; k < kQK_K; k += 32) {
      __m256i q[4];
      for (int j = 0; j < 4; ++j)
        q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), is),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      b[i].bsums[k / 16] = int16_t(hsum_i32(_mm256_add_epi32(q[0], q[1])));
      b[i].bsums[k / 16 + 1] = int16_t(hsum_i32(_mm256_add_epi32(q[2], q[3])));
      __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs + k), p);
    }
    b[i].d = 1.0f / iscale;
  }
}

}  // namespace
}  // namespace kuai::engine::kernels
