#include "train/params.h"

#include <cmath>
#include <cstring>
#include <random>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/hparams.h"

namespace kuai::train {

Params init_params(const ModelConfig& c, uint64_t seed, float std) {
  const Layout layout(c);
  Params p{c, std::vector<float>(layout.n_params)};
  std::mt19937_64 rng(seed);
  for (const TensorSpec& t : layout.tensors) {
    float* d = p.data.data() + t.offset;
    if (!t.is_matrix()) {
      std::fill(d, d + t.size(), 1.0f);
      continue;
    }
    const bool residual_out = t.name.find("attn_output") != std::string::npos || t.name.find("ffn_down") != std::string::npos;
    std::normal_distribution<float> dist(0.0f, residual_out ? std / std::sqrt(2.0f * float(c.n_layer)) : std);
    for (size_t i = 0; i < t.size(); ++i) d[i] = dist(rng);
  }
  return p;
}

std::vector<uint8_t> decay_mask(const ModelConfig& c) {
  const Layout layout(c);
  std::vector<uint8_t> mask(layout.n_params, 0);
  for (const TensorSpec& t : layout.tensors)
    if (t.is_matrix()) std::fill(mask.begin() + std::ptrdiff_t(t.offset), mask.begin() + std::ptrdiff_t(t.offset + t.size()), 1);
  return mask;
}

engine::Result<ModelConfig> read_config(const engine::GgufFile& f) {
  auto hp = engine::model::read_hparams(f);
  if (!hp) return std::move(hp).take_error();
  if (hp->arch != engine::model::Arch::kLlama)
    return engine::make_error(f.path() + ": only llama-architecture models can be trained (this is " + hp->arch_name + ")");
  if (hp->n_rot != hp->head_dim || hp->rope_linear_scale != 1.0f)
    return engine::make_error(f.path() + ": training needs full RoPE (rope.dimension_count = the head width) and no RoPE scaling");
  ModelConfig c;
  c.n_embd = hp->n_embd;
  c.n_layer = hp->n_layer;
  c.n_head = hp->n_head;
  c.n_head_kv = hp->n_head_kv;
  c.n_ff = hp->n_ff;
  if (hp->head_dim * hp->n_head != hp->n_embd) c.n_head_dim = hp->head_dim;  // pruned heads
  c.n_ctx = hp->n_ctx_train;
  c.rope_base = hp->rope_base;
  c.rms_eps = hp->rms_eps;
  const engine::GgufTensor* embd = f.tensor("token_embd.weight");
  if (!embd) return engine::make_error(f.path() + ": missing tensor 'token_embd.weight'");
  c.n_vocab = int32_t(embd->ne[1]);
  c.tied = f.tensor("output.weight") == nullptr;
  if (auto st = c.check(); !st) return engine::make_error(f.path() + ": " + st.error());
  return c;
}

engine::Result<Params> read_params_file(const std::string& path) {
  auto f = engine::GgufFile::open(path);
  if (!f) return std::move(f).take_error();
  return read_params(**f);
}

engine::Result<Params> read_params(const engine::GgufFile& f) {
  auto cfg = read_config(f);
  if (!cfg) return std::move(cfg).take_error();
  const ModelConfig& c = *cfg;
  const Layout layout(c);
  Params p{c, std::vector<float>(layout.n_params)};
  for (const TensorSpec& t : layout.tensors) {
    const engine::GgufTensor* g = f.tensor(t.name);
    if (!g) return engine::make_error(f.path() + ": missing tensor '" + t.name + "'");
    const int64_t rows = t.is_matrix() ? t.rows : 1;
    if (g->ne[0] != t.cols || g->n_rows() != rows)
      return engine::make_error(f.path() + ": tensor '" + t.name + "' has shape [" + std::to_string(g->ne[0]) + ", " +
                                std::to_string(g->n_rows()) + "], expected [" + std::to_string(t.cols) + ", " +
                                std::to_string(rows) + "]");
    const auto* k = engine::kernels::kernel_traits(g->type);
    if (!k) return engine::make_error(f.path() + ": tensor '" + t.name + "': unsupported type " +
                                      std::string(engine::ggml_type_name(g->type)));
    for (int64_t r = 0; r < rows; ++r)
      k->to_float(g->data + size_t(r) * g->row_bytes(), p.data.data() + t.offset + size_t(r) * size_t(t.cols), t.cols);
  }
  return p;
}

engine::Status add_model(engine::GgufWriter& w, const Params& p, const engine::GgufFile* tokenizer,
                         const std::string& name) {
  const ModelConfig& c = p.config;
  if (tokenizer) {
    const auto tokens = tokenizer->find("tokenizer.ggml.tokens");
    if (!tokens) return engine::make_error(tokenizer->path() + ": no tokenizer.ggml.tokens (not a GGUF with a vocabulary)");
    if (tokens->array_size() != size_t(c.n_vocab))
      return engine::make_error(tokenizer->path() + ": the vocabulary has " + std::to_string(tokens->array_size()) +
                                " tokens, the model " + std::to_string(c.n_vocab));
  }
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", name);
  w.set_u32("general.file_type", 0);
  w.set_u32("llama.context_length", uint32_t(c.n_ctx));
  w.set_u32("llama.embedding_length", uint32_t(c.n_embd));
  w.set_u32("llama.block_count", uint32_t(c.n_layer));
  w.set_u32("llama.feed_forward_length", uint32_t(c.n_ff));
  w.set_u32("llama.attention.head_count", uint32_t(c.n_head));
  w.set_u32("llama.attention.head_count_kv", uint32_t(c.n_head_kv));
  w.set_u32("llama.rope.dimension_count", uint32_t(c.head_dim()));
  if (c.q_dim() != c.n_embd) {  // the head width cannot be derived from n_embd / n_head
    w.set_u32("llama.attention.key_length", uint32_t(c.head_dim()));
    w.set_u32("llama.attention.value_length", uint32_t(c.head_dim()));
  }
  w.set_f32("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_f32("llama.rope.freq_base", c.rope_base);
  w.set_u32("llama.vocab_size", uint32_t(c.n_vocab));
  if (tokenizer)
    for (const auto& kv : tokenizer->metadata())
      if (kv.key.rfind("tokenizer.", 0) == 0) w.set(kv.key, kv.value);
  for (const TensorSpec& t : Layout(c).tensors) {
    std::vector<uint8_t> bytes(t.size() * sizeof(float));
    std::memcpy(bytes.data(), p.data.data() + t.offset, bytes.size());
    std::vector<int64_t> ne = t.is_matrix() ? std::vector<int64_t>{t.cols, t.rows} : std::vector<int64_t>{t.cols};
    w.add_tensor(t.name, engine::GgmlType::F32, std::move(ne), std::move(bytes));
  }
  return engine::Ok{};
}

engine::Status write_model(const std::string& path, const Params& p, const engine::GgufFile* tokenizer,
                           const std::string& name) {
  engine::GgufWriter w;
  if (auto st = add_model(w, p, tokenizer, name); !st) return st;
  return w.write(path);
}

}  // namespace kuai::train
