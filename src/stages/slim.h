// Stage `slim`: prompt slimming (rules in slim_rules.h, courtesy classifier in slim_courtesy.h).
// Rewrites the text of messages whose role is listed (default system, user and assistant: earlier
// assistant turns are input tokens too; tool results are left alone), adds the input tokens it removed
// to ctx.tokens_saved, and reports
//   header  x-kuai-slim: removed=N; tokens_saved=M[; emptied=E][; dry_run]
// The courtesy classifier runs on user and assistant turns only (a system prompt is instructions).
// A user or assistant turn made only of courtesy ("Thanks so much!", "You're welcome!") becomes empty,
// except the last message (the question) and system messages; a user turn and the assistant turn right
// after it that both became empty are removed together (so turns still alternate; never a message with
// tool calls, never a reorder).
//   metrics kuai_slim_spans_total{kind}, kuai_slim_tokens_saved_total
//   admin   GET /v1/admin/stages/slim/last → the removed spans of the last slimmed request (JSON), when
//           `dry_run` or `report_spans` is on (building the report costs more than slimming)
// `dry_run: true` reports the same figures but sends the request unchanged (tokens_saved not added).
// Messages whose content holds non-text parts (images, audio) are never rewritten.
// Each message's result is memoised (slim_memo.h, `memo_mb`): the history a client sends again every
// turn costs a lookup; only the new messages are slimmed.
// Thread-safety: on_request from any I/O thread; the phrase set is immutable after construction.
#pragma once

#include "pipeline/pipeline.h"
#include "stages/slim_courtesy.h"
#include "stages/slim_memo.h"
#include "stages/slim_rules.h"

#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace kuai::stages {

struct SlimConfig {
  bool dry_run = false;
  bool report_spans = false;  // keep the removed spans for GET …/slim/last (always on in dry_run)
  SlimOptions options;
  size_t memo_bytes = size_t{16} << 20;  // per-message memo (slim_memo.h); 0: off
  std::set<std::string, std::less<>> roles{"system", "user", "assistant"};
};

class SlimStage : public pipeline::Stage {
 public:
  SlimStage(SlimConfig config, PhraseSet phrases, CourtesyLexicon courtesy, pipeline::Services& services);
  std::string_view name() const override { return "slim"; }
  boost::asio::awaitable<pipeline::Verdict> on_request(pipeline::Context& ctx) override;
  std::optional<pipeline::AdminReply> on_admin(std::string_view method, std::string_view path,
                                               std::string_view body) override;

  // The synchronous body of on_request (also used by benchmarks).
  void slim_request(pipeline::Context& ctx);

 private:
  SlimConfig config_;
  PhraseSet phrases_;
  CourtesyLexicon courtesy_;
  SlimMemo memo_;
  pipeline::Services& services_;
  std::mutex last_mu_;
  std::string last_report_;  // JSON of the last request that had removals
};

// Factory for the registry: `stages.slim` → stage (built-in lists and courtesy lexicons + extra_phrases +
// phrase_files; `courtesy: false` turns the classifier off).
std::unique_ptr<pipeline::Stage> make_slim_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error);

}  // namespace kuai::stages
