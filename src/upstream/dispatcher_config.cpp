#include "upstream/dispatcher_config.h"

#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>

namespace kuai::upstream {
using Ms = std::chrono::milliseconds;

std::string expand_env(const std::string& v) {
  if (v.size() > 3 && v.compare(0, 2, "${") == 0 && v.back() == '}') {
    const char* e = std::getenv(v.substr(2, v.size() - 3).c_str());
    return e ? e : "";
  }
  return v;
}

std::variant<DispatcherConfig, std::string> read_dispatcher_config(const config::Config& cfg) {
  DispatcherConfig d;
  d.retry.max_attempts = std::max(1, cfg.get<int>("upstream.retries.max_attempts", 2));
  d.retry.backoff_initial = Ms(cfg.get<int64_t>("upstream.retries.backoff_initial_ms", 100));
  d.retry.backoff_max = Ms(cfg.get<int64_t>("upstream.retries.backoff_max_ms", 2000));
  d.retry.max_retry_after = Ms(cfg.get<int64_t>("upstream.retries.max_retry_after_ms", 10000));
  d.max_concurrency = cfg.get<int>("upstream.max_concurrency", 0);

  YAML::Node tnode = cfg.at("tiers");
  if (tnode && tnode.IsMap()) {
    for (const auto& kv : tnode) {
      TierConfig t;
      try {
        t.max_concurrency = kv.second["max_concurrency"].as<int>(0);
        t.priority = kv.second["priority"].as<int>(0);
        t.queue_timeout = Ms(kv.second["queue_timeout_ms"].as<int64_t>(5000));
      } catch (const YAML::Exception& e) {
        return "tiers." + kv.first.as<std::string>() + ": " + e.what();
      }
      d.tiers[kv.first.as<std::string>()] = t;
    }
  }

  http::ClientOptions& copts = d.client;
  copts.connect_timeout = Ms(cfg.get<int64_t>("upstream.connect_timeout_ms", 5000));
  copts.first_byte_timeout = Ms(cfg.get<int64_t>("upstream.first_token_timeout_ms", 60000));
  copts.total_timeout = Ms(cfg.get<int64_t>("upstream.total_timeout_ms", 600000));
  copts.max_idle_per_host = static_cast<size_t>(std::max(0, cfg.get<int>("upstream.max_idle_connections_per_host", 64)));
  copts.verify_peer = cfg.get<bool>("upstream.verify_tls", true);
  copts.ca_file = cfg.get<std::string>("upstream.ca_file", "");

  YAML::Node models = cfg.at("models");
  if (models && !models.IsMap()) return std::string("models: must be a map of public model names");
  if (!models) return d;
  for (const auto& kv : models) {
    ModelConfig m;
    m.name = kv.first.as<std::string>();
    std::string where = "models." + m.name;
    try {
      std::string strategy = kv.second["strategy"].as<std::string>("ordered");
      auto s = parse_strategy(strategy);
      if (!s) return where + ".strategy: '" + strategy + "' is not one of ordered, fastest, weighted";
      m.strategy = *s;
      m.hedge_after = Ms(kv.second["hedge_after_ms"].as<int64_t>(0));
      YAML::Node backends = kv.second["backends"];
      if (backends && !backends.IsSequence()) return where + ".backends: must be a list";
      for (size_t i = 0; backends && i < backends.size(); ++i) {
        YAML::Node b = backends[i];
        std::string bwhere = where + ".backends[" + std::to_string(i) + "]";
        std::string type = b["type"].as<std::string>("http");
        if (type != "http") continue;  // other kinds (the embedded engine) are added with add_backend
        HttpBackendConfig hb;
        HttpBackendOptions& o = hb.options;
        o.url = b["url"].as<std::string>("");
        if (o.url.rfind("http://", 0) != 0 && o.url.rfind("https://", 0) != 0)
          return bwhere + ".url: an http:// or https:// URL is required";
        o.model = b["model"].as<std::string>("");
        o.api_key = expand_env(b["api_key"].as<std::string>(""));
        o.first_token_timeout = Ms(b["first_token_timeout_ms"].as<int64_t>(copts.first_byte_timeout.count()));
        o.total_timeout = Ms(b["total_timeout_ms"].as<int64_t>(copts.total_timeout.count()));
        hb.weight = b["weight"].as<double>(1.0);
        m.backends.push_back(std::move(hb));
      }
    } catch (const YAML::Exception& e) {
      return where + ": " + e.what();
    }
    d.models.push_back(std::move(m));
  }
  return d;
}

}  // namespace kuai::upstream
