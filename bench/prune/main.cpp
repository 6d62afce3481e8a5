// bench_prune: structured pruning of the real stories260K (5 layers, 8 heads, 4 KV heads, FFN 172) —
// drop 1 layer; keep 75% of FFN channels; keep 3 of 4 KV groups; each alone (the two widths also by the
// Taylor measure and with the least-squares compensation of prune_compensate.h), all three at once
// (40% of the non-embedding parameters: by block influence + activation, angular + FLAP, block
// influence + Taylor, compensated), the same ~25% from FFN channels alone (keep 66%, compensated,
// healed), and the issue's ~25% cut, FFN 75% + KV 3/4 compensated, healed:
// distilled from the original for --heal-steps (3000) steps of 8 windows of 128 tokens (the perplexity
// window), KL at T=1 with alpha 0.9, lr 1e-3, on --heal-generate (1024) sequences of 257 tokens sampled
// from the original with seeds 1000.., 2 threads (the speed columns are then the healed file's).
// Every row: perplexity on held-out text before / after pruning (/ after healing) and decode / prompt
// speed of the pruned model against the original measured in the same run (alternating, best of reps;
// 1 thread and its CPU time for this 1 MB model). Calibration and held-out text are sampled from the
// model itself (temperature 1) with fixed seeds, different for the two. Then the three-way cut on a
// synthetic TinyLlama-1.1B-shaped Q4_0 file (kuai synth, random weights: speed figures only). Between
// them, the measures against choices they did not make (each single layer dropped; KV groups and
// channels at random).
//
// The last line is the healed ~25% cut; params_removed is the fraction of non-embedding parameters
// (token_embd and output aside). Flags: --no-synth (stories260K only), --model-dir DIR (keep the
// synthetic file there), --reps N, --heal-steps N (0: no healing), --heal-generate N (sequences),
// --heal-lr X, --case TEXT (only the rows whose name contains TEXT).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/threads/thread_pool.h"
#include "support/paths.h"
#include "tools/generate.h"
#include "tools/perplexity.h"
#include "tools/prune.h"
#include "tools/synth.h"

namespace fs = std::filesystem;
using namespace kuai;

