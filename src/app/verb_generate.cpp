// `kuai generate -m MODEL -p PROMPT`: the prompt and the generated text on stdout, timings on stderr.
#include <cstdio>

#include "app/verbs.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "tools/generate.h"

namespace kuai::app {
namespace {

VerbRegistrar reg("generate", [](CLI::App& root) {
  struct Args {
    std::string model, prompt;
    int threads = 2;
    bool quiet_prompt = false;
    tools::GenerateOptions opt;
  };
  auto a = std::make_shared<Args>();
  auto& s = a->opt.sampling;
  auto* cmd = root.add_subcommand("generate", "Generate text with the embedded engine from a GGUF model (llama, qwen2).");
  cmd->add_option("-m,--model", a->model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", a->prompt, "prompt text")->capture_default_str();
  cmd->add_option("-n,--n-predict", a->opt.n_predict, "tokens to generate at most")->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-c,--ctx", a->opt.n_ctx, "context (KV cache) size in tokens; 0 = prompt + n")->capture_default_str();
  cmd->add_option("--temp", s.temperature, "temperature; 0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", s.top_k, "top-k; 0 = off")->capture_default_str();
  cmd->add_option("--top-p", s.top_p, "top-p; 1 = off")->capture_default_str();
  cmd->add_option("--min-p", s.min_p, "min-p; 0 = off")->capture_default_str();
  cmd->add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty; 1 = off")->capture_default_str();
  cmd->add_option("--repeat-last-n", s.penalty_last_n, "tokens the penalties look back at")->capture_default_str();
  cmd->add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty")->capture_default_str();
  cmd->add_option("--presence-penalty", s.presence_penalty, "presence penalty")->capture_default_str();
  cmd->add_option("-s,--seed", s.seed, "sampling seed (same seed, same output)")->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "compute threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_flag("--no-prompt-echo", a->quiet_prompt, "print only the generated text");
  cmd->add_flag("--ignore-eos", [a](int64_t) { a->opt.stop_at_eog = false; }, "keep going after end-of-text tokens");
  cmd->callback([a] {
    auto lm = tools::load_model(a->model);
    if (!lm) {
      set_exit_code(fail("generate", lm.error(), "give a llama/qwen2 GGUF with weights (kuai synth makes one)"));
      return;
    }
    engine::ThreadPool pool(a->threads);
    if (!a->quiet_prompt) {
      std::fputs(a->prompt.c_str(), stdout);
      std::fflush(stdout);
    }
    auto r = tools::generate(*lm, a->prompt, a->opt, pool, [](const std::string& piece) {
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
    });
    std::fputc('\n', stdout);
    if (!r) {
      set_exit_code(fail("generate", r.error(), "use a shorter prompt or a larger --ctx"));
      return;
    }
    std::fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f tok/s); generated: %zu tokens in %.3f s (%.1f tok/s)\n",
                 r->prompt_ids.size(), r->prompt_seconds, double(r->prompt_ids.size()) / std::max(1e-9, r->prompt_seconds),
                 r->ids.size(), r->generate_seconds, double(r->ids.size()) / std::max(1e-9, r->generate_seconds));
  });
});

}  // namespace
}  // namespace kuai::app
