#include "tools/synth.h"

#include <cmath>
#include <memory>

#include "engine/gguf/gguf_writer.h"
#include "engine/kernels/type_traits.h"
#include "engine/threads/thread_pool.h"
#include "tools/quantize.h"
#include "tools/synth_vocab.h"

namespace kuai::tools {

using engine::GgmlType;

const std::vector<SynthPreset>& synth_presets() {
  static const std::vector<SynthPreset> presets = {
      {"tinyllama-1.1b", "llama", 32000, 2048, 2048, 22, 32, 4, 5632, 10000.0f, 1e-5f, false},
      {"qwen2.5-0.5b", "qwen2", 151936, 32768, 896, 24, 14, 2, 4864, 1000000.0f, 1e-6f, true},
      {"stories110m", "llama", 32000, 1024, 768, 12, 12, 12, 2048, 10000.0f, 1e-5f, false},
      {"tiny", "llama", 512, 512, 256, 2, 8, 4, 512, 10000.0f, 1e-5f, false},
      {"tiny-qwen2", "qwen2", 1024, 512, 256, 2, 8, 2, 512, 1000000.0f, 1e-6f, true},
      {"bge-small", "bert", 30522, 512, 384, 12, 12, 12, 1536, 0.0f, 1e-12f, false},
      {"tiny-bert", "bert", 1024, 128, 128, 2, 4, 4, 512, 0.0f, 1e-12f, false},
  };
  return presets;
}

const SynthPreset* find_synth_preset(const std::string& name) {
  for (const auto& p : synth_presets())
    if (p.name == name) return &p;
  return nullptr;
}

namespace {

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Row r of tensor `tensor_seed`: approximately normal values (Irwin-Hall of 4 uniforms) of std `std`.
void random_row(uint64_t tensor_seed, int64_t r, float std, float* out, int64_t n) {
  uint64_t s = tensor_seed ^ (uint64_t(r) * 0xd1b54a32d192ed03ull);
  const float scale = std * std::sqrt(3.0f) / 2147483648.0f;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t a = splitmix(s), b = splitmix(s);
    const int64_t sum = int64_t(a & 0xffffffff) + int64_t(a >> 32) + int64_t(b & 0xffffffff) + int64_t(b >> 32) -
                        4 * 2147483648ll;
    out[i] = float(sum) * scale * 0.5f;
  }
}

uint64_t name_hash(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (char c : s) h = (h ^ uint8_t(c)) * 1099511628211ull;
  return h;
}

}  // namespace