namespace {

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one.empty() ? "?" : one;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// Passages sampled from the model, one per seed, joined by blank lines.
std::string sampled_text(const std::string& model, const std::vector<uint64_t>& seeds, int tokens_each) {
  auto lm = tools::load_model(model);
  if (!lm) return {};
  engine::ThreadPool pool(2);
  std::string text;
  for (uint64_t seed : seeds) {
    tools::GenerateOptions opt;
    opt.n_predict = tokens_each;
    opt.stop_at_eog = false;
    opt.sampling.temperature = 1.0f;
    opt.sampling.seed = seed;
    auto r = tools::generate(*lm, "", opt, pool);
    if (r) text += (text.empty() ? "" : "\n\n") + r->text;
  }
  return text;
}

// Elements of every tensor but the token embedding and the output projection.
uint64_t non_embedding_params(const std::string& path) {
  auto f = engine::GgufFile::open(path);
  if (!f) return 0;
  uint64_t n = 0;
  for (const auto& t : (*f)->tensors())
    if (t.name != "token_embd.weight" && t.name != "output.weight") n += uint64_t(t.n_elements());
  return n;
}

struct Case {
  const char* name;
  int drop_layers;
  double ffn_keep, heads_keep;
  const char* metrics = nullptr;  // comma list, e.g. "angular,fluctuation"; default block-influence, activation
  bool compensate = false;
  int heal_steps = 0, heal_generate = 0;
  float heal_lr = 0, heal_hidden = 0;
};

struct Row {
  double removed = 0, removed_total = 0, ppl_orig = 0, ppl_pruned = 0, decode_ratio = 0, prompt_ratio = 0;
  double decode_orig = 0, decode_pruned = 0;
  double ppl_healed = 0, heal_seconds = 0, heal_first_loss = 0, heal_last_loss = 0;  // 0: not healed
};

bool run_case(const Case& c, const std::string& model, const std::string& out, const std::string& calib,
              const std::string& eval, int reps, int n_prompt, int n_decode, int calib_tokens, int threads, Row& row) {
  tools::PruneOptions opt;
  opt.in_path = model;
  opt.out_path = out;
  opt.spec.drop_layers = c.drop_layers;
  opt.spec.ffn_keep = c.ffn_keep;
  opt.spec.heads_keep = c.heads_keep;
  opt.calib_text = calib;
  opt.eval_text = eval;
  opt.bench_reps = reps;
  opt.bench_prompt = n_prompt;
  opt.bench_decode = n_decode;
  opt.calib.n_ctx = opt.ppl_ctx = 128;
  opt.calib.max_tokens = calib_tokens;
  opt.n_threads = opt.rewrite.n_threads = threads;
  opt.speed_by_thread_cpu = threads == 1;
  if (c.heal_steps > 0) {
    opt.heal.steps = c.heal_steps;
    opt.heal.generate = c.heal_generate;  // sequences of 65 tokens sampled from the original, seeds 1000..
    opt.heal.seed = 1000;
    opt.heal.lr = c.heal_lr;
    opt.heal.hidden = c.heal_hidden;
    opt.heal.n_threads = 2;
  }
  opt.compensate = c.compensate;
  if (c.metrics) {
    std::string list = c.metrics;
    for (size_t pos = 0; pos <= list.size();) {
      const size_t comma = std::min(list.find(',', pos), list.size());
      tools::set_prune_metric(list.substr(pos, comma - pos), opt.spec);
      pos = comma + 1;
    }
  }
  auto r = tools::run_prune(opt);
  if (!r) {
    std::fprintf(stderr, "bench_prune: %s: %s\n", c.name, r.error().c_str());
    return false;
  }
  const double ne_before = double(non_embedding_params(model)), ne_after = double(non_embedding_params(out));
  row.removed = 1.0 - ne_after / ne_before;
  row.removed_total = 1.0 - double(r->after.params) / double(r->before.params);
  row.ppl_orig = r->before.perplexity.value_or(0);
  row.ppl_pruned = r->after.perplexity.value_or(0);
  const tools::ModelFigures& written = r->output();  // speed of the written file (the healed one when healed)
  row.decode_orig = r->before.decode_tps;
  row.decode_pruned = written.decode_tps;
  row.decode_ratio = written.decode_tps / r->before.decode_tps;
  row.prompt_ratio = written.prompt_tps / r->before.prompt_tps;
  if (r->healed) {
    row.ppl_healed = r->healed->perplexity.value_or(0);
    row.heal_seconds = r->heal.seconds;
    row.heal_first_loss = r->heal.first_loss;
    row.heal_last_loss = r->heal.last_loss;
  }
  return true;
}

// Held-out perplexity of a model file (windows of 128).
double file_perplexity(const std::string& path, const std::string& eval) {
  auto lm = tools::load_model(path);
  if (!lm) return 0;
  engine::ThreadPool pool(1);
  auto p = tools::perplexity(*lm->model, lm->tokenizer->encode(eval, true, false), 128, pool);
  return p ? p->perplexity : 0;
}

// The measures against choices they did not make: held-out perplexity after dropping each single layer
// (where block influence's pick ranks), and KV groups / FFN channels kept at random (seeded scores in
// place of the measured ones) against the activation measure's choice.
void importance_vs_baselines(const std::string& model, const std::string& out, const std::string& calib,
                             const std::string& eval) {
  auto lm = tools::load_model(model);
  if (!lm) return;
  engine::ThreadPool pool(1);
  auto imp = tools::measure_importance(*lm->model, lm->tokenizer->encode(calib, true, false), {}, pool);
  if (!imp) return;
  const auto& h = lm->model->hparams();
  int bi_pick = 0;
  for (int l = 1; l < h.n_layer; ++l)
    if (imp->block_influence(l) < imp->block_influence(bi_pick)) bi_pick = l;
  std::printf("held-out perplexity dropping one layer (block influence drops layer %d):", bi_pick);
  std::vector<double> ppl;
  for (int l = 0; l < h.n_layer; ++l) {
    tools::PruneSpec spec;
    spec.drop_layer_ids = {l};
    auto plan = tools::plan_prune(h, &*imp, spec);
    if (!plan || !tools::write_pruned(*lm->file, *plan, out, {}).ok()) return;
    ppl.push_back(file_perplexity(out, eval));
    std::printf(" %d: %.3f", l, ppl.back());
  }
  int rank = 1;
  for (double p : ppl) rank += p < ppl[size_t(bi_pick)] ? 1 : 0;
  std::printf(" (its pick ranks %d of %d)\n", rank, h.n_layer);
  for (auto [what, heads, ffn] : {std::tuple{"keep 3 of 4 KV groups", 0.75, 1.0}, std::tuple{"keep 75% FFN", 1.0, 0.75}}) {
    tools::PruneSpec spec;
    spec.heads_keep = heads, spec.ffn_keep = ffn;
    auto measured = tools::plan_prune(h, &*imp, spec);
    if (!measured || !tools::write_pruned(*lm->file, *measured, out, {}).ok()) return;
    const double p_measured = file_perplexity(out, eval);
    std::vector<double> random_ppl;
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      tools::Importance rnd = *imp;
      std::mt19937_64 rng(seed);
      std::uniform_real_distribution<double> u(0.0, 1.0);
      for (auto* v : {&rnd.group_activation, &rnd.channel_activation})
        for (double& x : *v) x = u(rng);
      auto plan = tools::plan_prune(h, &rnd, spec);
      if (!plan || !tools::write_pruned(*lm->file, *plan, out, {}).ok()) return;
      random_ppl.push_back(file_perplexity(out, eval));
    }
    std::sort(random_ppl.begin(), random_ppl.end());
    std::printf("%s: activation measure %.3f, random choice (5 seeds) %.3f / %.3f / %.3f (min / median / max)\n", what,
                p_measured, random_ppl.front(), random_ppl[2], random_ppl.back());
  }
}

