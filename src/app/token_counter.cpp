#include "app/token_counter.h"

#include "config/config.h"
#include "engine/tokenizer/tokenizer_file.h"

namespace kuai::app {
namespace {

class EngineTokenizer final : public stages::ModelTokenizer {
 public:
  explicit EngineTokenizer(std::unique_ptr<engine::TokenizerFile> file) : file_(std::move(file)) {}
  int64_t count(std::string_view text) const override { return file_->count_text(text); }

 private:
  std::unique_ptr<engine::TokenizerFile> file_;
};

}  // namespace

stages::TokenizerLoader engine_tokenizer_loader() {
  return [](const std::string& path, std::string& error) -> std::unique_ptr<stages::ModelTokenizer> {
    auto file = engine::TokenizerFile::open(path);
    if (!file) {
      error = file.error();
      return nullptr;
    }
    return std::make_unique<EngineTokenizer>(std::move(file).value());
  };
}

std::unique_ptr<pipeline::TokenCounter> make_token_counter(const config::Config& cfg, std::string& error) {
  return stages::DefaultTokenCounter::from_config(cfg.at("stages.window.tokenizers"), cfg.at("engine.models"),
                                                  engine_tokenizer_loader(), error);
}

}  // namespace kuai::app
