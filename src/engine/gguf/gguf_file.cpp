#include "engine/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

namespace kuai::engine {
namespace {

constexpr uint32_t kMaxNesting = 8;          // arrays of arrays deeper than this are refused
constexpr uint64_t kMaxKeyBytes = 1 << 16;   // a metadata key or tensor name longer than this is refused

std::string at_offset(uint64_t off) { return " at byte " + std::to_string(off); }

// Bounds-checked little-endian reader over [data, data + size).
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  template <class T>
  bool read(T& out) {
    if (left() < sizeof(T)) return false;
    std::memcpy(&out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool bytes(uint64_t n, const uint8_t*& out) {
    if (left() < n) return false;
    out = data_ + pos_;
    pos_ += n;
    return true;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

Error truncated(const Cursor& c, std::string_view what) {
  return make_error("truncated file: " + std::string(what) + at_offset(c.pos()));
}

Result<std::string> read_string(Cursor& c, std::string_view what, uint64_t max_len) {
  uint64_t len = 0;
  const uint64_t start = c.pos();
  if (!c.read(len)) return truncated(c, std::string(what) + " length");
  if (len > c.left()) {
    return make_error(std::string(what) + " length " + std::to_string(len) + " exceeds the " +
                      std::to_string(c.left()) + " bytes left" + at_offset(start));
  }
  if (len > max_len) return make_error(std::string(what) + " too long (" + std::to_string(len) + " bytes)" + at_offset(start));
  const uint8_t* p = nullptr;
  c.bytes(len, p);
  return std::string(reinterpret_cast<const char*>(p), len);
}

Result<GgufValue> read_value(Cursor& c, uint32_t type_id, uint32_t depth);

Result<GgufValue> read_array(Cursor& c, uint32_t depth) {
  const uint64_t start = c.pos();
  if (depth >= kMaxNesting) return make_error("arrays nested deeper than " + std::to_string(kMaxNesting) + at_offset(start));
  uint32_t elem_id = 0;
  uint64_t n = 0;
  if (!c.read(elem_id)) return truncated(c, "array element type");
  if (!c.read(n)) return truncated(c, "array length");
  auto elem_size = gguf_value_type_size(elem_id);
  if (!elem_size) return make_error("unknown array element type " + std::to_string(elem_id) + at_offset(start));
  const auto elem = static_cast<GgufValueType>(elem_id);
  // Every element takes at least this many bytes in the file: caps n by what is left.
  const uint64_t min_bytes = elem == GgufValueType::STRING ? 8 : elem == GgufValueType::ARRAY ? 12 : *elem_size;
  if (n > c.left() / min_bytes) {
    return make_error("array of " + std::to_string(n) + " " + std::string(gguf_value_type_name(elem)) +
                      " does not fit in the " + std::to_string(c.left()) + " bytes left" + at_offset(start));
  }
  if (elem == GgufValueType::STRING) {
    std::vector<std::string> items;
    items.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      auto s = read_string(c, "array string", std::numeric_limits<uint64_t>::max());
      if (!s) return std::move(s).take_error();
      items.push_back(std::move(*s));
    }
    return GgufValue::array_strings(std::move(items));
  }
  if (elem == GgufValueType::ARRAY) {
    std::vector<GgufValue> items;
    items.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
      auto v = read_array(c, depth + 1);
      if (!v) return v;
      items.push_back(std::move(*v));
    }
    return GgufValue::array_of_arrays(std::move(items));
  }
  const uint8_t* p = nullptr;
  c.bytes(n * *elem_size, p);  // fits: checked above
  if (elem == GgufValueType::BOOL) {
    for (uint64_t i = 0; i < n; ++i)
      if (p[i] > 1) return make_error("bool array element is " + std::to_string(p[i]) + at_offset(start));
  }
  return GgufValue::array_raw(elem, std::vector<uint8_t>(p, p + n * *elem_size));
}

Result<GgufValue> read_value(Cursor& c, uint32_t type_id, uint32_t depth) {
  switch (static_cast<GgufValueType>(type_id)) {
#define KUAI_SCALAR(TAG, CT)                                    \
  case GgufValueType::TAG: {                                    \
    CT v{};                                                     \
    if (!c.read(v)) return truncated(c, #TAG " value");         \
    return GgufValue::of(v);                                    \
  }
    KUAI_SCALAR(U8, uint8_t)
    KUAI_SCALAR(I8, int8_t)
    KUAI_SCALAR(U16, uint16_t)
    KUAI_SCALAR(I16, int16_t)
    KUAI_SCALAR(U32, uint32_t)
    KUAI_SCALAR(I32, int32_t)
    KUAI_SCALAR(F32, float)
    KUAI_SCALAR(U64, uint64_t)
    KUAI_SCALAR(I64, int64_t)
    KUAI_SCALAR(F64, double)
#undef KUAI_SCALAR
    case GgufValueType::BOOL: {
      uint8_t v = 0;
      if (!c.read(v)) return truncated(c, "bool value");
      if (v > 1) return make_error("bool value is " + std::to_string(v) + at_offset(c.pos() - 1));
      return GgufValue::of(v != 0);
    }
    case GgufValueType::STRING: {
      auto s = read_string(c, "string value", std::numeric_limits<uint64_t>::max());
      if (!s) return std::move(s).take_error();
      return GgufValue::of(std::move(*s));
    }
    case GgufValueType::ARRAY:
      return read_array(c, depth);
  }
  return make_error("unknown value type " + std::to_string(type_id) + at_offset(c.pos() - 4));
}

bool mul_overflows(int64_t a, int64_t b, int64_t& out) { return __builtin_mul_overflow(a, b, &out); }

}  // namespace

GgufFile::~GgufFile() {
  if (mapping_) munmap(mapping_, size_);
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(path + ": not a regular file");
  }
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    void* m = mmap(nullptr, file->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      return make_error(path + ": mmap failed: " + std::strerror(errno));
    }
    file->mapping_ = m;
    file->base_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);
  if (auto st2 = file->parse_all(); !st2) return make_error(path + ": " + st2.error());
  return file;
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse(const uint8_t* data, size_t size, std::string name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = std::move(name);
  file->base_ = data;
  file->size_ = size;
  if (auto st = file->parse_all(); !st) return make_error(file->path_ + ": " + st.error());
  return file;
}

Status GgufFile::parse_all() {
  Cursor c(base_, size_);
  char magic[4] = {};
  if (!c.read(magic)) return make_error("not a GGUF file (shorter than the 4-byte magic)");
  if (std::memcmp(magic, "GGUF", 4) != 0) return make_error("not a GGUF file (bad magic)");
  if (!c.read(version_)) return truncated(c, "version");
  if (version_ == 1) return make_error("GGUF version 1 is not supported (convert with a newer tool)");
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xffff) == 0) return make_error("big-endian GGUF files are not supported");
    return make_error("unsupported GGUF version " + std::to_string(version_));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  if (!c.read(n_tensors)) return truncated(c, "tensor count");
  if (!c.read(n_kv)) return truncated(c, "metadata count");
  // A key-value takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least 8 + 4 + 4 + 8.
  if (n_kv > c.left() / 13) return make_error("metadata count " + std::to_string(n_kv) + " does not fit in the file");
  if (n_tensors > c.left() / 24) return make_error("tensor count " + std::to_string(n_tensors) + " does not fit in the file");

  kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    auto key = read_string(c, "metadata key", kMaxKeyBytes);
    if (!key) return std::move(key).take_error();
    uint32_t type_id = 0;
    if (!c.read(type_id)) return truncated(c, "type of key '" + *key + "'");
    auto value = read_value(c, type_id, 0);
    if (!value) return make_error("key '" + *key + "': " + value.error());
    if (kv_index_.count(*key)) return make_error("duplicate metadata key '" + *key + "'");
    kv_index_.emplace(*key, kv_.size());
    kv_.push_back({std::move(*key), std::move(*value)});
  }

  if (const GgufValue* a = find("general.alignment")) {
    auto v = a->as_u32();
    if (!v || *v == 0 || (*v & (*v - 1)) != 0)
      return make_error("general.alignment must be a power of two, got " + a->to_display());
    alignment_ = *v;
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    auto name = read_string(c, "tensor name", kMaxKeyBytes);
    if (!name) return std::move(name).take_error();
    t.name = std::move(*name);
    const std::string where = "tensor '" + t.name + "': ";
    if (!c.read(t.n_dims)) return truncated(c, where + "dimension count");
    if (t.n_dims > kGgufMaxDims)
      return make_error(where + std::to_string(t.n_dims) + " dimensions (at most " + std::to_string(kGgufMaxDims) + ")");
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      if (!c.read(t.ne[d])) return truncated(c, where + "shape");
      if (t.ne[d] < 0) return make_error(where + "negative dimension " + std::to_string(t.ne[d]));
    }
    uint32_t type_id = 0;
    if (!c.read(type_id)) return truncated(c, where + "type");
    auto traits = ggml_type_traits(type_id);
    if (!traits) return make_error(where + "unknown tensor type " + std::to_string(type_id));
    t.type = static_cast<GgmlType>(type_id);
    if (!c.read(t.offset)) return truncated(c, where + "offset");
    int64_t n = 1;
    for (int d = 0; d < kGgufMaxDims; ++d)
      if (mul_overflows(n, t.ne[d], n)) return make_error(where + "element count overflows");
    if (t.ne[0] % traits->block_size != 0) {
      return make_error(where + "row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                        std::string(traits->name) + " block size " + std::to_string(traits->block_size));
    }
    // n_bytes = n / block * type_size; no overflow for n < 2^63 and type_size < 2^9 when divided first.
    const uint64_t blocks = static_cast<uint64_t>(n) / traits->block_size;
    if (blocks > std::numeric_limits<uint64_t>::max() / traits->type_size) return make_error(where + "byte size overflows");
    t.n_bytes = blocks * traits->type_size;
    if (t.offset % alignment_ != 0)
      return make_error(where + "offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                        std::to_string(alignment_));
    if (tensor_index_.count(t.name)) return make_error("duplicate tensor name '" + t.name + "'");
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t end_of_info = c.pos();
  data_offset_ = (end_of_info + alignment_ - 1) / alignment_ * alignment_;
  if (tensors_.empty()) return Ok{};  // vocab-only files may stop right after the header
  if (data_offset_ > size_) return make_error("truncated file: data section starts past the end of the file");
  const uint64_t data_bytes = size_ - data_offset_;

  // Every tensor inside the data section, none overlapping.
  std::vector<const GgufTensor*> by_offset;
  by_offset.reserve(tensors_.size());
  for (auto& t : tensors_) {
    if (t.offset > data_bytes || t.n_bytes > data_bytes - t.offset) {
      return make_error("tensor '" + t.name + "': data [" + std::to_string(t.offset) + ", +" + std::to_string(t.n_bytes) +
                        ") runs past the end of the file (data section holds " + std::to_string(data_bytes) + " bytes)");
    }
    t.data = base_ + data_offset_ + t.offset;
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensor* prev = by_offset[i - 1];
    if (prev->n_bytes > 0 && by_offset[i]->offset < prev->offset + prev->n_bytes)
      return make_error("tensors '" + prev->name + "' and '" + by_offset[i]->name + "' overlap");
  }
  return Ok{};
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

std::optional<uint32_t> GgufFile::get_u32(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_u32() : std::nullopt;
}
std::optional<int32_t> GgufFile::get_i32(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_i32() : std::nullopt;
}
std::optional<uint64_t> GgufFile::get_u64(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_u64() : std::nullopt;
}
std::optional<float> GgufFile::get_f32(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_f32() : std::nullopt;
}
std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  return v ? v->as_bool() : std::nullopt;
}
std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || !v->as_string()) return std::nullopt;
  return *v->as_string();
}

const GgufTensor* GgufFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace kuai::engine
