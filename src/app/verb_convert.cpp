// `kuai convert llama2c --checkpoint M.bin --tokenizer T.bin -o OUT.gguf`: see src/tools/convert_llama2c.h.
// `kuai convert hf-tokenizer tokenizer.json --pre qwen2 -o OUT.gguf`: see src/tools/convert_hf_tokenizer.h.
#include "app/verbs.h"
#include "tools/convert_hf_tokenizer.h"
#include "tools/convert_llama2c.h"

#include <cstdio>

namespace kuai::app {
namespace {

VerbRegistrar reg("convert", [](CLI::App& root) {
  auto* cmd = root.add_subcommand("convert", "Convert a model from another format to GGUF.");
  cmd->require_subcommand(1);
  auto o = std::make_shared<tools::Llama2cConvertOptions>();
  auto* l2c = cmd->add_subcommand("llama2c",
                                  "llama2.c checkpoint (legacy .bin) + tokenizer.bin -> GGUF (llama architecture,\n"
                                  "F32 tensors, SentencePiece vocab), loadable here and by other GGUF tools.");
  l2c->add_option("--checkpoint", o->checkpoint_path, "llama2.c model file (e.g. stories15M.bin)")->required();
  l2c->add_option("--tokenizer", o->tokenizer_path, "llama2.c tokenizer file (e.g. tokenizer.bin, tok512.bin)")
      ->required();
  l2c->add_option("-o,--output", o->output_path, "GGUF file to write")->required();
  l2c->add_option("--name", o->name, "general.name to record")->capture_default_str();
  l2c->callback([o] {
    auto st = tools::convert_llama2c(*o);
    if (!st) {
      set_exit_code(fail("convert", st.error(),
                         "pass a legacy llama2.c checkpoint (7-int header + float32 weights) and the tokenizer.bin "
                         "made for it"));
      return;
    }
    std::fprintf(stderr, "wrote %s\n", o->output_path.c_str());
  });

  auto h = std::make_shared<tools::HfTokenizerConvertOptions>();
  auto* hf = cmd->add_subcommand("hf-tokenizer",
                                 "Hugging Face tokenizer.json (byte-level BPE) -> vocab-only GGUF, for token counting\n"
                                 "and tokenizer tests (tokenizer_config.json beside it adds specials and the template).");
  hf->add_option("tokenizer_json", h->tokenizer_json, "tokenizer.json")->required();
  hf->add_option("--pre", h->pre, "pre-tokenizer family, as tokenizer.ggml.pre (qwen2, llama-bpe, gpt-2, ...)")
      ->required();
  hf->add_option("-o,--output", h->output_path, "GGUF file to write")->required();
  hf->add_option("--name", h->name, "general.name to record")->capture_default_str();
  hf->callback([h] {
    auto st = tools::convert_hf_tokenizer(*h);
    if (!st) {
      set_exit_code(fail("convert", st.error(),
                         "pass a tokenizer.json whose model.type is BPE and the --pre family its regex belongs to"));
      return;
    }
    std::fprintf(stderr, "wrote %s\n", h->output_path.c_str());
  });
});

}  // namespace
}  // namespace kuai::app
