// The gateway's token counter, wired by the app: stages::DefaultTokenCounter (config
// `stages.window.tokenizers`, local models' own files from `engine.models`, else the estimate) over
// the engine's tokenizers (engine::TokenizerFile). The gateway lends it to every stage
// (pipeline::Services::tokens); this is the one place where the gateway's counting meets the engine.
#pragma once

#include "pipeline/services.h"
#include "stages/token_counter.h"

#include <memory>
#include <string>

namespace kuai::config { class Config; }

namespace kuai::app {

// Loads a GGUF file's tokenizer with the engine.
stages::TokenizerLoader engine_tokenizer_loader();

// The counter for `cfg`; nullptr with `error` set when a file named in `stages.window.tokenizers`
// cannot be used (a local model's unreadable file only falls back to the estimate, with a warning).
std::unique_ptr<pipeline::TokenCounter> make_token_counter(const config::Config& cfg, std::string& error);

}  // namespace kuai::app
