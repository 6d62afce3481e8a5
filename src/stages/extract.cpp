#include "stages/extract.h"

#include "api/error.h"
#include "obs/metrics.h"
#include "stages/extract_chunk.h"
#include "text/estimate.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <string>
#include <vector>

namespace kuai::stages {
namespace {

namespace asio = boost::asio;

struct Document {
  std::string title;
  std::string text;
};

struct ChunkJob {
  size_t doc = 0;
  std::string text;
  std::string result;               // what replaces `text` (== text when not condensed)
  std::string outcome = "kept";     // "condensed" | "none" | "kept" | "error"
};

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool says_none(std::string_view answer) {
  std::string t = trim(answer);
  while (!t.empty() && (t.back() == '.' || t.back() == '!')) t.pop_back();
  for (char& c : t)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return t == "NONE" || t == "无" || t == "没有" || t == "NONE。";
}

// Reads the `documents` extension field: strings, or objects {text|content, title?}. Bad items are an
// error for the client (400), not a crash.
std::vector<Document> read_documents(const boost::json::value& v) {
  std::vector<Document> out;
  if (!v.is_array()) throw api::Error::bad_request("'documents' must be an array of strings or {text, title} objects", "documents");
  for (const auto& item : v.as_array()) {
    if (item.is_string()) {
      out.push_back({{}, std::string(item.as_string())});
      continue;
    }
    const auto* o = item.if_object();
    const boost::json::value* text = o ? o->if_contains("text") : nullptr;
    if (o && !text) text = o->if_contains("content");
    if (!text || !text->is_string())
      throw api::Error::bad_request("each item of 'documents' must be a string or an object with a string 'text'", "documents");
    Document d;
    d.text = std::string(text->as_string());
    if (const auto* t = o->if_contains("title"); t && t->is_string()) d.title = std::string(t->as_string());
    out.push_back(std::move(d));
  }
  return out;
}

asio::awaitable<void> condense_worker(std::vector<ChunkJob>& jobs, std::atomic<size_t>& next, const ExtractConfig& cfg,
                                      const std::string& question, pipeline::Services& services,
                                      const std::string& target_model, const api::Tenant& tenant) {
  for (size_t i = next.fetch_add(1); i < jobs.size(); i = next.fetch_add(1)) {
    ChunkJob& job = jobs[i];
    job.result = job.text;
    api::ChatRequest req = pipeline::instruction_request(cfg.model, cfg.prompt,
                                                         "Question: " + question + "\n\nText:\n" + job.text,
                                                         cfg.condense_tokens);
    try {
      api::ChatResponse resp = co_await services.models->complete(req, tenant);
      std::string piece = trim(resp.text());
      auto count = [&](std::string_view t) {
        return services.count_tokens(target_model, t);
      };
      if (says_none(piece)) {
        job.result.clear();
        job.outcome = "none";
      } else if (!piece.empty() && count(piece) < count(job.text)) {
        job.result = std::move(piece);
        job.outcome = "condensed";
      }
    } catch (const std::exception& e) {
      spdlog::debug("extract: chunk {} kept: {}", i, e.what());
      job.outcome = "error";
    }
  }
}

// Map: condenses every job, at most max_parallel at once, on the caller's executor.
// Every call is made for the request's tenant: its tier bounds the fan-out too.
asio::awaitable<void> condense_all(std::vector<ChunkJob>& jobs, const ExtractConfig& cfg, const std::string& question,
                                   pipeline::Services& services, const std::string& target_model,
                                   const api::Tenant& tenant) {
  auto ex = co_await asio::this_coro::executor;
  std::atomic<size_t> next{0};
  const size_t workers = std::min(jobs.size(), static_cast<size_t>(std::max(1, cfg.max_parallel)));
  using Op = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
  std::vector<Op> ops;
  ops.reserve(workers);
  for (size_t w = 0; w < workers; ++w)
    ops.push_back(asio::co_spawn(ex, condense_worker(jobs, next, cfg, question, services, target_model, tenant), asio::deferred));
  // Workers catch their own errors; the exception_ptrs are empty unless something is badly wrong.
  auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                             .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  (void)order;
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Reduce: the pieces in document order; several documents are numbered (or titled).
std::string join_documents(const std::vector<Document>& docs, const std::vector<std::string>& pieces_per_doc) {
  std::string out;
  for (size_t d = 0; d < docs.size(); ++d) {
    std::string body = trim(pieces_per_doc[d]);
    if (body.empty()) continue;
    if (!out.empty()) out += "\n\n";
    if (!docs[d].title.empty()) out += "[" + docs[d].title + "]\n";
    else if (docs.size() > 1) out += "[" + std::to_string(d + 1) + "]\n";
    out += body;
  }
  return out;
}

void bump(pipeline::Services* s, const char* name, const char* help, const std::map<std::string, std::string>& labels,
          double by = 1) {
  if (s && s->metrics) s->metrics->counter(name, help).Add(labels).Increment(by);
}

}  // namespace

boost::asio::awaitable<pipeline::Verdict> ExtractStage::on_request(pipeline::Context& ctx) {
  pipeline::Services* services = ctx.services;
  auto outcome = [&](const char* o) {
    bump(services, "kuai_extract_requests_total", "Requests seen by the extract stage", {{"outcome", o}});
  };
  const std::string target = ctx.request.model;
  auto count = [&](std::string_view t) {
    return services ? services->count_tokens(target, t) : text::estimate_tokens(t);
  };

  api::Message* user = nullptr;
  for (auto it = ctx.request.messages.rbegin(); it != ctx.request.messages.rend(); ++it)
    if (it->role == "user") {
      user = &*it;
      break;
    }

  std::vector<Document> docs;
  if (const auto* field = ctx.request.raw.if_contains("documents")) {
    docs = read_documents(*field);
    ctx.request.raw.erase("documents");
  }
  const size_t field_docs = docs.size();
  if (!user) {
    if (field_docs > 0) throw api::Error::bad_request("'documents' needs a user message to go with", "documents");
    outcome("skipped");
    co_return pipeline::Verdict::next();
  }

  extract::TokenFn tokens = count;
  const std::string original = user->content;
  extract::DocumentAndQuestion split = extract::split_question(original, cfg_.max_question_tokens, tokens);
  std::string question = original;
  if (split.found && count(split.document) >= std::min<int64_t>(cfg_.min_tokens, cfg_.chunk_tokens)) {
    docs.push_back({{}, split.document});
    question = split.question;
  } else {
    split.found = false;
  }

  int64_t doc_tokens = 0;
  for (const auto& d : docs) doc_tokens += count(d.text);
  if (doc_tokens < cfg_.min_tokens || !services || !services->models) {
    if (field_docs > 0) {  // inline the extension field unchanged, so the model still sees it
      std::vector<std::string> texts;
      for (size_t i = 0; i < field_docs; ++i) texts.push_back(docs[i].text);
      std::vector<Document> only_field(docs.begin(), docs.begin() + static_cast<std::ptrdiff_t>(field_docs));
      user->content = join_documents(only_field, texts) + "\n\n" + original;
    }
    outcome(count(original) >= cfg_.min_tokens && !split.found && field_docs == 0 ? "no_question" : "below_min");
    co_return pipeline::Verdict::next();
  }

  // Map.
  std::vector<ChunkJob> jobs;
  for (size_t d = 0; d < docs.size(); ++d)
    for (auto& c : extract::chunk_text(docs[d].text, cfg_.chunk_tokens, tokens)) jobs.push_back({d, std::move(c), {}, {}});
  co_await condense_all(jobs, cfg_, question, *services, target, ctx.tenant);

  // Reduce.
  // Original chunks concatenate back to their text; a condensed piece is a line of its own.
  std::vector<std::string> per_doc(docs.size());
  std::vector<bool> last_condensed(docs.size(), false);
  for (const auto& j : jobs) {
    bump(services, "kuai_extract_chunks_total", "Chunks seen by the extract stage", {{"outcome", j.outcome}});
    if (j.result.empty()) continue;
    const bool condensed = j.outcome == "condensed";
    std::string& acc = per_doc[j.doc];
    if (!acc.empty() && (condensed || last_condensed[j.doc]) && acc.back() != '\n') acc += "\n";
    acc += j.result;
    last_condensed[j.doc] = condensed;
  }
  const std::string condensed = join_documents(docs, per_doc);
  const std::string before_text = [&] {
    std::string all = original;
    for (size_t i = 0; i < field_docs; ++i) all += docs[i].text;
    return all;
  }();
  if (split.question_first) user->content = question + "\n\n" + condensed;
  else user->content = condensed.empty() ? question : condensed + "\n\n" + question;

  const int64_t before = count(before_text);
  const int64_t after = count(user->content);
  if (before > after) {
    ctx.tokens_saved += before - after;
    bump(services, "kuai_extract_tokens_saved_total", "Input tokens removed by the extract stage", {}, static_cast<double>(before - after));
  }
  ctx.add_header("x-kuai-extract", "chunks=" + std::to_string(jobs.size()) + "; tokens_before=" + std::to_string(before) +
                                       "; tokens_after=" + std::to_string(after));
  outcome("condensed");
  co_return pipeline::Verdict::next();
}

std::unique_ptr<pipeline::Stage> make_extract_stage(const YAML::Node& node, pipeline::Services& services,
                                                    std::string& error) {
  (void)services;
  ExtractConfig c;
  try {
    if (node["min_tokens"]) c.min_tokens = node["min_tokens"].as<int64_t>();
    if (node["model"]) c.model = node["model"].as<std::string>();
    if (node["chunk_tokens"]) c.chunk_tokens = node["chunk_tokens"].as<int64_t>();
    if (node["condense_tokens"]) c.condense_tokens = node["condense_tokens"].as<int64_t>();
    if (node["max_parallel"]) c.max_parallel = node["max_parallel"].as<int>();
    if (node["max_question_tokens"]) c.max_question_tokens = node["max_question_tokens"].as<int64_t>();
    if (node["prompt"]) c.prompt = node["prompt"].as<std::string>();
  } catch (const YAML::Exception& e) {
    error = std::string("stages.extract: ") + e.what();
    return nullptr;
  }
  const bool enabled = !node["enabled"] || node["enabled"].as<bool>(true);
  if (c.model.empty() && enabled) {
    error = "stages.extract.model (the small model that condenses) is required";
    return nullptr;
  }
  if (c.min_tokens < 1 || c.chunk_tokens < 16 || c.condense_tokens < 1 || c.max_parallel < 1 || c.max_parallel > 64) {
    error = "stages.extract: need min_tokens ≥ 1, chunk_tokens ≥ 16, condense_tokens ≥ 1, 1 ≤ max_parallel ≤ 64";
    return nullptr;
  }
  return std::make_unique<ExtractStage>(std::move(c));
}

}  // namespace kuai::stages
