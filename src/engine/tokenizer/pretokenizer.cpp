#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/unicode_util.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <utility>

namespace kuai::engine::tok {
namespace {

// The regex sets, by family. Patterns follow each model's tokenizer.json pre-tokenizer (as llama.cpp
// names them); written for PCRE2.
const char* const kGpt2Word = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kCjk = "[一-龥ࠀ-一가-퟿]+";
const char* const kDeepseekLetters =
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝ\\x{1F5F}-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ"
    "\\x{1FBE}ῂ-ῄῆ-ῌ\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ"
    "𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";

struct Family {
  std::vector<std::string_view> names;
  std::vector<std::string> regexes;
};

const std::vector<Family>& families() {
  static const std::vector<Family> table = {
      {{"gpt-2", "mpt", "olmo", "jais", "trillion"}, {kGpt2Word}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "pixtral", "chatglm-bpe", "gpt-4o"}, {kLlama3}},
      {{"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan"}, {kQwen2}},
      {{"deepseek-llm"}, {"[\\r\\n]", kDeepseekLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", kCjk, "\\p{N}+"}},
      {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"}},
      {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2Word, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"}, {"\\p{N}", kGpt2Word}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {" ?[^(\\s|.,!?…。，、।۔،)]+"}},
      {{"viking"}, {" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"}},
      // Generic fallback (no or "default" pre-tokenizer), as llama.cpp does for old GPT-2 style files.
      {{"", "default"}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2Word, "\\p{N}+", "[0-9][0-9][0-9]"}},
  };
  return table;
}

}  // namespace

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::from_regexes(const std::vector<std::string>& regexes) {
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  for (const auto& rx : regexes) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    auto c = std::make_unique<Compiled>();
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rx.data()), rx.size(),
                            PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &err, &err_off,
                            nullptr);
    if (!c->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return make_error("pre-tokenizer regex '" + rx + "' at " + std::to_string(err_off) + ": " +
                        reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is absent
    p->regexes_.push_back(std::move(c));
  }
  return p;
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(std::string_view pre) {
  for (const auto& f : families()) {
    if (std::find(f.names.begin(), f.names.end(), pre) != f.names.end()) return from_regexes(f.regexes);
  }
  return make_error("unknown pre-tokenizer '" + std::string(pre) + "' (tokenizer.ggml.pre)");
}

std::vector<std::string> PreTokenizer::known_names() {
  std::vector<std::string> out;
  for (const auto& f : families())
    for (auto n : f.names)
      if (!n.empty()) out.emplace_back(n);
  return out;
}

namespace {
// A JIT stack per thread, so long inputs with backtracking patterns do not hit the 32 KiB default.
pcre2_match_context* thread_match_context() {
  struct Holder {
    pcre2_match_context* ctx = nullptr;
    pcre2_jit_stack* stack = nullptr;
    Holder() {
      ctx = pcre2_match_context_create(nullptr);
      stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
      if (ctx && stack) pcre2_jit_stack_assign(ctx, nullptr, stack);
    }
    ~Holder() {
      if (stack) pcre2_jit_stack_free(stack);
      if (ctx) pcre2_match_context_free(ctx);
    }
  };
  thread_local Holder h;
  return h.ctx;
}
}  // namespace

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (!text.empty()) pieces.push_back(text);
  pcre2_match_context* mctx = thread_match_context();
  for (const auto& rx : regexes_) {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(rx->code, nullptr);
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t start = 0;      // where unmatched text begins
      size_t search = 0;     // where to search from
      while (search <= piece.size()) {
        const int rc = pcre2_match(rx->code, subject, piece.size(), search, 0, md, mctx);
        if (rc < 0) break;  // no match (or a match error: keep the rest whole)
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t m_begin = ov[0], m_end = ov[1];
        if (m_end == m_begin) {  // empty match: step one code point on
          search = m_end + (m_end < piece.size() ? utf8_len(static_cast<uint8_t>(piece[m_end])) : 1);
          continue;
        }
        if (m_begin > start) next.push_back(piece.substr(start, m_begin - start));
        next.push_back(piece.substr(m_begin, m_end - m_begin));
        start = search = m_end;
      }
      if (start < piece.size()) next.push_back(piece.substr(start));
    }
    pcre2_match_data_free(md);
    pieces = std::move(next);
  }
  return pieces;
}

}  // namespace kuai::engine::tok
