#include "tools/prune_rewrite.h"

#include <cstring>
#include <memory>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/hparams.h"
#include "engine/threads/thread_pool.h"
#include "tools/prune_compensate.h"
#include "tools/prune_plan.h"
#include "tools/quantize.h"

namespace kuai::tools {

using engine::GgmlType;
using engine::GgufTensor;
using engine::GgufValue;
namespace kern = engine::kernels;

namespace {

// Rows and columns of a 2-D tensor to keep (empty = all), ascending; or the kept columns as a mix of
// the old row (not null: cols says only how many).
struct Cut {
  std::vector<int64_t> rows, cols;
  const ColumnMix* mix = nullptr;
};

// A per-layer array cut to the kept layers (element bytes copied as they are).
GgufValue cut_layer_array(const GgufValue& v, const std::vector<int>& layers) {
  if (v.array_type() == engine::GgufValueType::STRING) {
    std::vector<std::string> out;
    for (int l : layers) out.push_back(v.strings()[size_t(l)]);
    return GgufValue::array_strings(std::move(out));
  }
  const size_t elem = v.raw().size() / v.array_size();
  std::vector<uint8_t> raw;
  for (int l : layers) raw.insert(raw.end(), v.raw().begin() + ptrdiff_t(size_t(l) * elem),
                                  v.raw().begin() + ptrdiff_t(size_t(l + 1) * elem));
  return GgufValue::array_raw(v.array_type(), std::move(raw));
}

// A shape key: a scalar stays a scalar (u32), a per-layer array becomes n_layer copies of the value.
GgufValue shape_value(const GgufValue* old, uint32_t value, size_t n_layer) {
  if (old && old->is_array()) return GgufValue::array(std::vector<uint32_t>(n_layer, value));
  return GgufValue::of(value);
}

// "blk.12.attn_q.weight" -> (12, "attn_q.weight"); (-1, name) for other tensors.
std::pair<int, std::string> split_layer(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return {-1, name};
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos) return {-1, name};
  return {std::atoi(name.c_str() + 4), name.substr(dot + 1)};
}

}  // namespace

