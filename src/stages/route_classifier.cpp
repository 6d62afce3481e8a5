#include "stages/route_classifier.h"

#include "pipeline/services.h"
#include "text/utf8.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace kuai::stages::route {
namespace {

// Chinese (and a few English) names a model may use instead of the configured label.
const std::map<std::string_view, std::string_view>& label_aliases() {
  static const std::map<std::string_view, std::string_view> aliases = {
      {"问候", "greeting"},   {"打招呼", "greeting"}, {"寒暄", "greeting"},    {"greet", "greeting"},
      {"天气", "weather"},    {"提取", "extraction"}, {"抽取", "extraction"},  {"信息提取", "extraction"},
      {"extract", "extraction"}, {"翻译", "translation"}, {"translate", "translation"},
      {"其他", "other"},      {"其它", "other"},      {"none", "other"},
  };
  return aliases;
}

bool is_word_byte(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Positions of `needle` in `hay` as a whole ASCII word (or as a substring for non-ASCII needles).
size_t find_word(std::string_view hay, std::string_view needle) {
  bool ascii = std::all_of(needle.begin(), needle.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  for (size_t pos = hay.find(needle); pos != std::string_view::npos; pos = hay.find(needle, pos + 1)) {
    if (!ascii) return pos;
    size_t end = pos + needle.size();
    if ((pos == 0 || !is_word_byte(hay[pos - 1])) && (end >= hay.size() || !is_word_byte(hay[end]))) return pos;
  }
  return std::string_view::npos;
}

std::string strip_decoration(std::string_view s) {
  std::string out = ascii_lower(s);
  // Drop markdown and quoting characters; keep letters, digits, '_' and non-ASCII bytes.
  std::string kept;
  for (char c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80 || is_word_byte(c) || c == ' ' || c == ':' || c == '\n') kept += c;
    else kept += ' ';
  }
  // Trim, and drop a leading "label:" / "intent:" / "answer:" prefix.
  auto trim = [](std::string& t) {
    size_t b = t.find_first_not_of(" \n");
    size_t e = t.find_last_not_of(" \n");
    t = b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  };
  trim(kept);
  for (std::string_view prefix : {"label:", "intent:", "answer:", "category:", "标签:", "类别:"}) {
    if (kept.rfind(prefix, 0) == 0) {
      kept = kept.substr(prefix.size());
      trim(kept);
    }
  }
  // A trailing full stop of Chinese ("。") is non-ASCII; strip the common closers.
  for (std::string_view closer : {"。", "！", "，"}) {
    while (kept.size() >= closer.size() && kept.compare(kept.size() - closer.size(), closer.size(), closer) == 0) {
      kept.resize(kept.size() - closer.size());
      trim(kept);
    }
  }
  return kept;
}

}  // namespace

api::ChatRequest classifier_request(const std::string& model, const std::vector<std::string>& labels,
                                    std::string_view query, const ClassifierPrompt& prompt) {
  std::string list;
  for (const auto& l : labels) list += (list.empty() ? "" : ", ") + l;
  std::string system = prompt.system;
  for (size_t pos = system.find("{labels}"); pos != std::string::npos; pos = system.find("{labels}", pos + list.size()))
    system.replace(pos, 8, list);
  if (query.size() > prompt.max_query_chars) query = query.substr(0, text::utf8_floor(query, prompt.max_query_chars));

  return pipeline::instruction_request(model, std::move(system), std::string(query), prompt.max_tokens);
}

std::optional<IntentGuess> parse_classifier_answer(std::string_view answer, const std::vector<std::string>& labels) {
  const std::string cleaned = strip_decoration(answer);
  if (cleaned.empty()) return std::nullopt;
  auto canonical = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& l : labels)
      if (ascii_lower(l) == name) return l;
    auto it = label_aliases().find(name);
    if (it != label_aliases().end())
      for (const auto& l : labels)
        if (ascii_lower(l) == it->second) return l;
    return std::nullopt;
  };
  if (auto exact = canonical(cleaned)) return IntentGuess{*exact, 0.9};

  // Otherwise: the labels (and aliases) the answer names as words; exactly one distinct label is accepted.
  std::optional<std::string> found;
  auto consider = [&](std::string_view name) -> bool {
    if (find_word(cleaned, name) == std::string_view::npos) return true;
    auto label = canonical(name);
    if (!label) return true;
    if (found && *found != *label) return false;  // two different labels: ambiguous
    found = *label;
    return true;
  };
  for (const auto& l : labels)
    if (!consider(ascii_lower(l))) return std::nullopt;
  for (const auto& [alias, _] : label_aliases())
    if (!consider(alias)) return std::nullopt;
  if (!found) return std::nullopt;
  return IntentGuess{*found, 0.7};
}

}  // namespace kuai::stages::route
