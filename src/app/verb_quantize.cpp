// `kuai quantize IN OUT --type T`: see src/tools/quantize.h.
#include <cstdio>

#include "app/verbs.h"
#include "tools/progress_bar.h"
#include "tools/quantize.h"

namespace kuai::app {
namespace {

VerbRegistrar reg("quantize", [](CLI::App& root) {
  struct Args {
    std::string in, out, type = "q8_0";
    int threads = 2;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = root.add_subcommand("quantize",
                                  "Rewrite a llama/qwen2 GGUF with quantized weights (norms stay F32; a matrix whose\n"
                                  "rows do not fit the type's block falls back to Q8_0 or F16).");
  cmd->add_option("in", a->in, "input GGUF")->required();
  cmd->add_option("out", a->out, "output GGUF")->required();
  std::string types;
  for (const auto& r : tools::quantize_recipes()) types += (types.empty() ? "" : "|") + r;
  cmd->add_option("--type", a->type, types + " (q4_k_m: Q4_K with Q6_K for output and some attn_v/ffn_down)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->callback([a] {
    tools::QuantizeOptions opt;
    opt.recipe = a->type;
    opt.n_threads = a->threads;
    tools::QuantizeReport rep;
    engine::Status st = engine::Ok{};
    {
      tools::ProgressBar bar("quantize");
      opt.progress = [&bar](double f) { bar(f); };
      st = tools::quantize_model(a->in, a->out, opt, &rep);
    }
    if (!st) {
      set_exit_code(fail("quantize", st.error(), "the input must be a llama/qwen2 GGUF with weights; --type one of " +
                                                     std::string("q8_0, q4_0, q4_k, q6_k, q4_k_m, f16, bf16, f32")));
      return;
    }
    for (const auto& f : rep.fallbacks) std::fprintf(stderr, "fallback: %s\n", f.c_str());
    std::fprintf(stderr, "%s: %d matrices -> %s, %.2f MiB -> %.2f MiB\n", a->out.c_str(), rep.n_quantized,
                 a->type.c_str(), double(rep.bytes_in) / 1048576.0, double(rep.bytes_out) / 1048576.0);
  });
});

}  // namespace
}  // namespace kuai::app
