// Splitting documents for the extract stage, on paragraph and sentence boundaries, English and Chinese.
//  - a paragraph ends at a blank line;
//  - a sentence ends after . ! ? followed by whitespace (English), after 。！？；… (Chinese, no space
//    needed; closing quotes/brackets stay with the sentence), or at a line break;
//  - sentences are packed greedily into chunks of at most `max_tokens` (token estimate or the target
//    model's counter); a chunk never takes the first sentence of a new paragraph when the paragraph
//    would not fit, and a single sentence longer than `max_tokens` is cut on code-point boundaries.
// Concatenating the chunks gives the input back exactly.
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::stages::extract {

using TokenFn = std::function<int64_t(std::string_view)>;

struct Sentence {
  std::string_view text;     // the sentence and the whitespace after it
  bool starts_paragraph = false;
};

std::vector<Sentence> split_sentences(std::string_view text);
std::vector<std::string> chunk_text(std::string_view text, int64_t max_tokens, const TokenFn& tokens);

// A long user message seen as document + question: the question is the last paragraph (or the first,
// when it introduces the rest: ends with ':' '：' or '?' '？'), when it has at most `max_question_tokens`
// and the rest is larger. `found` is false when no such split exists.
struct DocumentAndQuestion {
  bool found = false;
  std::string document;
  std::string question;
  bool question_first = false;
};
DocumentAndQuestion split_question(std::string_view message, int64_t max_question_tokens, const TokenFn& tokens);

}  // namespace kuai::stages::extract
