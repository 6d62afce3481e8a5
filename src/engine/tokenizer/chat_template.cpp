#include "engine/tokenizer/chat_template.h"

#include <sstream>

namespace kuai::engine {
namespace {

std::string trim(std::string_view s) {
  const char* ws = " \t\n\r";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

bool has(std::string_view s, std::string_view needle) { return s.find(needle) != std::string_view::npos; }

// [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s><s>[INST] user [/INST]
std::string apply_llama2(std::span<const ChatMessage> msgs) {
  std::ostringstream ss;
  std::string system;
  bool first_user = true;
  for (const auto& m : msgs) {
    if (m.role == "system") {
      if (!system.empty()) system.push_back('\n');
      system.append(trim(m.content));
    } else if (m.role == "assistant") {
      ss << ' ' << trim(m.content) << " </s>";
    } else {
      if (!first_user) ss << "<s>";
      ss << "[INST] ";
      if (!system.empty()) {
        ss << "<<SYS>>\n" << system << "\n<</SYS>>\n\n";
        system.clear();
      }
      ss << trim(m.content) << " [/INST]";
      first_user = false;
    }
  }
  if (!system.empty()) ss << "[INST] <<SYS>>\n" << system << "\n<</SYS>>\n\n [/INST]";  // system-only conversation
  return ss.str();
}

std::string apply_llama3(std::span<const ChatMessage> msgs, bool gen) {
  std::ostringstream ss;
  for (const auto& m : msgs)
    ss << "<|start_header_id|>" << m.role << "<|end_header_id|>\n\n" << trim(m.content) << "<|eot_id|>";
  if (gen) ss << "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return ss.str();
}

std::string apply_chatml(std::span<const ChatMessage> msgs, bool gen) {
  std::ostringstream ss;
  for (const auto& m : msgs) ss << "<|im_start|>" << m.role << '\n' << m.content << "<|im_end|>\n";
  if (gen) ss << "<|im_start|>assistant\n";
  return ss.str();
}

std::string apply_tagged(std::span<const ChatMessage> msgs, bool gen, std::string_view end) {
  std::ostringstream ss;
  for (const auto& m : msgs) ss << "<|" << m.role << "|>\n" << m.content << end << '\n';
  if (gen) ss << "<|assistant|>\n";
  return ss.str();
}

std::string apply_raw(std::span<const ChatMessage> msgs) {
  std::string out;
  for (const auto& m : msgs) {
    if (!out.empty()) out += '\n';
    out += m.content;
  }
  return out;
}

}  // namespace

std::optional<ChatTemplateKind> chat_template_from_name(std::string_view name) {
  if (name == "raw") return ChatTemplateKind::Raw;
  if (name == "llama2") return ChatTemplateKind::Llama2;
  if (name == "llama3") return ChatTemplateKind::Llama3;
  if (name == "chatml" || name == "qwen" || name == "qwen2") return ChatTemplateKind::ChatML;
  if (name == "zephyr") return ChatTemplateKind::Zephyr;
  if (name == "phi3") return ChatTemplateKind::Phi3;
  return std::nullopt;
}

std::string_view chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::Raw: return "raw";
    case ChatTemplateKind::Llama2: return "llama2";
    case ChatTemplateKind::Llama3: return "llama3";
    case ChatTemplateKind::ChatML: return "chatml";
    case ChatTemplateKind::Zephyr: return "zephyr";
    case ChatTemplateKind::Phi3: return "phi3";
  }
  return "raw";
}

std::optional<ChatTemplateKind> chat_template_detect(std::string_view t) {
  if (has(t, "<|im_start|>")) return ChatTemplateKind::ChatML;
  if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) return ChatTemplateKind::Llama3;
  if (has(t, "<|user|>") && has(t, "<|end|>")) return ChatTemplateKind::Phi3;
  if (has(t, "<|user|>") || (has(t, "<|assistant|>") && has(t, "eos_token"))) return ChatTemplateKind::Zephyr;
  if (has(t, "[INST]")) return ChatTemplateKind::Llama2;
  return std::nullopt;
}

Result<ChatTemplateKind> chat_template_resolve(const std::optional<std::string>& jinja, std::string_view name) {
  if (!name.empty()) {
    if (auto k = chat_template_from_name(name)) return *k;
    return make_error("unknown chat template '" + std::string(name) + "' (raw, llama2, llama3, chatml, zephyr, phi3)");
  }
  if (jinja) {
    if (auto k = chat_template_detect(*jinja)) return *k;
  }
  return ChatTemplateKind::Raw;
}

std::string chat_template_apply(ChatTemplateKind kind, std::span<const ChatMessage> messages, bool gen) {
  switch (kind) {
    case ChatTemplateKind::Raw: return apply_raw(messages);
    case ChatTemplateKind::Llama2: return apply_llama2(messages);
    case ChatTemplateKind::Llama3: return apply_llama3(messages, gen);
    case ChatTemplateKind::ChatML: return apply_chatml(messages, gen);
    case ChatTemplateKind::Zephyr: return apply_tagged(messages, gen, "</s>");
    case ChatTemplateKind::Phi3: return apply_tagged(messages, gen, "<|end|>");
  }
  return apply_raw(messages);
}

}  // namespace kuai::engine
