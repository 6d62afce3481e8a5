#include "tools/generate.h"

#include <algorithm>
#include <chrono>

#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"

namespace kuai::tools {

using namespace engine::model;
using Clock = std::chrono::steady_clock;

LoadedModel::LoadedModel() = default;
LoadedModel::LoadedModel(LoadedModel&&) noexcept = default;
LoadedModel::~LoadedModel() = default;

engine::Result<LoadedModel> load_model(const std::string& path) {
  auto f = engine::GgufFile::open(path);
  if (!f) return std::move(f).take_error();
  LoadedModel lm;
  lm.file = std::shared_ptr<const engine::GgufFile>(std::move(f).value());
  auto m = LlamaModel::load(lm.file);
  if (!m) return std::move(m).take_error();
  lm.model = std::move(m).value();
  auto t = engine::Tokenizer::from_gguf(*lm.file);
  if (!t) return engine::make_error(path + ": tokenizer: " + t.error());
  lm.tokenizer = std::move(t).value();
  return lm;
}

engine::Result<GenerateResult> generate(const LoadedModel& lm, const std::string& prompt, const GenerateOptions& opt,
                                        engine::ThreadPool& pool,
                                        const std::function<void(const std::string&)>& on_piece) {
  const LlamaModel& m = *lm.model;
  const engine::Tokenizer& tok = *lm.tokenizer;
  GenerateResult r;
  r.prompt_ids = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  if (r.prompt_ids.empty()) {
    if (tok.bos() == engine::kNoToken) return engine::make_error("empty prompt and the vocabulary has no BOS token");
    r.prompt_ids.push_back(tok.bos());
  }
  const int n_prompt = int(r.prompt_ids.size());
  int n_ctx = opt.n_ctx > 0 ? opt.n_ctx : std::min(n_prompt + opt.n_predict, std::max(m.hparams().n_ctx_train, n_prompt + 1));
  if (n_prompt >= n_ctx)
    return engine::make_error("the prompt has " + std::to_string(n_prompt) + " tokens; the context holds " +
                              std::to_string(n_ctx));
  auto kv = m.make_kv_cache(n_ctx);
  engine::model::SequenceKv* seqs[] = {kv.get()};
  ForwardState st(pool);
  engine::sample::Sampler sampler(opt.sampling);
  for (int32_t id : r.prompt_ids) sampler.accept(id);

  std::vector<BatchToken> batch;
  for (int i = 0; i < n_prompt; ++i) batch.push_back({r.prompt_ids[size_t(i)], i, 0, i == n_prompt - 1});
  std::vector<float> logits(size_t(m.hparams().n_vocab));
  auto t0 = Clock::now();
  if (auto s = m.forward(batch, seqs, st, logits.data()); !s) return std::move(s).take_error();
  r.prompt_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  t0 = Clock::now();
  std::vector<int32_t> all = r.prompt_ids;
  std::string prev_text = tok.decode(all);
  for (int i = 0; i < opt.n_predict && int(all.size()) < n_ctx + 1; ++i) {
    const int32_t next = sampler.sample(logits);
    if (opt.stop_at_eog && tok.is_eog(next)) break;
    sampler.accept(next);
    r.ids.push_back(next);
    all.push_back(next);
    // emit the text difference (decode of the whole sequence keeps SentencePiece spacing right)
    std::string text = tok.decode(all);
    if (text.size() >= prev_text.size() && text.compare(0, prev_text.size(), prev_text) == 0) {
      const std::string piece = text.substr(prev_text.size());
      r.text += piece;
      if (on_piece && !piece.empty()) on_piece(piece);
    } else {
      const std::string piece = tok.token_to_piece(next);
      r.text += piece;
      if (on_piece) on_piece(piece);
    }
    prev_text = std::move(text);
    if (int(all.size()) >= n_ctx) break;
    const BatchToken bt{next, int32_t(all.size()) - 1, 0, true};
    if (auto s = m.forward(std::span(&bt, 1), seqs, st, logits.data()); !s) return std::move(s).take_error();
  }
  r.generate_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace kuai::tools
