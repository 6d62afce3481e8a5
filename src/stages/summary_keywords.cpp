#include "stages/summary_keywords.h"

#include "text/normalize.h"
#include "text/script.h"
#include "text/segment.h"
#include "text/utf8.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace kuai::stages {
namespace {

const std::unordered_set<std::string_view>& stop_words() {
  static const std::unordered_set<std::string_view> words = {
      // English
      "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
      "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
      "does", "doing", "done", "down", "during", "each", "else", "even", "ever", "every", "few", "for", "from",
      "further", "get", "gets", "give", "go", "got", "had", "has", "have", "having", "he", "her", "here", "hers",
      "him", "his", "how", "however", "i", "i'm", "if", "in", "into", "is", "it", "it's", "its", "just", "know",
      "let", "like", "made", "make", "many", "may", "me", "might", "more", "most", "much", "must", "my", "need",
      "no", "nor", "not", "now", "of", "off", "ok", "okay", "on", "once", "one", "only", "or", "other", "our",
      "out", "over", "own", "please", "quite", "really", "same", "say", "see", "she", "should", "so", "some",
      "such", "sure", "take", "tell", "than", "thank", "thanks", "that", "that's", "the", "their", "them", "then",
      "there", "these", "they", "thing", "things", "think", "this", "those", "through", "to", "too", "under",
      "until", "up", "us", "use", "used", "very", "want", "was", "way", "we", "well", "were", "what", "when",
      "where", "which", "while", "who", "whom", "why", "will", "with", "would", "yes", "yet", "you", "you're",
      "your", "yours", "don't", "can't", "i'd", "i'll", "let's", "there's", "what's", "answer", "question",
      // Chinese
      "一个", "一些", "一下", "一样", "不是", "不会", "不能", "为了", "为什么", "之后", "也是", "了解", "什么",
      "他们", "以后", "以及", "但是", "你们", "例如", "信息", "关于", "其他", "再次", "出来", "分别", "可以",
      "可能", "哪些", "因为", "如何", "如果", "它们", "对于", "就是", "已经", "应该", "怎么", "怎样", "我们",
      "所以", "或者", "时候", "是否", "有些", "有没有", "没有", "然后", "现在", "的话", "知道", "而且", "自己",
      "觉得", "还是", "这个", "这些", "这样", "这里", "那个", "那些", "那么", "需要", "非常", "问题", "回答",
      "请问", "谢谢", "比如", "还有", "其实", "所有", "通过", "进行", "使用", "一种", "很多", "以上", "下面",
      "您好", "你好", "好的", "告诉", "帮我", "一下子", "东西", "方面", "情况", "主要", "其中",
  };
  return words;
}

struct Candidate {
  std::string norm;     // normalised word
  std::string surface;  // as written (first occurrence)
  bool cjk = false;
};

// A word worth ranking: ≥ 2 letters, not a stop word, not a number.
bool worth_it(const std::string& norm, text::SpanKind kind) {
  if (kind == text::SpanKind::Number || kind == text::SpanKind::Punct || kind == text::SpanKind::Space) return false;
  if (stop_words().contains(norm)) return false;
  size_t cps = text::utf8_length(norm);
  if (kind == text::SpanKind::Cjk) return cps >= 2;
  if (cps < 2) return false;
  bool has_letter = false;
  for (char c : norm) has_letter = has_letter || std::isalpha(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80;
  return has_letter;
}

}  // namespace

std::vector<KeyPhrase> key_phrases(const std::vector<std::string_view>& texts, size_t max_phrases) {
  // 1. Candidate sequence with breaks (-1) at punctuation and between texts.
  std::unordered_map<std::string, int> id_of;
  std::vector<Candidate> words;
  std::vector<int> seq;
  for (std::string_view t : texts) {
    for (const auto& sp : text::segment(t)) {
      if (sp.kind == text::SpanKind::Space) continue;
      std::string_view surface = t.substr(sp.begin, sp.end - sp.begin);
      std::string norm = text::normalize(surface);
      if (!worth_it(norm, sp.kind)) {
        seq.push_back(-1);
        continue;
      }
      auto [it, fresh] = id_of.emplace(norm, static_cast<int>(words.size()));
      if (fresh) words.push_back({norm, std::string(surface), sp.kind == text::SpanKind::Cjk});
      seq.push_back(it->second);
    }
    seq.push_back(-1);
  }
  const size_t n = words.size();
  if (n == 0) return {};

  // 2. Co-occurrence graph (window 4 within a run between breaks) and PageRank.
  std::vector<std::unordered_map<int, double>> edges(n);
  for (size_t i = 0; i < seq.size(); ++i) {
    if (seq[i] < 0) continue;
    for (size_t j = i + 1; j < seq.size() && j < i + 4; ++j) {
      if (seq[j] < 0) break;
      if (seq[j] == seq[i]) continue;
      edges[seq[i]][seq[j]] += 1;
      edges[seq[j]][seq[i]] += 1;
    }
  }
  std::vector<double> weight_sum(n, 0), score(n, 1.0), next(n);
  std::vector<int> freq(n, 0);
  for (int id : seq)
    if (id >= 0) ++freq[id];
  for (size_t i = 0; i < n; ++i)
    for (const auto& [j, w] : edges[i]) weight_sum[i] += w;
  for (int iter = 0; iter < 30; ++iter) {
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (const auto& [j, w] : edges[i]) s += w / weight_sum[j] * score[j];
      next[i] = 0.15 + 0.85 * s;
    }
    score.swap(next);
  }
  // Isolated words (no neighbour) rank by frequency only.
  for (size_t i = 0; i < n; ++i) score[i] *= 1.0 + std::log(static_cast<double>(freq[i]));

