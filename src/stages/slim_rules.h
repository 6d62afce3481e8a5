// The text rules of the `slim` stage (pure, no gateway types): remove listed courtesy/filler phrases
// (English and Chinese), courtesy sentences and clauses found by the lexicon classifier
// (slim_courtesy.h), repeated lines and paragraphs, decorative rule lines, and runs of whitespace.
// What is never touched: fenced (``` / ~~~) and indented (4 spaces / tab) code, inline `code`, quoted
// text ("…", “…”, ‘…’, 「…」, 『…』, «…», > block quotes), URLs, and every byte a rule does not name.
// A phrase is removed only when it stands as its own clause: it starts at the start of a line or after
// clause punctuation (. ! ? , ; : and their CJK forms) and ends at the end of a line or before such
// punctuation, so "say good morning in French" keeps its words while "Good morning! What is …" loses
// the greeting. Thread-safety: a PhraseSet is immutable after build; slim_text is pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::stages {

// Phrases normalised for matching (ASCII lower case, whitespace runs → one space, ’ → '), in a byte
// trie: a match walks the text once, however many phrases share its first letters.
class PhraseSet {
 public:
  // Adds every non-empty line of `list` that does not start with '#'.
  void add_list(std::string_view list);
  void add(std::string_view phrase);
  size_t size() const { return count_; }
  // Longest listed phrase matching at `pos` (case-insensitive, ’ as ', a space as a run of spaces and
  // tabs) and ending where a clause may end: its end offset in `text`, or npos.
  size_t match(std::string_view text, size_t pos) const;

 private:
  bool insert(std::string_view phrase);  // into the build form; false when empty or listed before
  void flatten();                        // the match form from the build form
  // Build form: per node its children as (byte, node) sorted by byte; node 0 is the root.
  std::vector<std::vector<std::pair<uint8_t, uint32_t>>> build_children_{1};
  std::vector<uint8_t> build_terminal_{0};
  // Match form: the nodes in breadth-first order (the few nodes near the root, which every match
  // visits, sit together in cache); the root's children by byte, every other node's edges as a run of
  // labels sorted by byte. (A hash table of edges cost a cache miss per byte walked.)
  std::array<uint32_t, 256> root_{};       // 0: no child
  std::vector<uint32_t> first_edge_{0, 0}; // node k's edges: [first_edge_[k], first_edge_[k + 1])
  std::vector<uint8_t> labels_;
  std::vector<uint32_t> targets_;
  std::vector<uint8_t> terminal_{0};       // per node: a phrase ends here
  size_t count_ = 0;
};

// The built-in lists (data/slim/en.txt and zh.txt, compiled into the binary).
std::string_view builtin_phrases_en();
std::string_view builtin_phrases_zh();

struct SlimOptions {
  bool phrases = true;     // remove listed phrases
  bool whitespace = true;  // collapse whitespace runs, trim line ends, at most one blank line
  bool repeats = true;     // drop consecutive repeated lines and repeated paragraphs
  bool decoration = true;  // drop lines made only of decoration (=====, ----, ****, ★★★)
  bool courtesy = true;    // drop courtesy sentences and clauses found by the lexicon (slim_courtesy.h)
  bool allow_empty = false;  // a text made only of courtesy may become empty (else it is kept whole)
};

class CourtesyLexicon;

struct RemovedSpan {
  enum class Kind { Phrase, Repeat, Decoration, Whitespace, Courtesy };
  static constexpr int kKinds = 5;
  Kind kind = Kind::Phrase;
  size_t offset = 0;  // byte offset in the original text
  size_t length = 0;  // bytes
};
const char* removed_kind_name(RemovedSpan::Kind k);

struct SlimResult {
  std::string text;                  // the slimmed text (== input when nothing matched)
  std::vector<RemovedSpan> removed;  // in order of offset; whitespace spans are merged per run
  bool changed() const { return !removed.empty(); }
};

// `courtesy`: the lexicon of the courtesy classifier (nullptr or options.courtesy off: not run).
SlimResult slim_text(std::string_view text, const PhraseSet& phrases, const SlimOptions& options = {},
                     const CourtesyLexicon* courtesy = nullptr);

}  // namespace kuai::stages
