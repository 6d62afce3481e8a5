#include "stages/slim.h"

#include "obs/metrics.h"
#include "stages/token_counter.h"
#include "text/estimate.h"
#include "text/utf8.h"

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace kuai::stages {
namespace {

int64_t count_tokens(const pipeline::Services& services, std::string_view model, std::string_view text) {
  return services.count_tokens(model, text);
}

// Only plain text content may be rewritten: a content array with image/audio parts would lose them.
bool text_only(const api::Message& m) {
  auto it = m.raw.find("content");
  if (it == m.raw.end() || it->value().is_string() || it->value().is_null()) return true;
  if (!it->value().is_array()) return false;
  for (const auto& part : it->value().as_array()) {
    if (!part.is_object()) return false;
    auto type = part.as_object().find("type");
    if (type == part.as_object().end() || !type->value().is_string() || type->value().as_string() != "text") return false;
  }
  return true;
}

bool read_bool(const YAML::Node& cfg, const char* key, bool fallback, std::string& error) {
  if (!cfg[key]) return fallback;
  try { return cfg[key].as<bool>(); } catch (const YAML::Exception&) {
    error = std::string(key) + " must be true or false";
    return fallback;
  }
}

}  // namespace

SlimStage::SlimStage(SlimConfig config, PhraseSet phrases, CourtesyLexicon courtesy, pipeline::Services& services)
    : config_(std::move(config)),
      phrases_(std::move(phrases)),
      courtesy_(std::move(courtesy)),
      memo_(config_.memo_bytes),
      services_(services) {}

void SlimStage::slim_request(pipeline::Context& ctx) {
  size_t spans = 0;
  int64_t saved = 0;
  size_t by_kind[RemovedSpan::kKinds] = {};
  std::vector<uint8_t> emptied(ctx.request.messages.size(), 0);
  boost::json::array report;
  const bool keep_report = config_.dry_run || config_.report_spans;
  for (size_t i = 0; i < ctx.request.messages.size(); ++i) {
    api::Message& m = ctx.request.messages[i];
    if (m.content.empty() || !config_.roles.contains(m.role) || !text_only(m)) continue;
    SlimOptions options = config_.options;
    // A system prompt is instructions ("You are a helpful assistant."): only the listed phrases apply.
    if (m.role == "system" || m.role == "developer") options.courtesy = false;
    options.allow_empty = i + 1 < ctx.request.messages.size() && (m.role == "user" || m.role == "assistant") &&
                          !m.has_tool_calls();
    // Earlier turns were slimmed when the conversation sent them before: looked up, not recomputed.
    const uint8_t flags = static_cast<uint8_t>(options.courtesy) | static_cast<uint8_t>(options.allow_empty) << 1;
    const uint64_t key = memo_.enabled() ? SlimMemo::key(m.content, flags, ctx.request.model) : 0;
    SlimMemo::Value v;
    if (!memo_.find(key, m.content, v)) {
      v.result = slim_text(m.content, phrases_, options, &courtesy_);
      if (v.result.changed())
        v.tokens_saved = count_tokens(services_, ctx.request.model, m.content) -
                         count_tokens(services_, ctx.request.model, v.result.text);
      else
        v.result.text.clear();
      memo_.put(key, m.content, v);
    }
    SlimResult& r = v.result;
    if (!r.changed()) continue;
    spans += r.removed.size();
    saved += v.tokens_saved;
    for (const auto& sp : r.removed) {
      ++by_kind[static_cast<int>(sp.kind)];
      if (keep_report && report.size() < 200) {
        report.push_back({{"message", i}, {"kind", removed_kind_name(sp.kind)}, {"offset", sp.offset},
                          {"text", text::utf8_sanitize(std::string_view(m.content).substr(sp.offset, sp.length))}});
      }
    }
    emptied[i] = r.text.find_first_not_of(" \t\r\n") == std::string::npos;
    if (!config_.dry_run) m.content = std::move(r.text);
  }
  if (spans == 0) return;
  // A user turn and the assistant turn after it, both emptied, go together.
  size_t removed_messages = 0;
  if (!config_.dry_run) {
    auto& msgs = ctx.request.messages;
    std::vector<api::Message> kept;
    kept.reserve(msgs.size());
    for (size_t i = 0; i < msgs.size(); ++i) {
      if (i + 1 < msgs.size() && emptied[i] && emptied[i + 1] && msgs[i].role == "user" &&
          msgs[i + 1].role == "assistant") {
        removed_messages += 2;
        ++i;
        continue;
      }
      kept.push_back(std::move(msgs[i]));
    }
    msgs = std::move(kept);
  }
  size_t emptied_count = 0;
  for (uint8_t e : emptied) emptied_count += e;
  if (saved < 0) saved = 0;  // a tokenizer may merge differently; never report negative savings
  std::string header = "removed=" + std::to_string(spans) + "; tokens_saved=" + std::to_string(saved);
  if (emptied_count) header += "; emptied=" + std::to_string(emptied_count);
  if (removed_messages) header += "; messages_removed=" + std::to_string(removed_messages);
  if (config_.dry_run) header += "; dry_run";
  else ctx.tokens_saved += saved;
  ctx.add_header("x-kuai-slim", header);
  if (services_.metrics) {
    auto& fam = services_.metrics->counter("kuai_slim_spans_total", "Spans removed by the slim stage, by kind");
    for (int k = 0; k < RemovedSpan::kKinds; ++k)
      if (by_kind[k]) fam.Add({{"kind", removed_kind_name(static_cast<RemovedSpan::Kind>(k))}}).Increment(static_cast<double>(by_kind[k]));
    services_.metrics->counter("kuai_slim_tokens_saved_total", "Input tokens removed by the slim stage")
        .Add({{"dry_run", config_.dry_run ? "true" : "false"}})
        .Increment(static_cast<double>(saved));
  }
  if (!keep_report) return;
  boost::json::object last{{"request_id", ctx.request_id}, {"dry_run", config_.dry_run},
                           {"tokens_saved", saved}, {"spans", std::move(report)}};
  std::lock_guard lock(last_mu_);
  last_report_ = boost::json::serialize(last);
}

boost::asio::awaitable<pipeline::Verdict> SlimStage::on_request(pipeline::Context& ctx) {
  slim_request(ctx);
  co_return pipeline::Verdict::next();
}

std::optional<pipeline::AdminReply> SlimStage::on_admin(std::string_view method, std::string_view path,
                                                        std::string_view body) {
  (void)body;
  if (method != "GET" || (path != "last" && path != "/last")) return std::nullopt;
  std::lock_guard lock(last_mu_);
  return pipeline::AdminReply{200, last_report_.empty() ? std::string("{}") : last_report_};
}

std::unique_ptr<pipeline::Stage> make_slim_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error) {
  SlimConfig config;
  config.dry_run = read_bool(cfg, "dry_run", false, error);
  config.report_spans = read_bool(cfg, "report_spans", false, error);
  config.options.whitespace = read_bool(cfg, "collapse_whitespace", true, error);
  config.options.repeats = read_bool(cfg, "remove_repeats", true, error);
  config.options.decoration = read_bool(cfg, "remove_decoration", true, error);
  config.options.courtesy = read_bool(cfg, "courtesy", true, error);
  try {
    if (cfg["memo_mb"]) {
      const int64_t mb = cfg["memo_mb"].as<int64_t>();
      if (mb < 0) error = "memo_mb must not be negative";
      else config.memo_bytes = static_cast<size_t>(mb) << 20;
    }
  } catch (const YAML::Exception&) {
    error = "memo_mb must be an integer (MiB)";
  }
  bool builtin = read_bool(cfg, "builtin_phrases", true, error);
  if (!error.empty()) return nullptr;
  PhraseSet phrases;
  CourtesyLexicon courtesy;
  if (builtin) {
    phrases.add_list(builtin_phrases_en());
    phrases.add_list(builtin_phrases_zh());
    courtesy.add_list(builtin_courtesy_en());
    courtesy.add_list(builtin_courtesy_zh());
  }
  try {
    if (auto roles = cfg["roles"]) {
      if (!roles.IsSequence()) { error = "roles must be a list (e.g. [system, user])"; return nullptr; }
      config.roles.clear();
      for (const auto& r : roles) config.roles.insert(r.as<std::string>());
    }
    if (auto extra = cfg["extra_phrases"]) {
      if (!extra.IsSequence()) { error = "extra_phrases must be a list of strings"; return nullptr; }
      for (const auto& p : extra) phrases.add(p.as<std::string>());
    }
    if (auto files = cfg["phrase_files"]) {
      if (!files.IsSequence()) { error = "phrase_files must be a list of file paths"; return nullptr; }
      for (const auto& f : files) {
        std::string path = f.as<std::string>();
        std::ifstream in(path);
        if (!in) { error = "cannot read phrase file '" + path + "'"; return nullptr; }
        std::stringstream ss;
        ss << in.rdbuf();
        phrases.add_list(ss.str());
      }
    }
  } catch (const YAML::Exception& e) {
    error = std::string("bad value: ") + e.what();
    return nullptr;
  }
  return std::make_unique<SlimStage>(std::move(config), std::move(phrases), std::move(courtesy), services);
}

}  // namespace kuai::stages
