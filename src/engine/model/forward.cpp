// LlamaModel::forward: one batch of tokens through every layer (see llama_model.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "engine/kernels/ops.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/attention.h"
#include "engine/model/llama_model.h"
#include "engine/model/weight_product.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {

namespace k = kernels;

namespace {

// Every weight product of the forward pass (model/weight_product.h); ForwardState::int8_gemm = false
// sends everything to kernels::matmul.
void mm(ForwardState& st, std::span<const k::MatmulOut> outs, const float* x, size_t x_stride, int n) {
  weight_product(*st.pool, outs, x, x_stride, n, st.products, st.int8_gemm);
}

void mm(ForwardState& st, const k::WeightView& w, const float* x, int n, float* y) {
  weight_product(*st.pool, w, x, n, y, st.products, st.int8_gemm);
}

}  // namespace

Status LlamaModel::forward(std::span<const BatchToken> batch, std::span<SequenceKv* const> seqs, ForwardState& st,
                           float* logits, float* hidden) const {
  const Hparams& h = hp_;
  const int n = int(batch.size());
  if (n == 0) return Ok{};
  int n_out = 0;
  for (const BatchToken& b : batch) {
    if (b.token < 0 || b.token >= h.n_vocab)
      return make_error("token id " + std::to_string(b.token) + " out of range [0, " + std::to_string(h.n_vocab) + ")");
    if (b.seq < 0 || size_t(b.seq) >= seqs.size() || !seqs[size_t(b.seq)])
      return make_error("batch token names sequence " + std::to_string(b.seq) + ", which is not given");
    if (b.pos < 0 || b.pos >= seqs[size_t(b.seq)]->capacity())
      return make_error("position " + std::to_string(b.pos) + " outside the KV cache (capacity " +
                        std::to_string(seqs[size_t(b.seq)]->capacity()) + ")");
    n_out += b.output ? 1 : 0;
  }
  const int E = h.n_embd, Q = h.q_dim(), KV = h.kv_dim(), F = h.n_ff, HD = h.head_dim;
  auto fit = [](std::vector<float>& v, size_t size) {
    if (v.size() < size) v.resize(size);
  };
  fit(st.x, size_t(n) * E);
  fit(st.xn, size_t(n) * E);
  fit(st.q, size_t(n) * Q);
  fit(st.k, size_t(n) * KV);
  fit(st.v, size_t(n) * KV);
  fit(st.att, size_t(n) * Q);
  fit(st.gate, size_t(n) * F);
  fit(st.up, size_t(n) * F);
  fit(st.ffn, size_t(n) * E);
  fit(st.rope, size_t(n) * h.n_rot);
  ThreadPool& pool = *st.pool;
  float* x = st.x.data();
  float* xn = st.xn.data();
  // Phase timers (only with st.profile): mark(slot) adds the time since the previous mark to slot.
  ForwardProfile* prof = st.profile;
  using Clock = std::chrono::steady_clock;
  Clock::time_point last = prof ? Clock::now() : Clock::time_point{};
  auto mark = [&](double ForwardProfile::*slot) {
    if (!prof) return;
    const Clock::time_point now = Clock::now();
    prof->*slot += std::chrono::duration<double>(now - last).count();
    last = now;
  };
  if (prof) ++prof->calls, prof->tokens += n;
  ForwardObserver* obs = st.observer;
  using P = ForwardObserver::Point;

  // Row-wise work over the batch's tokens, on the pool once there are enough of them.
  const int64_t row_grain = std::max(1, (1 << 14) / E);
  auto per_token = [&](auto&& f) {
    pool.parallel_for(n, row_grain, [&](int64_t b, int64_t e, int) {
      for (int64_t t = b; t < e; ++t) f(size_t(t));
    });
  };
  per_token([&](size_t t) {
    k::weight_row_to_float(tok_embd_, batch[t].token, x + t * E);
    k::rope_angles(h.n_rot, batch[t].pos, rope_inv_freq_.data(), st.rope.data() + t * size_t(h.n_rot));
  });
  mark(&ForwardProfile::embed);

  for (int il = 0; il < h.n_layer; ++il) {
    const LayerWeights& L = layers_[size_t(il)];
    if (obs) obs->observe(P::kLayerInput, il, x, n, E);
    // the attention norm; after layer 0 it comes with the previous layer's last residual add
    if (il == 0) per_token([&](size_t t) { k::rms_norm(xn + t * E, x + t * E, L.attn_norm, E, h.rms_eps); });
    mark(&ForwardProfile::norm);
    const k::MatmulOut qkv[3] = {{&L.wq, st.q.data(), size_t(Q)}, {&L.wk, st.k.data(), size_t(KV)},
                                 {&L.wv, st.v.data(), size_t(KV)}};
    mm(st, qkv, xn, size_t(E), n);
    mark(&ForwardProfile::matmul_qkv);

    // biases, RoPE, and the new K/V rows into each sequence's cache
    pool.parallel_for(n, std::max(8, (1 << 15) / Q), [&](int64_t b, int64_t e, int) {
      for (int64_t t = b; t < e; ++t) {
        const BatchToken& bt = batch[size_t(t)];
        float* q = st.q.data() + size_t(t) * Q;
        float* kk = st.k.data() + size_t(t) * KV;
        float* vv = st.v.data() + size_t(t) * KV;
        if (L.bq) k::add_inplace(q, L.bq, Q);
        if (L.bk) k::add_inplace(kk, L.bk, KV);
        if (L.bv) k::add_inplace(vv, L.bv, KV);
        auto rope = h.rope_style == RopeStyle::kNeox ? k::rope_neox : k::rope_normal;
        const float* cs = st.rope.data() + size_t(t) * size_t(h.n_rot);
        for (int hh = 0; hh < h.n_head; ++hh) rope(q + hh * HD, h.n_rot, cs);
        for (int hh = 0; hh < h.n_head_kv; ++hh) rope(kk + hh * HD, h.n_rot, cs);
        seqs[size_t(bt.seq)]->write(il, bt.pos, kk, vv);
      }
    });
    mark(&ForwardProfile::rope_kv_write);

    attention(batch, seqs, il, st);
    mark(&ForwardProfile::attention);
    if (obs) obs->observe(P::kAttnOutput, il, st.att.data(), n, Q);

    mm(st, L.wo, st.att.data(), n, st.ffn.data());
    mark(&ForwardProfile::matmul_wo);
    per_token([&](size_t t) {
      k::add_inplace(x + t * E, st.ffn.data() + t * E, E);
      k::rms_norm(xn + t * E, x + t * E, L.ffn_norm, E, h.rms_eps);
    });
    mark(&ForwardProfile::residual);
    const k::MatmulOut gu[2] = {{&L.w_gate, st.gate.data(), size_t(F)}, {&L.w_up, st.up.data(), size_t(F)}};
    mm(st, gu, xn, size_t(E), n);
    mark(&ForwardProfile::matmul_ffn);
    pool.parallel_for(n, std::max(4, (1 << 15) / F), [&](int64_t b, int64_t e, int) {
      for (int64_t t = b; t < e; ++t)
        k::swiglu(st.gate.data() + size_t(t) * F, st.gate.data() + size_t(t) * F, st.up.data() + size_t(t) * F, F);
    });
    mark(&ForwardProfile::ffn_act);
    if (obs) obs->observe(P::kFfnHidden, il, st.gate.data(), n, F);
    mm(st, L.w_down, st.gate.data(), n, st.ffn.data());
    mark(&ForwardProfile::matmul_down);
    const float* next_norm = il + 1 < h.n_layer ? layers_[size_t(il) + 1].attn_norm : nullptr;
    per_token([&](size_t t) {
      k::add_inplace(x + t * E, st.ffn.data() + t * E, E);
      if (next_norm) k::rms_norm(xn + t * E, x + t * E, next_norm, E, h.rms_eps);
    });
    mark(&ForwardProfile::residual);
    if (obs) obs->observe(P::kLayerOutput, il, x, n, E);
  }

  if (n_out == 0) return Ok{};
  fit(st.out_x, size_t(n_out) * E);
  int o = 0;
  for (int t = 0; t < n; ++t) {
    if (!batch[size_t(t)].output) continue;
    k::rms_norm(st.out_x.data() + size_t(o) * E, x + size_t(t) * E, output_norm_, E, h.rms_eps);
    ++o;
  }
  if (hidden) std::memcpy(hidden, st.out_x.data(), size_t(n_out) * E * sizeof(float));
  if (logits) mm(st, output_, st.out_x.data(), n_out, logits);
  mark(&ForwardProfile::output);
  return Ok{};
}

