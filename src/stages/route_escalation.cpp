#include "stages/route_escalation.h"

#include "stages/route_intent.h"

#include <algorithm>
#include <cmath>

namespace kuai::stages::route {
namespace {

constexpr size_t kRefusalScanBytes = 200;

// Lowercase; apostrophes normalised (’ → ') so "I’m sorry" matches too.
constexpr std::string_view kRefusals[] = {
    "i'm sorry, but i can",   "i am sorry, but i can", "i'm sorry, i can't",    "sorry, i can't",
    "i cannot help",          "i can't help",          "i can't assist",        "i cannot assist",
    "i'm unable to",          "i am unable to",        "i won't be able to",    "as an ai",
    "i cannot provide",       "i can't provide",       "i'm not able to",       "i am not able to",
    "抱歉，我无法",            "抱歉，我不能",            "对不起，我无法",          "对不起，我不能",
    "我无法回答",              "我不能回答",              "我无法提供",              "作为一个ai",
    "作为ai",                 "作为人工智能",            "很抱歉，我",
};

std::string normalise(std::string_view s) {
  s = s.substr(0, std::min(s.size(), kRefusalScanBytes));
  std::string out;
  out.reserve(s.size());
  constexpr std::string_view kRightQuote = "\xE2\x80\x99";
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.substr(i, kRightQuote.size()) == kRightQuote) {
      out += '\'';
      i += kRightQuote.size() - 1;
    } else {
      char c = s[i];
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> check_answer(std::string_view answer, std::string_view finish_reason,
                                        int64_t question_tokens, int64_t answer_tokens,
                                        const EscalationPolicy& policy) {
  if (finish_reason == "content_filter") return "filtered";
  if (answer.find_first_not_of(" \t\r\n") == std::string_view::npos) return "empty";
  const std::string head = normalise(answer);
  for (std::string_view phrase : kRefusals)
    if (head.find(phrase) != std::string::npos) return "refusal";
  for (const auto& phrase : policy.refusals)
    if (!phrase.empty() && head.find(ascii_lower(phrase)) != std::string::npos) return "refusal";
  const auto wanted = static_cast<int64_t>(std::ceil(policy.min_ratio * static_cast<double>(question_tokens)));
  const int64_t required = std::max(policy.min_tokens, std::min(wanted, policy.max_required));
  if (answer_tokens < required) return "short";
  return std::nullopt;
}

}  // namespace kuai::stages::route
