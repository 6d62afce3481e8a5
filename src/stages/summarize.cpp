#include "stages/summarize.h"

#include "api/error.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "stages/summary_keywords.h"
#include "stages/summary_ledger.h"
#include "stages/window.h"
#include "text/utf8.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <map>
#include <mutex>

// GCC 12 reports asio's awaitable frame operator new/delete pair as mismatched when a coroutine is
// inlined into co_spawn (a known false positive of its coroutine lowering); the pair is asio's own.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace kuai::stages {

struct SummarizeStage::Core {
  SummarizeConfig config;
  std::unique_ptr<SummaryMemo> memo;
  std::unique_ptr<DefaultTokenCounter> own_counter;
  pipeline::Services* services = nullptr;
  std::unique_ptr<LedgerMemo> ledger_memo;  // per-message analyses of mode `ledger`

  // The last request's audit (GET …/summarize/last).
  struct Last {
    std::string request_id, report, summary;
    std::vector<size_t> dropped;  // indices in the request as the stage saw it
  };
  std::mutex last_mu;
  Last last;

  // The conversation to summarise after the answer (async): the request's slot (Context::stage_state).
  struct Job {
    api::Tenant tenant;  // the summary's model call counts against this tenant's tier
    std::string model;
    std::vector<api::Message> messages;
  };
  std::mutex mu;  // computed
  int64_t computed = 0;

  const pipeline::TokenCounter& counter() const {
    return services && services->tokens ? *services->tokens : *own_counter;
  }
  int64_t reserve() const {
    return config.policy.max_tokens > 0 ? config.max_tokens + config.policy.message_overhead_tokens : 0;
  }
  void count(const char* outcome) {
    if (!services || !services->metrics) return;
    services->metrics->counter("kuai_summarize_total", "Summarize stage outcomes").Add({{"outcome", outcome}}).Increment();
  }
};