// Causal attention, blocked (flash-style): the batch is cut into query blocks — runs of up to
// kAttnBlockTokens consecutive tokens of one sequence at consecutive positions (a prompt chunk; a decode
// batch gives blocks of one) — and each task is (block, kv head): the block's tokens x the q heads of
// that kv head are the query rows, and the sequence's cache is walked once per task, chunk by chunk,
// each chunk read once for all the rows (F16 and Q8_0 in place at the AVX-512 level, else converted to
// F32 first; model/attention.h keeps an online softmax per row). A row's bits depend only on its own
// keys and the chunk boundaries, so a token gets the same result alone or in any block.
void LlamaModel::attention(std::span<const BatchToken> batch, std::span<SequenceKv* const> seqs, int il,
                           ForwardState& st) const {
  constexpr int kAttnBlockTokens = 16;
  const Hparams& h = hp_;
  const int n = int(batch.size());
  const int HD = h.head_dim, KV = h.kv_dim(), Q = h.q_dim();
  const int group = h.n_head / h.n_head_kv;
  int32_t chunk = 1;
  for (SequenceKv* s : seqs)
    if (s) chunk = std::max(chunk, s->chunk_tokens());
  chunk = std::min(chunk, 256);

  std::vector<int>& starts = st.attn_blocks;  // block b: batch tokens [starts[b], starts[b + 1])
  starts.clear();
  for (int t = 0; t < n; ++t) {
    const bool cont = t > 0 && t - starts.back() < kAttnBlockTokens && batch[size_t(t)].seq == batch[size_t(t - 1)].seq &&
                      batch[size_t(t)].pos == batch[size_t(t - 1)].pos + 1;
    if (!cont) starts.push_back(t);
  }
  const int n_blocks = int(starts.size());
  starts.push_back(n);

  // per thread: k_buf, v_buf (chunk, KV), queries and acc (rows, HD), m / l (rows), kernel scratch; lim (rows)
  const int max_rows = kAttnBlockTokens * group;
  const size_t kernel_floats = attn_scratch_floats(HD, chunk, max_rows);
  const size_t per_thread = size_t(chunk) * KV * 2 + 2 * size_t(max_rows) * HD + 2 * size_t(max_rows) + kernel_floats;
  const int nth = st.pool->size();
  if (st.attn_scratch.size() < per_thread * size_t(nth)) st.attn_scratch.resize(per_thread * size_t(nth));
  if (st.attn_lim.size() < size_t(max_rows) * size_t(nth)) st.attn_lim.resize(size_t(max_rows) * size_t(nth));
  if (st.attn_rows.size() < 2 * size_t(chunk) * size_t(nth)) st.attn_rows.resize(2 * size_t(chunk) * size_t(nth));
  if (st.attn_rows_q8.size() < 2 * size_t(chunk) * size_t(nth)) st.attn_rows_q8.resize(2 * size_t(chunk) * size_t(nth));
  const float scale = 1.0f / std::sqrt(float(HD));
  // binary16 caches are read in place by the SIMD kernels (the same bits as converting them first)
  const bool f16_in_place = attn_reads_f16_in_place(HD);
  // so are Q8_0 caches, dequantised as read, where a head is whole blocks of 32
  const bool q8_in_place = attn_reads_q8_in_place(HD);

  // tasks cost ~ (pos + 1) * group * HD * 4 flops; keep tiny batches on the caller
  int64_t work = 0;
  for (const BatchToken& bt : batch) work += int64_t(bt.pos + 1) * Q * 2;
  const int64_t n_tasks = int64_t(n_blocks) * h.n_head_kv;
  const int64_t grain = work < (1 << 16) ? n_tasks : 1;
  st.pool->parallel_for(n_tasks, grain, [&](int64_t b, int64_t e, int ith) {
    float* base = st.attn_scratch.data() + per_thread * size_t(ith);
    float* k_buf = base;
    float* v_buf = k_buf + size_t(chunk) * KV;
    float* qs = v_buf + size_t(chunk) * KV;
    float* acc = qs + size_t(max_rows) * HD;
    float* mx = acc + size_t(max_rows) * HD;
    float* sum = mx + max_rows;
    float* kscratch = sum + max_rows;
    int32_t* lim = st.attn_lim.data() + size_t(max_rows) * size_t(ith);
    const uint16_t** k_rows = st.attn_rows.data() + 2 * size_t(chunk) * size_t(ith);
    const uint16_t** v_rows = k_rows + chunk;
    const uint8_t** k_q8 = st.attn_rows_q8.data() + 2 * size_t(chunk) * size_t(ith);
    const uint8_t** v_q8 = k_q8 + chunk;
    for (int64_t task = b; task < e; ++task) {
      const int blk = int(task / h.n_head_kv), kvh = int(task % h.n_head_kv);
      const int t0 = starts[size_t(blk)], nt = starts[size_t(blk) + 1] - t0;
      const int rows = nt * group;
      const SequenceKv& kv = *seqs[size_t(batch[size_t(t0)].seq)];
      for (int i = 0; i < nt; ++i)
        std::memcpy(qs + size_t(i) * group * HD, st.q.data() + size_t(t0 + i) * Q + size_t(kvh) * group * HD,
                    size_t(group) * HD * sizeof(float));
      std::fill(acc, acc + size_t(rows) * HD, 0.0f);
      std::fill(mx, mx + rows, -INFINITY);
      std::fill(sum, sum + rows, 0.0f);
      const int n_pos = batch[size_t(t0 + nt - 1)].pos + 1;  // the block's last token sees the most
      AttnAccum a{mx, sum, acc};
      auto set_limits = [&](int p0, int m) {
        for (int i = 0; i < nt; ++i) {
          const int visible = std::clamp(batch[size_t(t0 + i)].pos + 1 - p0, 0, m);
          for (int g = 0; g < group; ++g) lim[i * group + g] = visible;
        }
      };
      for (int p0 = 0; p0 < n_pos;) {
        const int end = std::min(n_pos, p0 + chunk);
        if (f16_in_place && kv.f16_rows(il, p0, end - p0, kvh * HD, k_rows, v_rows)) {
          const int m = end - p0;
          set_limits(p0, m);
          attn_chunk_f16(AttnChunkF16{HD, rows, qs, lim, m, k_rows, v_rows, scale}, a, kscratch);
          p0 += m;
          continue;
        }
        if (q8_in_place && kv.q8_rows(il, p0, end - p0, kvh * HD, k_q8, v_q8)) {
          const int m = end - p0;
          set_limits(p0, m);
          attn_chunk_q8(AttnChunkQ8{HD, rows, qs, lim, m, k_q8, v_q8, scale}, a, kscratch);
          p0 += m;
          continue;
        }
        const KvChunk c = kv.chunk(il, p0, end, k_buf, v_buf, kvh);
        const int m = std::min(c.n, end - p0);
        if (m <= 0) break;
        set_limits(p0, m);
        const AttnChunk ch{HD, rows, qs, lim, m, c.k + size_t(kvh) * HD, c.v + size_t(kvh) * HD, size_t(KV), scale};
        attn_chunk(ch, a, kscratch);
        p0 += m;
      }
      for (int i = 0; i < nt; ++i) {
        float* out = st.att.data() + size_t(t0 + i) * Q + size_t(kvh) * group * HD;
        for (int g = 0; g < group; ++g) {
          const int r = i * group + g;
          const float inv = sum[r] > 0 ? 1.0f / sum[r] : 0.0f;
          for (int d = 0; d < HD; ++d) out[size_t(g) * HD + d] = acc[size_t(r) * HD + d] * inv;
        }
      }
    }
  });
}

}  // namespace kuai::engine::model
