#include "engine/model/hparams.h"

#include "engine/gguf/gguf_file.h"

#include <cmath>

namespace kuai::engine::model {

Result<Hparams> read_hparams(const GgufFile& f) {
  Hparams h;
  h.arch_name = f.architecture();
  if (h.arch_name == "llama") {
    h.arch = Arch::kLlama;
    h.rope_style = RopeStyle::kNormal;
  } else if (h.arch_name == "qwen2") {
    h.arch = Arch::kQwen2;
    h.rope_style = RopeStyle::kNeox;
  } else if (h.arch_name.empty()) {
    return make_error(f.path() + ": no general.architecture key (not a model file?)");
  } else {
    return make_error(f.path() + ": unsupported architecture '" + h.arch_name + "' (supported: llama, qwen2)");
  }
  const std::string a = h.arch_name + ".";
  auto need = [&](const std::string& key, int32_t& out) -> bool {
    auto v = f.get_u32(a + key);
    if (!v || *v == 0 || *v > (1u << 30)) return false;
    out = int32_t(*v);
    return true;
  };
  for (auto [key, field] : {std::pair{"embedding_length", &h.n_embd}, {"block_count", &h.n_layer},
                            {"feed_forward_length", &h.n_ff}, {"attention.head_count", &h.n_head}}) {
    if (!need(key, *field)) return make_error(f.path() + ": missing or invalid metadata " + a + key);
  }
  if (f.find(a + "context_length") && !need("context_length", h.n_ctx_train))
    return make_error(f.path() + ": invalid metadata " + a + "context_length (must be 1.." + std::to_string(1u << 30) + ")");
  if (!f.find(a + "context_length")) h.n_ctx_train = 2048;
  if (!need("attention.head_count_kv", h.n_head_kv)) h.n_head_kv = h.n_head;
  // A head's width is attention.key_length when given (pruned heads: n_head * head_dim < n_embd).
  if (!need("attention.key_length", h.head_dim)) {
    if (h.n_embd % h.n_head != 0)
      return make_error(f.path() + ": embedding_length is not a multiple of head_count (and no " + a +
                        "attention.key_length)");
    h.head_dim = h.n_embd / h.n_head;
  }
  if (auto vl = f.get_u32(a + "attention.value_length"); vl && int32_t(*vl) != h.head_dim)
    return make_error(f.path() + ": " + a + "attention.value_length differs from the key length (unsupported)");
  if (h.n_head % h.n_head_kv != 0) return make_error(f.path() + ": head_count is not a multiple of head_count_kv");
  if (!need("rope.dimension_count", h.n_rot)) h.n_rot = h.head_dim;
  if (h.n_rot > h.head_dim || h.n_rot % 2 != 0) return make_error(f.path() + ": invalid rope.dimension_count");
  if (h.head_dim % 2 != 0) return make_error(f.path() + ": head dimension must be even");
  if (auto eps = f.get_f32(a + "attention.layer_norm_rms_epsilon")) h.rms_eps = *eps;
  if (auto base = f.get_f32(a + "rope.freq_base")) h.rope_base = *base;
  const std::string scaling = f.get_string(a + "rope.scaling.type").value_or("none");
  if (scaling == "linear") {
    if (auto factor = f.get_f32(a + "rope.scaling.factor"); factor && *factor > 0) h.rope_linear_scale = *factor;
  } else if (scaling != "none" && !scaling.empty()) {
    return make_error(f.path() + ": unsupported rope scaling '" + scaling + "' (supported: none, linear)");
  }
  if (auto v = f.get_u32(a + "vocab_size")) h.n_vocab = int32_t(*v);
  // Values that load but make every answer NaN or garbage are refused here, with the key named.
  if (!(h.rms_eps > 0 && h.rms_eps < 1))
    return make_error(f.path() + ": invalid metadata " + a + "attention.layer_norm_rms_epsilon (must be in (0, 1))");
  if (!(h.rope_base > 0 && std::isfinite(h.rope_base)))
    return make_error(f.path() + ": invalid metadata " + a + "rope.freq_base (must be a positive number)");
  if (const GgufValue* tokens = f.find("tokenizer.ggml.tokens")) {
    const size_t n_tokens = tokens->array_size();
    for (const char* id : {"bos", "eos", "eot", "unknown", "padding", "separator", "seperator", "cls", "mask"}) {
      const std::string key = std::string("tokenizer.ggml.") + id + "_token_id";
      const GgufValue* v = f.find(key);
      if (!v) continue;
      auto n = v->as_i64();
      // -1 (or its uint32 form) means "none" in some converters; anything else must name a token.
      if (n && (*n == -1 || *n == int64_t(UINT32_MAX))) continue;
      if (!n || *n < 0 || uint64_t(*n) >= n_tokens)
        return make_error(f.path() + ": invalid metadata " + key + " (" + v->to_display() + "; the vocabulary has " +
                          std::to_string(n_tokens) + " tokens)");
    }
  }
  return h;
}

}  // namespace kuai::engine::model
