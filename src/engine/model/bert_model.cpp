#include "engine/model/bert_model.h"

#include <algorithm>
#include <cmath>

#include "engine/gguf/gguf_file.h"
#include "engine/kernels/ops.h"
#include "engine/model/weight_loader.h"
#include "engine/model/weight_product.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {

namespace {

Result<BertHparams> read_bert_hparams(const GgufFile& f) {
  if (f.architecture() != "bert")
    return make_error(f.path() + ": architecture '" + f.architecture() + "' is not a BERT-family embedder (bert)");
  BertHparams h;
  auto need = [&](const char* key, int32_t& out) -> Status {
    auto v = f.get_u32(std::string("bert.") + key);
    if (!v || *v == 0) return make_error(f.path() + ": missing or zero metadata 'bert." + key + "'");
    out = int32_t(*v);
    return Ok{};
  };
  for (auto [key, out] : {std::pair<const char*, int32_t*>{"context_length", &h.n_ctx_train},
                          {"embedding_length", &h.n_embd}, {"block_count", &h.n_layer},
                          {"feed_forward_length", &h.n_ff}, {"attention.head_count", &h.n_head}})
    if (auto st = need(key, *out); !st) return std::move(st).take_error();
  if (h.n_embd % h.n_head != 0)
    return make_error(f.path() + ": bert.embedding_length is not a multiple of bert.attention.head_count");
  if (auto eps = f.get_f32("bert.attention.layer_norm_epsilon")) h.norm_eps = *eps;
  if (f.get_bool("bert.attention.causal").value_or(false))
    return make_error(f.path() + ": bert.attention.causal is true: a decoder, not a sentence embedder");
  switch (f.get_u32("bert.pooling_type").value_or(1)) {
    case 1: h.pooling = Pooling::kMean; break;
    case 2: h.pooling = Pooling::kCls; break;
    default: return make_error(f.path() + ": bert.pooling_type " + std::to_string(*f.get_u32("bert.pooling_type")) +
                               " is not supported (1 mean, 2 cls)");
  }
  return h;
}

// out = LayerNorm(x) * w + b over n values.
void layer_norm(float* x, const float* w, const float* b, int n, float eps) {
  double mean = 0, var = 0;
  for (int i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  for (int i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const float inv = float(1.0 / std::sqrt(var / n + double(eps)));
  for (int i = 0; i < n; ++i) x[i] = (x[i] - float(mean)) * inv * w[i] + b[i];
}

void add_bias(float* y, const float* b, int n_rows, int width) {
  for (int t = 0; t < n_rows; ++t) kernels::add_inplace(y + size_t(t) * size_t(width), b, width);
}

// A post-norm residual step, row by row: x = LayerNorm(x + y + bias) * w + b.
void add_and_norm(float* x, const float* y, const float* bias, const float* w, const float* b, int n_rows, int width,
                  float eps) {
  for (int t = 0; t < n_rows; ++t) {
    float* xt = x + size_t(t) * size_t(width);
    kernels::add_inplace(xt, y + size_t(t) * size_t(width), width);
    kernels::add_inplace(xt, bias, width);
    layer_norm(xt, w, b, width, eps);
  }
}

}  // namespace

Result<std::unique_ptr<BertModel>> BertModel::load(const std::string& path) {
  auto file = GgufFile::open(path);
  if (!file) return std::move(file).take_error();
  return load(std::shared_ptr<const GgufFile>(std::move(file).value()));
}

Result<std::unique_ptr<BertModel>> BertModel::load(std::shared_ptr<const GgufFile> file) {
  std::unique_ptr<BertModel> m(new BertModel());
  m->file_ = std::move(file);
  if (m->file_->tensors().empty())
    return make_error(m->file_->path() + ": the file has no tensors (a vocab-only GGUF?); a model needs weights");
  auto hp = read_bert_hparams(*m->file_);
  if (!hp) return std::move(hp).take_error();
  m->hp_ = std::move(hp).value();
  if (auto st = m->load_weights(); !st) return std::move(st).take_error();
  return m;
}

Status BertModel::load_weights() {
  WeightLoader w(*file_);
  BertHparams& h = hp_;
  const GgufTensor* embd = file_->tensor("token_embd.weight");
  if (!embd) return make_error(file_->path() + ": missing tensor 'token_embd.weight'");
  h.n_vocab = int32_t(embd->ne[1]);
  // Token types (segments) are optional: some BERT variants have none.
  const GgufTensor* types = file_->tensor("token_types.weight");
  h.n_token_types = types ? int32_t(types->ne[1]) : 0;
  const int E = h.n_embd, F = h.n_ff;
  Status st = Ok{};
  if (!(st = w.matrix("token_embd.weight", h.n_vocab, E, tok_embd_))) return st;
  if (types && !(st = w.matrix("token_types.weight", h.n_token_types, E, type_embd_))) return st;
  if (!(st = w.matrix("position_embd.weight", h.n_ctx_train, E, pos_embd_))) return st;
  if (!(st = w.vector("token_embd_norm.weight", E, embd_norm_))) return st;
  if (!(st = w.vector("token_embd_norm.bias", E, embd_norm_b_))) return st;
  layers_.resize(size_t(h.n_layer));
  for (int i = 0; i < h.n_layer; ++i) {
    Layer& L = layers_[size_t(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    for (auto [name, rows, cols, m, b] :
         {std::tuple{"attn_q", E, E, &L.wq, &L.bq}, {"attn_k", E, E, &L.wk, &L.bk}, {"attn_v", E, E, &L.wv, &L.bv},
          {"attn_output", E, E, &L.wo, &L.bo}, {"ffn_up", F, E, &L.w_up, &L.b_up}, {"ffn_down", E, F, &L.w_down, &L.b_down}}) {
      if (!(st = w.matrix(p + name + ".weight", rows, cols, *m))) return st;
      if (!(st = w.vector(p + name + ".bias", rows, *b))) return st;
    }
    if (!(st = w.vector(p + "attn_output_norm.weight", E, L.attn_norm))) return st;
    if (!(st = w.vector(p + "attn_output_norm.bias", E, L.attn_norm_b))) return st;
    if (!(st = w.vector(p + "layer_output_norm.weight", E, L.out_norm))) return st;
    if (!(st = w.vector(p + "layer_output_norm.bias", E, L.out_norm_b))) return st;
  }
  n_params_ = w.n_params();
  owned_ = w.take_owned();
  std::vector<kernels::WeightView*> matrices;
  for (Layer& L : layers_)
    for (auto* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_up, &L.w_down}) matrices.push_back(m);
  pack_for_int8_gemm(matrices, packed_);
  return Ok{};
}

// att = softmax(q k^T / sqrt(head_dim)) v per head over rows [row0, row0 + n) (one sequence), every token
// seeing every token of its sequence. Both products are
// weight products (model/weight_product.h): the head's keys, and its values transposed, copied out as
// small F32 matrices, so they run on the same batched kernels as the layers' weights.
void BertModel::attention(int row0, int n, BertState& st) const {
  const int E = hp_.n_embd, H = hp_.n_head, D = E / H;
  const float scale = 1.0f / std::sqrt(float(D));
  const size_t nD = size_t(n) * size_t(D);
  st.head.resize(4 * nD);
  float *qh = st.head.data(), *kh = qh + nD, *vt = kh + nD, *oh = vt + nD;
  st.scores.resize(size_t(n) * size_t(n));
  for (int h = 0; h < H; ++h) {
    for (int j = 0; j < n; ++j) {
      const size_t src = size_t(row0 + j) * E + size_t(h) * D;
      for (int d = 0; d < D; ++d) {
        qh[size_t(j) * D + d] = st.q[src + d] * scale;
        kh[size_t(j) * D + d] = st.k[src + d];
        vt[size_t(d) * n + j] = st.v[src + d];
      }
    }
    const kernels::WeightView keys{GgmlType::F32, kh, n, D, size_t(D) * sizeof(float)};
    weight_product(*st.pool, keys, qh, n, st.scores.data(), st.products);  // (n queries, n keys)
    for (int i = 0; i < n; ++i) kernels::softmax(st.scores.data() + size_t(i) * n, n);
    const kernels::WeightView values{GgmlType::F32, vt, D, n, size_t(n) * sizeof(float)};
    weight_product(*st.pool, values, st.scores.data(), n, oh, st.products);  // (n queries, D)
    for (int i = 0; i < n; ++i) std::copy_n(oh + size_t(i) * D, D, st.att.data() + size_t(row0 + i) * E + size_t(h) * D);
  }
}

Result<std::vector<float>> BertModel::embed(std::span<const int32_t> tokens, BertState& st) const {
  const std::span<const int32_t> one[] = {tokens};
  auto out = embed_batch(one, st);
  if (!out) return std::move(out).take_error();
  return std::move(out->front());
}

Result<std::vector<std::vector<float>>> BertModel::embed_batch(std::span<const std::span<const int32_t>> seqs,
                                                               BertState& st) const {
  const int E = hp_.n_embd, F = hp_.n_ff;
  if (seqs.empty()) return make_error("nothing to embed: no sequences");
  std::vector<int> start;  // sequence s is rows [start[s], start[s + 1]) of the batch
  int n = 0;
  for (const auto& tokens : seqs) {
    if (tokens.empty()) return make_error("nothing to embed: no tokens");
    if (int64_t(tokens.size()) > hp_.n_ctx_train)
      return make_error(std::to_string(tokens.size()) + " tokens; this model embeds at most " + std::to_string(hp_.n_ctx_train));
    for (int32_t t : tokens)
      if (t < 0 || t >= hp_.n_vocab) return make_error("token id " + std::to_string(t) + " is outside the vocabulary");
    start.push_back(n);
    n += int(tokens.size());
  }
  start.push_back(n);
  const size_t nE = size_t(n) * size_t(E);
  for (auto* b : {&st.x, &st.q, &st.k, &st.v, &st.att, &st.proj}) b->resize(nE);
  st.ffn.resize(size_t(n) * size_t(F));

  std::vector<float> row(static_cast<size_t>(E));
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (int i = 0; i < int(seqs[s].size()); ++i) {  // positions start again in every sequence
      float* x = st.x.data() + size_t(start[s] + i) * E;
      kernels::weight_row_to_float(tok_embd_, seqs[s][size_t(i)], x);
      kernels::weight_row_to_float(pos_embd_, i, row.data());
      kernels::add_inplace(x, row.data(), E);
      if (type_embd_.data) {  // one segment: token type 0
        kernels::weight_row_to_float(type_embd_, 0, row.data());
        kernels::add_inplace(x, row.data(), E);
      }
      layer_norm(x, embd_norm_, embd_norm_b_, E, hp_.norm_eps);
    }
  }
  // Every weight product runs over the whole batch (all sequences' tokens as one matrix); attention
  // stays within each sequence.
  ThreadPool& pool = *st.pool;
  for (const Layer& L : layers_) {
    const kernels::MatmulOut qkv[] = {{&L.wq, st.q.data(), size_t(E)}, {&L.wk, st.k.data(), size_t(E)},
                                      {&L.wv, st.v.data(), size_t(E)}};
    weight_product(pool, qkv, st.x.data(), size_t(E), n, st.products);
    add_bias(st.q.data(), L.bq, n, E);
    add_bias(st.k.data(), L.bk, n, E);
    add_bias(st.v.data(), L.bv, n, E);
    for (size_t s = 0; s < seqs.size(); ++s) attention(start[s], start[s + 1] - start[s], st);
    weight_product(pool, L.wo, st.att.data(), n, st.proj.data(), st.products);
    add_and_norm(st.x.data(), st.proj.data(), L.bo, L.attn_norm, L.attn_norm_b, n, E, hp_.norm_eps);
    weight_product(pool, L.w_up, st.x.data(), n, st.ffn.data(), st.products);
    pool.parallel_for(n, 1, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) kernels::gelu(st.ffn.data() + size_t(i) * F, L.b_up, F);
    });
    weight_product(pool, L.w_down, st.ffn.data(), n, st.proj.data(), st.products);
    add_and_norm(st.x.data(), st.proj.data(), L.b_down, L.out_norm, L.out_norm_b, n, E, hp_.norm_eps);
  }
  std::vector<std::vector<float>> out(seqs.size(), std::vector<float>(static_cast<size_t>(E), 0.0f));
  for (size_t s = 0; s < seqs.size(); ++s) {
    std::vector<float>& v = out[s];
    const float* first = st.x.data() + size_t(start[s]) * E;
    if (hp_.pooling == Pooling::kCls) {
      std::copy_n(first, E, v.begin());
    } else {
      for (int i = start[s]; i < start[s + 1]; ++i) kernels::add_inplace(v.data(), st.x.data() + size_t(i) * E, E);
    }
    double norm = 0;
    for (float x : v) norm += double(x) * x;
    const float inv = norm > 0 ? float(1.0 / std::sqrt(norm)) : 0.0f;
    for (float& x : v) x *= inv;
  }
  return out;
}

}  // namespace kuai::engine::model
