#include "train/model_config.h"

#include <charconv>
#include <sstream>

namespace kuai::train {

engine::Status ModelConfig::check() const {
  auto bad = [](const std::string& what) { return engine::make_error("model config: " + what); };
  if (n_vocab <= 0) return bad("n_vocab must be positive");
  if (n_embd <= 0 || n_layer <= 0 || n_head <= 0 || n_head_kv <= 0 || n_ff <= 0 || n_ctx <= 1)
    return bad("n_embd, n_layer, n_head, n_head_kv, n_ff must be positive and ctx at least 2 (" + describe() + ")");
  if (n_head_dim < 0) return bad("head_dim must be positive (or 0: n_embd / n_head)");
  if (n_head_dim == 0 && n_embd % n_head != 0) return bad("n_embd must be a multiple of n_head (or give head_dim)");
  if (n_head % n_head_kv != 0) return bad("n_head must be a multiple of n_head_kv");
  if (head_dim() % 2 != 0) return bad("the head dimension (head_dim, or n_embd / n_head) must be even (RoPE pairs)");
  if (!(rms_eps > 0 && rms_eps < 1) || !(rope_base > 0)) return bad("rms_eps must be in (0, 1) and rope_base positive");
  return engine::Ok{};
}

std::string ModelConfig::describe() const {
  std::ostringstream s;
  s << "n_layer=" << n_layer << ",n_embd=" << n_embd << ",n_head=" << n_head << ",n_head_kv=" << n_head_kv
    << ",n_ff=" << n_ff << ",ctx=" << n_ctx << ",n_vocab=" << n_vocab << (tied ? ",tied=1" : "");
  if (n_head_dim > 0) s << ",head_dim=" << n_head_dim;
  return s.str();
}

engine::Result<ModelConfig> parse_model_config(const std::string& text, ModelConfig c) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return engine::make_error("model config: '" + item + "' is not key=value");
    const std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    auto as_int = [&](int32_t& out) {
      const auto r = std::from_chars(val.data(), val.data() + val.size(), out);
      return r.ec == std::errc() && r.ptr == val.data() + val.size();
    };
    auto as_float = [&](float& out) {
      try {
        size_t used = 0;
        out = std::stof(val, &used);
        return used == val.size();
      } catch (...) {
        return false;
      }
    };
    bool ok = true;
    int32_t tied = 0;
    if (key == "n_layer") ok = as_int(c.n_layer);
    else if (key == "n_embd") ok = as_int(c.n_embd);
    else if (key == "n_head") ok = as_int(c.n_head);
    else if (key == "n_head_kv") ok = as_int(c.n_head_kv);
    else if (key == "n_ff") ok = as_int(c.n_ff);
    else if (key == "head_dim") ok = as_int(c.n_head_dim);
    else if (key == "ctx" || key == "n_ctx") ok = as_int(c.n_ctx);
    else if (key == "n_vocab") ok = as_int(c.n_vocab);
    else if (key == "rope_base") ok = as_float(c.rope_base);
    else if (key == "rms_eps") ok = as_float(c.rms_eps);
    else if (key == "tied") ok = as_int(tied), c.tied = tied != 0;
    else
      return engine::make_error("model config: unknown key '" + key +
                                "' (keys: n_layer, n_embd, n_head, n_head_kv, n_ff, head_dim, ctx, tied, rope_base, rms_eps)");
    if (!ok) return engine::make_error("model config: bad value '" + val + "' for " + key);
  }
  if (c.n_head_kv == 0) c.n_head_kv = c.n_head;
  if (auto st = c.check(); !st) return std::move(st).take_error();
  return c;
}

Layout::Layout(const ModelConfig& c) {
  auto add = [&](std::string name, int64_t rows, int64_t cols) {
    tensors.push_back({std::move(name), rows, cols, n_params});
    n_params += tensors.back().size();
    return tensors.back().offset;
  };
  const int64_t E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab;
  tok_embd = add("token_embd.weight", V, E);
  output_norm = add("output_norm.weight", 0, E);
  output = c.tied ? tok_embd : add("output.weight", V, E);
  for (int i = 0; i < c.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerOffsets L{};
    L.attn_norm = add(p + "attn_norm.weight", 0, E);
    L.wq = add(p + "attn_q.weight", Q, E);
    L.wk = add(p + "attn_k.weight", KV, E);
    L.wv = add(p + "attn_v.weight", KV, E);
    L.wo = add(p + "attn_output.weight", E, Q);
    L.ffn_norm = add(p + "ffn_norm.weight", 0, E);
    L.gate = add(p + "ffn_gate.weight", F, E);
    L.up = add(p + "ffn_up.weight", F, E);
    L.down = add(p + "ffn_down.weight", E, F);
    layers.push_back(L);
  }
}

}  // namespace kuai::train
