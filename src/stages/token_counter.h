// The gateway's pipeline::TokenCounter: per public model, a tokenizer loaded from a GGUF file named in
// config (`stages.window.tokenizers.<model>: path`, vocab-only GGUF files work), otherwise the model
// file's own tokenizer for local models (`engine.models`), otherwise the documented per-script estimate
// (text/estimate.h). The tokenizers come from a TokenizerLoader: the app wires the engine's
// (src/app/token_counter.cpp), so this layer never includes the engine. The app builds one counter and
// the gateway lends it to every stage through Services::tokens (Services::count_tokens).
// Thread-safety: built once, then count() from any thread (tokenizers are read-only after load).
#pragma once

#include "pipeline/services.h"

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace YAML { class Node; }

namespace kuai::stages {

// Counts one model's tokens (of plain text: no BOS/EOS); the app implements it over the engine's tokenizer.
class ModelTokenizer {
 public:
  virtual ~ModelTokenizer() = default;
  virtual int64_t count(std::string_view text) const = 0;
};

// Loads a tokenizer from a GGUF file; nullptr with `error` set when the file cannot be used.
using TokenizerLoader = std::function<std::unique_ptr<ModelTokenizer>(const std::string& path, std::string& error)>;

class DefaultTokenCounter : public pipeline::TokenCounter {
 public:
  DefaultTokenCounter() = default;
  // `tokenizers`: a map public model name → GGUF path (may be undefined). Returns nullptr and sets
  // `error` when a named file cannot be loaded (a config error is better than silent estimates).
  static std::unique_ptr<DefaultTokenCounter> from_config(const YAML::Node& tokenizers, const TokenizerLoader& load,
                                                          std::string& error);
  // Same, plus the embedded engine's local models (`engine.models`: name → model GGUF), whose own
  // tokenizer counts their tokens unless `tokenizers` names another file. A local model file that
  // cannot be read is skipped here (the engine reports it when it loads the model).
  static std::unique_ptr<DefaultTokenCounter> from_config(const YAML::Node& tokenizers, const YAML::Node& engine_models,
                                                          const TokenizerLoader& load, std::string& error);

  void set_tokenizer(std::string public_model, std::unique_ptr<ModelTokenizer> tokenizer);
  int64_t count(std::string_view public_model, std::string_view text) const override;
  // True when `public_model` is counted by a real tokenizer, not the estimate.
  bool exact(std::string_view public_model) const;

 private:
  std::map<std::string, std::unique_ptr<ModelTokenizer>, std::less<>> tokenizers_;
};

}  // namespace kuai::stages
