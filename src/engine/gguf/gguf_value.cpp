#include "engine/gguf/gguf_value.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cmath>
#include <limits>

namespace kuai::engine {

static_assert(std::endian::native == std::endian::little, "GGUF data is read in place: little-endian hosts only");

std::string_view gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::U8: return "u8";
    case GgufValueType::I8: return "i8";
    case GgufValueType::U16: return "u16";
    case GgufValueType::I16: return "i16";
    case GgufValueType::U32: return "u32";
    case GgufValueType::I32: return "i32";
    case GgufValueType::F32: return "f32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::U64: return "u64";
    case GgufValueType::I64: return "i64";
    case GgufValueType::F64: return "f64";
  }
  return "?";
}

std::optional<size_t> gguf_value_type_size(uint32_t id) {
  switch (static_cast<GgufValueType>(id)) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: return 8;
    case GgufValueType::STRING: case GgufValueType::ARRAY: return 0;
  }
  return std::nullopt;
}

GgufValue GgufValue::array_of_arrays(std::vector<GgufValue> items) {
  GgufValue out;
  out.type_ = GgufValueType::ARRAY;
  out.elem_type_ = GgufValueType::ARRAY;
  out.nested_ = std::move(items);
  return out;
}

GgufValue GgufValue::array_raw(GgufValueType elem, std::vector<uint8_t> raw) {
  GgufValue out;
  out.type_ = GgufValueType::ARRAY;
  out.elem_type_ = elem;
  out.raw_ = std::move(raw);
  return out;
}

GgufValue GgufValue::array_strings(std::vector<std::string> items) {
  GgufValue out;
  out.type_ = GgufValueType::ARRAY;
  out.elem_type_ = GgufValueType::STRING;
  out.strs_ = std::move(items);
  return out;
}

namespace {
bool is_unsigned(GgufValueType t) {
  return t == GgufValueType::U8 || t == GgufValueType::U16 || t == GgufValueType::U32 || t == GgufValueType::U64;
}
bool is_signed(GgufValueType t) {
  return t == GgufValueType::I8 || t == GgufValueType::I16 || t == GgufValueType::I32 || t == GgufValueType::I64;
}
bool is_float(GgufValueType t) { return t == GgufValueType::F32 || t == GgufValueType::F64; }

// Scalar element i of a numeric array stored as raw little-endian bytes.
GgufValue element(GgufValueType elem, const uint8_t* p) {
  switch (elem) {
    case GgufValueType::U8: return GgufValue::of<uint8_t>(p[0]);
    case GgufValueType::I8: { int8_t v; std::memcpy(&v, p, 1); return GgufValue::of(v); }
    case GgufValueType::U16: { uint16_t v; std::memcpy(&v, p, 2); return GgufValue::of(v); }
    case GgufValueType::I16: { int16_t v; std::memcpy(&v, p, 2); return GgufValue::of(v); }
    case GgufValueType::U32: { uint32_t v; std::memcpy(&v, p, 4); return GgufValue::of(v); }
    case GgufValueType::I32: { int32_t v; std::memcpy(&v, p, 4); return GgufValue::of(v); }
    case GgufValueType::F32: { float v; std::memcpy(&v, p, 4); return GgufValue::of(v); }
    case GgufValueType::BOOL: return GgufValue::of(p[0] != 0);
    case GgufValueType::U64: { uint64_t v; std::memcpy(&v, p, 8); return GgufValue::of(v); }
    case GgufValueType::I64: { int64_t v; std::memcpy(&v, p, 8); return GgufValue::of(v); }
    case GgufValueType::F64: { double v; std::memcpy(&v, p, 8); return GgufValue::of(v); }
    default: return GgufValue{};
  }
}
}  // namespace

std::optional<uint64_t> GgufValue::as_u64() const {
  if (is_unsigned(type_)) return u_;
  if (is_signed(type_) && i_ >= 0) return static_cast<uint64_t>(i_);
  return std::nullopt;
}

