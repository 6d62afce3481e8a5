// Reads a model's weights out of an opened GGUF file, checking each tensor's shape and type: 2-D
// matrices as kernels::WeightView over the file's mapping (zero-copy), 1-D tensors (norms, biases) as
// F32 (a copy, owned by the loader, when the file stores them in another type). Shared by every model
// class of engine/model, so all of them accept the same tensor types and word their errors alike.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf/result.h"
#include "engine/kernels/matmul.h"

namespace kuai::engine {
class GgufFile;
}

namespace kuai::engine::model {

class WeightLoader {
 public:
  explicit WeightLoader(const GgufFile& file) : file_(file) {}

  // A (rows, cols) weight in a type the matmul kernels take; `optional`: absent is Ok and leaves `out`.
  Status matrix(const std::string& name, int64_t rows, int64_t cols, kernels::WeightView& out, bool optional = false);
  // A 1-D tensor of n elements as F32; `optional`: absent is Ok and leaves `out` null.
  Status vector(const std::string& name, int64_t n, const float*& out, bool optional = false);

  uint64_t n_params() const { return n_params_; }
  // The F32 copies made so far; the caller keeps them alive as long as the pointers handed out.
  std::vector<std::unique_ptr<float[]>> take_owned() { return std::move(owned_); }

 private:
  const GgufFile& file_;
  uint64_t n_params_ = 0;
  std::vector<std::unique_ptr<float[]>> owned_;
};

}  // namespace kuai::engine::model
