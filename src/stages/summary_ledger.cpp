#include "stages/summary_ledger.h"

#include "text/ascii.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace kuai::stages {
namespace {


// A question that asks to pick among options ("which plan…", "加哪个流量包", "选哪种").
bool asks_to_choose(std::string_view q) {
  std::string low(q);
  for (char& c : low)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  for (std::string_view w : {"which", "what option", "best option", "cheapest", "哪个", "哪种", "哪款", "哪一", "选哪", "哪家"}) {
    size_t at = low.find(w);
    if (at != std::string::npos && (at == 0 || !text::ascii_alpha(low[at - 1]))) return true;
  }
  return false;
}

// A word that points back to what was said just before ("…is warped too. The contractor quoted
// another $2,150 for that."): the unit before it in the same message is its context.
bool points_back(std::string_view s) {
  static constexpr std::string_view kBack[] = {"that", "this", "it", "those", "these", "them", "same"};
  std::string word;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && text::ascii_alpha(s[i])) {
      word += static_cast<char>(s[i] | 0x20);
      continue;
    }
    for (std::string_view w : kBack)
      if (word == w) return true;
    word.clear();
  }
  for (std::string_view w : {"这", "那", "它"})
    if (s.find(w) != std::string_view::npos) return true;
  return false;
}

bool holds(const std::vector<uint64_t>& sorted, uint64_t x) { return std::binary_search(sorted.begin(), sorted.end(), x); }

// Which 4-byte windows a set of texts holds (a Bloom filter of 2^16 bits): a unit whose first and last
// 4 bytes are not both in it is surely in none of the texts (no substring search needed).
class Windows {
 public:
  void add(std::string_view s) {
    for (size_t i = 0; i + 4 <= s.size(); ++i) set(at(s, i));
  }
  bool may_contain(std::string_view u) const {
    if (u.size() < 4) return true;
    return get(at(u, 0)) && get(at(u, u.size() - 4));
  }

 private:
  static uint32_t at(std::string_view s, size_t i) {
    uint32_t w;
    std::memcpy(&w, s.data() + i, 4);
    return (w * 2654435761u) >> 16;
  }
  void set(uint32_t h) { bits_[h >> 6] |= uint64_t{1} << (h & 63); }
  bool get(uint32_t h) const { return (bits_[h >> 6] >> (h & 63)) & 1; }
  std::array<uint64_t, 1024> bits_{};
};

}  // namespace

