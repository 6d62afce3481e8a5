// `kuai synth --preset P --type T --seed S -o OUT`: see src/tools/synth.h.
#include <cstdio>

#include "app/verbs.h"
#include "tools/progress_bar.h"
#include "tools/synth.h"

namespace kuai::app {
namespace {

VerbRegistrar reg("synth", [](CLI::App& root) {
  auto opt = std::make_shared<tools::SynthOptions>();
  auto out = std::make_shared<std::string>();
  std::string presets;
  for (const auto& p : tools::synth_presets()) presets += (presets.empty() ? "" : "|") + p.name;
  auto* cmd = root.add_subcommand("synth",
                                  "Write a GGUF of a real model's shape with seeded random weights and a generated\n"
                                  "tokenizer vocabulary (benchmark models; loads in other GGUF tools too).");
  cmd->add_option("--preset", opt->preset, presets)->capture_default_str();
  cmd->add_option("--type", opt->type, "f32|f16|bf16|q8_0|q4_0|q4_k|q6_k|q4_k_m")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "weights seed (same seed, same file)")->capture_default_str();
  cmd->add_option("--std", opt->weight_std, "standard deviation of the weights")->capture_default_str();
  cmd->add_option("--pooling", opt->pooling, "bert presets: the pooling the file asks for, mean|cls")->capture_default_str();
  cmd->add_option("-t,--threads", opt->n_threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("-o,--output", *out, "output GGUF")->required();
  cmd->callback([opt, out] {
    engine::Status st = engine::Ok{};
    {
      tools::ProgressBar bar("synth");
      opt->progress = [&bar](double f) { bar(f); };
      st = tools::synth_model(*out, *opt);
    }
    if (!st) {
      set_exit_code(fail("synth", st.error(), "see kuai synth --help for presets and types"));
      return;
    }
    std::fprintf(stderr, "wrote %s (%s, %s, seed %llu)\n", out->c_str(), opt->preset.c_str(), opt->type.c_str(),
                 static_cast<unsigned long long>(opt->seed));
  });
});

}  // namespace
}  // namespace kuai::app
