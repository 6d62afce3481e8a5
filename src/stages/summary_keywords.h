// The `keywords` summary of the summarize stage: key phrases of the dropped turns, no model. Words come
// from ICU segmentation (text/segment.h: dictionary words for Chinese), normalised (NFKC + case fold),
// stop words and one-character CJK words removed; they are ranked by TextRank (PageRank over a
// co-occurrence graph, window 4, damping 0.85, 30 iterations) and adjacent top words are merged into
// phrases ("borrow checker", "北京烤鸭"). Deterministic for a given input. Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kuai::stages {

struct KeyPhrase {
  std::string text;
  double score = 0;
};

// The best `max_phrases` key phrases of `texts`, best first.
std::vector<KeyPhrase> key_phrases(const std::vector<std::string_view>& texts, size_t max_phrases);

// The summary message text: a one-line lead ("Earlier conversation, key points:" or, for mostly
// Chinese text, "此前对话要点：") and the phrases joined.
std::string keyword_summary(const std::vector<std::string_view>& texts, size_t max_phrases);

}  // namespace kuai::stages
