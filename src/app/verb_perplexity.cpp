// `kuai perplexity -m MODEL -f TEXT --ctx N`: see src/tools/perplexity.h.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "app/verbs.h"
#include "engine/threads/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"
#include "tools/generate.h"
#include "tools/perplexity.h"
#include "tools/progress_bar.h"

namespace kuai::app {
namespace {

VerbRegistrar reg("perplexity", [](CLI::App& root) {
  struct Args {
    std::string model, file;
    int ctx = 512, threads = 2, max_tokens = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = root.add_subcommand("perplexity",
                                  "Perplexity of a model on a text file: sliding window of --ctx tokens moved by half\n"
                                  "a window; each window is scored on its second half (the first on all of it).");
  cmd->add_option("-m,--model", a->model, "GGUF model file")->required();
  cmd->add_option("-f,--file", a->file, "UTF-8 text file")->required();
  cmd->add_option("-c,--ctx", a->ctx, "window size in tokens")->capture_default_str()->check(CLI::Range(4, 1 << 20));
  cmd->add_option("--max-tokens", a->max_tokens, "use only the first N tokens of the text; 0 = all")->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "compute threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->callback([a] {
    std::ifstream in(a->file, std::ios::binary);
    if (!in) {
      set_exit_code(fail("perplexity", "cannot read " + a->file, "give a readable text file with -f"));
      return;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto lm = tools::load_model(a->model);
    if (!lm) {
      set_exit_code(fail("perplexity", lm.error(), "give a llama/qwen2 GGUF with weights"));
      return;
    }
    auto ids = lm->tokenizer->encode(ss.str(), true, false);
    if (a->max_tokens > 0 && int(ids.size()) > a->max_tokens) ids.resize(size_t(a->max_tokens));
    engine::ThreadPool pool(a->threads);
    engine::Result<tools::PerplexityResult> r = engine::make_error("not run");
    {
      tools::ProgressBar bar("perplexity");
      r = tools::perplexity(*lm->model, ids, a->ctx, pool, [&bar](double f) { bar(f); });
    }
    if (!r) {
      set_exit_code(fail("perplexity", r.error(), "the text needs at least 2 tokens; --ctx at least 4"));
      return;
    }
    std::printf("perplexity %.4f over %lld tokens (%d windows of %d, mean NLL %.4f nats)\n", r->perplexity,
                static_cast<long long>(r->n_scored), r->n_windows, a->ctx, r->mean_nll);
  });
});

}  // namespace
}  // namespace kuai::app
