// Q4_0 and Q8_0 weights times a batch of float activations with AVX-512 VNNI, one weight read for all
// tokens (prefill and the decode batch's matrix-matrix product). Each work item packs 16 weight rows once
// (a weight's last group of 8 is padded with zero rows) into unsigned bytes — Q4_0 nibbles as they are
// (q in [0, 15]), Q8_0 bytes plus 128 (q ^ 0x80, in [0, 255]) — transposed so one 32-bit lane holds 4
// consecutive weights of one row, and then runs every token against the packed tile (vpdpbusd on zmm:
// 16 rows x 4 weights per instruction, 8 tokens per pass). One token skips the packing and reads the rows
// directly. Activations are quantized once per call to int8 blocks of 32 with a float scale; the weight
// offset (8 or 128) comes off afterwards as offset * sum(activation block), so integer block sums are
// exact.
//
// Batch invariance: a token's outputs are computed by the same instructions in the same order whatever
// the other tokens of the batch are (integer block sums are exact; float accumulation runs over blocks
// in order, one accumulator per token; every path does the same per-row steps), so a sequence decodes to
// the same bits alone or batched. Threads: call from one thread; work is split over the pool by tiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/kernels/matmul.h"

namespace kuai::engine {
class ThreadPool;
}

namespace kuai::engine::model {

struct Int8GemmScratch {
  std::vector<int8_t> aq;                  // (n_tokens, cols) quantized activations
  std::vector<float> ad;                   // (n_tokens, cols / 32) block scales
  std::vector<int32_t> ac;                 // (n_tokens, cols / 32) offset * block sums
  std::vector<std::vector<uint8_t>> pack;  // per pool thread: one packed tile
};

// True when every output has the same type, Q4_0 or Q8_0, rows % 8 == 0, cols % 32 == 0, and the
// engine's kernels run at the avx512 level (kernels::detected_isa(): the CPU has AVX-512 VNNI and
// KUAI_ISA does not cap it).
bool int8_gemm_supported(std::span<const kernels::MatmulOut> outs);

// Whether the forward pass should take int8_gemm for a product of n_tokens: supported, and for Q8_0 at
// least kInt8GemmMinTokensQ8_0 tokens. Q8_0's one-token rows run ~1.6x faster through kernels::matmul's
// dot (TinyLlama Q8_0 decode ~10.6 vs ~6.7 tok/s on the 2-core AMD EPYC; the int8_gemm one-token path
// is tuned for Q4_0's half-size blocks), so decode and small decode batches stay there. The price:
// a Q8_0 decode token inside a batch of >= 16 tokens (a prompt chunk beside it) is computed by int8_gemm
// and may differ in the last bits from the same token decoded alone; batches below 16 tokens are
// bit-identical to alone (kernels::matmul's 4-row and one-row Q8_0 dots agree bit for bit).
constexpr int kInt8GemmMinTokensQ8_0 = 16;
bool int8_gemm_preferred(std::span<const kernels::MatmulOut> outs, int n_tokens);

// Same contract as kernels::matmul (y[t][r] = sum_c W[r][c] * x[t][c], every output from the same x).
// Precondition: int8_gemm_supported(outs).
void int8_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
               int n_tokens, Int8GemmScratch& scratch);

namespace detail {
// Rows [0, rows) of `w` (rows = 8 or 16; Q4_0 or Q8_0 rows of nb blocks, row_bytes apart) for n tokens:
// y[t * ys + r]. ac holds offset * block sums (8 for Q4_0, 128 for Q8_0).
// pack: at least int8_gemm_pack_bytes(nb, row_bytes) bytes, 64-byte aligned.
size_t int8_gemm_pack_bytes(int nb, size_t row_bytes);
void q4_0_tile_avx512(const uint8_t* w, size_t row_bytes, int rows, int nb, const int8_t* aq, const float* ad,
                      const int32_t* ac, int n, float* y, size_t ys, uint8_t* pack);
void q8_0_tile_avx512(const uint8_t* w, size_t row_bytes, int rows, int nb, const int8_t* aq, const float* ad,
                      const int32_t* ac, int n, float* y, size_t ys, uint8_t* pack);
}  // namespace detail

}  // namespace kuai::engine::model
