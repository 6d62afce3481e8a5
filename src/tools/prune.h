// `kuai prune`: measure importance on calibration text, plan what to keep, write the pruned GGUF, and
// compare the original with the pruned model in the same run: parameters, file size, perplexity on
// held-out text, prompt and decode tokens/s; with heal.steps > 0, heal the pruned model by distillation
// from the original (prune_heal.h) and write the healed model as the output, with its perplexity too.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine/gguf/result.h"
#include "tools/prune_heal.h"
#include "tools/prune_importance.h"
#include "tools/prune_plan.h"
#include "tools/prune_rewrite.h"

namespace kuai::tools {

struct PruneOptions {
  std::string in_path;
  std::string out_path;    // "" = importance table only, nothing written
  PruneSpec spec;
  std::string calib_text;  // calibration text (UTF-8)
  std::string eval_text;   // held-out text for perplexity; "" = no perplexity
  CalibOptions calib;
  RewriteOptions rewrite;
  // Least-squares update of the kept attn_output / ffn_down columns (prune_compensate.h); needs the
  // Gram matrices, refused above kMaxCompensationGramBytes (prune_compensate.h).
  bool compensate = false;
  int n_threads = 2;
  bool compare = true;     // measure perplexity and speed of both models (needs out_path)
  HealOptions heal;        // steps > 0: distil the pruned model from the original; the healed one is written
  int ppl_ctx = 128;
  int bench_prompt = 64, bench_decode = 32, bench_reps = 3;  // pp / tg tokens, best of reps; 0 reps: no speed
  // Speed by the calling thread's CPU time instead of wall time (only with n_threads == 1, where the
  // caller does all the work): steady on a loaded machine, where a preempted run only loses wall time.
  bool speed_by_thread_cpu = false;
  std::function<void(const std::string& phase)> on_phase;    // progress messages
};

// Figures of one model file.
struct ModelFigures {
  uint64_t params = 0;       // elements of every tensor
  uint64_t file_bytes = 0;
  std::optional<double> perplexity;
  double prompt_tps = 0, decode_tps = 0;  // 0 = not measured
};

struct PruneResult {
  engine::model::Hparams hparams;  // of the original
  PruneSpec spec;                  // as applied (ffn_multiple set)
  std::optional<Importance> importance;
  PrunePlan plan;
  RewriteReport rewrite;
  ModelFigures before, after;   // after: the pruned model (unhealed); its speed only when not healed
  std::optional<ModelFigures> healed;  // when healed: the written file (perplexity and speed)
  HealReport heal;
  bool written = false;
  const ModelFigures& output() const { return healed ? *healed : after; }  // the file written
};

engine::Result<PruneResult> run_prune(const PruneOptions& opt);

// The terminal report: the importance table (layers, KV groups, FFN channel summary) when asked, the
// plan, and the before/after comparison when a file was written.
std::string prune_report_text(const PruneResult& r, bool with_importance);
// The same as one JSON object.
std::string prune_report_json(const PruneResult& r);

}  // namespace kuai::tools
