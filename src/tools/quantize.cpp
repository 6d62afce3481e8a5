#include "tools/quantize.h"

#include <atomic>
#include <cstring>
#include <memory>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/hparams.h"
#include "engine/threads/thread_pool.h"

namespace kuai::tools {

using engine::GgmlType;
namespace kern = engine::kernels;

namespace {

bool more_bits_layer(int layer, int n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(name.c_str() + 4);
}

}  // namespace

uint32_t recipe_file_type(const std::string& recipe) {
  if (recipe == "f32") return 0;
  if (recipe == "f16") return 1;
  if (recipe == "q4_0") return 2;
  if (recipe == "q8_0") return 7;
  if (recipe == "q4_k") return 14;  // Q4_K_S
  if (recipe == "q4_k_m") return 15;
  if (recipe == "q6_k") return 18;
  if (recipe == "bf16") return 32;
  return 0;
}

bool is_weight_matrix(const engine::GgufTensor& t) {
  return t.n_dims >= 2 && t.ne[1] > 1 && t.name.find("norm") == std::string::npos;
}

const std::vector<std::string>& quantize_recipes() {
  static const std::vector<std::string> r = {"q8_0", "q4_0", "q4_k", "q6_k", "q4_k_m", "f16", "bf16", "f32"};
  return r;
}

GgmlType recipe_type(const std::string& recipe, const std::string& name, int layer, int n_layer, bool has_output) {
  if (recipe != "q4_k_m") return *engine::ggml_type_from_name(recipe);
  if (name == "output.weight") return GgmlType::Q6_K;
  if (name == "token_embd.weight") return has_output ? GgmlType::Q4_K : GgmlType::Q6_K;
  const bool v = name.find("attn_v.weight") != std::string::npos;
  const bool down = name.find("ffn_down.weight") != std::string::npos;
  if ((v || down) && layer >= 0 && more_bits_layer(layer, n_layer)) return GgmlType::Q6_K;
  return GgmlType::Q4_K;
}

GgmlType fitting_type(GgmlType type, int64_t row_length) {
  auto fits = [&](GgmlType t) { return row_length % int64_t(engine::ggml_block_size(t)) == 0; };
  if (fits(type)) return type;
  if (fits(GgmlType::Q8_0) && (type == GgmlType::Q4_K || type == GgmlType::Q6_K)) return GgmlType::Q8_0;
  return GgmlType::F16;
}

engine::Status quantize_model(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opt,
                              QuantizeReport* report) {
  bool known = false;
  for (const auto& r : quantize_recipes()) known |= r == opt.recipe;
  if (!known) return engine::make_error("unknown quantization type '" + opt.recipe + "'");
  auto opened = engine::GgufFile::open(in_path);
  if (!opened) return std::move(opened).take_error();
  std::shared_ptr<const engine::GgufFile> in(std::move(opened).value());
  if (in->tensors().empty()) return engine::make_error(in_path + ": the file has no tensors (a vocab-only GGUF?)");
  // A model that would not load (bad hyperparameters) is refused, not rewritten.
  if (in->architecture() == "llama" || in->architecture() == "qwen2")
    if (auto hp = engine::model::read_hparams(*in); !hp) return std::move(hp).take_error();
  const std::string arch = in->architecture();
  const int n_layer = int(in->get_u32(arch + ".block_count").value_or(0));
  const bool has_output = in->tensor("output.weight") != nullptr;

  engine::GgufWriter w;
  for (const auto& kv : in->metadata()) w.set(kv.key, kv.value);
  w.set_u32("general.file_type", recipe_file_type(opt.recipe));
  w.set_u32("general.quantization_version", 2);

  QuantizeReport rep;
  auto pool = std::make_shared<engine::ThreadPool>(std::max(1, opt.n_threads));
  uint64_t total_bytes = 0;
  for (const auto& t : in->tensors()) total_bytes += t.n_bytes;
  auto done_bytes = std::make_shared<uint64_t>(0);

  for (const auto& t : in->tensors()) {
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + std::max<uint32_t>(1, t.n_dims));
    rep.bytes_in += t.n_bytes;
    GgmlType target = t.type;
    if (is_weight_matrix(t)) {
      const GgmlType want = recipe_type(opt.recipe, t.name, layer_of(t.name), n_layer, has_output);
      target = fitting_type(want, t.ne[0]);
      if (target != want) {
        ++rep.n_fallback;
        rep.fallbacks.push_back(t.name + ": " + std::string(engine::ggml_type_name(want)) + " -> " +
                                std::string(engine::ggml_type_name(target)));
      }
    }
    const kern::KernelTraits* src = kern::kernel_traits(t.type);
    const kern::KernelTraits* dst = kern::kernel_traits(target);
    if (target != t.type && (!src || !dst || !dst->from_float))
      return engine::make_error(in_path + ": tensor '" + t.name + "': cannot convert " +
                                std::string(engine::ggml_type_name(t.type)) + " to " +
                                std::string(engine::ggml_type_name(target)));
    const uint64_t out_bytes = uint64_t(t.n_rows()) * engine::row_bytes(target, uint64_t(t.ne[0]));
    rep.bytes_out += out_bytes;
    auto progress = [done_bytes, total_bytes, n = t.n_bytes, cb = opt.progress] {
      *done_bytes += n;
      if (cb) cb(total_bytes ? double(*done_bytes) / double(total_bytes) : 1.0);
    };
    if (target == t.type) {
      w.add_tensor(t.name, t.type, ne, [&t, progress](std::span<uint8_t> out) {
        std::memcpy(out.data(), t.data, out.size());
        progress();
      });
      continue;
    }
    ++rep.n_quantized;
    w.add_tensor(t.name, target, ne, [&t, src, dst, target, pool, progress, in](std::span<uint8_t> out) {
      const int64_t cols = t.ne[0];
      const size_t in_row = t.row_bytes(), out_row = engine::row_bytes(target, uint64_t(cols));
      std::vector<std::vector<float>> bufs(size_t(pool->size()), std::vector<float>(size_t(cols)));
      pool->parallel_for(t.n_rows(), 16, [&](int64_t b, int64_t e, int ith) {
        float* f = bufs[size_t(ith)].data();
        for (int64_t r = b; r < e; ++r) {
          src->to_float(t.data + size_t(r) * in_row, f, cols);
          dst->from_float(f, out.data() + size_t(r) * out_row, cols);
        }
      });
      progress();
    });
  }
  if (auto st = w.write(out_path); !st) return st;
  if (report) *report = std::move(rep);
  return engine::Ok{};
}

}  // namespace kuai::tools
