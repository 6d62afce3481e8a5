// Q4_K and Q6_K weights times a batch of float activations with AVX-512 VNNI (prompts: the batched twin
// of int8_gemm for the K-quants). Each work item packs 16 weight rows once per call into unsigned bytes
// (Q4_K: q in [0, 15]; Q6_K: q + 32 in [0, 63]), transposed so one 32-bit lane holds 4 weights of one
// row, with the sub-block scales (and Q4_K's mins) as bytes per row, and runs every token against the
// packed tile 8 (then 4, then 1) at a time: per sub-block (32 weights for Q4_K, 16 for Q6_K) 8 or 4
// vpdpbusd (16 rows x 4 weights), times the sub-block scale (vpmulld), summed per super-block as exact
// integers. Activations are quantized once per call: int8 per super-block of 256 with a float scale,
// and the sums of each 16 (Q4_K's mins, Q6_K's -32 offset come off through them).
// Per row r, token t, super-block s: y += (d_w d_a) * isum  [- (dmin_w d_a) * msum for Q4_K], one
// fma each in super-block order: the same bits for a token in any batch that takes this kernel.
// Decode (fewer than kKquantGemmMinTokens tokens) stays on kernels::matmul; so a decode token inside a
// batch of >= 16 tokens may differ in the last bits from the same token alone, as with float_gemm.
// Threads: call from one thread; work is split over the pool by tiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/matmul.h"

namespace kuai::engine {
class ThreadPool;
}

namespace kuai::engine::model {

struct KquantGemmScratch {
  std::vector<int8_t> aq;                  // (n_tokens, cols) quantized activations
  std::vector<float> ad;                   // (n_tokens, cols / 256) super-block scales
  std::vector<int32_t> as;                 // (n_tokens, cols / 16) sums of 16 quantized activations
  std::vector<std::vector<uint8_t>> pack;  // per pool thread: one packed tile
};

// Every output Q4_K or Q6_K (they may mix), one cols, cols % 256 == 0, at the avx512 level.
bool kquant_gemm_supported(std::span<const kernels::MatmulOut> outs);
constexpr int kKquantGemmMinTokens = 16;
bool kquant_gemm_preferred(std::span<const kernels::MatmulOut> outs, int n_tokens);

// Same contract as kernels::matmul. Precondition: kquant_gemm_supported(outs).
void kquant_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
                 int n_tokens, KquantGemmScratch& scratch);

namespace detail {
// Packed super-block of 16 rows: 64 vectors of 64 bytes (vector j, lane r = row r's unsigned quants
// 4j..4j+3), then 256 bytes of scales (Q4_K: sc[8][16] then m[8][16], uint8; Q6_K: sc[16][16], int8),
// 16 binary16 d, 16 binary16 dmin (Q6_K: zero).
constexpr size_t kKquantSuperBytes = 4096 + 256 + 64;
// Rows [r0, r0 + 16) of w (rows past w.rows are zero) -> dst (cols / 256 super-blocks, 64-byte aligned).
void kquant_pack_group(const kernels::WeightView& w, int64_t r0, uint8_t* dst);
// Token row x -> int8 per 256 (d = max|x| / 127), and the sums of each 16 quants.
void kquant_quantize_row(const float* x, int64_t cols, int8_t* q, float* d, int32_t* s16);
// The same with AVX-512 (the same bits; call only at that level or above).
void kquant_quantize_row_avx512(const float* x, int64_t cols, int8_t* q, float* d, int32_t* s16);
// n tokens against a packed group of `rows` (<= 16) stored rows: y[t * ys + r]. The AVX-512 kernel and
// its plain C++ twin (same integer sums, same float steps: equal bits).
void kquant_group_avx512(GgmlType type, const uint8_t* g, int rows, int n_super, const int8_t* aq, const float* ad,
                         const int32_t* as, int n, float* y, size_t ys);
// The AMX kernel (kquant_gemm_amx.cpp; call only at the amx level): the same bits again. Q6_K reads
// kquant_pack_group's layout; Q4_K reads kquant_pack_group_q4k_amx's. It reads tokens in tiles of
// kKquantAmxTokens: aq, ad and as hold n rounded up to that, the rows past n zero.
constexpr int kKquantAmxTokens = 16;
void kquant_group_amx(GgmlType type, const uint8_t* g, int rows, int n_super, const int8_t* aq, const float* ad,
                      const int32_t* as, int n, float* y, size_t ys);
// Q4_K for the AMX kernel, scales folded into the weights so a tile sums a whole super-block: each
// 6-bit sub-block scale sc = 8 h + l (h, l < 8), and the packed super-block holds q * l (4096 bytes,
// the vectors of kquant_pack_group), then q * h (4096; both <= 105: unsigned bytes), then the mins as
// 4 vectors of int16 pairs (vector p, lane r = m[2p], m[2p + 1] of row r), 16 binary16 d, 16 dmin.
// The integer sums are the same: sum a q sc = 8 sum a q h + sum a q l.
constexpr size_t kKquantQ4kAmxSuperBytes = 8192 + 256 + 64;
void kquant_pack_group_q4k_amx(const kernels::WeightView& w, int64_t r0, uint8_t* dst);
void kquant_group_ref(GgmlType type, const uint8_t* g, int rows, int n_super, const int8_t* aq, const float* ad,
                      const int32_t* as, int n, float* y, size_t ys);
}  // namespace detail

}  // namespace kuai::engine::model