Ledger build_ledger(const std::vector<const api::Message*>& dropped, const std::vector<const api::Message*>& kept,
                    std::string_view question, int64_t budget_tokens,
                    const std::function<int64_t(std::string_view)>& count_tokens, LedgerMemo* memo,
                    std::string_view model) {
  LedgerMemo own(0);
  LedgerMemo& analyses = memo ? *memo : own;
  Ledger ledger;
  // Per message: its analysis (memoised: the same for every request that sends the message).
  std::vector<std::shared_ptr<const LedgerMessage>> info(dropped.size());
  struct Pick {
    size_t msg = 0;
    const LedgerMessage::Unit* unit = nullptr;
    size_t sentence = 0;  // request-wide
    double score = 0;
    bool chosen = false;
    size_t begin() const { return unit->begin; }
    size_t end() const { return unit->end; }
  };
  std::vector<Pick> sents;
  sents.reserve(dropped.size() * 4);  // (a few units a message: one allocation, not one per doubling)
  size_t sentence_base = 0;
  bool cjk = false;
  // What the user said (dropped and kept): an assistant unit made of it is an echo.
  std::vector<uint64_t> user_terms, user_numbers;
  for (size_t m = 0; m < dropped.size(); ++m) {
    const api::Message& msg = *dropped[m];
    if (msg.role != "user" && msg.role != "assistant") continue;
    info[m] = analyses.get(msg, model, count_tokens);
    for (const auto& u : info[m]->units) sents.push_back({m, &u, sentence_base + u.sentence, 0, false});
    sentence_base += info[m]->sentences;
    if (info[m]->user) {
      user_terms.insert(user_terms.end(), info[m]->terms.begin(), info[m]->terms.end());
      user_numbers.insert(user_numbers.end(), info[m]->numbers.begin(), info[m]->numbers.end());
    }
  }
  Windows kept_windows;
  for (const api::Message* k : kept) {
    kept_windows.add(k->content);
    if (k->role != "user") continue;
    auto a = analyses.get(*k, model, count_tokens);
    user_terms.insert(user_terms.end(), a->terms.begin(), a->terms.end());
    user_numbers.insert(user_numbers.end(), a->numbers.begin(), a->numbers.end());
  }
  for (auto* v : {&user_terms, &user_numbers}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  for (size_t i = 0; i < question.size() && !cjk; ++i) cjk = static_cast<unsigned char>(question[i]) >= 0xE4;
  const std::vector<uint64_t> q_terms = ledger_terms(question);
  const bool choosing = asks_to_choose(question);
  // Units seen before in this request: the first unit with each hash (a collision is not a repeat).
  HashSet64 seen(sents.size());
  auto text_of = [&](const Pick& p) {
    return std::string_view(dropped[p.msg]->content).substr(p.begin(), p.end() - p.begin());
  };
  for (Pick& st : sents) {
    const LedgerMessage::Unit& u = *st.unit;
    const auto u_terms = info[st.msg]->terms_of(u), u_numbers = info[st.msg]->numbers_of(u);
    std::string_view text = text_of(st);
    // Already in the request (a block pasted again in a kept turn) or pasted twice: counted once.
    bool twice = false;
    if (!seen.insert(u.hash)) {
      for (const Pick& earlier : sents) {
        if (&earlier == &st) break;
        if (earlier.unit->hash == u.hash && text_of(earlier) == text) { twice = true; break; }
      }
    }
    if (twice || (kept_windows.may_contain(text) &&
                  std::any_of(kept.begin(), kept.end(), [&](const api::Message* k) { return k->content.find(text) != std::string::npos; }))) {
      st.score = -1;
      continue;
    }
    double mk = u.marks;
    // Shared terms; CJK bigrams overlap (a 4-character phrase is 3 of them), so each counts half.
    double shared = 0;
    for (uint64_t t : u_terms) shared += holds(q_terms, t) ? ((t & 1) ? 0.5 : 1.0) : 0.0;
    const bool user = info[st.msg]->user;
    const bool asks = u.asks;
    // The assistant's own questions and unmarked words are not facts; its marked ones (a quoted price,
    // a stated deductible) are, below what the user said.
    // (one constraint word alone — "符合要求", "policy" — is a comment, not a fact).
    if (!user && (mk < kAssistantFactMarks || asks)) { st.score = -1; continue; }
    // An unmarked user clause must say something ("对了", "怎么办？" do not), and a question is not a fact.
    if (user && mk == 0 && (asks || u_terms.size() < 3)) { st.score = -1; continue; }
    if (!user) {
      // An echo: every number of it and most of its terms are the user's own ("收到，角色X#50217").
      bool numbers_echoed = std::all_of(u_numbers.begin(), u_numbers.end(), [&](uint64_t n) { return holds(user_numbers, n); });
      size_t echoed = 0;
      for (uint64_t t : u_terms) echoed += holds(user_terms, t);
      // (with numbers, a third of its terms suffice: "已查到订单YX20240612883" adds only "found")
      const size_t need = u_numbers.empty() ? (u_terms.size() + 1) / 2 : u_terms.size() / 3;
      if (numbers_echoed && (u_terms.empty() ? !u_numbers.empty() : echoed >= need)) { st.score = -1; continue; }
    }
    // A list of values: the options and prices a question picks from, above all a "which" question.
    if (u.list) mk += choosing ? 3.0 : 1.5;
    st.score = (mk + std::min(shared, 4.0) + (mk > 0 ? 1.0 : 0.0)) * (user ? 1.0 : 0.6) + (user ? 1.5 : 0.0);
    // A user's question carries a fact only by the way ("Can we bump it to 500?"): below statements.
    if (user && asks) st.score *= 0.5;
  }
  const std::string_view lead = cjk ? "此前对话中的事实（原文摘录，后出现的优先）：" : "Facts from earlier turns (verbatim; a later line wins):";
  int64_t used = count_tokens(lead);
  std::vector<size_t> order;
  for (size_t i = 0; i < sents.size(); ++i)
    if (sents[i].score > 0) order.push_back(i);
  // Clauses of the same message in a row merge into one span of the original bytes.
  // Value per token (a long clause must carry more to win), later first on ties (the latest value).
  auto density = [&](size_t i) { return sents[i].score / (1.0 + static_cast<double>(sents[i].unit->tokens) / 16.0); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (density(a) != density(b)) return density(a) > density(b);
    return a > b;
  });
  HashSet64 carried(64);  // terms of the chosen clauses
  for (size_t i : order) {
    const int64_t cost = sents[i].unit->tokens + 2;  // "\n- " (an adjacent clause costs its separator instead)
    if (used + cost > budget_tokens) continue;
    const auto t = info[sents[i].msg]->terms_of(*sents[i].unit);
    // A clause whose terms are all carried already (an echo: "记下了：订单号 X") adds nothing.
    if (!t.empty() && std::all_of(t.begin(), t.end(), [&](uint64_t w) { return carried.contains(w); })) continue;
    for (uint64_t w : t) carried.insert(w);
    sents[i].chosen = true;
    used += cost;
  }
  // With budget left, the unit before a chosen one that points back at it ("…is warped too. The
  // contractor quoted another $2,150 for that."), then the sentences a chosen clause belongs to.
  for (size_t i = 1; i < sents.size(); ++i) {
    if (!sents[i].chosen || sents[i - 1].chosen || sents[i - 1].msg != sents[i].msg || sents[i - 1].score <= 0) continue;
    if (!points_back(text_of(sents[i]))) continue;
    if (used + sents[i - 1].unit->tokens + 1 > budget_tokens) continue;
    sents[i - 1].chosen = true;
    used += sents[i - 1].unit->tokens + 1;
  }
  for (size_t i : order) {
    if (sents[i].chosen) continue;
    bool sibling = (i > 0 && sents[i - 1].chosen && sents[i - 1].sentence == sents[i].sentence) ||
                   (i + 1 < sents.size() && sents[i + 1].chosen && sents[i + 1].sentence == sents[i].sentence);
    if (!sibling || used + sents[i].unit->tokens + 1 > budget_tokens) continue;
    sents[i].chosen = true;
    used += sents[i].unit->tokens + 1;
  }
  // Whole user turns most relevant to the question, while the budget lasts.
  std::vector<std::pair<int, size_t>> turns;
  for (size_t m = 0; m < dropped.size(); ++m) {
    if (dropped[m]->role != "user" || dropped[m]->content.empty()) continue;
    int shared = 0;
    for (uint64_t t : info[m]->terms) shared += holds(q_terms, t);
    if (shared > 0) turns.push_back({shared, m});
  }
  std::stable_sort(turns.begin(), turns.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<size_t> whole;
  for (auto [shared, m] : turns) {
    // Only a turn that adds a unit worth carrying (not one already in the request or carried).
    bool adds = false;
    for (const Pick& st : sents)
      if (st.msg == m && !st.chosen && st.score > 0) adds = true;
    if (!adds) continue;
    const int64_t cost = info[m]->tokens + 4;
    if (used + cost > budget_tokens) continue;
    used += cost;
    whole.push_back(m);
  }
  // Chosen units in order, adjacent ones of one message as one span; then the whole turns.
  auto render = [&] {
    ledger.facts = ledger.turns = 0;
    std::string body;
    for (size_t i = 0; i < sents.size();) {
      if (!sents[i].chosen) { ++i; continue; }
      size_t j = i;
      while (j + 1 < sents.size() && sents[j + 1].chosen && sents[j + 1].msg == sents[i].msg) ++j;
      std::string_view content = dropped[sents[i].msg]->content;
      body += "\n- ";
      body += content.substr(sents[i].begin(), sents[j].end() - sents[i].begin());
      ++ledger.facts;
      i = j + 1;
    }
    if (body.empty() && whole.empty()) return std::string();
    std::string out = std::string(lead) + body;
    if (!whole.empty()) out += cjk ? "\n相关的较早提问：" : "\nRelevant earlier turns:";
    for (size_t m : whole) {
      out += "\n- user: ";
      out += dropped[m]->content;
      ++ledger.turns;
    }
    return out;
  };
  // The costs above are estimates per piece (separators, the bytes between merged units): the note
  // as a whole must fit, or the window would drop the turns it keeps. Over: the last whole turn goes,
  // then the least valuable unit.
  for (size_t tries = 0; tries <= sents.size() + whole.size(); ++tries) {
    ledger.text = render();
    if (ledger.text.empty() || count_tokens(ledger.text) <= budget_tokens) break;
    if (!whole.empty()) {
      whole.pop_back();
      continue;
    }
    auto worst = std::find_if(order.rbegin(), order.rend(), [&](size_t i) { return sents[i].chosen; });
    if (worst == order.rend()) break;
    sents[*worst].chosen = false;
  }
  if (!ledger.text.empty() && count_tokens(ledger.text) > budget_tokens) ledger = Ledger{};
  return ledger;
}

}  // namespace kuai::stages
