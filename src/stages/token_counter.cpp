#include "stages/token_counter.h"

#include "text/estimate.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

namespace kuai::stages {

std::unique_ptr<DefaultTokenCounter> DefaultTokenCounter::from_config(const YAML::Node& tokenizers, const TokenizerLoader& load,
                                                                     std::string& error) {
  auto counter = std::make_unique<DefaultTokenCounter>();
  if (!tokenizers || tokenizers.IsNull()) return counter;
  if (!tokenizers.IsMap()) {
    error = "tokenizers must be a map of model name to GGUF tokenizer file";
    return nullptr;
  }
  for (const auto& kv : tokenizers) {
    std::string model = kv.first.as<std::string>("");
    std::string path = kv.second.as<std::string>("");
    if (model.empty() || path.empty()) {
      error = "tokenizers: every entry needs a model name and a file path";
      return nullptr;
    }
    std::string why;
    auto tok = load(path, why);
    if (!tok) {
      error = "tokenizer for model '" + model + "' (" + path + "): " + why;
      return nullptr;
    }
    counter->set_tokenizer(std::move(model), std::move(tok));
  }
  return counter;
}

std::unique_ptr<DefaultTokenCounter> DefaultTokenCounter::from_config(const YAML::Node& tokenizers,
                                                                     const YAML::Node& engine_models,
                                                                     const TokenizerLoader& load, std::string& error) {
  auto counter = from_config(tokenizers, load, error);
  if (!counter || !engine_models || !engine_models.IsMap()) return counter;
  for (const auto& kv : engine_models) {
    std::string model = kv.first.as<std::string>("");
    std::string path = kv.second.IsScalar() ? kv.second.as<std::string>("") : kv.second["path"].as<std::string>("");
    if (model.empty() || path.empty() || counter->exact(model)) continue;
    std::string why;
    if (auto tok = load(path, why)) counter->set_tokenizer(std::move(model), std::move(tok));
    else spdlog::warn("token counter: local model '{}' ({}): {}; using the estimate", model, path, why);
  }
  return counter;
}

void DefaultTokenCounter::set_tokenizer(std::string public_model, std::unique_ptr<ModelTokenizer> tokenizer) {
  tokenizers_[std::move(public_model)] = std::move(tokenizer);
}

int64_t DefaultTokenCounter::count(std::string_view public_model, std::string_view text) const {
  auto it = tokenizers_.find(public_model);
  if (it != tokenizers_.end()) return it->second->count(text);
  return text::estimate_tokens(text);
}

bool DefaultTokenCounter::exact(std::string_view public_model) const {
  return tokenizers_.find(public_model) != tokenizers_.end();
}

}  // namespace kuai::stages
