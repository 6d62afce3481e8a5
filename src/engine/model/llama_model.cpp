#include "engine/model/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "engine/gguf/gguf_file.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/weight_loader.h"

namespace kuai::engine::model {

Result<std::unique_ptr<LlamaModel>> LlamaModel::load(const std::string& path) {
  auto file = GgufFile::open(path);
  if (!file) return std::move(file).take_error();
  return load(std::shared_ptr<const GgufFile>(std::move(file).value()));
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::load(std::shared_ptr<const GgufFile> file) {
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  m->file_ = std::move(file);
  if (m->file_->tensors().empty())
    return make_error(m->file_->path() + ": the file has no tensors (a vocab-only GGUF?); a model needs weights");
  auto hp = read_hparams(*m->file_);
  if (!hp) return std::move(hp).take_error();
  m->hp_ = std::move(hp).value();
  if (auto st = m->load_weights(); !st) return std::move(st).take_error();
  m->pack_weights();
  const Hparams& h = m->hp_;
  m->rope_inv_freq_.resize(size_t(h.n_rot / 2));
  for (int i = 0; i < h.n_rot / 2; ++i)
    m->rope_inv_freq_[size_t(i)] =
        float(1.0 / std::pow(double(h.rope_base), double(2 * i) / double(h.n_rot)) / double(h.rope_linear_scale));
  return m;
}

Status LlamaModel::load_weights() {
  const std::string& path = file_->path();
  WeightLoader w(*file_);
  Hparams& h = hp_;
  const GgufTensor* embd = file_->tensor("token_embd.weight");
  if (!embd) return make_error(path + ": missing tensor 'token_embd.weight'");
  if (h.n_vocab == 0) h.n_vocab = int32_t(embd->ne[1]);
  if (auto st = w.matrix("token_embd.weight", h.n_vocab, h.n_embd, tok_embd_); !st) return st;
  if (auto st = w.vector("output_norm.weight", h.n_embd, output_norm_); !st) return st;
  output_ = kernels::WeightView{};
  if (auto st = w.matrix("output.weight", h.n_vocab, h.n_embd, output_, true); !st) return st;
  if (!output_.data) output_ = tok_embd_;

  layers_.resize(size_t(h.n_layer));
  for (int i = 0; i < h.n_layer; ++i) {
    LayerWeights& L = layers_[size_t(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    Status st = Ok{};
    if (!(st = w.vector(p + "attn_norm.weight", h.n_embd, L.attn_norm))) return st;
    if (!(st = w.matrix(p + "attn_q.weight", h.q_dim(), h.n_embd, L.wq))) return st;
    if (!(st = w.matrix(p + "attn_k.weight", h.kv_dim(), h.n_embd, L.wk))) return st;
    if (!(st = w.matrix(p + "attn_v.weight", h.kv_dim(), h.n_embd, L.wv))) return st;
    if (!(st = w.matrix(p + "attn_output.weight", h.n_embd, h.q_dim(), L.wo))) return st;
    const bool need_bias = h.arch == Arch::kQwen2;
    if (!(st = w.vector(p + "attn_q.bias", h.q_dim(), L.bq, !need_bias))) return st;
    if (!(st = w.vector(p + "attn_k.bias", h.kv_dim(), L.bk, !need_bias))) return st;
    if (!(st = w.vector(p + "attn_v.bias", h.kv_dim(), L.bv, !need_bias))) return st;
    if (!(st = w.vector(p + "ffn_norm.weight", h.n_embd, L.ffn_norm))) return st;
    if (!(st = w.matrix(p + "ffn_gate.weight", h.n_ff, h.n_embd, L.w_gate))) return st;
    if (!(st = w.matrix(p + "ffn_up.weight", h.n_ff, h.n_embd, L.w_up))) return st;
    if (!(st = w.matrix(p + "ffn_down.weight", h.n_embd, h.n_ff, L.w_down))) return st;
  }
  n_params_ = w.n_params();
  owned_ = w.take_owned();
  return Ok{};
}

void LlamaModel::pack_weights() {
  std::vector<kernels::WeightView*> weights;
  for (auto& L : layers_)
    for (auto* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) weights.push_back(w);
  weights.push_back(&output_);  // a tied output is a copy of tok_embd_'s view: the lookup keeps reading the file
  pack_for_int8_gemm(weights, packed_);
  copy_to_huge_pages(weights, packed_);
}

uint64_t LlamaModel::weight_bytes_per_token() const {
  uint64_t bytes = 0;
  auto add = [&](const kernels::WeightView& w) { bytes += uint64_t(w.rows) * w.row_bytes; };
  for (const auto& L : layers_) {
    for (const auto* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) add(*w);
  }
  add(output_);
  return bytes;
}

std::unique_ptr<SequenceKv> LlamaModel::make_kv_cache(int32_t capacity) const {
  return std::make_unique<KvCacheF32>(hp_.n_layer, hp_.kv_dim(), capacity);
}

}  // namespace kuai::engine::model
