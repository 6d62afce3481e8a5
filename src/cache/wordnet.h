// English lemmas and synonym sets from Princeton WordNet 3.0 (Debian `wordnet-base`: /usr/share/wordnet,
// or $KUAI_WORDNET_DIR), read once at start-up: the index files give every lemma its synsets in order of
// frequency, the exception lists give irregular forms ("children" → "child", "ran" → "run").
// The semantic cache uses it so paraphrases that use other words ("papers" / "documents",
// "required" / "needed") still match, without hand-written word lists.
// Thread-safety: immutable after load(); every const method may run on many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kuai::cache {

class WordNet {
 public:
  // Loads the four index files, exception lists and the antonym pointers of data.{verb,adj,adv} under `dir`; nullptr and `error` when they are missing.
  static std::unique_ptr<WordNet> load(const std::string& dir, std::string& error);
  // The process-wide instance from $KUAI_WORDNET_DIR or /usr/share/wordnet, loaded on first use;
  // nullptr when missing (error() says why).
  static const WordNet* shared();
  static const std::string& shared_error();

  // Every form of a folded word WordNet knows: the word itself when it is a lemma, its irregular base
  // ("children" → "child", "ran" → "run") and the bases regular suffixes give ("papers" → "paper",
  // "required" → "require", "cheaper" → "cheap"). Empty when WordNet knows none.
  std::vector<std::string> forms(std::string_view word) const;
  // Whether two folded words share a synset among the first `senses` senses, in any part of speech, of
  // any of their forms ("papers" / "documents", "required" / "needed").
  bool synonyms(std::string_view a, std::string_view b, int senses = 3) const;
  // The synset of the most frequent sense in each part of speech of each form ("n06470073"): the same
  // for many synonyms, so an embedding of these lands paraphrases close together.
  std::vector<std::string> first_senses(const std::vector<std::string>& forms) const;  // forms(word)
  // Whether WordNet lists two folded words (any of their forms) as antonyms (verbs, adjectives,
  // adverbs: "increase" / "decrease", "high" / "low", "import" / "export").
  bool antonyms(std::string_view a, std::string_view b) const;
  // How closely two folded words are related in meaning, from 0 (not at all) to 1 (the same lemma),
  // looking at the first few senses of each form (rarer senses relate almost anything):
  //   1.0  one lemma ("papers" / "paper")
  //   0.9  a shared synset ("documents" / "papers", "required" / "needed")
  //   0.8  a derivation, similar-to, pertainym or attribute link ("renew" / "renewal", "medical" / "medicine")
  //   0.7  one's synset is the direct hypernym of the other's ("laptop" / "computer", "fillet" / "piece")
  //   0.6  one names the other in the definition of its most frequent senses ("bake" / "oven",
  //        "pothole" / "road")
  // Symmetric. ~1–50 µs the first time a pair is asked, then remembered (up to 65 536 pairs; the
  // memo is dropped whole when full).
  double relatedness(std::string_view a, std::string_view b) const;
  size_t size() const { return lemmas_.size(); }

 private:
  // A lemma's synsets per part of speech (noun, verb, adjective, adverb), most frequent sense first;
  // an id is the part of speech (top 4 bits) and the synset's offset in its data file.
  struct Senses {
    std::vector<uint32_t> by_pos[4];
  };
  const Senses* find(std::string_view lemma) const;
  // Synsets of every form of `word`, the first `senses` of each part of speech.
  std::vector<uint32_t> top_synsets(std::string_view word, int senses) const;
  // Whether the definition of `synset` holds a word one of whose forms is in `forms`.
  bool gloss_mentions(uint32_t synset, const std::vector<std::string>& forms) const;

  // What the data files say of one synset: its pointers to others by kind, and its definition.
  struct Synset {
    std::vector<uint32_t> close;      // derivation (+), similar to (&), pertainym (\\), attribute (=), also see (^)
    std::vector<uint32_t> hypernyms;  // @ and @i
    std::string gloss;                // the definition, folded, without the examples
  };
  std::unordered_map<uint32_t, Synset> synsets_;  // id (as in Senses) → its data
  double compute_relatedness(std::string_view a, std::string_view b) const;
  mutable std::mutex memo_mu_;
  mutable std::unordered_map<std::string, double> memo_;  // "a\0b" (a < b) → relatedness

  std::unordered_map<std::string, Senses> lemmas_;
  std::unordered_map<std::string, std::string> exceptions_;  // inflected → base (first listed)
  std::unordered_map<std::string, std::vector<std::string>> antonyms_;  // lemma → its antonyms
};

}  // namespace kuai::cache
