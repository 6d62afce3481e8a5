// `kuai perplexity`: perplexity of a model on a token sequence with a sliding window of n_ctx tokens
// moved by n_ctx / 2: the first window scores every token after its first, each later window scores
// only its second half (so every scored token sees at least n_ctx / 2 tokens of context). Each window
// is one prefill batch (matrix-matrix), its own fresh KV cache.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "engine/gguf/result.h"

namespace kuai::engine {
class ThreadPool;
}
namespace kuai::engine::model {
class LlamaModel;
}

namespace kuai::tools {

struct PerplexityResult {
  double perplexity = 0;
  double mean_nll = 0;     // nats per scored token
  int64_t n_scored = 0;
  int n_windows = 0;
};

// tokens: the text's ids (a BOS first if the model wants one). progress(fraction) after each window.
engine::Result<PerplexityResult> perplexity(const engine::model::LlamaModel& model, std::span<const int32_t> tokens,
                                            int n_ctx, engine::ThreadPool& pool,
                                            const std::function<void(double)>& progress = {});

}  // namespace kuai::tools
