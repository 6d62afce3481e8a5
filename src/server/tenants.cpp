#include "server/tenants.h"

#include "api/error.h"
#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>

namespace kuai::server {

std::string_view bearer_token(std::string_view v) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  // RFC 6750: `Authorization: Bearer <key>` (the scheme is case-insensitive); a bare key is no key.
  static constexpr std::string_view kScheme = "bearer ";
  if (v.size() < kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) return {};
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}

namespace {

std::optional<std::string> read_tenant(const config::Config& cfg, const YAML::Node& node, std::string key,
                                       std::unordered_map<std::string, pipeline::Tenant>& out) {
  if (!node.IsMap()) return std::string("each entry of 'tenants' must be a map with at least 'key' and 'name'");
  for (const auto& kv : node) {
    std::string field = kv.first.as<std::string>("");
    if (field != "key" && field != "name" && field != "tier" && field != "max_concurrency" && field != "priority")
      return "unknown key '" + field + "' in a tenant entry (known: key, name, tier, max_concurrency, priority)";
  }
  try {
    if (key.empty()) key = node["key"].as<std::string>("");
    if (key.empty()) return std::string("a tenant has no 'key'");
    pipeline::Tenant t;
    t.name = node["name"].as<std::string>(key.substr(0, 8));
    t.tier = node["tier"].as<std::string>("default");
    t.max_concurrency = cfg.get<int>("tiers." + t.tier + ".max_concurrency", 0);
    t.priority = cfg.get<int>("tiers." + t.tier + ".priority", 0);
    t.max_concurrency = node["max_concurrency"].as<int>(t.max_concurrency);
    t.priority = node["priority"].as<int>(t.priority);
    if (t.max_concurrency < 0) return "tenant '" + t.name + "': max_concurrency must be at least 0";
    if (!out.emplace(key, std::move(t)).second) return "the API key of tenant '" + t.name + "' is listed twice";
  } catch (const YAML::Exception& e) {
    return std::string("bad tenant entry: ") + e.what();
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> TenantTable::from_config(const config::Config& cfg, TenantTable& out) {
  out = TenantTable{};
  out.admin_key_ = cfg.get<std::string>("admin_key", "");
  YAML::Node tenants = cfg.at("tenants");
  if (!tenants || tenants.IsNull()) return std::nullopt;
  if (tenants.IsSequence()) {
    for (const auto& t : tenants)
      if (auto err = read_tenant(cfg, t, "", out.by_key_)) return "config 'tenants': " + *err;
  } else if (tenants.IsMap()) {
    for (const auto& kv : tenants) {
      std::string key = kv.first.as<std::string>("");
      YAML::Node v = kv.second;
      if (v.IsScalar()) {  // key: tenant-name
        YAML::Node m(YAML::NodeType::Map);
        m["name"] = v.as<std::string>("");
        v = m;
      }
      if (auto err = read_tenant(cfg, v, key, out.by_key_)) return "config 'tenants': " + *err;
    }
  } else {
    return std::string("config 'tenants' must be a list of {key, name, tier} or a map key → {name, tier}");
  }
  return std::nullopt;
}

const pipeline::Tenant& TenantTable::authenticate(const std::string* authorization) const {
  if (by_key_.empty()) return anonymous_;
  if (!authorization || authorization->empty()) {
    throw api::Error::unauthorized(
        "You didn't provide an API key. You need to provide your API key in an Authorization header using "
        "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
  }
  auto it = by_key_.find(std::string(bearer_token(*authorization)));
  if (it == by_key_.end()) throw api::Error::unauthorized("Incorrect API key provided.");
  return it->second;
}

const pipeline::Tenant* TenantTable::find_name(std::string_view name) const {
  if (by_key_.empty()) return name == anonymous_.name ? &anonymous_ : nullptr;
  for (const auto& [key, t] : by_key_)
    if (t.name == name) return &t;
  return nullptr;
}

void TenantTable::check_admin(const std::string* authorization) const {
  if (admin_key_.empty())
    throw api::Error(403, "invalid_request_error", "The admin API is disabled (set config 'admin_key').", "admin_disabled");
  if (!authorization || bearer_token(*authorization) != admin_key_)
    throw api::Error::unauthorized("Incorrect or missing admin key.");
}

}  // namespace kuai::server
