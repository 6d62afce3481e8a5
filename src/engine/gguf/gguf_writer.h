// GGUF writer (version 3): metadata of every type, then the tensor table, then the tensor data, each
// tensor's data aligned to `general.alignment` (32 unless set). Files it writes load in other GGUF tools.
//
// Tensor data comes from one of three sources: bytes the caller keeps alive until write() returns, bytes
// moved into the writer, or a fill callback called once during write() with a buffer of the tensor's size
// (so a tool can produce a large model one tensor at a time).
//
// Shapes as in gguf_file.h: ne[0] is the innermost (row) length and must be a multiple of the type's
// block size. Threads: one writer belongs to one thread.
#pragma once

#include "engine/gguf/ggml_type.h"
#include "engine/gguf/gguf_value.h"
#include "engine/gguf/result.h"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace kuai::engine {

class GgufWriter {
 public:
  using Fill = std::function<void(std::span<uint8_t> out)>;  // must write all out.size() bytes

  // Sets (or replaces, keeping its position) a metadata key.
  void set(const std::string& key, GgufValue value);
  void set_u32(const std::string& key, uint32_t v) { set(key, GgufValue::of(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, GgufValue::of(v)); }
  void set_u64(const std::string& key, uint64_t v) { set(key, GgufValue::of(v)); }
  void set_f32(const std::string& key, float v) { set(key, GgufValue::of(v)); }
  void set_bool(const std::string& key, bool v) { set(key, GgufValue::of(v)); }
  void set_string(const std::string& key, std::string v) { set(key, GgufValue::of(std::move(v))); }
  template <class T>
  void set_array(const std::string& key, const std::vector<T>& items) { set(key, GgufValue::array(items)); }
  bool has(const std::string& key) const;

  // Adds a tensor. `ne` has 1..4 entries (ne[0] innermost). The data size must equal the tensor's
  // byte size (checked in write()). Names must be unique (checked in write()).
  void add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, std::span<const uint8_t> data);
  void add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, std::vector<uint8_t>&& data);
  void add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, Fill fill);

  // Writes the whole file (to `path`.tmp, then renamed over `path`). Errors: bad shapes, duplicate
  // names, I/O failures.
  Status write(const std::string& path) const;

  size_t tensor_count() const { return tensors_.size(); }

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    std::span<const uint8_t> view;
    std::vector<uint8_t> owned;
    Fill fill;
  };
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace kuai::engine
