#include "config/schema.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kuai::config {
namespace {

using T = KeyType;
constexpr double kNoMax = 1e300;

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('.', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    // "backends[]" is two steps: the key, then any list item.
    if (seg.size() > 2 && seg.substr(seg.size() - 2) == "[]") {
      out.push_back(seg.substr(0, seg.size() - 2));
      out.push_back("[]");
    } else if (!seg.empty()) {
      out.push_back(seg);
    }
    start = end + 1;
  }
  return out;
}

// Levenshtein distance, for "did you mean".
size_t distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

const char* type_name(KeyType t) {
  switch (t) {
    case T::integer: return "an integer";
    case T::number: return "a number";
    case T::boolean: return "true or false";
    case T::string: return "a string";
    case T::list: return "a list";
    case T::map: return "a map";
    case T::any: return "a value";
  }
  return "a value";
}

std::string format_number(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  std::string s = std::to_string(v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  return s;
}

class Validator {
 public:
  Validator(const Config& cfg, const std::vector<std::string>& free) : cfg_(cfg) {
    for (const auto& r : key_rules()) rules_.push_back({split(r.path), &r});
    for (const auto& f : free) free_.push_back(split(f));
  }

  std::optional<std::string> run() {
    walk(cfg_.root(), {});
    return error_;
  }

 private:
  struct Rule {
    std::vector<std::string_view> segs;
    const KeyRule* rule;
  };

  static bool seg_matches(std::string_view pattern, std::string_view seg) {
    return pattern == seg || (pattern == "*" && seg != "[]");
  }

  // Rules whose path starts with `path` (segment by segment; literal segments before `*`).
  std::vector<const Rule*> under(const std::vector<std::string>& path) const {
    std::vector<const Rule*> out;
    for (const auto& r : rules_) {
      if (r.segs.size() < path.size()) continue;
      bool ok = true;
      for (size_t i = 0; i < path.size() && ok; ++i) ok = seg_matches(r.segs[i], path[i]);
      if (ok) out.push_back(&r);
    }
    return out;
  }

  bool is_free(const std::vector<std::string>& path) const {
    for (const auto& f : free_) {
      if (f.size() > path.size()) continue;
      if (std::equal(f.begin(), f.end(), path.begin())) return true;
    }
    return false;
  }

  static std::string dotted(const std::vector<std::string>& path) {
    std::string s;
    for (const auto& p : path) {
      if (p == "[]") s += "[]";
      else s += (s.empty() ? "" : ".") + p;
    }
    return s;
  }

  std::string where(const std::vector<std::string>& path, const YAML::Node& node) const {
    std::string key = dotted(path);
    if (cfg_.set_by_command_line(key)) return " (from the command line)";
    if (node.Mark().line < 0) return {};
    std::string line = "line " + std::to_string(node.Mark().line + 1);
    return cfg_.file().empty() ? " (" + line + ")" : " (" + cfg_.file() + " " + line + ")";
  }

  void fail(std::string msg) {
    if (!error_) error_ = std::move(msg);
  }

  void walk(const YAML::Node& node, std::vector<std::string> path) {
    if (error_ || is_free(path)) return;
    auto candidates = under(path);
    // A rule that ends here checks this node's value.
    const Rule* exact = nullptr;
    for (const auto* r : candidates)
      if (r->segs.size() == path.size() && (!exact || specificity(*r) > specificity(*exact))) exact = r;
    if (exact && exact->rule->type != T::map && exact->rule->type != T::list) {
      check_value(*exact->rule, node, path);
      return;
    }
    if (exact && node.IsNull()) return;
    if (node.IsMap()) {
      if (exact && exact->rule->type == T::list) return fail("'" + dotted(path) + "'" + where(path, node) + " must be a list");
      for (const auto& kv : node) {
        std::string key = kv.first.as<std::string>("");
        auto child = path;
        child.push_back(key);
        if (under(child).empty() && !is_free(child)) return unknown(child, kv.first);
        walk(kv.second, child);
        if (error_) return;
      }
    } else if (node.IsSequence()) {
      if (exact && exact->rule->type == T::map) return fail("'" + dotted(path) + "'" + where(path, node) + " must be a map");
      auto child = path;
      child.push_back("[]");
      if (under(child).empty()) {
        if (!exact) fail("'" + dotted(path) + "'" + where(path, node) + " must be a map");
        return;  // a list of scalars, checked by its reader
      }
      for (const auto& item : node) {
        walk(item, child);
        if (error_) return;
      }
    } else if (!path.empty()) {
      if (exact) return fail("'" + dotted(path) + "'" + where(path, node) + " must be " + type_name(exact->rule->type));
      fail("'" + dotted(path) + "'" + where(path, node) + " must be a map of keys");
    }
  }

  static int specificity(const Rule& r) {
    return static_cast<int>(std::count_if(r.segs.begin(), r.segs.end(), [](auto s) { return s != "*"; }));
  }

  void unknown(const std::vector<std::string>& path, const YAML::Node& key_node) {
    std::vector<std::string> parent(path.begin(), path.end() - 1);
    const std::string& key = path.back();
    std::string best;
    size_t best_d = std::max<size_t>(3, key.size() / 3) + 1;
    for (const auto* r : under(parent)) {
      std::string_view s = r->segs[parent.size()];
      if (s == "*" || s == "[]") continue;
      size_t d = distance(key, s);
      if (d < best_d) best_d = d, best = std::string(s);
    }
    std::string msg = "unknown key '" + dotted(path) + "'" + where(path, key_node);
    if (!best.empty()) {
      auto fixed = parent;
      fixed.push_back(best);
      msg += "; did you mean '" + dotted(fixed) + "'?";
    }
    fail(msg);
  }

  void check_value(const KeyRule& rule, const YAML::Node& node, const std::vector<std::string>& path) {
    if (node.IsNull() || rule.type == T::any) return;
    const std::string name = "'" + dotted(path) + "'" + where(path, node);
    auto wrong = [&] {
      std::string got = node.IsScalar() ? "'" + node.Scalar() + "'" : node.IsMap() ? "a map" : "a list";
      fail(name + " must be " + type_name(rule.type) + ", got " + got);
    };
    if (!node.IsScalar()) return wrong();
    const std::string& text = node.Scalar();
    double value = 0;
    switch (rule.type) {
      case T::integer: {
        int64_t v = 0;
        if (!YAML::convert<int64_t>::decode(node, v)) return wrong();
        value = static_cast<double>(v);
        break;
      }
      case T::number: {
        if (!YAML::convert<double>::decode(node, value) || !std::isfinite(value)) return wrong();
        break;
      }
      case T::boolean: {
        bool b = false;
        if (!YAML::convert<bool>::decode(node, b)) return wrong();
        return;
      }
      case T::string:
        if (!rule.one_of.empty() &&
            std::find(rule.one_of.begin(), rule.one_of.end(), std::string_view(text)) == rule.one_of.end()) {
          std::string list;
          for (auto v : rule.one_of) list += (list.empty() ? "" : ", ") + std::string(v);
          fail(name + " must be one of " + list + ", got '" + text + "'");
        }
        return;
      default: return;
    }
    if (value < rule.min || value > rule.max) {
      std::string range = rule.max >= kNoMax ? "at least " + format_number(rule.min)
                                             : "between " + format_number(rule.min) + " and " + format_number(rule.max);
      fail(name + " must be " + range + ", got " + text);
    }
  }

  const Config& cfg_;
  std::vector<Rule> rules_;
  std::vector<std::vector<std::string_view>> free_;
  std::optional<std::string> error_;
};

}  // namespace

