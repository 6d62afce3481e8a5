// Stage `summarize`: older turns beyond the window are replaced by one short summary message.
//
// How it works with `window` (it must come BEFORE `window` in `pipeline`, the factory checks):
//   1. It plans the window with the window stage's own policy (`stages.window`, window_plan.h), taking
//      `max_tokens` of this stage (+ message overhead) off the token budget as room for the summary.
//   2. The messages that plan drops (always a prefix of the non-system messages) are the "dropped
//      prefix". Its key: SHA-256 over tenant, mode, model, and each message (role, content, tool calls).
//   3. Memo (summary_memo.h): the longest dropped prefix that already has a summary is looked up, by the
//      key of every prefix length (one MGET on Redis).
//   Mode `ledger` (the default, summary_ledger.h) skips the memo: the note is the verbatim facts of the
//   dropped prefix and its turns most relevant to the last user message, which changes every turn;
//   it costs microseconds, so it is computed on every request (async or not); what it learns from each
//   message on its own is memoised (LedgerMemo, `ledger_memo_mb`), so a turn is analysed once.
//   4. Hit on the whole prefix: the dropped messages are removed and one message (role `summary_role`,
//      default system, so the window keeps it) is put where they were. The window stage then finds
//      the rest within its budget and drops nothing more.
//      Miss, `async: false`: the summary is computed now (keywords: TextRank over the dropped turns; model:
//      one call to `stages.summarize.model` through Services::models, incremental from the longest
//      memoised shorter prefix), stored, and used.
//      Miss, `async: true`: nobody waits. The longest memoised shorter prefix's summary is used if there
//      is one (the messages dropped since then are lost for this turn), otherwise the plain window
//      applies. After the answer (on_response), the summaries of this turn's dropped prefix and of the
//      prefix the NEXT turn will drop (this conversation + the answer + a user turn as long as this
//      one) are computed on Services::executor, so the next turn is a hit.
//   A failing model call falls back to the keywords summary (logged, counted).
// Reports: header x-kuai-summary: hit|computed|partial|pending|ledger; dropped=D[; facts=F; turns=T]
//          [; tokens_saved=S]
//          metrics kuai_summarize_total{outcome}, kuai_summarize_tokens_saved_total
//          admin GET /v1/admin/stages/summarize/last → the last request that dropped turns (JSON):
//          request_id, mode, report (the header's value), dropped (indices in the request as this
//          stage saw it) and summary (the note put in their place: in mode `ledger` the facts and turns
//          kept, verbatim)
// Thread-safety: on_request/on_response from any I/O thread; the memo is locked (its Redis calls run on
// its own thread); an async turn's pending conversation lives in the request's Context::stage_state.
#pragma once

#include "pipeline/pipeline.h"
#include "stages/summary_memo.h"
#include "stages/token_counter.h"
#include "stages/window_plan.h"

#include <memory>
#include <string>

namespace kuai::stages {

struct SummarizeConfig {
  enum class Mode { Ledger, Keywords, Model };
  Mode mode = Mode::Ledger;
  std::string model;               // public model name for mode `model`
  bool async = false;
  int64_t max_tokens = 120;        // summary length bound (tokens of its content); ledger mode's default:
                                   // two thirds of stages.window.max_tokens, and the ledger may also use what
                                   // the kept turns leave of the window's budget
  size_t max_phrases = 12;         // keywords mode
  std::string summary_role = "system";
  size_t ledger_memo_bytes = size_t{16} << 20;  // mode `ledger`: per-message analyses kept (0: off)
  WindowPolicy policy;             // from stages.window
};

class SummarizeStage : public pipeline::Stage {
 public:
  SummarizeStage(SummarizeConfig config, std::unique_ptr<SummaryMemo> memo,
                 std::unique_ptr<DefaultTokenCounter> own_counter, pipeline::Services& services);
  ~SummarizeStage() override;
  std::string_view name() const override { return "summarize"; }
  boost::asio::awaitable<pipeline::Verdict> on_request(pipeline::Context& ctx) override;
  void on_response(pipeline::Context& ctx, const api::ChatResponse& response) override;
  std::optional<pipeline::AdminReply> on_admin(std::string_view method, std::string_view path,
                                               std::string_view body) override;
  // The synchronous body of on_request in mode `ledger` (also used by benchmarks); it builds a ledger
  // whatever the configured mode.
  void ledger_request(pipeline::Context& ctx);

  // How many summaries this stage computed (memo hits not counted): tests check "summarised once".
  int64_t computed() const;

  // State shared with background summaries (they hold it, so the stage may go first).
  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

std::unique_ptr<pipeline::Stage> make_summarize_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error);

}  // namespace kuai::stages
