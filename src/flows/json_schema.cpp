#include "flows/json_schema.h"

#include <boost/json/serialize.hpp>

#include <set>

namespace kuai::flows {
namespace json = boost::json;

namespace {

const std::set<std::string> kTypes{"object", "array", "string", "number", "integer", "boolean", "null"};
const std::set<std::string> kKeywords{"type",  "properties", "required", "additionalProperties", "items",
                                      "enum",  "minItems",   "maxItems", "description",          "title"};

std::string type_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: return "object";
    case json::kind::array: return "array";
    case json::kind::string: return "string";
    case json::kind::bool_: return "boolean";
    case json::kind::null: return "null";
    case json::kind::int64:
    case json::kind::uint64: return "integer";
    case json::kind::double_: return "number";
  }
  return "null";
}

bool has_type(const json::value& v, const std::string& type) {
  const std::string actual = type_of(v);
  if (type == actual) return true;
  if (type == "number" && actual == "integer") return true;
  // 3.0 is an integer in JSON Schema.
  return type == "integer" && v.is_double() && v.get_double() == static_cast<double>(static_cast<int64_t>(v.get_double()));
}

}  // namespace

std::optional<std::string> schema_error(const json::value& schema) {
  if (!schema.is_object()) return "a schema is a map";
  const auto& o = schema.get_object();
  for (const auto& [k, v] : o)
    if (!kKeywords.count(std::string(k))) return "unsupported schema keyword '" + std::string(k) + "'";
  if (auto* t = o.if_contains("type")) {
    json::array types = t->is_array() ? t->get_array() : json::array{*t};
    for (const auto& one : types)
      if (!one.is_string() || !kTypes.count(std::string(one.get_string())))
        return "'type' must be one of object, array, string, number, integer, boolean, null";
  }
  if (auto* p = o.if_contains("properties")) {
    if (!p->is_object()) return "'properties' is a map";
    for (const auto& [k, sub] : p->get_object())
      if (auto e = schema_error(sub)) return "properties." + std::string(k) + ": " + *e;
  }
  if (auto* r = o.if_contains("required")) {
    if (!r->is_array()) return "'required' is a list of names";
    for (const auto& n : r->get_array())
      if (!n.is_string()) return "'required' is a list of names";
  }
  if (auto* a = o.if_contains("additionalProperties"); a && !a->is_bool()) return "'additionalProperties' is true or false";
  if (auto* i = o.if_contains("items"))
    if (auto e = schema_error(*i)) return "items: " + *e;
  if (auto* e = o.if_contains("enum"); e && !e->is_array()) return "'enum' is a list";
  for (const char* k : {"minItems", "maxItems"})
    if (auto* n = o.if_contains(k); n && !n->is_int64()) return std::string("'") + k + "' is a whole number";
  return std::nullopt;
}

namespace {

std::optional<std::string> violation_at(const json::object& s, const json::value& v, const std::string& at) {
  if (auto* t = s.if_contains("type")) {
    json::array types = t->is_array() ? t->get_array() : json::array{*t};
    bool ok = false;
    std::string names;
    for (const auto& one : types) {
      ok = ok || has_type(v, std::string(one.get_string()));
      names += (names.empty() ? "" : " or ") + std::string(one.get_string());
    }
    if (!ok) return at + ": expected " + names + ", got " + type_of(v);
  }
  if (auto* e = s.if_contains("enum")) {
    bool found = false;
    for (const auto& x : e->get_array()) found = found || x == v;
    if (!found) return at + ": " + json::serialize(v) + " is not one of " + json::serialize(*e);
  }
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (auto* r = s.if_contains("required"))
      for (const auto& n : r->get_array())
        if (!o.contains(n.get_string())) return at + ": missing '" + std::string(n.get_string()) + "'";
    const json::object* props = s.if_contains("properties") ? &s.at("properties").get_object() : nullptr;
    const bool closed = s.if_contains("additionalProperties") && !s.at("additionalProperties").get_bool();
    for (const auto& [k, x] : o) {
      const json::value* sub = props ? props->if_contains(k) : nullptr;
      if (sub) {
        if (auto e = violation_at(sub->get_object(), x, at + "." + std::string(k))) return e;
      } else if (closed) {
        return at + ": unexpected '" + std::string(k) + "'";
      }
    }
  }
  if (v.is_array()) {
    const auto& a = v.get_array();
    if (auto* n = s.if_contains("minItems"); n && static_cast<int64_t>(a.size()) < n->get_int64())
      return at + ": fewer than " + std::to_string(n->get_int64()) + " items";
    if (auto* n = s.if_contains("maxItems"); n && static_cast<int64_t>(a.size()) > n->get_int64())
      return at + ": more than " + std::to_string(n->get_int64()) + " items";
    if (auto* items = s.if_contains("items"))
      for (size_t i = 0; i < a.size(); ++i)
        if (auto e = violation_at(items->get_object(), a[i], at + "[" + std::to_string(i) + "]")) return e;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> schema_violation(const json::value& schema, const json::value& v) {
  return violation_at(schema.get_object(), v, "$");
}

}  // namespace kuai::flows
