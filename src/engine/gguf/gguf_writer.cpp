#include "engine/gguf/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

namespace kuai::engine {
namespace {

void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}
template <class T>
void put(std::vector<uint8_t>& out, T v) {
  put_bytes(out, &v, sizeof v);
}
void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

void put_array_body(std::vector<uint8_t>& out, const GgufValue& v);

void put_value(std::vector<uint8_t>& out, const GgufValue& v) {
  switch (v.type()) {
    case GgufValueType::U8: put<uint8_t>(out, static_cast<uint8_t>(*v.as_u64())); break;
    case GgufValueType::I8: put<int8_t>(out, static_cast<int8_t>(*v.as_i64())); break;
    case GgufValueType::U16: put<uint16_t>(out, static_cast<uint16_t>(*v.as_u64())); break;
    case GgufValueType::I16: put<int16_t>(out, static_cast<int16_t>(*v.as_i64())); break;
    case GgufValueType::U32: put<uint32_t>(out, static_cast<uint32_t>(*v.as_u64())); break;
    case GgufValueType::I32: put<int32_t>(out, static_cast<int32_t>(*v.as_i64())); break;
    case GgufValueType::U64: put<uint64_t>(out, *v.as_u64()); break;
    case GgufValueType::I64: put<int64_t>(out, *v.as_i64()); break;
    case GgufValueType::F32: put<float>(out, *v.as_f32()); break;
    case GgufValueType::F64: put<double>(out, *v.as_f64()); break;
    case GgufValueType::BOOL: put<uint8_t>(out, *v.as_bool() ? 1 : 0); break;
    case GgufValueType::STRING: put_string(out, *v.as_string()); break;
    case GgufValueType::ARRAY: put_array_body(out, v); break;
  }
}

void put_array_body(std::vector<uint8_t>& out, const GgufValue& v) {
  put<uint32_t>(out, static_cast<uint32_t>(v.array_type()));
  put<uint64_t>(out, v.array_size());
  if (v.array_type() == GgufValueType::STRING) {
    for (const auto& s : v.strings()) put_string(out, s);
  } else if (v.array_type() == GgufValueType::ARRAY) {
    for (const auto& item : v.nested()) put_array_body(out, item);
  } else {
    put_bytes(out, v.raw().data(), v.raw().size());
  }
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

struct FileCloser {
  void operator()(std::FILE* f) const { if (f) std::fclose(f); }
};

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

bool GgufWriter::has(const std::string& key) const {
  for (const auto& kv : kv_)
    if (kv.first == key) return true;
  return false;
}

void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, std::span<const uint8_t> data) {
  tensors_.push_back({std::move(name), type, std::move(ne), data, {}, {}});
}
void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, std::vector<uint8_t>&& data) {
  tensors_.push_back({std::move(name), type, std::move(ne), {}, std::move(data), {}});
  tensors_.back().view = tensors_.back().owned;
}
void GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> ne, Fill fill) {
  tensors_.push_back({std::move(name), type, std::move(ne), {}, {}, std::move(fill)});
}

Status GgufWriter::write(const std::string& path) const {
  uint32_t alignment = 32;
  for (const auto& [k, v] : kv_) {
    if (k == "general.alignment") {
      auto a = v.as_u32();
      if (!a || *a == 0 || (*a & (*a - 1)) != 0) return make_error("general.alignment must be a power of two");
      alignment = *a;
    }
  }
  // Header, metadata, tensor table.
  std::vector<uint8_t> head;
  put_bytes(head, "GGUF", 4);
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_.size());
  for (const auto& [k, v] : kv_) {
    put_string(head, k);
    put<uint32_t>(head, static_cast<uint32_t>(v.type()));
    put_value(head, v);
  }
  std::set<std::string> names;
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    if (!names.insert(t.name).second) return make_error("duplicate tensor name '" + t.name + "'");
    if (t.ne.empty() || t.ne.size() > 4) return make_error("tensor '" + t.name + "': needs 1 to 4 dimensions");
    const auto traits = ggml_type_traits(t.type);
    if (t.ne[0] % traits.block_size != 0)
      return make_error("tensor '" + t.name + "': row length " + std::to_string(t.ne[0]) + " is not a multiple of " +
                        std::to_string(traits.block_size));
    uint64_t n = 1;
    for (int64_t d : t.ne) {
      if (d < 0) return make_error("tensor '" + t.name + "': negative dimension");
      n *= static_cast<uint64_t>(d);
    }
    const uint64_t bytes = n / traits.block_size * traits.type_size;
    if (!t.fill && t.view.size() != bytes)
      return make_error("tensor '" + t.name + "': " + std::to_string(t.view.size()) + " bytes of data, shape needs " +
                        std::to_string(bytes));
    sizes.push_back(bytes);
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<int64_t>(head, d);
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    offset = align_up(offset + bytes, alignment);
  }
  head.resize(align_up(head.size(), alignment), 0);

  const std::string tmp = path + ".tmp";
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return make_error(tmp + ": cannot create: " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const std::string msg = tmp + ": " + what + ": " + std::strerror(errno);
    f.reset();
    std::remove(tmp.c_str());
    return make_error(msg);
  };
  if (std::fwrite(head.data(), 1, head.size(), f.get()) != head.size()) return fail("write failed");
  static const uint8_t kZeros[256] = {};
  std::vector<uint8_t> buffer;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    std::span<const uint8_t> data = t.view;
    if (t.fill) {
      buffer.assign(sizes[i], 0);
      t.fill(buffer);
      data = buffer;
    }
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f.get()) != data.size()) return fail("write failed");
    uint64_t pad = align_up(sizes[i], alignment) - sizes[i];
    while (pad > 0) {
      const size_t n = pad < sizeof kZeros ? pad : sizeof kZeros;
      if (std::fwrite(kZeros, 1, n, f.get()) != n) return fail("write failed");
      pad -= n;
    }
  }
  buffer.clear();
  buffer.shrink_to_fit();
  if (std::fflush(f.get()) != 0) return fail("flush failed");
  f.reset();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return make_error(path + ": cannot rename from " + tmp + ": " + std::strerror(errno));
  }
  return Ok{};
}

}  // namespace kuai::engine
