// `kuai embed -m MODEL.gguf TEXT…`: sentence embeddings of a BERT-family GGUF (engine/model/bert_model.h),
// one JSON array per text on stdout, L2-normalised, pooled as the file says (the numbers
// llama-embedding prints with --embd-normalize 2).
#include "app/verbs.h"
#include "engine/model/sentence_embedder.h"
#include "engine/threads/thread_pool.h"

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace kuai::app {
namespace {

VerbRegistrar reg("embed", [](CLI::App& root) {
  struct Args {
    std::string model;
    std::vector<std::string> texts;
    int threads = 2;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = root.add_subcommand("embed",
                                  "Embed texts with a BERT-family GGUF (bge, all-MiniLM, e5): one JSON array of floats\n"
                                  "per text on stdout, L2-normalised, mean or CLS pooled as the file says.\n"
                                  "Texts come from the arguments, or one per line on stdin.");
  cmd->add_option("-m,--model", a->model, "GGUF file of architecture bert")->required();
  cmd->add_option("texts", a->texts, "texts to embed (default: one per line on stdin)");
  cmd->add_option("-t,--threads", a->threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->callback([a] {
    auto embedder = engine::model::SentenceEmbedder::load(a->model);
    if (!embedder) {
      set_exit_code(fail("embed", embedder.error(),
                         "kuai embed takes BERT-family GGUF embedders; serve other models and call /v1/embeddings"));
      return;
    }
    std::vector<std::string> texts = a->texts;
    if (texts.empty())
      for (std::string line; std::getline(std::cin, line);) texts.push_back(line);
    engine::ThreadPool pool(a->threads);
    engine::model::BertState st(pool);
    std::vector<std::vector<int32_t>> ids;
    for (const auto& text : texts) ids.push_back((*embedder)->tokens(text));
    auto vs = (*embedder)->embed_all(ids, st);  // texts share the weight products, in batches
    if (!vs) {
      set_exit_code(fail("embed", vs.error(), "shorten the text to the model's context"));
      return;
    }
    for (const auto& v : *vs) {
      std::string line = "[";
      char buf[32];
      for (size_t i = 0; i < v.size(); ++i) {
        std::snprintf(buf, sizeof buf, "%s%.7g", i ? "," : "", double(v[i]));
        line += buf;
      }
      line += "]\n";
      std::fputs(line.c_str(), stdout);
    }
  });
});

}  // namespace
}  // namespace kuai::app
