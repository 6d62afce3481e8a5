// API keys → tenants (config `tenants`), and the admin key (config `admin_key`).
// With no tenants configured every request is the anonymous tenant; otherwise a missing or unknown
// key is a 401 in the OpenAI error format. Thread-safety: built at start-up, then read-only.
#pragma once

#include "pipeline/tenant.h"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kuai::config { class Config; }

namespace kuai::server {

class TenantTable {
 public:
  // Reads `tenants` (a list of {key, name, tier, max_concurrency, priority}, or a map key → {…}) and
  // `tiers.<tier>.{max_concurrency, priority}` as defaults per tier. Bad config → error message.
  static std::optional<std::string> from_config(const config::Config& cfg, TenantTable& out);

  bool enabled() const { return !by_key_.empty(); }
  // The tenant for an `Authorization: Bearer <key>` value (or a bare key); throws api::Error 401.
  const pipeline::Tenant& authenticate(const std::string* authorization) const;

  // The tenant named `name` (a job stored by name runs as it); the anonymous tenant when no tenants are
  // configured; nullptr when no configured tenant has that name (any more).
  const pipeline::Tenant* find_name(std::string_view name) const;

  const std::string& admin_key() const { return admin_key_; }
  // Admin calls: 403 when no admin key is configured, 401 when the key is missing or wrong.
  void check_admin(const std::string* authorization) const;

  size_t size() const { return by_key_.size(); }

 private:
  std::unordered_map<std::string, pipeline::Tenant> by_key_;
  pipeline::Tenant anonymous_;
  std::string admin_key_;
};

// "Bearer abc" → "abc"; a value without the scheme is no key (empty).
std::string_view bearer_token(std::string_view authorization);

}  // namespace kuai::server
