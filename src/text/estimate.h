// The token ESTIMATE used when no tokenizer is known for a model (docs/ARCHITECTURE.md, "Token
// estimate"). One pass over the code points, no ICU, no allocation:
//   - each CJK character (Han, kana, hangul)                        → 1 token
//   - each run of Latin letters of n code points (a word)           → 1 + (n - 1) / 6 tokens
//   - each run of other-script letters (Cyrillic, Arabic, …), n     → 1 + (n - 1) / 3 tokens
//   - each run of digits of n code points                           → ceil(n / 3) tokens
//   - each punctuation mark or symbol (ASCII or not, incl. ，。)      → 1 token
//   - whitespace                                                    → 0 (merged with the next word)
// Calibrated against BPE tokenizers of the llama/qwen family: within ~±25% on English prose and
// ~±30% on Chinese prose. Used for budgets (window) and reports (tokens saved), never for billing.
// Pure; any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace kuai::text {

int64_t estimate_tokens(std::string_view utf8);

}  // namespace kuai::text
