// Text side of the LocalBackend: generated token ids → the text a client sees (whole UTF-8 characters
// only, stop strings cut out; byte tokens that form no character, as a small or random model emits
// them, become U+FFFD: a response is valid UTF-8, so valid JSON), and chat messages → the prompt text (the model's chat template).
// Threads: a TextAssembler belongs to one request.
#pragma once

#include "api/chat.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kuai::engine {
class Tokenizer;
enum class ChatTemplateKind;
}  // namespace kuai::engine

namespace kuai::upstream {

class TextAssembler {
 public:
  TextAssembler(const engine::Tokenizer& tok, std::vector<std::string> stop);
  void add(int32_t token);
  // Text that is now safe to show: complete UTF-8 characters that cannot be the start of a stop string.
  std::string take_ready();
  // Everything not yet taken (at the end of generation), up to a stop string if one was seen; an
  // unfinished character at the end becomes U+FFFD.
  std::string take_all();
  bool stopped() const { return stopped_; }  // a stop string appeared: the rest is dropped
  int64_t n_tokens() const { return n_tokens_; }

 private:
  const engine::Tokenizer& tok_;
  std::vector<std::string> stop_;
  size_t hold_ = 0;      // longest stop string - 1: bytes kept back in case a stop string is forming
  std::string text_;     // generated text so far
  size_t taken_ = 0;     // bytes of text_ already handed out
  bool stopped_ = false;
  int64_t n_tokens_ = 0;
};

// The chat template family: `template_override` (a family name or Jinja text) when set, else the one
// recognised in the model's tokenizer.chat_template, else raw. nullopt (and `error`) for a bad override.
std::optional<engine::ChatTemplateKind> resolve_chat_template(const engine::Tokenizer& tok,
                                                              const std::string& template_override,
                                                              std::string* error);

// The prompt for chat messages, rendered with resolve_chat_template's family (raw when it fails: the
// messages' contents one per line). Contains special-token text: tokenize with parse_special.
std::string render_chat(const engine::Tokenizer& tok, const std::vector<api::Message>& messages,
                        const std::string& template_override);

}  // namespace kuai::upstream
