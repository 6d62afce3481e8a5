// `kuai train (--model-config K=V,.. | --init FILE.gguf) --tokenizer FILE.gguf --data FILE.txt -o OUT.gguf`:
// next-token training on the CPU (src/train); the output loads in `kuai generate` and llama.cpp.
#include <cstdio>

#include "app/train_cli.h"
#include "app/verbs.h"
#include "engine/gguf/gguf_file.h"
#include "engine/threads/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"
#include "train/corpus.h"
#include "train/params.h"

namespace kuai::app {
namespace {

VerbRegistrar reg("train", [](CLI::App& root) {
  struct Args {
    TrainCli cli;
    std::string model_config, init, tokenizer, data;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = root.add_subcommand("train",
                                  "Train a llama-architecture model on a text file on the CPU (AdamW, warm-up + cosine,\n"
                                  "checkpoints with --resume) and write it as a GGUF that kuai and llama.cpp load.");
  auto* mc = cmd->add_option("--model-config", a->model_config,
                             "new model: n_layer=..,n_embd=..,n_head=..,n_head_kv=..,n_ff=..,ctx=..[,tied=1]");
  auto* init = cmd->add_option("--init", a->init, "start from this llama GGUF instead");
  mc->excludes(init);
  cmd->add_option("--tokenizer", a->tokenizer, "GGUF whose vocabulary is used (default: the --init file)");
  cmd->add_option("--data", a->data, "training text (UTF-8)")->required();
  add_train_options(cmd, a->cli);
  cmd->callback([a] {
    const std::string verb = "train";
    auto& o = a->cli.opt;
    if (const std::string why = output_problem(a->cli.output); !why.empty()) {
      set_exit_code(fail(verb, "cannot write " + a->cli.output + ": " + why, "give -o a path in a writable folder"));
      return;
    }
    if (a->model_config.empty() == a->init.empty()) {
      set_exit_code(fail(verb, "give either --model-config or --init", "e.g. --model-config n_layer=2,n_embd=64,n_head=8,n_ff=172,ctx=128"));
      return;
    }
    const std::string tok_path = a->tokenizer.empty() ? a->init : a->tokenizer;
    if (tok_path.empty()) {
      set_exit_code(fail(verb, "no vocabulary: give --tokenizer FILE.gguf", "any GGUF with tokenizer.ggml.* keys, e.g. the teacher model"));
      return;
    }
    auto tf = engine::GgufFile::open(tok_path);
    if (!tf) {
      set_exit_code(fail(verb, tf.error(), "--tokenizer must be a readable GGUF file"));
      return;
    }
    auto tok = engine::Tokenizer::from_gguf(**tf);
    if (!tok) {
      set_exit_code(fail(verb, tok_path + ": " + tok.error(), "--tokenizer must be a GGUF with a vocabulary"));
      return;
    }
    train::Params params;
    if (!a->init.empty()) {
      auto p = train::read_params_file(a->init);
      if (!p) {
        set_exit_code(fail(verb, p.error(), "--init must be a llama-architecture GGUF with weights"));
        return;
      }
      params = std::move(p).value();
    } else {
      train::ModelConfig base;
      base.n_vocab = int32_t((*tok)->n_vocab());
      auto c = train::parse_model_config(a->model_config, base);
      if (!c) {
        set_exit_code(fail(verb, c.error(), "see kuai train --help"));
        return;
      }
      params = train::init_params(*c, o.seed);
    }
    if (size_t(params.config.n_vocab) != (*tok)->n_vocab()) {
      set_exit_code(fail(verb, "the model has " + std::to_string(params.config.n_vocab) + " tokens, the vocabulary of " +
                                   tok_path + " " + std::to_string((*tok)->n_vocab()),
                         "use the tokenizer the model was made with"));
      return;
    }
    auto corpus = train::corpus_from_file(a->data, **tok, o.seq_len + 1);
    if (!corpus) {
      set_exit_code(fail(verb, corpus.error(), "give a longer text or a smaller --seq-len"));
      return;
    }
    engine::ThreadPool pool(a->cli.threads);
    o.tokenizer = tf->get();
    o.stop = install_stop_signals();
    std::fprintf(stderr, "train: %s, %zu parameters, %lld corpus tokens\n", params.config.describe().c_str(),
                 params.data.size(), static_cast<long long>(corpus->n_tokens()));
    auto r = train::train(params, *corpus, o, pool, progress_printer(verb, a->cli.log_every));
    if (!r) {
      set_exit_code(fail(verb, r.error(), train_error_hint(verb, r.error(), o)));
      return;
    }
    if (auto st = train::write_model(a->cli.output, params, tf->get(), "kuai-train"); !st) {
      set_exit_code(fail(verb, st.error(), "check the output path and free disk space"));
      return;
    }
    std::fprintf(stderr, "wrote %s (final loss %.4f, %.0f tokens/s)\n", a->cli.output.c_str(),
                 r->losses.empty() ? 0.0 : r->losses.back(), r->tokens_per_s());
  });
});

}  // namespace
}  // namespace kuai::app
