#include "upstream/local_text.h"

#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "text/utf8.h"

#include <algorithm>

namespace kuai::upstream {

namespace {

// Bytes at the end of `s` that start an incomplete UTF-8 sequence (0 when it ends on a whole character).
size_t incomplete_utf8_tail(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

TextAssembler::TextAssembler(const engine::Tokenizer& tok, std::vector<std::string> stop) : tok_(tok) {
  for (auto& s : stop) {
    if (s.empty()) continue;
    hold_ = std::max(hold_, s.size() - 1);
    stop_.push_back(std::move(s));
  }
}

void TextAssembler::add(int32_t token) {
  if (stopped_) return;
  ++n_tokens_;
  text_ += tok_.token_to_piece(token);
  if (stop_.empty()) return;
  // Search only where a new match can be: from hold_ bytes before what was there already.
  size_t best = std::string::npos;
  for (const auto& s : stop_) {
    const size_t from = taken_ > s.size() ? taken_ - s.size() : 0;
    const size_t at = text_.find(s, from);
    if (at != std::string::npos) best = std::min(best, at);
  }
  if (best != std::string::npos) {
    text_.resize(std::max(best, taken_));
    stopped_ = true;
  }
}

std::string TextAssembler::take_ready() {
  size_t end = text_.size();
  if (!stopped_) end = end > hold_ ? end - hold_ : 0;
  if (end <= taken_) return {};
  std::string prefix = text_.substr(0, end);
  end -= incomplete_utf8_tail(prefix);
  if (end <= taken_) return {};
  std::string out = text::utf8_sanitize(std::string_view(text_).substr(taken_, end - taken_));
  taken_ = end;
  return out;
}

std::string TextAssembler::take_all() {
  std::string out = text::utf8_sanitize(std::string_view(text_).substr(std::min(taken_, text_.size())));
  taken_ = text_.size();
  return out;
}

std::optional<engine::ChatTemplateKind> resolve_chat_template(const engine::Tokenizer& tok,
                                                              const std::string& template_override,
                                                              std::string* error) {
  if (!template_override.empty()) {
    if (auto k = engine::chat_template_from_name(template_override)) return k;
    if (auto k = engine::chat_template_detect(template_override)) return k;
    if (error) *error = "unknown chat template '" + template_override.substr(0, 60) +
                        "' (names: raw, llama2, llama3, chatml, zephyr, phi3, or a recognisable Jinja template)";
    return std::nullopt;
  }
  auto k = engine::chat_template_resolve(tok.chat_template());
  if (!k.ok()) {
    if (error) *error = k.error();
    return std::nullopt;
  }
  return *k;
}

std::string render_chat(const engine::Tokenizer& tok, const std::vector<api::Message>& messages,
                        const std::string& template_override) {
  const auto kind = resolve_chat_template(tok, template_override, nullptr).value_or(engine::ChatTemplateKind::Raw);
  std::vector<engine::ChatMessage> msgs;
  msgs.reserve(messages.size());
  for (const auto& m : messages) msgs.push_back({m.role, m.content});
  return engine::chat_template_apply(kind, msgs, true);
}

}  // namespace kuai::upstream
