// WordPiece encoding ("bert" vocabs, as in GGUF: word-initial pieces carry a ▁ prefix, continuation pieces
// are stored without "##"). Normalisation follows BERT's uncased tokenizer: drop control characters,
// split on whitespace, NFD + strip accents (Mn), lower-case, and make each punctuation mark, ASCII symbol
// and CJK ideograph a word of its own. Each word is then covered greedily by the longest vocab pieces;
// a word with no full cover becomes the unknown token.
#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/unicode_util.h"

#include <utf8proc.h>

namespace kuai::engine {
namespace {

bool is_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::vector<std::string> preprocess(std::string_view text) {
  std::vector<std::string> words(1);
  auto finish = [&] {
    if (!words.back().empty()) words.emplace_back();
  };
  size_t i = 0;
  while (i < text.size()) {
    const uint32_t cp0 = tok::utf8_next(text, i);
    utf8proc_int32_t decomposed[8];
    utf8proc_int32_t last = 0;
    const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp0), decomposed, 8, UTF8PROC_DECOMPOSE, &last);
    if (n < 0 || n > 8) continue;
    for (utf8proc_ssize_t k = 0; k < n; ++k) {
      const auto cp = static_cast<uint32_t>(decomposed[k]);
      const utf8proc_category_t cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
      const bool space = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cat == UTF8PROC_CATEGORY_ZS;
      if (space) {
        finish();
        continue;
      }
      if (cp == 0 || cp == 0xFFFD || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
          cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS)
        continue;
      if (cat == UTF8PROC_CATEGORY_MN) continue;  // accents, after NFD
      std::string s;
      tok::utf8_append(s, static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
      const bool punct = (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO) ||
                         (cp < 0x7F && cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO);
      if (punct || is_cjk(cp)) {
        finish();
        words.back() = s;
        words.emplace_back();
      } else {
        words.back() += s;
      }
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

}  // namespace

void wordpiece_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>& out) {
  for (const std::string& word : preprocess(text)) {
    std::string w("\xE2\x96\x81");
    w.append(word);
    const size_t start = out.size();
    bool ok = true;
    for (size_t i = 0; i < w.size() && ok;) {
      ok = false;
      for (size_t j = std::min(w.size(), i + v.max_token_bytes); j > i; --j) {
        const TokenId id = v.lookup(std::string_view(w).substr(i, j - i));
        if (id != kNoToken) {
          out.push_back(id);
          i = j;
          ok = true;
          break;
        }
      }
    }
    if (!ok) {
      out.resize(start);
      if (v.unk != kNoToken) out.push_back(v.unk);
    }
  }
}

}  // namespace kuai::engine
