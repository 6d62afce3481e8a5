#include "cache/wordnet.h"

#include <algorithm>
#include <cctype>
#include <tuple>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <span>
#include <sstream>

namespace kuai::cache {
namespace {

constexpr const char* kPos[4] = {"noun", "verb", "adj", "adv"};
constexpr char kPosLetter[4] = {'n', 'v', 'a', 'r'};

// WordNet's morphy detachment rules per part of speech: suffix → replacement.
struct Rule {
  std::string_view suffix, replacement;
};
constexpr Rule kNounRules[] = {{"s", ""}, {"ses", "s"}, {"xes", "x"}, {"zes", "z"}, {"ches", "ch"}, {"shes", "sh"},
                               {"men", "man"}, {"ies", "y"}};
constexpr Rule kVerbRules[] = {{"s", ""}, {"ies", "y"}, {"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"ing", "e"}, {"ing", ""}};
constexpr Rule kAdjRules[] = {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}};

}  // namespace

std::unique_ptr<WordNet> WordNet::load(const std::string& dir, std::string& error) {
  auto wn = std::unique_ptr<WordNet>(new WordNet());
  for (int pos = 0; pos < 4; ++pos) {
    const std::string path = dir + "/index." + kPos[pos];
    std::ifstream in(path);
    if (!in) {
      error = "cannot read " + path + " (WordNet: install Debian's wordnet-base, or set KUAI_WORDNET_DIR)";
      return nullptr;
    }
    // "lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt synset_offset…"; the licence
    // header lines start with a space.
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == ' ') continue;
      std::istringstream fields(line);
      std::string lemma, p;
      size_t synsets = 0, pointers = 0;
      if (!(fields >> lemma >> p >> synsets >> pointers)) continue;
      std::string skip;
      for (size_t i = 0; i < pointers; ++i) fields >> skip;
      fields >> skip >> skip;  // sense_cnt, tagsense_cnt
      auto& ids = wn->lemmas_[lemma].by_pos[pos];
      for (size_t i = 0; i < synsets; ++i) {
        uint32_t offset = 0;
        if (!(fields >> offset)) break;
        ids.push_back((uint32_t(pos) << 28) | offset);
      }
    }
    std::ifstream exc(dir + "/" + kPos[pos] + ".exc");
    while (std::getline(exc, line)) {
      std::istringstream fields(line);
      std::string inflected, base;
      if (fields >> inflected >> base) wn->exceptions_.emplace(inflected, base);
    }
  }
  // The data files: "offset lex_filenum ss_type w_cnt(hex) word lex_id … p_cnt ptr… | gloss", a
  // pointer being "symbol offset pos source/target(hex)". Antonyms are kept per word; the other
  // pointers and the definition per synset (relatedness()).
  auto pos_index = [](std::string_view p) { return p == "n" ? 0 : p == "v" ? 1 : p == "r" ? 3 : 2; };  // a, s: adj
  for (int pos = 0; pos < 4; ++pos) {
    std::ifstream data(dir + "/data." + kPos[pos]);
    std::unordered_map<uint32_t, std::vector<std::string>> words;  // synset offset → its words
    std::vector<std::tuple<uint32_t, int, uint32_t, int>> antonyms;  // (offset, word, target, target word)
    std::string line;
    while (std::getline(data, line)) {
      if (line.empty() || line[0] == ' ') continue;
      std::istringstream fields(line);
      uint32_t offset = 0;
      std::string lex, type, count;
      if (!(fields >> offset >> lex >> type >> count)) continue;
      const int n = int(std::strtol(count.c_str(), nullptr, 16));
      auto& w = words[offset];
      for (int i = 0; i < n; ++i) {
        std::string word, lex_id;
        fields >> word >> lex_id;
        if (auto paren = word.find('('); paren != std::string::npos) word.resize(paren);  // "big(a)"
        for (auto& c : word) c = char(std::tolower(static_cast<unsigned char>(c)));
        w.push_back(std::move(word));
      }
      Synset& syn = wn->synsets_[(uint32_t(pos) << 28) | offset];
      int n_ptr = 0;
      fields >> n_ptr;
      for (int i = 0; i < n_ptr; ++i) {
        std::string symbol, p, st;
        uint32_t target = 0;
        fields >> symbol >> target >> p >> st;
        const uint32_t id = (uint32_t(pos_index(p)) << 28) | target;
        if (symbol == "@" || symbol == "@i") syn.hypernyms.push_back(id);
        else if (symbol == "+" || symbol == "&" || symbol == "\\" || symbol == "=" || symbol == "^") syn.close.push_back(id);
        if (symbol != "!" || st.size() != 4) continue;
        int source_word = int(std::strtol(st.substr(0, 2).c_str(), nullptr, 16));
        int target_word = int(std::strtol(st.substr(2, 2).c_str(), nullptr, 16));
        if (pos_index(p) == pos) antonyms.emplace_back(offset, source_word, target, target_word);
      }
      if (auto bar = line.find(" | "); bar != std::string::npos) {
        std::string gloss = line.substr(bar + 3);
        if (auto quote = gloss.find('"'); quote != std::string::npos) gloss.resize(quote);  // examples
        for (auto& c : gloss) c = char(std::tolower(static_cast<unsigned char>(c)));
        syn.gloss = std::move(gloss);
      }
    }
    for (const auto& [offset, sw, target, tw] : antonyms) {
      auto a = words.find(offset), b = words.find(target);
      if (a == words.end() || b == words.end() || sw < 1 || tw < 1 || sw > int(a->second.size()) ||
          tw > int(b->second.size()))
        continue;
      wn->antonyms_[a->second[size_t(sw - 1)]].push_back(b->second[size_t(tw - 1)]);
    }
  }
  if (wn->lemmas_.empty()) {
    error = "no lemmas in " + dir + "/index.* (a broken WordNet installation?)";
    return nullptr;
  }
  return wn;
}

