#include "cache/entry_codec.h"

#include <boost/json.hpp>

#include <cstring>

namespace kuai::cache {
namespace json = boost::json;
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) { v[k] = 0; ++pad; continue; }
      if (pad) return std::nullopt;
      v[k] = b64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out += char((w >> 16) & 255);
    if (pad < 2) out += char((w >> 8) & 255);
    if (pad < 1) out += char(w & 255);
  }
  return out;
}

std::string encode_entry(const Entry& e) {
  json::array answers;
  for (const auto& a : e.answers)
    answers.push_back(json::object{{"c", a.content}, {"f", a.finish_reason}, {"t", a.completion_tokens}});
  std::string_view raw(reinterpret_cast<const char*>(e.vec.data()), e.vec.size() * sizeof(float));
  json::object o{{"id", e.id}, {"ns", e.ns}, {"q", e.query}, {"v", base64_encode(raw)},
                 {"a", std::move(answers)}, {"na", e.next_answer}, {"th", e.threshold},
                 {"lh", e.last_hit_similarity}, {"cost", e.cost_ms}, {"cr", e.created_ms}, {"ex", e.expires_ms}};
  return json::serialize(o);
}

std::optional<Entry> decode_entry(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.as_object();
  try {
    Entry e;
    e.id = json::value_to<uint64_t>(o.at("id"));
    e.ns = json::value_to<std::string>(o.at("ns"));
    e.query = json::value_to<std::string>(o.at("q"));
    auto bytes = base64_decode(json::value_to<std::string>(o.at("v")));
    if (!bytes || bytes->size() % sizeof(float) != 0) return std::nullopt;
    e.vec.resize(bytes->size() / sizeof(float));
    if (!bytes->empty()) std::memcpy(e.vec.data(), bytes->data(), bytes->size());
    for (const auto& a : o.at("a").as_array()) {
      const auto& ao = a.as_object();
      e.answers.push_back(Answer{json::value_to<std::string>(ao.at("c")), json::value_to<std::string>(ao.at("f")),
                                 json::value_to<int64_t>(ao.at("t"))});
    }
    e.next_answer = json::value_to<size_t>(o.at("na"));
    e.threshold = o.at("th").to_number<double>();
    e.last_hit_similarity = o.at("lh").to_number<double>();
    e.cost_ms = o.at("cost").to_number<double>();
    e.created_ms = json::value_to<int64_t>(o.at("cr"));
    e.expires_ms = json::value_to<int64_t>(o.at("ex"));
    e.features = query_features(e.query);
    if (e.id == 0) return std::nullopt;
    return e;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace kuai::cache
