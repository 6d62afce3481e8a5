#include "engine/model/weight_loader.h"

#include "engine/gguf/gguf_file.h"
#include "engine/kernels/type_traits.h"

namespace kuai::engine::model {

namespace {

Status bad(const GgufFile& f, const std::string& name, const std::string& what) {
  return make_error(f.path() + ": tensor '" + name + "': " + what);
}

}  // namespace

Status WeightLoader::matrix(const std::string& name, int64_t rows, int64_t cols, kernels::WeightView& out,
                            bool optional) {
  const GgufTensor* t = file_.tensor(name);
  if (!t) {
    if (optional) return Ok{};
    return make_error(file_.path() + ": missing tensor '" + name + "'");
  }
  if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
    return bad(file_, name, "shape [" + std::to_string(t->ne[0]) + ", " + std::to_string(t->ne[1]) + "], expected [" +
                                std::to_string(cols) + ", " + std::to_string(rows) + "]");
  if (!kernels::kernel_can_matmul(t->type))
    return bad(file_, name, "unsupported type " + std::string(ggml_type_name(t->type)) +
                                " (supported: f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)");
  out = kernels::WeightView{t->type, t->data, rows, cols, size_t(t->row_bytes())};
  n_params_ += uint64_t(rows * cols);
  return Ok{};
}

Status WeightLoader::vector(const std::string& name, int64_t n, const float*& out, bool optional) {
  const GgufTensor* t = file_.tensor(name);
  if (!t) {
    if (optional) return Ok{};
    return make_error(file_.path() + ": missing tensor '" + name + "'");
  }
  if (t->n_elements() != n)
    return bad(file_, name, "has " + std::to_string(t->n_elements()) + " elements, expected " + std::to_string(n));
  n_params_ += uint64_t(n);
  if (t->type == GgmlType::F32) {
    out = reinterpret_cast<const float*>(t->data);
    return Ok{};
  }
  const kernels::KernelTraits* k = kernels::kernel_traits(t->type);
  if (!k || t->ne[0] != n) return bad(file_, name, "unsupported type " + std::string(ggml_type_name(t->type)));
  owned_.emplace_back(new float[size_t(n)]);
  k->to_float(t->data, owned_.back().get(), n);
  out = owned_.back().get();
  return Ok{};
}

}  // namespace kuai::engine::model