namespace {
std::once_flag g_once;
std::unique_ptr<WordNet> g_shared;
std::string g_error;
}  // namespace

const WordNet* WordNet::shared() {
  std::call_once(g_once, [] {
    const char* dir = std::getenv("KUAI_WORDNET_DIR");
    g_shared = load(dir && *dir ? dir : "/usr/share/wordnet", g_error);
  });
  return g_shared.get();
}

const std::string& WordNet::shared_error() {
  shared();
  return g_error;
}

const WordNet::Senses* WordNet::find(std::string_view lemma) const {
  auto it = lemmas_.find(std::string(lemma));
  return it == lemmas_.end() ? nullptr : &it->second;
}

std::vector<std::string> WordNet::forms(std::string_view word) const {
  std::vector<std::string> out;
  auto add = [&](std::string w) {
    if (find(w) && std::find(out.begin(), out.end(), w) == out.end()) out.push_back(std::move(w));
  };
  add(std::string(word));
  if (auto it = exceptions_.find(std::string(word)); it != exceptions_.end()) add(it->second);
  auto detach = [&](std::span<const Rule> rules) {
    for (const auto& r : rules)
      if (word.size() > r.suffix.size() + 1 && word.ends_with(r.suffix))
        add(std::string(word.substr(0, word.size() - r.suffix.size())) + std::string(r.replacement));
  };
  detach(kNounRules);
  detach(kVerbRules);
  detach(kAdjRules);
  return out;
}

bool WordNet::synonyms(std::string_view a, std::string_view b, int senses) const {
  const auto fa = forms(a), fb = forms(b);
  for (const auto& x : fa) {
    if (std::find(fb.begin(), fb.end(), x) != fb.end()) return true;  // the same lemma
    const Senses* sx = find(x);
    for (const auto& y : fb) {
      const Senses* sy = find(y);
      for (int pos = 0; pos < 4; ++pos) {
        const auto& ix = sx->by_pos[pos];
        const auto& iy = sy->by_pos[pos];
        size_t nx = std::min(ix.size(), size_t(senses)), ny = std::min(iy.size(), size_t(senses));
        for (size_t i = 0; i < nx; ++i)
          if (std::find(iy.begin(), iy.begin() + ny, ix[i]) != iy.begin() + ny) return true;
      }
    }
  }
  return false;
}

