// GGUF reader (versions 2 and 3). Opens a file with mmap, parses and validates the header, every
// metadata value and the tensor table against the file size, and gives typed access to metadata and
// zero-copy pointers to tensor data.
//
// Robustness: a truncated, corrupt or hostile file gives an Error with a one-line message (what, where:
// byte offset / key / tensor name); nothing is read out of bounds and no allocation exceeds what the
// file's remaining size can justify. Tensor data is not checked (it is only weights).
//
// Shapes: GGUF order, ne[0] is the innermost dimension (the row length, contiguous in memory), so a
// weight matrix of a linear layer y = W x with x of size n_in and y of size n_out has
// ne = {n_in, n_out, 1, 1}: ne[1] rows of ne[0] elements, each row row_bytes(type, ne[0]) bytes.
//
// Threads: open/parse on one thread; afterwards a GgufFile is immutable and every const method may be
// called from many threads at once. Tensor data pointers stay valid while the GgufFile lives.
#pragma once

#include "engine/gguf/ggml_type.h"
#include "engine/gguf/gguf_value.h"
#include "engine/gguf/result.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kuai::engine {

inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr int kGgufMaxDims = 4;

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  uint32_t n_dims = 0;                 // 1..4 as stored (0 allowed for a scalar)
  std::array<int64_t, kGgufMaxDims> ne{1, 1, 1, 1};  // elements per dim, ne[0] innermost; unused dims = 1
  uint64_t offset = 0;                 // bytes from the start of the data section
  uint64_t n_bytes = 0;                // bytes of data
  const uint8_t* data = nullptr;       // into the mapping (aligned to the file's alignment)

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  uint64_t row_bytes() const { return engine::row_bytes(type, static_cast<uint64_t>(ne[0])); }
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

class GgufFile {
 public:
  // Maps and parses the file at `path`.
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Parses a buffer in memory. The buffer is NOT copied: it must outlive the returned file.
  static Result<std::unique_ptr<GgufFile>> parse(const uint8_t* data, size_t size, std::string name = "<memory>");

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t file_bytes() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }  // where the data section starts in the file

  // ---- metadata ----
  const std::vector<GgufKeyValue>& metadata() const { return kv_; }  // in file order
  const GgufValue* find(std::string_view key) const;               // nullptr when absent
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // nullopt when absent or of a type that does not convert (see GgufValue).
  std::optional<uint32_t> get_u32(std::string_view key) const;
  std::optional<int32_t> get_i32(std::string_view key) const;
  std::optional<uint64_t> get_u64(std::string_view key) const;
  std::optional<float> get_f32(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  template <class T>
  std::optional<std::vector<T>> get_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    return v->as_vector<T>();
  }
  // "general.architecture", or "" when absent.
  std::string architecture() const { return get_string("general.architecture").value_or(""); }

  // ---- tensors ----
  const std::vector<GgufTensor>& tensors() const { return tensors_; }  // in file order
  const GgufTensor* tensor(std::string_view name) const;              // nullptr when absent

 private:
  GgufFile() = default;
  Status parse_all();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;  // non-null when we own an mmap
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> kv_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensor> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace kuai::engine
