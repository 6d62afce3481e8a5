// One GGUF metadata value: a scalar (u8 … f64, bool), a string, or an array (of scalars, of strings,
// or of arrays). Shared by the reader (gguf_file.h) and the writer (gguf_writer.h). A value owns its
// data; it is a plain value type (copyable, no shared state), safe to read from many threads.
//
// Accessors never throw: a wrong type or an out-of-range number gives nullopt.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace kuai::engine {

// Ids as GGUF stores them (gguf_type).
enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

std::string_view gguf_value_type_name(GgufValueType type);
// Bytes of one element in the file for fixed-size types; 0 for STRING and ARRAY; nullopt if unknown id.
std::optional<size_t> gguf_value_type_size(uint32_t id);

// Maps a C++ element type to its GGUF type (uint8_t … double, bool, std::string).
template <class T> struct GgufTypeOf;
template <> struct GgufTypeOf<uint8_t> { static constexpr GgufValueType value = GgufValueType::U8; };
template <> struct GgufTypeOf<int8_t> { static constexpr GgufValueType value = GgufValueType::I8; };
template <> struct GgufTypeOf<uint16_t> { static constexpr GgufValueType value = GgufValueType::U16; };
template <> struct GgufTypeOf<int16_t> { static constexpr GgufValueType value = GgufValueType::I16; };
template <> struct GgufTypeOf<uint32_t> { static constexpr GgufValueType value = GgufValueType::U32; };
template <> struct GgufTypeOf<int32_t> { static constexpr GgufValueType value = GgufValueType::I32; };
template <> struct GgufTypeOf<float> { static constexpr GgufValueType value = GgufValueType::F32; };
template <> struct GgufTypeOf<bool> { static constexpr GgufValueType value = GgufValueType::BOOL; };
template <> struct GgufTypeOf<uint64_t> { static constexpr GgufValueType value = GgufValueType::U64; };
template <> struct GgufTypeOf<int64_t> { static constexpr GgufValueType value = GgufValueType::I64; };
template <> struct GgufTypeOf<double> { static constexpr GgufValueType value = GgufValueType::F64; };
template <> struct GgufTypeOf<std::string> { static constexpr GgufValueType value = GgufValueType::STRING; };

class GgufValue {
 public:
  GgufValue() = default;  // u8 0

  // ---- construction (writer side) ----
  template <class T>
  static GgufValue of(T v) {
    GgufValue out;
    out.type_ = GgufTypeOf<T>::value;
    if constexpr (std::is_same_v<T, std::string>) {
      out.str_ = std::move(v);
    } else if constexpr (std::is_floating_point_v<T>) {
      out.f_ = static_cast<double>(v);
    } else if constexpr (std::is_same_v<T, bool> || std::is_unsigned_v<T>) {
      out.u_ = static_cast<uint64_t>(v);
    } else {
      out.i_ = static_cast<int64_t>(v);
    }
    return out;
  }
  static GgufValue of(const char* s) { return of(std::string(s)); }
  static GgufValue of(std::string_view s) { return of(std::string(s)); }

  // Array of scalars or strings (T as in GgufTypeOf).
  template <class T>
  static GgufValue array(const std::vector<T>& items) {
    GgufValue out;
    out.type_ = GgufValueType::ARRAY;
    out.elem_type_ = GgufTypeOf<T>::value;
    if constexpr (std::is_same_v<T, std::string>) {
      out.strs_ = items;
    } else if constexpr (std::is_same_v<T, bool>) {
      out.raw_.reserve(items.size());
      for (bool b : items) out.raw_.push_back(b ? 1 : 0);
    } else {
      out.raw_.resize(items.size() * sizeof(T));
      if (!items.empty()) std::memcpy(out.raw_.data(), items.data(), out.raw_.size());
    }
    return out;
  }
  // Array of arrays (each item must have type() == ARRAY).
  static GgufValue array_of_arrays(std::vector<GgufValue> items);
  // Array of numbers from raw little-endian element bytes (reader side; raw.size() % size == 0).
  static GgufValue array_raw(GgufValueType elem, std::vector<uint8_t> raw);
  static GgufValue array_strings(std::vector<std::string> items);

  // ---- inspection ----
  GgufValueType type() const { return type_; }
  bool is_array() const { return type_ == GgufValueType::ARRAY; }

  // Scalars. Integers convert between widths when the value fits; as_f64 accepts any number.
  std::optional<uint64_t> as_u64() const;
  std::optional<int64_t> as_i64() const;
  std::optional<uint32_t> as_u32() const;
  std::optional<int32_t> as_i32() const;
  std::optional<double> as_f64() const;
  std::optional<float> as_f32() const;
  std::optional<bool> as_bool() const;  // BOOL only
  const std::string* as_string() const;  // STRING only; nullptr otherwise

  // Arrays. array_type() is the element type; array_size() the element count (0 for non-arrays).
  GgufValueType array_type() const { return elem_type_; }
  size_t array_size() const;
  // Elements converted to T (T = integer, float, double, bool or std::string); nullopt when this is
  // not an array or an element does not convert (e.g. strings asked as numbers, -1 asked as uint32_t).
  template <class T>
  std::optional<std::vector<T>> as_vector() const;
  // Element i as its own value (for nested arrays and generic printing); nullopt out of range.
  std::optional<GgufValue> at(size_t i) const;

  // Raw storage (writer): numeric array payload in little-endian element bytes; string items; nested.
  const std::vector<uint8_t>& raw() const { return raw_; }
  const std::vector<std::string>& strings() const { return strs_; }
  const std::vector<GgufValue>& nested() const { return nested_; }

  // Short human-readable form ("42", "\"llama\"", "[f32 × 32000]") for dumps and messages.
  std::string to_display(size_t max_chars = 80) const;

 private:
  GgufValueType type_ = GgufValueType::U8;
  uint64_t u_ = 0;  // U8/U16/U32/U64/BOOL
  int64_t i_ = 0;   // I8/I16/I32/I64
  double f_ = 0;    // F32/F64
  std::string str_;
  GgufValueType elem_type_ = GgufValueType::U8;
  std::vector<uint8_t> raw_;
  std::vector<std::string> strs_;
  std::vector<GgufValue> nested_;
};

extern template std::optional<std::vector<uint8_t>> GgufValue::as_vector<uint8_t>() const;
extern template std::optional<std::vector<int8_t>> GgufValue::as_vector<int8_t>() const;
extern template std::optional<std::vector<uint16_t>> GgufValue::as_vector<uint16_t>() const;
extern template std::optional<std::vector<int16_t>> GgufValue::as_vector<int16_t>() const;
extern template std::optional<std::vector<uint32_t>> GgufValue::as_vector<uint32_t>() const;
extern template std::optional<std::vector<int32_t>> GgufValue::as_vector<int32_t>() const;
extern template std::optional<std::vector<uint64_t>> GgufValue::as_vector<uint64_t>() const;
extern template std::optional<std::vector<int64_t>> GgufValue::as_vector<int64_t>() const;
extern template std::optional<std::vector<float>> GgufValue::as_vector<float>() const;
extern template std::optional<std::vector<double>> GgufValue::as_vector<double>() const;
extern template std::optional<std::vector<bool>> GgufValue::as_vector<bool>() const;
extern template std::optional<std::vector<std::string>> GgufValue::as_vector<std::string>() const;

}  // namespace kuai::engine