namespace {

using Core = SummarizeStage::Core;
constexpr int64_t kMaxTranscriptBytes = 24000;

const char* mode_name(SummarizeConfig::Mode m) {
  switch (m) {
    case SummarizeConfig::Mode::Ledger: return "ledger";
    case SummarizeConfig::Mode::Keywords: return "keywords";
    case SummarizeConfig::Mode::Model: return "model";
  }
  return "keywords";
}

std::string_view last_user_text(const api::ChatRequest& req) {
  for (auto it = req.messages.rbegin(); it != req.messages.rend(); ++it)
    if (it->role == "user") return it->content;
  return {};
}

std::string hex(const unsigned char* p, unsigned n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

// Key of every prefix of `dropped`: keys[i] covers dropped[0..i].
std::vector<std::string> prefix_keys(const Core& core, const std::string& tenant,
                                     const std::vector<const api::Message*>& dropped) {
  std::vector<std::string> keys;
  keys.reserve(dropped.size());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  auto feed = [&](std::string_view s) {
    uint64_t len = s.size();
    EVP_DigestUpdate(ctx, &len, sizeof len);  // length-prefixed: no ambiguity between fields
    EVP_DigestUpdate(ctx, s.data(), s.size());
  };
  feed("kuai-summary-v1");
  feed(tenant);
  feed(mode_name(core.config.mode));
  feed(core.config.model);
  feed(std::to_string(core.config.max_tokens));
  for (const api::Message* m : dropped) {
    feed(m->role);
    feed(m->content);
    auto it = m->raw.find("tool_calls");
    feed(it == m->raw.end() ? std::string() : boost::json::serialize(it->value()));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_MD_CTX_copy_ex(copy, ctx);
    EVP_DigestFinal_ex(copy, md, &n);
    keys.push_back("kuai:summary:" + hex(md, n));
  }
  EVP_MD_CTX_free(copy);
  EVP_MD_CTX_free(ctx);
  return keys;
}

// The summary cut to `max_tokens` tokens of the counter, on a code-point boundary.
std::string fit(const Core& core, std::string s, std::string_view model) {
  const auto& counter = core.counter();
  if (counter.count(model, s) <= core.config.max_tokens) return s;
  size_t lo = 0, hi = s.size();
  while (lo < hi) {
    size_t mid = text::utf8_floor(s, lo + (hi - lo + 1) / 2);
    if (mid <= lo) break;
    if (counter.count(model, std::string_view(s).substr(0, mid)) <= core.config.max_tokens) lo = mid;
    else hi = mid - 1;
  }
  s.resize(text::utf8_floor(s, lo));
  if (!s.empty()) s += "…";
  while (!s.empty() && counter.count(model, s) > core.config.max_tokens) s.resize(text::utf8_floor(s, s.size() - 1));
  return s;
}

std::string keywords_of(const Core& core, const std::vector<const api::Message*>& dropped) {
  std::vector<std::string_view> texts;
  for (const api::Message* m : dropped) texts.push_back(m->content);
  return keyword_summary(texts, core.config.max_phrases);
}

// Computes the summary of dropped[0..]: keywords over all of it, or a model call over the part after
// `from`, continuing `previous` (the summary of dropped[0..from)).
boost::asio::awaitable<std::string> summarise(std::shared_ptr<Core> core, std::vector<const api::Message*> dropped,
                                              size_t from, std::string previous, std::string model_for_count,
                                              api::Tenant tenant) {
  {
    std::lock_guard lock(core->mu);
    ++core->computed;
  }
  std::string summary;
  if (core->config.mode == SummarizeConfig::Mode::Model) {
    pipeline::ModelCaller* models = core->services ? core->services->models : nullptr;
    if (models && models->has_model(core->config.model)) {
      std::string transcript;
      if (!previous.empty()) transcript += "Earlier summary: " + previous + "\n\n";
      for (size_t i = from; i < dropped.size(); ++i) {
        transcript += dropped[i]->role + ": " + dropped[i]->content;
        if (auto it = dropped[i]->raw.find("tool_calls"); it != dropped[i]->raw.end())
          transcript += " [tool calls: " + boost::json::serialize(it->value()) + "]";
        transcript += "\n";
      }
      if (static_cast<int64_t>(transcript.size()) > kMaxTranscriptBytes) {
        size_t cut = text::utf8_floor(transcript, transcript.size() - static_cast<size_t>(kMaxTranscriptBytes));
        transcript = transcript.substr(cut);
      }
      std::string instruction =
          "Summarise the conversation below in at most " + std::to_string(core->config.max_tokens * 2 / 3) +
          " words. Keep names, numbers, decisions, open questions and the user's preferences. "
          "Write in the language of the conversation. Output only the summary.";
      api::ChatRequest req = pipeline::instruction_request(core->config.model, std::move(instruction),
                                                           std::move(transcript), core->config.max_tokens);
      try {
        api::ChatResponse resp = co_await models->complete(req, tenant);
        summary = resp.text();
      } catch (const std::exception& e) {
        spdlog::warn("summarize: model '{}' failed, using keywords: {}", core->config.model, e.what());
      }
    } else {
      spdlog::warn("summarize: model '{}' is not available, using keywords", core->config.model);
    }
    if (summary.empty()) core->count("model_fallback");
    else summary = "Summary of the earlier conversation: " + summary;
  }
  if (summary.empty()) summary = keywords_of(*core, dropped);
  std::string fitted = fit(*core, std::move(summary), model_for_count);
  co_return fitted;
}

struct Dropped {
  WindowPlan plan;
  std::vector<const api::Message*> messages;
  size_t first = 0;  // index of the first dropped message in the request
};

Dropped dropped_of(const Core& core, const api::ChatRequest& req) {
  Dropped d;
  d.plan = plan_window(req, core.config.policy, core.counter(), core.reserve());
  d.first = req.messages.size();
  for (size_t i = 0; i < req.messages.size(); ++i) {
    if (!d.plan.drops(i, req.messages[i].role)) continue;
    if (d.messages.empty()) d.first = i;
    d.messages.push_back(&req.messages[i]);
  }
  return d;
}

// Makes sure the summary of the prefix `req` drops is memoised (computes it when missing).
boost::asio::awaitable<void> ensure_summary(std::shared_ptr<Core> core, api::Tenant tenant, api::ChatRequest req) {
  Dropped d = dropped_of(*core, req);
  if (d.messages.empty()) co_return;
  auto keys = prefix_keys(*core, tenant.name, d.messages);
  auto hit = co_await core->memo->longest(keys);
  if (hit && hit->first + 1 == keys.size()) co_return;
  size_t from = hit ? hit->first + 1 : 0;
  std::string previous;  // (no temporaries in co_await arguments: GCC 12 coroutine bugs)
  if (hit) previous = hit->second;
  std::string summary = co_await summarise(core, d.messages, from, previous, req.model, tenant);
  if (!summary.empty()) {
    std::string key = keys.back();
    co_await core->memo->put(std::move(key), summary);
  }
}

// After the answer: this turn's dropped prefix, and the one the next turn will drop (conversation +
// answer + a user turn as long as the last one).
boost::asio::awaitable<void> summarise_after_answer(std::shared_ptr<Core> core, Core::Job job, std::string answer) {
  try {
    api::ChatRequest now;
    now.model = job.model;
    now.messages = job.messages;
    co_await ensure_summary(core, job.tenant, now);
    api::ChatRequest next = now;
    api::Message a;
    a.role = "assistant";
    a.content = std::move(answer);
    next.messages.push_back(std::move(a));
    api::Message u;
    u.role = "user";
    for (auto it = job.messages.rbegin(); it != job.messages.rend(); ++it)
      if (it->role == "user") { u.content = it->content; break; }
    next.messages.push_back(std::move(u));
    co_await ensure_summary(core, job.tenant, std::move(next));
    core->count("background");
  } catch (const std::exception& e) {
    spdlog::warn("summarize: background summary failed: {}", e.what());
    core->count("background_error");
  }
}

}  // namespace

SummarizeStage::SummarizeStage(SummarizeConfig config, std::unique_ptr<SummaryMemo> memo,
                               std::unique_ptr<DefaultTokenCounter> own_counter, pipeline::Services& services)
    : core_(std::make_shared<Core>()) {
  core_->config = std::move(config);
  core_->memo = std::move(memo);
  core_->own_counter = std::move(own_counter);
  core_->services = &services;
  core_->ledger_memo = std::make_unique<LedgerMemo>(core_->config.ledger_memo_bytes);
}

SummarizeStage::~SummarizeStage() = default;

int64_t SummarizeStage::computed() const {
  std::lock_guard lock(core_->mu);
  return core_->computed;
}

namespace {

// Keeps what the request dropped and the note that replaced it, for GET …/summarize/last.
void remember(Core& core, const pipeline::Context& ctx, const Dropped& d, const std::string& summary,
              const std::string& report) {
  std::lock_guard lock(core.last_mu);
  core.last.request_id = ctx.request_id;
  core.last.report = report;
  core.last.summary = summary;
  core.last.dropped.clear();
  for (size_t i = 0; i < ctx.request.messages.size(); ++i)
    if (d.plan.drops(i, ctx.request.messages[i].role)) core.last.dropped.push_back(i);
}

// Puts `summary` where the dropped prefix of `d` started (or only reports, when it is empty).
void replace_dropped(Core& core, pipeline::Context& ctx, const Dropped& d, std::string summary, const std::string& header) {
  api::ChatRequest& req = ctx.request;
  if (summary.empty()) {
    remember(core, ctx, d, summary, header);
    ctx.add_header("x-kuai-summary", header);
    return;
  }
  api::Message sm;
  sm.role = core.config.summary_role;
  sm.content = std::move(summary);
  sm.raw = {{"role", sm.role}, {"content", sm.content}};
  int64_t dropped_tokens = 0;
  std::vector<api::Message> kept;
  kept.reserve(req.messages.size() - d.messages.size() + 1);
  std::vector<size_t> dropped_at;
  for (size_t i = 0; i < req.messages.size(); ++i) {
    if (i == d.first) kept.push_back(sm);
    if (d.plan.drops(i, req.messages[i].role)) {
      dropped_tokens += d.plan.tokens[i];
      dropped_at.push_back(i);
    } else {
      kept.push_back(std::move(req.messages[i]));
    }
  }
  req.messages = std::move(kept);
  int64_t saved = dropped_tokens - message_tokens(sm, req.model, core.counter(), core.config.policy.message_overhead_tokens);
  if (saved > 0) {
    ctx.tokens_saved += saved;
    if (core.services && core.services->metrics)
      core.services->metrics->counter("kuai_summarize_tokens_saved_total", "Input tokens removed by the summarize stage")
          .Add({}).Increment(static_cast<double>(saved));
  }
  std::string report = header + "; tokens_saved=" + std::to_string(std::max<int64_t>(saved, 0));
  {
    std::lock_guard lock(core.last_mu);
    core.last.request_id = ctx.request_id;
    core.last.report = report;
    core.last.summary = sm.content;
    core.last.dropped = std::move(dropped_at);
  }
  ctx.add_header("x-kuai-summary", std::move(report));
}

}  // namespace

void SummarizeStage::ledger_request(pipeline::Context& ctx) {
  Core& core = *core_;
  api::ChatRequest& req = ctx.request;
  Dropped d = dropped_of(core, req);
  if (d.messages.empty()) return;
  const auto& counter = core.counter();
  // The ledger may use its reserve and whatever the kept turns left of the window's budget.
  int64_t budget = core.config.max_tokens;
  if (core.config.policy.max_tokens > 0)
    budget = std::max<int64_t>(budget, core.config.policy.max_tokens - d.plan.tokens_after -
                                           core.config.policy.message_overhead_tokens);
  std::vector<const api::Message*> kept;
  for (size_t i = 0; i < req.messages.size(); ++i)
    if (!d.plan.drops(i, req.messages[i].role)) kept.push_back(&req.messages[i]);
  Ledger ledger = build_ledger(d.messages, kept, last_user_text(req), budget,
                               [&](std::string_view s) { return counter.count(req.model, s); }, core.ledger_memo.get(),
                               req.model);
  core.count("ledger");
  replace_dropped(core, ctx, d, std::move(ledger.text),
                  "ledger; dropped=" + std::to_string(d.messages.size()) + "; facts=" + std::to_string(ledger.facts) +
                      "; turns=" + std::to_string(ledger.turns));
}

boost::asio::awaitable<pipeline::Verdict> SummarizeStage::on_request(pipeline::Context& ctx) {
  auto core = core_;
  if (core->config.mode == SummarizeConfig::Mode::Ledger) {
    ledger_request(ctx);
    co_return pipeline::Verdict::next();
  }
  api::ChatRequest& req = ctx.request;
  Dropped d = dropped_of(*core, req);
  if (d.messages.empty()) co_return pipeline::Verdict::next();
  std::string summary;
  std::string outcome;
  auto keys = prefix_keys(*core, ctx.tenant.name, d.messages);
  auto hit = co_await core->memo->longest(keys);
  if (hit && hit->first + 1 == keys.size()) {
    summary = std::move(hit->second);
    outcome = "hit";
  } else if (!core->config.async) {
    size_t from = hit ? hit->first + 1 : 0;
    std::string previous;  // (no temporaries in co_await arguments: GCC 12 coroutine bugs)
    if (hit) previous = hit->second;
    summary = co_await summarise(core, d.messages, from, previous, req.model, ctx.tenant);
    if (!summary.empty()) {
      std::string key = keys.back();
      co_await core->memo->put(std::move(key), summary);
    }
    outcome = "computed";
  } else {
    ctx.stage_state.emplace<Core::Job>(this, Core::Job{ctx.tenant, req.model, req.messages});
    if (hit) {
      summary = std::move(hit->second);
      outcome = "partial";
    } else {
      outcome = "pending";
    }
  }
  core->count(outcome.c_str());
  replace_dropped(*core, ctx, d, std::move(summary), outcome + "; dropped=" + std::to_string(d.messages.size()));
  co_return pipeline::Verdict::next();
}

std::optional<pipeline::AdminReply> SummarizeStage::on_admin(std::string_view method, std::string_view path,
                                                             std::string_view body) {
  (void)body;
  if (method != "GET" || (path != "last" && path != "/last")) return std::nullopt;
  std::lock_guard lock(core_->last_mu);
  const auto& l = core_->last;
  if (l.report.empty()) return pipeline::AdminReply{200, "{}"};
  boost::json::array dropped;
  for (size_t i : l.dropped) dropped.push_back(i);
  boost::json::object o{{"request_id", l.request_id}, {"mode", mode_name(core_->config.mode)}, {"report", l.report},
                        {"dropped", std::move(dropped)}, {"summary", text::utf8_sanitize(l.summary)}};
  return pipeline::AdminReply{200, boost::json::serialize(o)};
}

void SummarizeStage::on_response(pipeline::Context& ctx, const api::ChatResponse& response) {
  if (!core_->config.async) return;
  Core::Job* pending = ctx.stage_state.find<Core::Job>(this);
  if (!pending) return;
  Core::Job job = std::move(*pending);
  ctx.stage_state.erase(this);
  if (!core_->services || !core_->services->executor) return;
  boost::asio::co_spawn(core_->services->executor, summarise_after_answer(core_, std::move(job), response.text()),
                        boost::asio::detached);
}

std::unique_ptr<pipeline::Stage> make_summarize_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error) {
  SummarizeConfig config;
  std::string redis_url;
  int64_t lru_capacity = 10000, ttl_s = 86400, timeout_ms = 50, ledger_memo_mb = 16;
  try {
    std::string mode = cfg["mode"] ? cfg["mode"].as<std::string>() : "ledger";
    if (mode == "ledger") config.mode = SummarizeConfig::Mode::Ledger;
    else if (mode == "keywords") config.mode = SummarizeConfig::Mode::Keywords;
    else if (mode == "model") config.mode = SummarizeConfig::Mode::Model;
    else { error = "mode must be 'ledger', 'keywords' or 'model', not '" + mode + "'"; return nullptr; }
    if (cfg["model"]) config.model = cfg["model"].as<std::string>();
    if (cfg["async"]) config.async = cfg["async"].as<bool>();
    if (cfg["max_tokens"]) config.max_tokens = cfg["max_tokens"].as<int64_t>();
    else if (config.mode == SummarizeConfig::Mode::Ledger) config.max_tokens = 0;  // set from the window below
    if (cfg["max_phrases"]) config.max_phrases = cfg["max_phrases"].as<size_t>();
    if (cfg["summary_role"]) config.summary_role = cfg["summary_role"].as<std::string>();
    if (cfg["redis"]) redis_url = cfg["redis"].as<std::string>();
    if (cfg["lru_capacity"]) lru_capacity = cfg["lru_capacity"].as<int64_t>();
    if (cfg["redis_ttl_s"]) ttl_s = cfg["redis_ttl_s"].as<int64_t>();
    if (cfg["redis_timeout_ms"]) timeout_ms = cfg["redis_timeout_ms"].as<int64_t>();
    if (cfg["ledger_memo_mb"]) ledger_memo_mb = cfg["ledger_memo_mb"].as<int64_t>();
  } catch (const YAML::Exception& e) {
    error = std::string("bad value: ") + e.what();
    return nullptr;
  }
  if (config.mode == SummarizeConfig::Mode::Model && config.model.empty()) {
    error = "mode 'model' needs stages.summarize.model (a public model name)";
    return nullptr;
  }
  if ((config.max_tokens < 8 && !(config.mode == SummarizeConfig::Mode::Ledger && config.max_tokens == 0)) ||
      lru_capacity < 1 || ttl_s < 1 || timeout_ms < 1 || ledger_memo_mb < 0) {
    error = "max_tokens must be >= 8; lru_capacity, redis_ttl_s and redis_timeout_ms positive; ledger_memo_mb >= 0";
    return nullptr;
  }
  if (config.summary_role != "system" && config.summary_role != "user" && config.summary_role != "developer") {
    error = "summary_role must be system, developer or user";
    return nullptr;
  }
  if (!services.config) {
    error = "needs the gateway config (stages.window)";
    return nullptr;
  }
  // The window policy decides what is dropped; summarize must run before window.
  std::string why = read_window_policy(services.config->at("stages.window"), config.policy);
  if (!why.empty()) {
    error = "summarize uses the window policy (stages.window): " + why;
    return nullptr;
  }
  if (config.summary_role == "user") config.policy.start_with_user = false;
  // Ledger default budget: two thirds of the window's token budget (verbatim facts of the whole
  // conversation are worth more than the small talk of its latest turns).
  if (config.max_tokens == 0)
    config.max_tokens = config.policy.max_tokens > 0 ? std::max<int64_t>(config.policy.max_tokens * 2 / 3, 8) : 120;
  YAML::Node order = services.config->at("pipeline");
  if (order && order.IsSequence()) {
    int at_summarize = -1, at_window = -1;
    for (size_t i = 0; i < order.size(); ++i) {
      std::string name = order[i].as<std::string>("");
      if (name == "summarize" && at_summarize < 0) at_summarize = static_cast<int>(i);
      if (name == "window" && at_window < 0) at_window = static_cast<int>(i);
    }
    if (at_window >= 0 && at_summarize > at_window) {
      error = "'summarize' must come before 'window' in pipeline (it replaces what the window would drop)";
      return nullptr;
    }
  }
  auto counter = std::make_unique<DefaultTokenCounter>();  // the estimate, when no counter is lent
  std::unique_ptr<RedisSummaries> redis;
  if (!redis_url.empty()) {
    error = RedisSummaries::valid_url(redis_url);
    if (!error.empty()) {
      error = "redis: " + error;
      return nullptr;
    }
  }
  if (!redis_url.empty())
    redis = std::make_unique<RedisSummaries>(redis_url, std::chrono::milliseconds(timeout_ms), ttl_s);
  auto memo = std::make_unique<SummaryMemo>(static_cast<size_t>(lru_capacity), std::move(redis));
  config.ledger_memo_bytes = static_cast<size_t>(ledger_memo_mb) << 20;
  return std::make_unique<SummarizeStage>(std::move(config), std::move(memo), std::move(counter), services);
}

}  // namespace kuai::stages
