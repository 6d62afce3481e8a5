// Chat templates: render a conversation of (role, content) messages into the prompt text a chat model was
// trained on. The families are built in (no Jinja interpreter): llama2 ([INST]), llama3 (header ids),
// chatml (<|im_start|>, Qwen), zephyr (<|user|> … </s>), phi3 (<|user|> … <|end|>) and raw (contents
// joined by newlines, for base models). The family comes from a name (config) or is recognised in the
// model's tokenizer.chat_template by its markers.
//
// The rendered text contains the special-token text (<|im_start|>, </s> …): tokenize it with
// parse_special = true and add_special = true (the BOS comes from the tokenizer, not from the text).
// Pure functions; thread-safe.
#pragma once

#include "engine/gguf/result.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::engine {

enum class ChatTemplateKind { Raw, Llama2, Llama3, ChatML, Zephyr, Phi3 };

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" (other roles are rendered like "user" where a family has no slot)
  std::string content;
};

// "raw", "llama2", "llama3", "chatml" (alias "qwen"), "zephyr", "phi3"; nullopt for anything else.
std::optional<ChatTemplateKind> chat_template_from_name(std::string_view name);
std::string_view chat_template_name(ChatTemplateKind kind);
// Recognises a Jinja chat template by its markers; nullopt when none matches.
std::optional<ChatTemplateKind> chat_template_detect(std::string_view jinja);
// The family to use: `name` when given (error if unknown), else detected from `jinja`, else Raw.
Result<ChatTemplateKind> chat_template_resolve(const std::optional<std::string>& jinja, std::string_view name = {});

// Renders the messages; with add_generation_prompt the text ends where the assistant's reply begins.
std::string chat_template_apply(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                                bool add_generation_prompt = true);

}  // namespace kuai::engine
