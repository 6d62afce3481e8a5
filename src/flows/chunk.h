// Splits a text into chunks of at most `max_tokens` tokens (text::estimate_tokens), cutting at sentence
// ends (. ! ? 。！？ followed by a space, or a line break) so a chunk never ends mid-sentence unless a
// single sentence is longer than a chunk (it is then cut at a word). Pure; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::flows {

std::vector<std::string> chunk_text(std::string_view text, int64_t max_tokens);
// The sentences of a text, in order (each keeps its end mark and trailing space).
std::vector<std::string_view> split_sentences(std::string_view text);

}  // namespace kuai::flows