void print_row(const char* name, const Row& r, bool ppl) {
  char ppl_o[32] = "n/a", ppl_p[32] = "n/a", ppl_h[32] = "n/a";
  if (ppl) std::snprintf(ppl_o, sizeof ppl_o, "%.3f", r.ppl_orig), std::snprintf(ppl_p, sizeof ppl_p, "%.3f", r.ppl_pruned);
  if (ppl && r.ppl_healed > 0) std::snprintf(ppl_h, sizeof ppl_h, "%.3f", r.ppl_healed);
  std::printf("%-26s %8.1f%% %8.1f%% %9s %10s %8s %10.1f %10.1f %8.3fx %8.3fx\n", name, 100 * r.removed,
              100 * r.removed_total, ppl_o, ppl_p, ppl_h, r.decode_orig, r.decode_pruned, r.decode_ratio, r.prompt_ratio);
  if (r.ppl_healed > 0)
    std::printf("  healed: distillation loss %.4f -> %.4f in %.1f s; ppl healed / original = %.3f\n", r.heal_first_loss,
                r.heal_last_loss, r.heal_seconds, r.ppl_healed / r.ppl_orig);
}

void print_header() {
  std::printf("%-26s %9s %9s %9s %10s %8s %10s %10s %9s %9s\n", "case", "removed", "(total)", "ppl_orig", "ppl_pruned",
              "healed", "tg orig", "tg pruned", "decode", "prompt");
}

}  // namespace

