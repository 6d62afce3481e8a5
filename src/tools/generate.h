// Text generation with one sequence: tokenize, prefill the prompt in one batch, then decode token by
// token with a Sampler until n tokens or an end-of-generation token. Used by `kuai generate` and tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf/result.h"
#include "engine/sample/sampler.h"

namespace kuai::engine {
class GgufFile;
class ThreadPool;
class Tokenizer;
}  // namespace kuai::engine
namespace kuai::engine::model {
class LlamaModel;
}

namespace kuai::tools {

// A model file opened once, with its weights and its tokenizer.
struct LoadedModel {
  std::shared_ptr<const engine::GgufFile> file;
  std::unique_ptr<engine::model::LlamaModel> model;
  std::unique_ptr<engine::Tokenizer> tokenizer;
  LoadedModel();
  LoadedModel(LoadedModel&&) noexcept;
  ~LoadedModel();
};
engine::Result<LoadedModel> load_model(const std::string& path);

struct GenerateOptions {
  int n_predict = 64;        // tokens to generate at most
  int n_ctx = 0;             // KV capacity; 0: prompt + n_predict (capped by the model's context length)
  engine::sample::SamplerParams sampling;
  bool stop_at_eog = true;
};

struct GenerateResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> ids;  // generated
  std::string text;          // generated text
  double prompt_seconds = 0, generate_seconds = 0;
};

// on_piece(text) is called with each generated token's text as soon as it exists.
engine::Result<GenerateResult> generate(const LoadedModel& lm, const std::string& prompt, const GenerateOptions& opt,
                                        engine::ThreadPool& pool,
                                        const std::function<void(const std::string&)>& on_piece = {});

}  // namespace kuai::tools