engine::Status write_pruned(const engine::GgufFile& in, const PrunePlan& plan, const std::string& out_path,
                            const RewriteOptions& opt, RewriteReport* report) {
  auto hp = engine::model::read_hparams(in);
  if (!hp) return std::move(hp).take_error();
  const engine::model::Hparams& h = *hp;
  if (h.arch != engine::model::Arch::kLlama && h.arch != engine::model::Arch::kQwen2)
    return engine::make_error(in.path() + ": prune supports llama and qwen2 files only; this one is '" +
                              h.arch_name + "'");
  if (!opt.type.empty()) {
    bool known = false;
    for (const auto& r : quantize_recipes()) known |= r == opt.type;
    if (!known) return engine::make_error("unknown type '" + opt.type + "'");
  }
  const int group = h.n_head / h.n_head_kv;
  const size_t n_layer = plan.layers.size();
  const uint32_t n_head = uint32_t(plan.n_groups() * group), n_head_kv = uint32_t(plan.n_groups()),
                 n_ff = uint32_t(plan.n_channels());
  std::vector<int> new_index(size_t(h.n_layer), -1);
  for (size_t i = 0; i < n_layer; ++i) new_index[size_t(plan.layers[i])] = int(i);

  engine::GgufWriter w;
  const std::string a = h.arch_name + ".";
  for (const auto& kv : in.metadata()) {
    if (kv.key.rfind(a, 0) == 0 && kv.value.is_array() && kv.value.array_size() == size_t(h.n_layer) &&
        kv.value.array_type() != engine::GgufValueType::ARRAY)
      w.set(kv.key, cut_layer_array(kv.value, plan.layers));
    else
      w.set(kv.key, kv.value);
  }
  w.set_u32(a + "block_count", uint32_t(n_layer));
  w.set(a + "attention.head_count", shape_value(in.find(a + "attention.head_count"), n_head, n_layer));
  w.set(a + "attention.head_count_kv", shape_value(in.find(a + "attention.head_count_kv"), n_head_kv, n_layer));
  w.set(a + "feed_forward_length", shape_value(in.find(a + "feed_forward_length"), n_ff, n_layer));
  if (n_head != uint32_t(h.n_head) || in.has(a + "attention.key_length")) {
    w.set_u32(a + "attention.key_length", uint32_t(h.head_dim));
    w.set_u32(a + "attention.value_length", uint32_t(h.head_dim));
  }
  if (!opt.type.empty()) {
    w.set_u32("general.file_type", recipe_file_type(opt.type));
    w.set_u32("general.quantization_version", 2);
  }

  RewriteReport rep;
  auto pool = std::make_shared<engine::ThreadPool>(std::max(1, opt.n_threads));
  const bool has_output = in.tensor("output.weight") != nullptr;
  for (const GgufTensor& t : in.tensors()) {
    rep.params_in += uint64_t(t.n_elements());
    auto [layer, base] = split_layer(t.name);
    std::string name = t.name;
    Cut cut;
    if (layer >= 0) {
      if (layer >= h.n_layer) return engine::make_error(in.path() + ": tensor '" + t.name + "' names a layer beyond block_count");
      const int ni = new_index[size_t(layer)];
      if (ni < 0) continue;
      name = "blk." + std::to_string(ni) + "." + base;
      const auto& groups = plan.groups[size_t(ni)];
      const auto& channels = plan.channels[size_t(ni)];
      if (base == "attn_q.weight") {
        cut.rows = block_indices(groups, int64_t(group) * h.head_dim);
      } else if (base == "attn_k.weight" || base == "attn_v.weight") {
        cut.rows = block_indices(groups, h.head_dim);
      } else if (base == "attn_q.bias") {  // one element per row of its projection (qwen2; heads are only
                                           // cut there through a plan made by hand: check_prune_spec)
        cut.cols = block_indices(groups, int64_t(group) * h.head_dim);
      } else if (base == "attn_k.bias" || base == "attn_v.bias") {
        cut.cols = block_indices(groups, h.head_dim);
      } else if (base == "attn_output.weight") {
        cut.cols = block_indices(groups, int64_t(group) * h.head_dim);
        if (opt.compensation && !opt.compensation->attn_output[size_t(ni)].empty())
          cut.mix = &opt.compensation->attn_output[size_t(ni)];
      } else if (base == "ffn_gate.weight" || base == "ffn_up.weight") {
        cut.rows = block_indices(channels, 1);
      } else if (base == "ffn_down.weight") {
        cut.cols = block_indices(channels, 1);
        if (opt.compensation && !opt.compensation->ffn_down[size_t(ni)].empty())
          cut.mix = &opt.compensation->ffn_down[size_t(ni)];
      } else if (base != "attn_norm.weight" && base != "ffn_norm.weight") {
        return engine::make_error(in.path() + ": tensor '" + t.name + "': prune does not know how to cut it");
      }
      if (int64_t(cut.rows.size()) == t.ne[1]) cut.rows.clear();
      if (int64_t(cut.cols.size()) == t.ne[0]) cut.cols.clear(), cut.mix = nullptr;
      if (cut.mix && (cut.mix->in_cols != t.ne[0] || cut.mix->out_cols != int64_t(cut.cols.size())))
        return engine::make_error(in.path() + ": tensor '" + t.name + "': the compensation has another shape");
    }
    const int64_t cols = cut.cols.empty() ? t.ne[0] : int64_t(cut.cols.size());
    const int64_t rows = cut.rows.empty() ? t.n_rows() : int64_t(cut.rows.size());
    GgmlType target = t.type;
    if (!opt.type.empty() && is_weight_matrix(t))
      target = recipe_type(opt.type, name, layer >= 0 ? new_index[size_t(layer)] : -1, int(n_layer), has_output);
    if (const GgmlType fit = fitting_type(target, cols); fit != target) {
      rep.fallbacks.push_back(name + ": " + std::string(engine::ggml_type_name(target)) + " -> " +
                              std::string(engine::ggml_type_name(fit)));
      target = fit;
    }
    const kern::KernelTraits* src = kern::kernel_traits(t.type);
    const kern::KernelTraits* dst = kern::kernel_traits(target);
    const bool convert = target != t.type || !cut.cols.empty();
    if (convert && (!src || !src->to_float || !dst || !dst->from_float))
      return engine::make_error(in.path() + ": tensor '" + t.name + "': cannot convert " +
                                std::string(engine::ggml_type_name(t.type)) + " to " +
                                std::string(engine::ggml_type_name(target)));
    std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + std::max<uint32_t>(1, t.n_dims));
    ne[0] = cols;
    if (ne.size() >= 2) ne[1] = rows;
    rep.params_out += uint64_t(rows * cols);
    w.add_tensor(name, target, ne, [&t, cut = std::move(cut), src, dst, target, convert, cols, pool](std::span<uint8_t> out) {
      const size_t in_row = t.row_bytes(), out_row = engine::row_bytes(target, uint64_t(cols));
      const int64_t n_rows = cut.rows.empty() ? t.n_rows() : int64_t(cut.rows.size());
      auto source_row = [&](int64_t r) { return t.data + size_t(cut.rows.empty() ? r : cut.rows[size_t(r)]) * in_row; };
      if (!convert) {
        for (int64_t r = 0; r < n_rows; ++r) std::memcpy(out.data() + size_t(r) * out_row, source_row(r), out_row);
        return;
      }
      std::vector<std::vector<float>> full(size_t(pool->size()), std::vector<float>(size_t(t.ne[0])));
      std::vector<std::vector<float>> kept(size_t(pool->size()), std::vector<float>(size_t(cols)));
      pool->parallel_for(n_rows, 16, [&](int64_t b, int64_t e, int ith) {
        float* f = full[size_t(ith)].data();
        float* k = kept[size_t(ith)].data();
        for (int64_t r = b; r < e; ++r) {
          src->to_float(source_row(r), f, t.ne[0]);
          if (cut.mix) {
            std::fill(k, k + cols, 0.0f);
            for (int64_t i = 0; i < t.ne[0]; ++i) {
              const float* m = cut.mix->m.data() + size_t(i) * size_t(cols);
              for (int64_t j = 0; j < cols; ++j) k[j] += f[i] * m[j];
            }
          } else if (!cut.cols.empty()) {
            for (int64_t j = 0; j < cols; ++j) k[j] = f[cut.cols[size_t(j)]];
          }
          dst->from_float(cut.cols.empty() ? f : k, out.data() + size_t(r) * out_row, cols);
        }
      });
    });
  }
  if (auto st = w.write(out_path); !st) return st;
  if (report) *report = std::move(rep);
  return engine::Ok{};
}

}  // namespace kuai::tools
