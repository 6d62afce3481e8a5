// The inner step of the forward pass's blocked (flash-style) causal attention: `nq` query rows (the
// q heads of one KV group for a block of consecutive tokens of one sequence) against one chunk of keys
// and values, updating each query's online-softmax state (running max m, running sum l, unnormalised
// output acc). The caller walks a sequence's KV chunks once per block, so a chunk read (and converted
// from F16/Q8_0) once serves every query of the block: at a 2 048-token prompt the keys are read
// 16x fewer times than one token at a time.
//
// Per query row i, on keys j < lim[i] of the chunk (the causal limit), in key order:
//   s_j = (q_i . k_j) * scale;  M = max(m_i, max_j s_j);  r = exp(m_i - M)
//   l_i = l_i * r + sum_j exp(s_j - M);  acc_i = acc_i * r + sum_j exp(s_j - M) v_j;  m_i = M
// A query's result depends on its own row, its keys and the chunk boundaries only, never on the other
// queries of the block: a token gets the same bits alone (decode) or inside a prompt block.
// The plain C++ reference takes the same steps as the one-token-at-a-time loop it replaced (sequential
// dot over the head dimension, std::exp); the AVX2 kernel (8 lanes, see attention_avx2.cpp) and the AVX-512
// kernel (any head width; a width that is not a multiple of 16 ends with a masked vector) sums each score
// in 16 lanes of the head dimension, then across the lanes (one order for a row alone and for a block,
// whether keys are read as rows or transposed), vectorises V over the head dimension and uses a
// polynomial exp: it agrees with the reference to a relative 1e-5.
// Threads: pure functions of their arguments; scratch is the caller's (attn_scratch_floats floats).
#pragma once

#include <cstddef>
#include <cstdint>

namespace kuai::engine::model {

struct AttnChunk {
  int hd = 0;                 // head dimension
  int nq = 0;                 // query rows
  const float* q = nullptr;   // (nq, hd), contiguous
  const int32_t* lim = nullptr;  // (nq): keys [0, lim[i]) of the chunk are visible to row i (<= n)
  int n = 0;                  // keys in the chunk
  const float* k = nullptr;   // key j at k + j * kv_stride (hd floats)
  const float* v = nullptr;   // value j at v + j * kv_stride
  size_t kv_stride = 0;
  float scale = 1.0f;         // 1 / sqrt(hd)
};

// The same chunk with keys and values stored in a paged cache and read in place, by row pointer: key j's
// hd values start at k[j], value j's at v[j]. Row = uint16_t: binary16 (an F16 cache); Row = uint8_t:
// the hd / 32 ggml Q8_0 blocks (binary16 scale, 32 int8) of the head, hd % 32 == 0 (a Q8_0 cache).
template <class Row>
struct AttnChunkRows {
  int hd = 0;
  int nq = 0;
  const float* q = nullptr;
  const int32_t* lim = nullptr;
  int n = 0;
  const Row* const* k = nullptr;
  const Row* const* v = nullptr;
  float scale = 1.0f;
};
using AttnChunkF16 = AttnChunkRows<uint16_t>;
using AttnChunkQ8 = AttnChunkRows<uint8_t>;

struct AttnAccum {
  float* m = nullptr;    // (nq) running max, -inf at start
  float* l = nullptr;    // (nq) running sum, 0 at start
  float* acc = nullptr;  // (nq, hd) unnormalised output, 0 at start
};

// Floats of scratch one call needs for chunks of up to max_n keys and up to max_rows query rows.
size_t attn_scratch_floats(int hd, int max_n, int max_rows);

// The reference, and the AVX-512 kernel (built with the avx512 flags, call only at that level).
void attn_chunk_ref(const AttnChunk& c, AttnAccum& a, float* scratch);
void attn_chunk_avx512(const AttnChunk& c, AttnAccum& a, float* scratch);
// The AVX-512 kernel on binary16 rows: the same bits as attn_chunk_avx512 on the rows converted to
// float (same preconditions).
void attn_chunk_f16_avx512(const AttnChunkF16& c, AttnAccum& a, float* scratch);
// On Q8_0 blocks, dequantised as they are read (scale x int8, the KV store's own conversion): the same
// bits as attn_chunk_avx512 on the rows the store decodes. hd % 32 == 0.
void attn_chunk_q8_avx512(const AttnChunkQ8& c, AttnAccum& a, float* scratch);
// The AVX2 kernels (attention_avx2.cpp; call only at the avx2 level or above; hd % 8 == 0, Q8_0: hd % 32
// == 0): agree with the reference to a relative 1e-5; on F16 / Q8_0 rows the bits of attn_chunk_avx2 on
// the converted rows.
void attn_chunk_avx2(const AttnChunk& c, AttnAccum& a, float* scratch);
void attn_chunk_f16_avx2(const AttnChunkF16& c, AttnAccum& a, float* scratch);
void attn_chunk_q8_avx2(const AttnChunkQ8& c, AttnAccum& a, float* scratch);

// The level's choice: AVX-512 at that level, AVX2 at avx2 where hd % 8 == 0, else the reference.
void attn_chunk(const AttnChunk& c, AttnAccum& a, float* scratch);
// Whether this level reads binary16 / Q8_0 rows of head width hd in place (else the caller converts the
// chunk to float and calls attn_chunk), and the level's kernel for them (call only where it does).
bool attn_reads_f16_in_place(int hd);
bool attn_reads_q8_in_place(int hd);
void attn_chunk_f16(const AttnChunkF16& c, AttnAccum& a, float* scratch);
void attn_chunk_q8(const AttnChunkQ8& c, AttnAccum& a, float* scratch);

}  // namespace kuai::engine::model
