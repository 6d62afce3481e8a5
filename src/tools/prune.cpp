#include "tools/prune.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <optional>

#include "engine/gguf/gguf_file.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"
#include "tools/bench.h"
#include "tools/generate.h"
#include "tools/perplexity.h"
#include "tools/prune_compensate.h"
#include "tools/quantize.h"

namespace kuai::tools {

namespace {

uint64_t tensor_params(const engine::GgufFile& f) {
  uint64_t n = 0;
  for (const auto& t : f.tensors()) n += uint64_t(t.n_elements());
  return n;
}

// The type the pruned file's matrices have, as a quantize recipe ("f32" when not one of them): what
// the healed (F32) weights are requantized to.
std::string matrix_type(const engine::GgufFile& f) {
  const engine::GgufTensor* t = f.tensor("blk.0.ffn_up.weight");
  if (!t) return "f32";
  std::string name(engine::ggml_type_name(t->type));
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& q : quantize_recipes())
    if (q == name) return name;
  return "f32";
}

// Rows of quantized FFN weights need whole blocks: kept channels rounded to 32 then.
int ffn_multiple(const engine::GgufFile& f) {
  const engine::GgufTensor* t = f.tensor("blk.0.ffn_down.weight");
  return t && engine::ggml_block_size(t->type) > 1 ? 32 : 1;
}

engine::Status measure_perplexity(const LoadedModel& lm, const std::vector<int32_t>& eval, const PruneOptions& opt,
                                  engine::ThreadPool& pool, ModelFigures& out) {
  if (eval.empty()) return engine::Ok{};
  auto p = perplexity(*lm.model, eval, opt.ppl_ctx, pool);
  if (!p) return std::move(p).take_error();
  out.perplexity = p->perplexity;
  return engine::Ok{};
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Seconds of one bench run: its own wall time, or the calling thread's CPU time around it.
template <class Run>
engine::Result<double> timed(const Run& run, bool thread_cpu) {
  const double c0 = thread_cpu_seconds();
  auto wall = run();
  if (!wall || !thread_cpu) return wall;
  return thread_cpu_seconds() - c0;
}

// pp and tg of both models, alternating (same conditions for each), best of reps.
engine::Status measure_speed(const LoadedModel& a, const LoadedModel& b, const PruneOptions& opt,
                             engine::ThreadPool& pool, ModelFigures& fa, ModelFigures& fb) {
  const bool cpu = opt.speed_by_thread_cpu && pool.size() == 1;
  double pa = 1e30, pb = 1e30, da = 1e30, db = 1e30;
  const int n_ctx = std::max(opt.bench_prompt, opt.bench_decode);
  BenchRunner ra(*a.model, n_ctx, pool), rb(*b.model, n_ctx, pool);
  for (int r = 0; r < opt.bench_reps; ++r) {
    for (auto [run, pp, tg] : {std::tuple{&ra, &pa, &da}, std::tuple{&rb, &pb, &db}}) {
      auto p = timed([&] { return run->prompt_seconds(opt.bench_prompt); }, cpu);
      if (!p) return std::move(p).take_error();
      auto g = timed([&] { return run->generate_seconds(opt.bench_decode); }, cpu);
      if (!g) return std::move(g).take_error();
      *pp = std::min(*pp, *p);
      *tg = std::min(*tg, *g);
    }
  }
  fa.prompt_tps = opt.bench_prompt / pa, fb.prompt_tps = opt.bench_prompt / pb;
  fa.decode_tps = opt.bench_decode / da, fb.decode_tps = opt.bench_decode / db;
  return engine::Ok{};
}

}  // namespace

engine::Result<PruneResult> run_prune(const PruneOptions& opt) {
  auto phase = [&](const std::string& s) {
    if (opt.on_phase) opt.on_phase(s);
  };
  auto lm = load_model(opt.in_path);
  if (!lm) return std::move(lm).take_error();
  PruneResult r;
  r.hparams = lm->model->hparams();
  PruneSpec spec = opt.spec;
  spec.ffn_multiple = opt.rewrite.type.empty() ? ffn_multiple(*lm->file)
                                               : (opt.rewrite.type == "f32" || opt.rewrite.type == "f16" ||
                                                  opt.rewrite.type == "bf16") ? 1 : 32;
  if (auto s = check_prune_spec(r.hparams, spec); !s) return std::move(s).take_error();
  // The training core (Taylor scores, healing) reads llama files only.
  if (r.hparams.arch != engine::model::Arch::kLlama && (spec.width_metric == WidthMetric::kTaylor || opt.heal.steps > 0))
    return engine::make_error("--metric taylor and --heal-steps need a llama file (the training core's); this one is '" +
                              r.hparams.arch_name + "'");
  r.spec = spec;
  if (!opt.rewrite.type.empty()) {
    bool known = false;
    for (const auto& q : quantize_recipes()) known |= q == opt.rewrite.type;
    if (!known) return engine::make_error("unknown --type '" + opt.rewrite.type + "'");
  }
  if (auto s = check_heal_options(*lm, opt.heal); !s) return std::move(s).take_error();
  engine::ThreadPool pool(std::max(1, opt.n_threads));
  const auto calib = lm->tokenizer->encode(opt.calib_text, true, false);
  if (calib.size() < 2) return engine::make_error("the calibration text has fewer than 2 tokens");
  CalibOptions calib_opt = opt.calib;
  calib_opt.gram = opt.compensate && (kept_groups(r.hparams, spec) < r.hparams.n_head_kv ||
                                      kept_channels(r.hparams, spec) < r.hparams.n_ff);
  if (calib_opt.gram && compensation_gram_bytes(r.hparams) > kMaxCompensationGramBytes)
    return engine::make_error("--compensate needs " + std::to_string(compensation_gram_bytes(r.hparams) >> 20) +
                              " MiB of activation statistics for this model (limit " +
                              std::to_string(kMaxCompensationGramBytes >> 20) + " MiB); prune without it");
  phase("importance");
  auto imp = measure_importance(*lm->model, calib, calib_opt, pool);
  if (!imp) return std::move(imp).take_error();
  if (spec.width_metric == WidthMetric::kTaylor) {
    phase("taylor");
    if (auto s = add_taylor_importance(*lm->file, calib, opt.calib, *imp); !s) return std::move(s).take_error();
  }
  r.importance = std::move(imp).value();
  auto plan = plan_prune(r.hparams, &*r.importance, spec);
  if (!plan) return std::move(plan).take_error();
  r.plan = std::move(plan).value();
  r.before.params = tensor_params(*lm->file);
  r.before.file_bytes = lm->file->file_bytes();
  if (opt.out_path.empty()) return r;

  phase("write");
  // Healing trains from the pruned file and writes the output itself: the pruned one goes to a temp name.
  const bool heal = opt.heal.steps > 0;
  const std::string pruned_path = heal ? opt.out_path + ".pruned.tmp" : opt.out_path;
  RewriteOptions rewrite = opt.rewrite;
  std::optional<Compensation> comp;
  if (calib_opt.gram) {
    auto c = compensate(r.hparams, *r.importance, r.plan);
    if (!c) return std::move(c).take_error();
    comp = std::move(c).value();
    rewrite.compensation = &*comp;
  }
  if (auto s = write_pruned(*lm->file, r.plan, pruned_path, rewrite, &r.rewrite); !s)
    return std::move(s).take_error();
  struct RemoveTemp {
    std::string path;
    ~RemoveTemp() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove(path, ec);
    }
  } remove_temp{heal ? pruned_path : std::string()};
  auto pruned = load_model(pruned_path);
  if (!pruned) return engine::make_error("the pruned file does not load: " + pruned.error());
  r.after.params = tensor_params(*pruned->file);
  r.after.file_bytes = pruned->file->file_bytes();
  const auto eval = opt.eval_text.empty() || !opt.compare ? std::vector<int32_t>{}
                                                          : lm->tokenizer->encode(opt.eval_text, true, false);
  if (opt.compare) {
    phase("perplexity");
    if (auto s = measure_perplexity(*lm, eval, opt, pool, r.before); !s) return std::move(s).take_error();
    if (auto s = measure_perplexity(*pruned, eval, opt, pool, r.after); !s) return std::move(s).take_error();
  }
  const LoadedModel* written = &*pruned;  // the file at out_path
  std::optional<LoadedModel> healed_model;
  if (heal) {
    phase("heal");
    HealOptions h = opt.heal;
    if (h.type.empty()) h.type = opt.rewrite.type.empty() ? matrix_type(*pruned->file) : opt.rewrite.type;
    std::optional<engine::ThreadPool> own_pool;
    if (h.n_threads > 0 && h.n_threads != pool.size()) own_pool.emplace(h.n_threads);
    if (auto s = heal_pruned(*lm, pruned_path, opt.out_path, h, own_pool ? *own_pool : pool, &r.heal); !s)
      return std::move(s).take_error();
    auto healed = load_model(opt.out_path);
    if (!healed) return engine::make_error("the healed file does not load: " + healed.error());
    ModelFigures f;
    f.params = tensor_params(*healed->file);
    f.file_bytes = healed->file->file_bytes();
    if (opt.compare)
      if (auto s = measure_perplexity(*healed, eval, opt, pool, f); !s) return std::move(s).take_error();
    r.healed = f;
    healed_model.emplace(std::move(healed).value());
    written = &*healed_model;
  }
  r.written = true;
  if (!opt.compare || opt.bench_reps <= 0) return r;
  phase("speed");
  ModelFigures& out = r.healed ? *r.healed : r.after;
  if (auto s = measure_speed(*lm, *written, opt, pool, r.before, out); !s) return std::move(s).take_error();
  return r;
}

}  // namespace kuai::tools