bool WordNet::antonyms(std::string_view a, std::string_view b) const {
  const auto fa = forms(a), fb = forms(b);
  for (const auto& x : fa) {
    auto it = antonyms_.find(x);
    if (it == antonyms_.end()) continue;
    for (const auto& y : fb)
      if (std::find(it->second.begin(), it->second.end(), y) != it->second.end()) return true;
  }
  return false;
}

std::vector<uint32_t> WordNet::top_synsets(std::string_view word, int senses) const {
  std::vector<uint32_t> out;
  for (const auto& f : forms(word)) {
    const Senses* s = find(f);
    for (int pos = 0; pos < 4; ++pos) {
      const auto& ids = s->by_pos[pos];
      for (size_t i = 0; i < std::min(ids.size(), size_t(senses)); ++i)
        if (std::find(out.begin(), out.end(), ids[i]) == out.end()) out.push_back(ids[i]);
    }
  }
  return out;
}

bool WordNet::gloss_mentions(uint32_t synset, const std::vector<std::string>& forms) const {
  auto it = synsets_.find(synset);
  if (it == synsets_.end()) return false;
  const std::string& g = it->second.gloss;
  for (size_t i = 0; i < g.size();) {
    while (i < g.size() && !std::isalpha(static_cast<unsigned char>(g[i]))) ++i;
    size_t j = i;
    while (j < g.size() && (std::isalpha(static_cast<unsigned char>(g[j])) || g[j] == '-')) ++j;
    if (j > i + 2) {
      std::string_view word(g.data() + i, j - i);
      if (std::find(forms.begin(), forms.end(), word) != forms.end()) return true;
      for (const auto& f : this->forms(word))
        if (std::find(forms.begin(), forms.end(), f) != forms.end()) return true;
    }
    i = j;
  }
  return false;
}

double WordNet::relatedness(std::string_view a, std::string_view b) const {
  if (a == b) return 1.0;
  if (b < a) std::swap(a, b);
  std::string key;
  key.reserve(a.size() + b.size() + 1);
  key.append(a).push_back('\0');
  key.append(b);
  {
    std::lock_guard lock(memo_mu_);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
  }
  const double r = compute_relatedness(a, b);
  std::lock_guard lock(memo_mu_);
  if (memo_.size() >= 65536) memo_.clear();
  memo_.emplace(std::move(key), r);
  return r;
}

double WordNet::compute_relatedness(std::string_view a, std::string_view b) const {
  const auto fa = forms(a), fb = forms(b);
  if (fa.empty() || fb.empty()) return 0.0;
  for (const auto& x : fa)
    if (std::find(fb.begin(), fb.end(), x) != fb.end()) return 1.0;
  if (synonyms(a, b)) return 0.9;
  const auto sa = top_synsets(a, 3), sb = top_synsets(b, 3);
  auto in = [](const std::vector<uint32_t>& v, uint32_t id) { return std::find(v.begin(), v.end(), id) != v.end(); };
  auto links = [&](const std::vector<uint32_t>& from, const std::vector<uint32_t>& to, bool close) {
    for (uint32_t id : from) {
      auto it = synsets_.find(id);
      if (it == synsets_.end()) continue;
      for (uint32_t t : close ? it->second.close : it->second.hypernyms)
        if (in(to, t)) return true;
    }
    return false;
  };
  if (links(sa, sb, true) || links(sb, sa, true)) return 0.8;
  if (links(sa, sb, false) || links(sb, sa, false)) return 0.7;
  const auto ga = top_synsets(a, 2), gb = top_synsets(b, 2);
  for (uint32_t id : ga)
    if (gloss_mentions(id, fb)) return 0.6;
  for (uint32_t id : gb)
    if (gloss_mentions(id, fa)) return 0.6;
  return 0.0;
}

std::vector<std::string> WordNet::first_senses(const std::vector<std::string>& forms) const {
  std::vector<std::string> out;
  for (const auto& f : forms) {
    const Senses* s = find(f);
    for (int pos = 0; pos < 4; ++pos) {
      if (s->by_pos[pos].empty()) continue;
      std::string id = kPosLetter[pos] + std::to_string(s->by_pos[pos][0] & 0x0fffffff);
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(std::move(id));
    }
  }
  return out;
}

}  // namespace kuai::cache
