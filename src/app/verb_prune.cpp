// `kuai prune -m IN -o OUT --calib FILE [...]`: see src/tools/prune.h.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "app/verbs.h"
#include "tools/prune.h"

namespace kuai::app {
namespace {

constexpr const char* kVerb = "prune";

bool read_text(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// "N" (a count) or "3,7" (layer indices; "5," names one layer). False on anything else.
bool parse_drop_layers(const std::string& s, tools::PruneSpec& spec) {
  auto number = [](std::string_view v, int& out) {
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    return ec == std::errc{} && p == v.data() + v.size();
  };
  if (s.find(',') == std::string::npos) return number(s, spec.drop_layers);
  std::string_view rest = s;
  while (!rest.empty()) {
    const size_t c = rest.find(',');
    int id = 0;
    if (!number(rest.substr(0, c), id)) return false;
    spec.drop_layer_ids.push_back(id);
    rest = c == std::string_view::npos ? std::string_view{} : rest.substr(c + 1);
  }
  return true;
}

VerbRegistrar reg(kVerb, [](CLI::App& root) {
  struct Args {
    std::string model, out, calib, eval, drop_layers, type;
    std::vector<std::string> metrics;
    double heads_keep = 1.0, ffn_keep = 1.0;
    int threads = 2, calib_tokens = 4096, ctx = 128, heal_steps = 0, heal_generate = 0, heal_batch = 8,
        heal_seq_len = 128;
    float heal_lr = 1e-3f, heal_hidden = 0;
    std::string heal_data;
    bool report = false, json = false, no_compare = false, compensate = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = root.add_subcommand(
      kVerb,
      "Structured pruning of a llama or qwen2 GGUF: drop whole layers (block influence or angular distance on\n"
      "calibration text), KV groups with their query heads and FFN channels (activation-aware importance),\n"
      "the same count from every layer, and write a standard GGUF. Prints parameters, file size, perplexity\n"
      "on --eval text and prompt/decode tokens/s of the original and the pruned model, measured in one run.\n"
      "--heal-steps N heals the pruned model by distillation from the original (KL, src/train) and writes\n"
      "the healed model instead, with its perplexity.");
  cmd->add_option("-m,--model", a->model, "input GGUF (llama architecture)")->required();
  cmd->add_option("-o,--output", a->out, "output GGUF (not needed with --report: then nothing is written)");
  cmd->add_option("--calib", a->calib, "calibration text file (UTF-8) for the importance measures");
  cmd->add_option("--eval", a->eval, "held-out text file for perplexity before/after (default: none)");
  cmd->add_option("--drop-layers", a->drop_layers, "N: drop the N least important layers; 3,7: drop these layers (\"5,\" for one)");
  cmd->add_option("--heads-keep", a->heads_keep, "fraction of KV groups (each with its query heads) kept, (0, 1]")
      ->capture_default_str();
  cmd->add_option("--ffn-keep", a->ffn_keep, "fraction of FFN channels kept, (0, 1]")->capture_default_str();
  cmd->add_option("--metric", a->metrics,
                  "block-influence|angular (layers), activation|fluctuation|taylor (heads, FFN); comma list")
      ->delimiter(',');
  cmd->add_option("--type", a->type, "requantize the output's matrices to this type (default: each keeps its type)");
  cmd->add_option("--calib-tokens", a->calib_tokens, "calibration tokens used at most")->capture_default_str()
      ->check(CLI::Range(2, 1 << 24));
  cmd->add_option("-c,--ctx", a->ctx, "window in tokens for calibration and perplexity")->capture_default_str()
      ->check(CLI::Range(4, 1 << 20));
  cmd->add_option("-t,--threads", a->threads, "compute threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_flag("--report", a->report, "print the importance table (alone: print it and write nothing)");
  cmd->add_flag("--json", a->json, "print the report as one JSON object");
  cmd->add_flag("--no-compare", a->no_compare, "skip the perplexity and speed comparison");
  cmd->add_flag("--compensate", a->compensate,
                "least-squares update of the kept attn_output / ffn_down columns on the calibration activations "
                "(needs n_layer * (q_dim^2 + n_ff^2) doubles)");
  cmd->add_option("--heal-steps", a->heal_steps,
                  "heal: distil the pruned model from the original for N steps and write the healed model")
      ->check(CLI::Range(0, 1 << 24));
  auto* hd = cmd->add_option("--heal-data", a->heal_data, "text for healing (default: the --calib text)");
  auto* hg = cmd->add_option("--heal-generate", a->heal_generate,
                             "heal on N sequences sampled from the original instead (fixed seeds)")
                 ->check(CLI::Range(1, 1 << 24));
  hd->excludes(hg);
  cmd->add_option("--heal-lr", a->heal_lr, "healing learning rate (AdamW, warm-up + cosine)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--heal-batch", a->heal_batch, "healing windows per step")->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--heal-seq-len", a->heal_seq_len, "healing tokens per window")->capture_default_str()
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--heal-hidden", a->heal_hidden,
                  "healing: weight of hidden-state distillation (each layer's output pulled towards the original's; "
                  "not with --drop-layers)")
      ->capture_default_str()->check(CLI::Range(0.0, 1000.0));
  cmd->callback([a] {
    if (a->heal_steps == 0 && (!a->heal_data.empty() || a->heal_generate != 0)) {
      set_exit_code(fail(kVerb, "--heal-data / --heal-generate without --heal-steps",
                         "give --heal-steps N (e.g. 200) to heal by distillation"));
      return;
    }
    if (a->heal_hidden > 0 && a->heal_steps == 0) {
      set_exit_code(fail(kVerb, "--heal-hidden without --heal-steps", "give --heal-steps N to heal by distillation"));
      return;
    }
    if (a->heal_hidden > 0 && !a->drop_layers.empty()) {
      set_exit_code(fail(kVerb, "--heal-hidden with --drop-layers",
                         "hidden-state distillation pairs each layer with the original's: prune heads and FFN channels only"));
      return;
    }
    if (a->heal_steps > 0 && a->out.empty()) {
      set_exit_code(fail(kVerb, "healing needs an output file", "give -o OUT.gguf"));
      return;
    }
    if (a->out.empty() && !a->report) {
      set_exit_code(fail(kVerb, "no output file", "give -o OUT.gguf, or --report to print the importance table only"));
      return;
    }
    tools::PruneOptions opt;
    opt.in_path = a->model;
    opt.out_path = a->out;
    if (!a->drop_layers.empty() && !parse_drop_layers(a->drop_layers, opt.spec)) {
      set_exit_code(fail(kVerb, "--drop-layers '" + a->drop_layers + "' is neither a count nor a list of layers",
                         "--drop-layers 2 drops the two least important layers; --drop-layers 3,7 drops layers 3 and 7"));
      return;
    }
    opt.spec.heads_keep = a->heads_keep;
    opt.spec.ffn_keep = a->ffn_keep;
    for (const auto& m : a->metrics) {
      if (!tools::set_prune_metric(m, opt.spec)) {
        set_exit_code(fail(kVerb, "unknown metric '" + m + "'", "use block-influence, angular, activation, fluctuation or taylor"));
        return;
      }
    }
    if (a->calib.empty()) {
      set_exit_code(fail(kVerb, "no calibration text", "give --calib FILE.txt (text like what the model will see)"));
      return;
    }
    if (!read_text(a->calib, opt.calib_text)) {
      set_exit_code(fail(kVerb, "cannot read calibration text " + a->calib, "give a readable text file with --calib"));
      return;
    }
    if (!a->eval.empty() && !read_text(a->eval, opt.eval_text)) {
      set_exit_code(fail(kVerb, "cannot read held-out text " + a->eval, "give a readable text file with --eval"));
      return;
    }
    opt.rewrite.type = a->type;
    opt.rewrite.n_threads = a->threads;
    opt.n_threads = a->threads;
    opt.calib.max_tokens = a->calib_tokens;
    opt.calib.n_ctx = a->ctx;
    opt.ppl_ctx = a->ctx;
    opt.compare = !a->no_compare;
    opt.compensate = a->compensate;
    opt.heal.steps = a->heal_steps;
    opt.heal.lr = a->heal_lr;
    opt.heal.batch = a->heal_batch;
    opt.heal.seq_len = a->heal_seq_len;
    opt.heal.hidden = a->heal_hidden;
    if (a->heal_generate > 0) {
      opt.heal.generate = a->heal_generate;
    } else if (!a->heal_data.empty()) {
      if (!read_text(a->heal_data, opt.heal.text)) {
        set_exit_code(fail(kVerb, "cannot read healing text " + a->heal_data, "give a readable text file with --heal-data"));
        return;
      }
    } else {
      opt.heal.text = opt.calib_text;
    }
    opt.on_phase = [](const std::string& p) { std::fprintf(stderr, "prune: %s\n", p.c_str()); };
    auto r = tools::run_prune(opt);
    if (!r) {
      set_exit_code(fail(kVerb, r.error(), "see kuai prune --help"));
      return;
    }
    const std::string text = a->json ? tools::prune_report_json(*r) + "\n" : tools::prune_report_text(*r, a->report);
    std::fputs(text.c_str(), stdout);
  });
});

}  // namespace
}  // namespace kuai::app
