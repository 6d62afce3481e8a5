// The correctness anchor: greedy generation on stories260K must equal llama2.c's reference ids token for
// token, and the logits at positions 0-4 must be within 1e-4 of the reference (float32 weights).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "engine/model/stories_reference.h"

namespace kuai::engine::model {
namespace {

void check_reference(const std::string& model_path, const std::string& stem, int n_threads) {
  const auto ref = test::load_stories_reference(stem);
  ASSERT_FALSE(ref.tokens.empty()) << "reference " << stem << " not readable";
  auto model = LlamaModel::load(model_path);
  ASSERT_TRUE(model.ok()) << model.error();
  const Hparams& h = (*model)->hparams();
  ASSERT_EQ(h.n_vocab, 512);
  ThreadPool pool(n_threads);
  ForwardState st(pool);
  auto kv = (*model)->make_kv_cache(256);
  SequenceKv* seqs[] = {kv.get()};

  // prefill the prompt in one batch (all positions output, to compare logits), then decode one by one
  const int n_prompt = int(ref.prompt_tokens.size());
  std::vector<BatchToken> batch;
  for (int p = 0; p < n_prompt; ++p) batch.push_back({ref.prompt_tokens[size_t(p)], p, 0, true});
  std::vector<float> logits(size_t(n_prompt) * 512);
  ASSERT_TRUE((*model)->forward(batch, seqs, st, logits.data()).ok());
  std::vector<std::vector<float>> all_logits;
  for (int p = 0; p < n_prompt; ++p) all_logits.emplace_back(logits.begin() + p * 512, logits.begin() + (p + 1) * 512);

  std::vector<int32_t> tokens(ref.prompt_tokens.begin(), ref.prompt_tokens.end());
  auto argmax = [](const std::vector<float>& l) {
    int best = 0;
    for (int i = 1; i < int(l.size()); ++i)
      if (l[size_t(i)] > l[size_t(best)]) best = i;
    return best;
  };
  for (int pos = n_prompt - 1; pos < 100; ++pos) {
    if (pos >= n_prompt) {
      std::vector<float> l(512);
      const BatchToken bt{tokens[size_t(pos)], pos, 0, true};
      ASSERT_TRUE((*model)->forward(std::span(&bt, 1), seqs, st, l.data()).ok());
      all_logits.push_back(l);
    }
    tokens.push_back(argmax(all_logits[size_t(pos)]));
  }
  ASSERT_EQ(tokens.size(), ref.tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_EQ(tokens[i], ref.tokens[i]) << stem << " position " << i;
  for (size_t p = 0; p < ref.logits_first5.size(); ++p)
    for (size_t i = 0; i < 512; ++i)
      ASSERT_NEAR(all_logits[p][i], ref.logits_first5[p][i], 1e-4) << stem << " pos " << p << " id " << i;
}

TEST(Stories260K, GreedyMatchesReferenceFromGguf) {
  const std::string model = test::shared_dir() + "/models/stories260K/stories260K.gguf";
  check_reference(model, "greedy_once_upon_a_time", 1);
  check_reference(model, "greedy_lily_and_tom", 2);
  check_reference(model, "greedy_empty_prompt", 2);
}

}  // namespace
}  // namespace kuai::engine::model