std::optional<int64_t> GgufValue::as_i64() const {
  if (is_signed(type_)) return i_;
  if (is_unsigned(type_) && u_ <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return static_cast<int64_t>(u_);
  return std::nullopt;
}

std::optional<uint32_t> GgufValue::as_u32() const {
  auto v = as_u64();
  if (!v || *v > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

std::optional<int32_t> GgufValue::as_i32() const {
  auto v = as_i64();
  if (!v || *v > std::numeric_limits<int32_t>::max() || *v < std::numeric_limits<int32_t>::min()) return std::nullopt;
  return static_cast<int32_t>(*v);
}

std::optional<double> GgufValue::as_f64() const {
  if (is_float(type_)) return f_;
  if (is_unsigned(type_)) return static_cast<double>(u_);
  if (is_signed(type_)) return static_cast<double>(i_);
  return std::nullopt;
}

std::optional<float> GgufValue::as_f32() const {
  auto v = as_f64();
  if (!v) return std::nullopt;
  return static_cast<float>(*v);
}

std::optional<bool> GgufValue::as_bool() const {
  if (type_ == GgufValueType::BOOL) return u_ != 0;
  return std::nullopt;
}

const std::string* GgufValue::as_string() const { return type_ == GgufValueType::STRING ? &str_ : nullptr; }

size_t GgufValue::array_size() const {
  if (type_ != GgufValueType::ARRAY) return 0;
  if (elem_type_ == GgufValueType::STRING) return strs_.size();
  if (elem_type_ == GgufValueType::ARRAY) return nested_.size();
  auto size = gguf_value_type_size(static_cast<uint32_t>(elem_type_));
  return size && *size ? raw_.size() / *size : 0;
}

std::optional<GgufValue> GgufValue::at(size_t i) const {
  if (type_ != GgufValueType::ARRAY || i >= array_size()) return std::nullopt;
  if (elem_type_ == GgufValueType::STRING) return of(strs_[i]);
  if (elem_type_ == GgufValueType::ARRAY) return nested_[i];
  size_t size = *gguf_value_type_size(static_cast<uint32_t>(elem_type_));
  return element(elem_type_, raw_.data() + i * size);
}

template <class T>
std::optional<std::vector<T>> GgufValue::as_vector() const {
  if (type_ != GgufValueType::ARRAY) return std::nullopt;
  std::vector<T> out;
  if constexpr (std::is_same_v<T, std::string>) {
    if (elem_type_ != GgufValueType::STRING) return std::nullopt;
    return strs_;
  } else {
    if (elem_type_ == GgufValueType::STRING || elem_type_ == GgufValueType::ARRAY) return std::nullopt;
    // Fast path: same element type, copy the bytes.
    if constexpr (!std::is_same_v<T, bool>) {
      if (elem_type_ == GgufTypeOf<T>::value) {
        out.resize(raw_.size() / sizeof(T));
        if (!out.empty()) std::memcpy(out.data(), raw_.data(), out.size() * sizeof(T));
        return out;
      }
    }
    const size_t size = *gguf_value_type_size(static_cast<uint32_t>(elem_type_));
    const size_t n = raw_.size() / size;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      GgufValue v = element(elem_type_, raw_.data() + i * size);
      std::optional<T> x;
      if constexpr (std::is_same_v<T, bool>) {
        x = v.as_bool();
      } else if constexpr (std::is_floating_point_v<T>) {
        auto f = v.as_f64();
        if (f) x = static_cast<T>(*f);
      } else if constexpr (std::is_unsigned_v<T>) {
        auto u = v.as_u64();
        if (u && *u <= std::numeric_limits<T>::max()) x = static_cast<T>(*u);
      } else {
        auto s = v.as_i64();
        if (s && *s >= std::numeric_limits<T>::min() && *s <= std::numeric_limits<T>::max()) x = static_cast<T>(*s);
      }
      if (!x) return std::nullopt;
      out.push_back(*x);
    }
    return out;
  }
}

template std::optional<std::vector<uint8_t>> GgufValue::as_vector<uint8_t>() const;
template std::optional<std::vector<int8_t>> GgufValue::as_vector<int8_t>() const;
template std::optional<std::vector<uint16_t>> GgufValue::as_vector<uint16_t>() const;
template std::optional<std::vector<int16_t>> GgufValue::as_vector<int16_t>() const;
template std::optional<std::vector<uint32_t>> GgufValue::as_vector<uint32_t>() const;
template std::optional<std::vector<int32_t>> GgufValue::as_vector<int32_t>() const;
template std::optional<std::vector<uint64_t>> GgufValue::as_vector<uint64_t>() const;
template std::optional<std::vector<int64_t>> GgufValue::as_vector<int64_t>() const;
template std::optional<std::vector<float>> GgufValue::as_vector<float>() const;
template std::optional<std::vector<double>> GgufValue::as_vector<double>() const;
template std::optional<std::vector<bool>> GgufValue::as_vector<bool>() const;
template std::optional<std::vector<std::string>> GgufValue::as_vector<std::string>() const;

std::string GgufValue::to_display(size_t max_chars) const {
  std::string out;
  switch (type_) {
    case GgufValueType::STRING:
      out.push_back('"');
      out.append(str_, 0, std::min(str_.size(), max_chars));
      if (str_.size() > max_chars) out.append("...");
      out.push_back('"');
      break;
    case GgufValueType::ARRAY:
      out.append("[").append(gguf_value_type_name(elem_type_)).append(" x ");
      out.append(std::to_string(array_size())).append("]");
      break;
    case GgufValueType::BOOL: out = u_ ? "true" : "false"; break;
    case GgufValueType::F32: case GgufValueType::F64: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", f_);
      out = buf;
      break;
    }
    default:
      out = is_signed(type_) ? std::to_string(i_) : std::to_string(u_);
  }
  return out;
}

}  // namespace kuai::engine