int main(int argc, char** argv) {
  bool synth = true;
  int reps = 30, heal_steps = 3000, heal_generate = 1024;
  float heal_lr = 1e-3f, heal_hidden = 0;
  std::string model_dir, only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-synth") synth = false;
    else if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--model-dir" && i + 1 < argc) model_dir = argv[++i];
    else if (a == "--case" && i + 1 < argc) only = argv[++i];
    else if (a == "--heal-steps" && i + 1 < argc) heal_steps = std::max(0, std::atoi(argv[++i]));
    else if (a == "--heal-generate" && i + 1 < argc) heal_generate = std::max(1, std::atoi(argv[++i]));
    else if (a == "--heal-lr" && i + 1 < argc) heal_lr = std::max(1e-6f, float(std::atof(argv[++i])));
    else if (a == "--heal-hidden" && i + 1 < argc) heal_hidden = std::max(0.0f, float(std::atof(argv[++i])));
    else {
      std::fprintf(stderr, "usage: bench_prune [--no-synth] [--reps N] [--model-dir DIR] [--heal-steps N] [--heal-generate N] [--heal-lr X] [--heal-hidden W] [--case TEXT]\n");
      return 2;
    }
  }
  const std::string model = test::shared_dir() + std::string("/models/stories260K/stories260K.gguf");
  if (!fs::exists(model)) {
    std::fprintf(stderr, "bench_prune: %s is missing\n", model.c_str());
    return 1;
  }
  const fs::path tmp = fs::temp_directory_path() / ("kuai_bench_prune_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::printf("bench_prune on %s (load average %s); speed ratios: pruned vs original, same run (alternating, best "
              "of %d)\n", cpu_name().c_str(), load_average().c_str(), reps);
  const std::string calib = sampled_text(model, {1, 2, 3, 4, 5, 6, 7, 8}, 250);
  const std::string eval = sampled_text(model, {101, 102, 103, 104, 105, 106, 107, 108}, 250);
  std::printf("stories260K: calibration text %zu bytes (seeds 1-8), held-out %zu bytes (seeds 101-108), "
              "perplexity windows of 128; tg128 / pp128 on 1 thread (a 1 MB model: a second\n"
              "thread only adds synchronisation), timed by the thread's CPU time (a loaded box preempts 10 ms runs)\n", calib.size(), eval.size());
  print_header();
  const Case cases[] = {{"drop 1 layer", 1, 1.0, 1.0},
                        {"keep 75% FFN", 0, 0.75, 1.0},
                        {"keep 75% FFN, compensated", 0, 0.75, 1.0, nullptr, true},
                        {"keep 75% FFN, Taylor", 0, 0.75, 1.0, "taylor"},
                        {"keep 3 of 4 KV groups", 0, 1.0, 0.75},
                        {"keep 3 of 4 KV, compensated", 0, 1.0, 0.75, nullptr, true},
                        {"keep 3 of 4 KV, Taylor", 0, 1.0, 0.75, "taylor"},
                        {"all three", 1, 0.75, 0.75},
                        {"all three, angular+FLAP", 1, 0.75, 0.75, "angular,fluctuation"},
                        {"all three, BI+Taylor", 1, 0.75, 0.75, "taylor"},
                        {"all three, compensated", 1, 0.75, 0.75, nullptr, true},
                        // the same ~25% taken from FFN channels alone heals further (KV groups by activation
                        // are no better than random here)
                        {"keep 66% FFN, healed", 0, 0.66, 1.0, nullptr, true, heal_steps, heal_generate, heal_lr,
                         heal_hidden},
                        {"FFN 75% + KV 3/4", 0, 0.75, 0.75, nullptr, true, heal_steps, heal_generate, heal_lr, heal_hidden}};
  Row headline;  // the last row run
  for (const Case& c : cases) {
    if (!only.empty() && std::string(c.name).find(only) == std::string::npos) continue;
    Row row;
    if (!run_case(c, model, (tmp / "pruned.gguf").string(), calib, eval, reps, 128, 128, 4096, 1, row)) return 1;
    print_row(c.name, row, true);
    headline = row;
  }
  importance_vs_baselines(model, (tmp / "baseline.gguf").string(), calib, eval);
  if (synth) {
    const fs::path dir = model_dir.empty() ? tmp : fs::path(model_dir);
    fs::create_directories(dir);
    const std::string tl = (dir / "tinyllama-1.1b-q4_0.gguf").string();
    if (!fs::exists(tl)) {
      tools::SynthOptions so;
      so.preset = "tinyllama-1.1b";
      so.type = "q4_0";
      if (auto s = tools::synth_model(tl, so); !s) {
        std::fprintf(stderr, "bench_prune: synth: %s\n", s.error().c_str());
        return 1;
      }
    }
    std::printf("TinyLlama-1.1B shape (kuai synth, Q4_0, random weights: speed only); 2 threads, tg32 / pp64, best of %d; "
                "calibration: 256 tokens of the same text; load average now %s\n", std::min(reps, 3),
                load_average().c_str());
    print_header();
    Row row;
    if (!run_case({"combined", 4, 0.75, 0.75}, tl, (tmp / "tl_pruned.gguf").string(), calib, "", std::min(reps, 3), 64,
                  32, 256, 2, row))
      return 1;
    print_row("drop 4 of 22, FFN 75%, KV 3/4", row, false);
  }
  fs::remove_all(tmp);
  char healed[32] = "n/a";
  if (headline.ppl_healed > 0) std::snprintf(healed, sizeof healed, "%.3f", headline.ppl_healed);
  std::printf("prune: params_removed=%.2f ppl_orig=%.3f ppl_pruned=%.3f ppl_healed=%s decode_speedup=%.2f\n",
              headline.removed, headline.ppl_orig, headline.ppl_pruned, healed, headline.decode_ratio);
  return 0;
}