  // 3. Top third of words (at least 8) are keywords; adjacent keywords merge into phrases.
  std::vector<int> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score[a] > score[b]; });
  size_t top = std::max<size_t>(8, n / 3);
  std::vector<char> is_key(n, 0);
  for (size_t k = 0; k < std::min(top, n); ++k) is_key[order[k]] = 1;

  std::unordered_map<std::string, double> phrase_score;
  std::vector<std::string> phrase_order;
  auto add_phrase = [&](const std::vector<int>& ids) {
    if (ids.empty() || ids.size() > 4) return;
    std::string text;
    double s = 0;
    for (size_t k = 0; k < ids.size(); ++k) {
      const Candidate& c = words[ids[k]];
      if (k > 0 && !(c.cjk && words[ids[k - 1]].cjk)) text += ' ';
      text += c.norm;
      s += score[ids[k]];
    }
    auto [it, fresh] = phrase_score.emplace(text, s);
    if (fresh) phrase_order.push_back(text);
  };
  std::vector<int> run;
  for (int id : seq) {
    if (id >= 0 && is_key[id]) {
      if (std::find(run.begin(), run.end(), id) == run.end()) run.push_back(id);
      continue;
    }
    add_phrase(run);
    run.clear();
  }
  add_phrase(run);

  std::vector<KeyPhrase> out;
  for (const auto& p : phrase_order) out.push_back({p, phrase_score[p]});
  std::stable_sort(out.begin(), out.end(), [](const KeyPhrase& a, const KeyPhrase& b) { return a.score > b.score; });
  // Drop a single word that is already inside a longer chosen phrase.
  std::vector<KeyPhrase> chosen;
  for (const auto& p : out) {
    if (chosen.size() >= max_phrases) break;
    bool inside = false;
    for (const auto& c : chosen) inside = inside || c.text.find(p.text) != std::string::npos;
    if (!inside) chosen.push_back(p);
  }
  return chosen;
}

std::string keyword_summary(const std::vector<std::string_view>& texts, size_t max_phrases) {
  auto phrases = key_phrases(texts, max_phrases);
  if (phrases.empty()) return {};
  std::string all;
  for (auto t : texts) all += t;
  const bool chinese = text::cjk_ratio(all) > 0.3;
  std::string out = chinese ? "此前对话要点：" : "Earlier conversation, key points: ";
  for (size_t i = 0; i < phrases.size(); ++i) {
    if (i > 0) out += chinese ? "、" : "; ";
    out += phrases[i].text;
  }
  out += chinese ? "。" : ".";
  return out;
}

}  // namespace kuai::stages
