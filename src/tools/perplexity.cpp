#include "tools/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"

namespace kuai::tools {

using namespace engine::model;

engine::Result<PerplexityResult> perplexity(const LlamaModel& model, std::span<const int32_t> tokens, int n_ctx,
                                            engine::ThreadPool& pool, const std::function<void(double)>& progress) {
  const int n = int(tokens.size());
  if (n_ctx < 4) return engine::make_error("context must be at least 4 tokens");
  if (n < 2) return engine::make_error("the text has fewer than 2 tokens");
  n_ctx = std::min(n_ctx, n);
  const int stride = n_ctx / 2;
  const int n_vocab = model.hparams().n_vocab;
  ForwardState st(pool);
  std::vector<float> logits(size_t(n_ctx) * size_t(n_vocab));
  PerplexityResult r;
  double nll = 0;
  int scored_until = 0;  // tokens [1, scored_until) are scored
  for (int start = 0;; start += stride) {
    const int end = std::min(n, start + n_ctx);
    auto kv = model.make_kv_cache(n_ctx);
    SequenceKv* seqs[] = {kv.get()};
    std::vector<BatchToken> batch;
    for (int i = start; i < end; ++i) batch.push_back({tokens[size_t(i)], i - start, 0, true});
    if (auto s = model.forward(batch, seqs, st, logits.data()); !s) return std::move(s).take_error();
    const int first = std::max(start + 1, scored_until);
    for (int i = first; i < end; ++i) {
      const float* l = logits.data() + size_t(i - 1 - start) * size_t(n_vocab);
      const float max = *std::max_element(l, l + n_vocab);
      double sum = 0;
      for (int v = 0; v < n_vocab; ++v) sum += std::exp(double(l[v] - max));
      nll += -(double(l[tokens[size_t(i)]] - max) - std::log(sum));
      ++r.n_scored;
    }
    scored_until = end;
    ++r.n_windows;
    if (progress) progress(double(end) / double(n));
    if (end >= n) break;
  }
  r.mean_nll = nll / double(r.n_scored);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

}  // namespace kuai::tools
