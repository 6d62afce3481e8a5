#include "flows/refs.h"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>

namespace kuai::flows {
namespace json = boost::json;

namespace {

std::vector<std::string> split_dots(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('.', start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::variant<Ref, std::string> parse_ref(std::string_view inner) {
  std::string written = "${" + std::string(inner) + "}";
  std::vector<std::string> seg = split_dots(inner);
  for (const auto& s : seg)
    if (s.empty()) return "empty name in reference '" + written + "'";
  Ref r;
  if (seg[0] == "inputs") {
    if (seg.size() < 2) return "reference '" + written + "' names no input (write ${inputs.NAME})";
    r.kind = Ref::Kind::input;
    r.name = seg[1];
    r.path.assign(seg.begin() + 2, seg.end());
  } else if (seg[0] == "steps") {
    if (seg.size() < 3 || seg[2] != "output")
      return "reference '" + written + "' must read a step's output (write ${steps.NAME.output})";
    r.kind = Ref::Kind::step;
    r.name = seg[1];
    r.path.assign(seg.begin() + 3, seg.end());
  } else if (seg[0] == "item") {
    r.kind = Ref::Kind::item;
    r.path.assign(seg.begin() + 1, seg.end());
  } else {
    return "unknown reference '" + written + "' (use ${inputs.NAME}, ${steps.NAME.output} or ${item})";
  }
  return r;
}

}  // namespace

std::string Ref::text() const {
  std::string s = "${";
  if (kind == Kind::input) s += "inputs." + name;
  else if (kind == Kind::step) s += "steps." + name + ".output";
  else s += "item";
  for (const auto& p : path) s += "." + p;
  return s + "}";
}

const Ref* Template::sole_ref() const {
  if (parts.size() != 1) return nullptr;
  return std::get_if<Ref>(&parts[0]);
}

std::variant<Template, std::string> parse_template(std::string_view text) {
  Template t;
  std::string lit;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("${", i);
    if (open == std::string_view::npos) {
      lit.append(text.substr(i));
      break;
    }
    lit.append(text.substr(i, open - i));
    size_t close = text.find('}', open + 2);
    if (close == std::string_view::npos)
      return "unclosed reference '" + std::string(text.substr(open, 40)) + "' (a '${' needs its '}')";
    auto ref = parse_ref(text.substr(open + 2, close - open - 2));
    if (auto* err = std::get_if<std::string>(&ref)) return *err;
    if (!lit.empty()) t.parts.emplace_back(std::move(lit));
    lit.clear();
    t.parts.emplace_back(std::get<Ref>(std::move(ref)));
    i = close + 1;
  }
  if (!lit.empty()) t.parts.emplace_back(std::move(lit));
  return t;
}

const json::value* walk(const json::value& v, const std::vector<std::string>& path) {
  const json::value* cur = &v;
  for (const auto& p : path) {
    if (cur->is_object()) {
      cur = cur->get_object().if_contains(p);
    } else if (cur->is_array()) {
      size_t idx = 0;
      auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), idx);
      if (ec != std::errc() || end != p.data() + p.size() || idx >= cur->get_array().size()) return nullptr;
      cur = &cur->get_array()[idx];
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

std::string value_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return {};
  if (v.is_array() && !v.get_array().empty() &&
      std::all_of(v.get_array().begin(), v.get_array().end(), [](const json::value& x) { return x.is_string(); })) {
    std::string out;  // a list of texts (a map's answers, chunks) reads as paragraphs
    for (const auto& x : v.get_array()) out += (out.empty() ? "" : "\n\n") + std::string(x.get_string());
    return out;
  }
  return json::serialize(v);
}

std::string render(const Template& t, const Resolver& resolve) {
  std::string out;
  for (const auto& part : t.parts) {
    if (auto* s = std::get_if<std::string>(&part)) {
      out += *s;
    } else if (const json::value* v = resolve(std::get<Ref>(part))) {
      out += value_text(*v);
    }
  }
  return out;
}

}  // namespace kuai::flows
