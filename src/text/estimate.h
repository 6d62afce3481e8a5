// The token ESTIMATE used when no tokenizer is known for a model (docs/ARCHITECTURE.md, "Token
// estimate"). One pass over the code points, no ICU, no allocation:
//   - each CJK character (Han, kana, hangul)                        → 1 token
//   - each run of Latin letters of n code points (a word)           → 1 + (n - 1) / 6 tokens
//   - each run of other-script letters (Cyrillic, Arabic, …), n     → 1 + (n - 1) / 3 tokens
//   - each run of digits of n code points                           → ceil(n / 3) tokens
//   - each punctuation mark or symbol (ASCII or not, incl. ，。)      → 1 token
//   - whitespace                                                    → 0 (merged with the next word)
// Measured against real vocabularies (tests/stages/token_counter_test.cpp): English prose within ~15%
// (Llama-2 SPM 0.96×, DeepSeek BPE 1.14×). Chinese depends on the vocabulary: real tokenizers spend
// from ~0.6 (DeepSeek/Qwen-style BPE) to ~1.5 (Llama-2 SPM, byte fallback) tokens per character; one
// per character sits between. Used for budgets (window) and reports (tokens saved) when no tokenizer is
// known, never for billing. Each invalid UTF-8 byte counts as one symbol.
// Pure; any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace kuai::text {

int64_t estimate_tokens(std::string_view utf8);

}  // namespace kuai::text