engine::Status synth_model(const std::string& out_path, const SynthOptions& opt) {
  const SynthPreset* p = find_synth_preset(opt.preset);
  if (!p) return engine::make_error("unknown preset '" + opt.preset + "'");
  bool known = false;
  for (const auto& r : quantize_recipes()) known |= r == opt.type;
  if (!known) return engine::make_error("unknown type '" + opt.type + "'");
  if (opt.pooling != "mean" && opt.pooling != "cls") return engine::make_error("unknown pooling '" + opt.pooling + "' (mean or cls)");

  engine::GgufWriter w;
  const std::string a = p->arch + ".";
  w.set_string("general.architecture", p->arch);
  w.set_string("general.name", "kuai-synth-" + p->name);
  w.set_string("general.description", "random weights (seed " + std::to_string(opt.seed) + ") in the shape of " + p->name);
  w.set_u32(a + "context_length", uint32_t(p->n_ctx));
  w.set_u32(a + "embedding_length", uint32_t(p->n_embd));
  w.set_u32(a + "block_count", uint32_t(p->n_layer));
  w.set_u32(a + "feed_forward_length", uint32_t(p->n_ff));
  w.set_u32(a + "attention.head_count", uint32_t(p->n_head));
  const bool bert = p->arch == "bert";
  if (bert) {
    w.set_f32(a + "attention.layer_norm_epsilon", p->rms_eps);
    w.set_bool(a + "attention.causal", false);
    w.set_u32(a + "pooling_type", opt.pooling == "cls" ? 2 : 1);
  } else {
    w.set_u32(a + "attention.head_count_kv", uint32_t(p->n_head_kv));
    w.set_f32(a + "attention.layer_norm_rms_epsilon", p->rms_eps);
    w.set_f32(a + "rope.freq_base", p->rope_base);
    w.set_u32(a + "rope.dimension_count", uint32_t(p->n_embd / p->n_head));
  }
  w.set_u32("general.quantization_version", 2);
  write_synth_vocab(w, p->arch, p->n_vocab, opt.seed);

  const int64_t E = p->n_embd, HD = p->n_embd / p->n_head, Q = HD * p->n_head, KV = HD * p->n_head_kv, F = p->n_ff;
  auto pool = std::make_shared<engine::ThreadPool>(std::max(1, opt.n_threads));
  struct Spec {
    std::string name;
    int64_t cols, rows;  // rows == 0: 1-D of cols
    float value;         // for 1-D: constant (norm weights 1, biases 0) …
    float jitter = 0;    // … plus seeded noise of this std (bert: so a forward-pass check sees them)
  };
  std::vector<Spec> specs;
  specs.push_back({"token_embd.weight", E, p->n_vocab, 0});
  if (bert) {  // llama.cpp's BERT tensor names: post-norm layers, biases everywhere, learned positions
    specs.push_back({"token_types.weight", E, 2, 0});
    specs.push_back({"position_embd.weight", E, p->n_ctx, 0});
    specs.push_back({"token_embd_norm.weight", E, 0, 1.0f, 0.1f});
    specs.push_back({"token_embd_norm.bias", E, 0, 0.0f, 0.02f});
    for (int i = 0; i < p->n_layer; ++i) {
      const std::string b = "blk." + std::to_string(i) + ".";
      for (auto [name, cols, rows] : {std::tuple{"attn_q", E, E}, {"attn_k", E, E}, {"attn_v", E, E},
                                      {"attn_output", E, E}, {"ffn_up", E, F}, {"ffn_down", F, E}}) {
        specs.push_back({b + name + ".weight", cols, rows, 0});
        specs.push_back({b + name + ".bias", rows, 0, 0.0f, 0.02f});
      }
      for (const char* norm : {"attn_output_norm", "layer_output_norm"}) {
        specs.push_back({b + norm + ".weight", E, 0, 1.0f, 0.1f});
        specs.push_back({b + norm + ".bias", E, 0, 0.0f, 0.02f});
      }
    }
  } else {  // llama / qwen2: pre-norm layers, RMSNorm, SwiGLU
    specs.push_back({"output_norm.weight", E, 0, 1.0f});
    if (!p->tied_embeddings) specs.push_back({"output.weight", E, p->n_vocab, 0});
    for (int i = 0; i < p->n_layer; ++i) {
      const std::string b = "blk." + std::to_string(i) + ".";
      specs.push_back({b + "attn_norm.weight", E, 0, 1.0f});
      specs.push_back({b + "attn_q.weight", E, Q, 0});
      specs.push_back({b + "attn_k.weight", E, KV, 0});
      specs.push_back({b + "attn_v.weight", E, KV, 0});
      if (p->arch == "qwen2") {
        specs.push_back({b + "attn_q.bias", Q, 0, 0.01f});
        specs.push_back({b + "attn_k.bias", KV, 0, 0.01f});
        specs.push_back({b + "attn_v.bias", KV, 0, 0.01f});
      }
      specs.push_back({b + "attn_output.weight", Q, E, 0});
      specs.push_back({b + "ffn_norm.weight", E, 0, 1.0f});
      specs.push_back({b + "ffn_gate.weight", E, F, 0});
      specs.push_back({b + "ffn_up.weight", E, F, 0});
      specs.push_back({b + "ffn_down.weight", F, E, 0});
    }
  }
  uint64_t total = 0;
  for (const auto& s : specs) total += uint64_t(s.cols) * uint64_t(std::max<int64_t>(1, s.rows));
  auto done = std::make_shared<uint64_t>(0);
  int n_ftype_fallback = 0;
  for (const auto& s : specs) {
    const uint64_t n_elems = uint64_t(s.cols) * uint64_t(std::max<int64_t>(1, s.rows));
    auto tick = [done, total, n_elems, cb = opt.progress] {
      *done += n_elems;
      if (cb) cb(double(*done) / double(total));
    };
    if (s.rows == 0) {
      w.add_tensor(s.name, GgmlType::F32, {s.cols}, [s, seed = name_hash(s.name, opt.seed), tick](std::span<uint8_t> out) {
        auto* f = reinterpret_cast<float*>(out.data());
        if (s.jitter > 0) random_row(seed, 0, s.jitter, f, s.cols);
        for (int64_t i = 0; i < s.cols; ++i) f[i] = (s.jitter > 0 ? f[i] : 0.0f) + s.value;
        tick();
      });
      continue;
    }
    const int layer = s.name.rfind("blk.", 0) == 0 ? std::atoi(s.name.c_str() + 4) : -1;
    // BERT's token-type rows are added to the embeddings as they are: llama.cpp (and converted
    // files) keep them F32.
    const GgmlType want = s.name == "token_types.weight"
                              ? GgmlType::F32
                              : recipe_type(opt.type, s.name, layer, p->n_layer, !p->tied_embeddings);
    const GgmlType type = fitting_type(want, s.cols);
    n_ftype_fallback += type != want;
    const uint64_t seed = name_hash(s.name, opt.seed);
    const float std = opt.weight_std;
    w.add_tensor(s.name, type, {s.cols, s.rows}, [s, type, seed, std, pool, tick](std::span<uint8_t> out) {
      const auto* k = engine::kernels::kernel_traits(type);
      const size_t rb = engine::row_bytes(type, uint64_t(s.cols));
      std::vector<std::vector<float>> bufs(size_t(pool->size()), std::vector<float>(size_t(s.cols)));
      pool->parallel_for(s.rows, 64, [&](int64_t b, int64_t e, int ith) {
        float* f = bufs[size_t(ith)].data();
        for (int64_t r = b; r < e; ++r) {
          random_row(seed, r, std, f, s.cols);
          k->from_float(f, out.data() + size_t(r) * rb, s.cols);
        }
      });
      tick();
    });
  }
  uint32_t ftype = 0;
  if (opt.type == "f16") ftype = 1;
  else if (opt.type == "q4_0") ftype = 2;
  else if (opt.type == "q8_0") ftype = 7;
  else if (opt.type == "q4_k") ftype = 14;
  else if (opt.type == "q4_k_m") ftype = 15;
  else if (opt.type == "q6_k") ftype = 18;
  else if (opt.type == "bf16") ftype = 32;
  w.set_u32("general.file_type", ftype);
  return w.write(out_path);
}

}  // namespace kuai::tools