const std::vector<KeyRule>& key_rules() {
  static const std::vector<KeyRule> rules = [] {
    std::vector<KeyRule> r{
        // Server, logging, auth, tenants (src/server, src/http)
        {"server.host", T::string},
        {"server.port", T::integer, 0, 65535},
        {"server.io_threads", T::integer, 0, 256},
        {"server.max_body_bytes", T::integer, 1, kNoMax},
        {"server.header_timeout_ms", T::integer, 1, kNoMax},
        {"server.idle_timeout_ms", T::integer, 1, kNoMax},
        {"server.body_timeout_ms", T::integer, 1, kNoMax},
        {"server.drain_timeout_ms", T::integer, 0, kNoMax},
        {"server.ws_idle_timeout_ms", T::integer, 1, kNoMax},
        {"server.fallback_model", T::string},
        {"server.access_log", T::boolean},
        {"log.level", T::string, 0, 0, {"trace", "debug", "info", "warn", "error", "critical", "off"}},
        {"admin_key", T::string},
        {"dashboard.enabled", T::boolean},
        {"dashboard.show_content", T::boolean},
        {"dashboard.max_requests", T::integer, 0, 100000},
        {"tenants", T::any},  // a list or a map of entries: tenants.cpp checks each
        {"tiers.*.max_concurrency", T::integer, 0, kNoMax},
        {"tiers.*.priority", T::integer},
        {"tiers.*.queue_timeout_ms", T::integer, 0, kNoMax},
        // Async jobs (src/jobs, src/server/jobs_routes.cpp)
        {"jobs.dir", T::string},
        {"jobs.queue", T::string},
        {"jobs.amqp_queue", T::string},
        {"jobs.stop_grace_ms", T::integer, 0, kNoMax},
        {"jobs.workers", T::integer, 0, 4096},
        {"jobs.max_attempts", T::integer, 1, 100},
        {"jobs.retention_s", T::integer, 1, kNoMax},
        {"jobs.max_file_bytes", T::integer, 1, kNoMax},
        {"jobs.max_lines", T::integer, 1, kNoMax},
        {"jobs.lease_ms", T::integer, 100, kNoMax},
        {"jobs.poll_ms", T::integer, 1, kNoMax},
        {"jobs.webhooks.endpoints", T::list},
        {"jobs.webhooks.endpoints[].url", T::string},
        {"jobs.webhooks.endpoints[].secrets", T::list},
        {"jobs.webhooks.endpoints[].tenant", T::string},
        {"jobs.webhooks.allow_private", T::list},
        {"jobs.webhooks.request_url_tenants", T::list},
        {"jobs.webhooks.request_url_secrets", T::list},
        {"jobs.webhooks.backoff_initial_ms", T::integer, 1, kNoMax},
        {"jobs.webhooks.backoff_max_ms", T::integer, 1, kNoMax},
        {"jobs.webhooks.horizon_s", T::integer, 1, kNoMax},
        {"jobs.webhooks.timeout_ms", T::integer, 1, kNoMax},
        // Pipeline and models
        {"pipeline", T::list},
        {"stages.*.enabled", T::boolean},
        {"models.*.backends", T::list},
        {"models.*.backends[].url", T::string},
        {"models.*.backends[].model", T::string},
        {"models.*.backends[].api_key", T::string},
        {"models.*.backends[].weight", T::number, 0, kNoMax},
        {"models.*.backends[].type", T::string, 0, 0, {"http", "local"}},
        {"models.*.backends[].first_token_timeout_ms", T::integer, 1, kNoMax},
        {"models.*.backends[].total_timeout_ms", T::integer, 1, kNoMax},
        {"models.*.strategy", T::string, 0, 0, {"ordered", "fastest", "weighted"}},
        {"models.*.hedge_after_ms", T::integer, 0, kNoMax},
        // Flows (src/flows): settings, then flows by name (each checked by the flow parser)
        {"flows.dir", T::string},
        {"flows.max_stored_runs", T::integer, 0, 100000},
        {"flows.*", T::any},
        // Upstream
        {"upstream.connect_timeout_ms", T::integer, 1, kNoMax},
        {"upstream.first_token_timeout_ms", T::integer, 1, kNoMax},
        {"upstream.total_timeout_ms", T::integer, 1, kNoMax},
        {"upstream.max_idle_connections_per_host", T::integer, 0, kNoMax},
        {"upstream.verify_tls", T::boolean},
        {"upstream.ca_file", T::string},
        {"upstream.max_concurrency", T::integer, 0, kNoMax},
        {"upstream.retries.max_attempts", T::integer, 1, 100},
        {"upstream.retries.backoff_initial_ms", T::integer, 0, kNoMax},
        {"upstream.retries.backoff_max_ms", T::integer, 0, kNoMax},
        {"upstream.retries.max_retry_after_ms", T::integer, 0, kNoMax},
        // Semantic cache
        {"stages.cache.embedder", T::string, 0, 0, {"hash", "remote", "local"}},
        {"stages.cache.embedder_model", T::string},
        {"stages.cache.hash_dim", T::integer, 16, 8192},
        {"stages.cache.embedder_trust", T::number, 0, 1},
        {"stages.cache.threshold", T::number, 0, 1},
        {"stages.cache.model_thresholds", T::map},
        {"stages.cache.model_thresholds.*", T::number, 0, 1},
        {"stages.cache.tenant_thresholds", T::map},
        {"stages.cache.tenant_thresholds.*", T::number, 0, 1},
        {"stages.cache.ttl_s", T::number, 0, kNoMax},
        {"stages.cache.max_entries", T::integer, 1, kNoMax},
        {"stages.cache.max_bytes", T::integer, 1, kNoMax},
        {"stages.cache.max_query_bytes", T::integer, 1, kNoMax},
        {"stages.cache.max_false_hit_rate", T::number, 0, 1},
        {"stages.cache.answers_per_entry", T::integer, 1, 64},
        {"stages.cache.candidates", T::integer, 1, 1024},
        {"stages.cache.temperature_miss_slope", T::number, 0, kNoMax},
        {"stages.cache.max_miss_probability", T::number, 0, 1},
        {"stages.cache.default_temperature", T::number, 0, 2},
        {"stages.cache.guards.negation", T::boolean},
        {"stages.cache.guards.number", T::boolean},
        {"stages.cache.guards.entity", T::boolean},
        {"stages.cache.guards.direction", T::boolean},
        {"stages.cache.guards.polarity", T::boolean},
        {"stages.cache.guards.scope", T::boolean},
        {"stages.cache.guards.content", T::boolean},
        {"stages.cache.guards.language", T::boolean},
        {"stages.cache.guards.content_min_coverage", T::number, 0, 1},
        {"stages.cache.index.m", T::integer, 2, 256},
        {"stages.cache.index.ef_construction", T::integer, 1, kNoMax},
        {"stages.cache.index.ef_search", T::integer, 1, kNoMax},
        {"stages.cache.redis", T::string},
        {"stages.cache.redis_prefix", T::string},
        {"stages.cache.verifier_model", T::string},
        {"stages.cache.verifier_budget_ms", T::integer, 1, 60000},
        {"stages.cache.verifier_min_similarity", T::number, 0, 1},
        // Embedded engine
        {"engine.models", T::map},
        {"engine.models.*", T::string},
        {"engine.kv_memory", T::string},  // 512MiB, 1GB or bytes: local_backend.cpp parses it
        {"engine.kv_type", T::string, 0, 0, {"f16", "q8_0", "f32"}},
        {"engine.block_tokens", T::integer, 1, 1024},
        {"engine.threads", T::integer, 0, 1024},
        {"engine.max_batch_tokens", T::integer, 1, kNoMax},
        {"engine.max_seqs", T::integer, 1, kNoMax},
        {"engine.max_context", T::integer, 0, kNoMax},
        {"engine.chat_template", T::string},
        {"engine.default_temperature", T::number, 0, 2},
        // Route
        {"stages.route.default", T::string},
        {"stages.route.targets", T::map},
        {"stages.route.targets.*", T::string},
        {"stages.route.models", T::any},
        {"stages.route.precedence", T::list},
        {"stages.route.thresholds.rules", T::number, 0, 1},
        {"stages.route.thresholds.knn", T::number, 0, 1},
        {"stages.route.thresholds.classifier", T::number, 0, 1},
        {"stages.route.rules", T::any},  // intents: route_rules.cpp checks each
        {"stages.route.examples_file", T::string},
        {"stages.route.embedder", T::any},
        {"stages.route.knn.k", T::integer, 1, 1000},
        {"stages.route.knn.min_similarity", T::number, -1, 1},
        {"stages.route.classifier_model", T::string},
        {"stages.route.classifier_prompt", T::string},
        {"stages.route.escalation", T::any},  // true/false or the map below: route_config.cpp checks it
        // Extract
        {"stages.extract.model", T::string},
        {"stages.extract.min_tokens", T::integer, 0, kNoMax},
        {"stages.extract.chunk_tokens", T::integer, 1, kNoMax},
        {"stages.extract.condense_tokens", T::integer, 1, kNoMax},
        {"stages.extract.max_parallel", T::integer, 1, 1024},
        {"stages.extract.max_question_tokens", T::integer, 0, kNoMax},
        {"stages.extract.prompt", T::string},
        // Slim, window, summarize
        {"stages.slim.dry_run", T::boolean},
        {"stages.slim.report_spans", T::boolean},
        {"stages.slim.extra_phrases", T::list},
        {"stages.slim.phrase_files", T::list},
        {"stages.slim.builtin_phrases", T::boolean},
        {"stages.slim.roles", T::list},
        {"stages.slim.collapse_whitespace", T::boolean},
        {"stages.slim.remove_repeats", T::boolean},
        {"stages.slim.remove_decoration", T::boolean},
        {"stages.slim.courtesy", T::boolean},
        {"stages.slim.memo_mb", T::integer, 0, kNoMax},
        {"stages.window.max_turns", T::integer, 0, kNoMax},
        {"stages.window.max_tokens", T::integer, 0, kNoMax},
        {"stages.window.message_overhead_tokens", T::integer, 0, kNoMax},
        {"stages.window.start_with_user", T::boolean},
        {"stages.window.tokenizers", T::map},
        {"stages.window.tokenizers.*", T::string},
        {"stages.summarize.mode", T::string, 0, 0, {"ledger", "keywords", "model"}},
        {"stages.summarize.model", T::string},
        {"stages.summarize.async", T::boolean},
        {"stages.summarize.max_tokens", T::integer, 8, kNoMax},
        {"stages.summarize.max_phrases", T::integer, 1, kNoMax},
        {"stages.summarize.summary_role", T::string},
        {"stages.summarize.redis", T::string},
        {"stages.summarize.redis_ttl_s", T::integer, 0, kNoMax},
        {"stages.summarize.redis_timeout_ms", T::integer, 1, kNoMax},
        {"stages.summarize.lru_capacity", T::integer, 0, kNoMax},
        {"stages.summarize.ledger_memo_mb", T::integer, 0, kNoMax},
    };
    return r;
  }();
  return rules;
}

std::optional<std::string> validate(const Config& cfg, const std::vector<std::string>& free_subtrees) {
  return Validator(cfg, free_subtrees).run();
}

}  // namespace kuai::config
