// The `ledger` summary of the summarize stage (its default mode): instead of a lossy summary, the facts
// of the dropped turns that a later question may need, carried VERBATIM (each line is an exact
// substring of one dropped message), then the dropped turns most relevant to the last user message,
// whole, while the budget lasts.
//
// Units. A dropped user/assistant message is cut into sentences (at . ! ? 。！？ and line breaks); a
// line of code or log is one unit; a user's sentence (up to 200 bytes) is one unit, except a question
// closing it ("对了，发票我弄丢了一张，怎么办？" → the fact | the question); an assistant's sentence goes by
// clauses (， ； ： and , ; before a space), and clauses in a row that each carry a number and share a
// word are one unit (a size chart, a price list), as is a clause listing 3+ numbered items between 、.
// Facts. A unit is scored by its fact marks: digits and identifiers (SS-4471902, #50217, $45, 3.95%,
// 10月1日), dates and months, capitalised names inside it, constraint and preference words ("allergic",
// "only", "must", "stuck", 过敏, 只能, 不了…), identifier cues ("name is", 区服, 型号…), incident words
// ("cracked", "lost", 弄丢…) and decision words ("instead", 那就, 改成…); a list gets more, and more
// again when the last user message asks to choose ("which…", 哪个); plus the terms it shares with the
// last user message (Latin words and CJK bigrams, stop words out). Not carried: a unit already in a
// kept message (a log pasted again with the question), a unit pasted twice, an assistant unit with no
// mark or that asks, an assistant echo (every number of it and half its terms — a third when it has
// numbers — are the user's), an unmarked user unit with fewer than 3 terms or that asks. A user's
// marked question ranks at half its score (a fact said by the way). Units are taken best value per
// token first until `budget_tokens` is spent, skipping one whose terms are all carried already; with
// budget left, the unit before a chosen one that points back ("…for that", 这/那) and the rest of a
// chosen clause's sentence. Printed in conversation order, so a decision changed later appears after
// the value it replaces (the note says the later line wins); adjacent chosen units of one message are
// printed as one span with the bytes between them, so every line is an exact substring.
// Turns. With budget left, whole dropped user turns are added, most relevant first (shared terms with
// the last user message), when they fit and hold a unit worth carrying that is not carried yet.
// The note counted whole never exceeds `budget_tokens` (over: the last whole turn, then the least
// valuable unit go; "" when even the heading does not fit).
// Pure and deterministic; any thread. Cost: linear in the dropped text (no ICU); with a LedgerMemo a
// message is analysed once per conversation, then each request only scores and picks
// (bench_input_stages).
#pragma once

#include "api/chat.h"
#include "stages/summary_ledger_message.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::stages {

struct Ledger {
  std::string text;      // the note ("" when the dropped turns hold no fact)
  size_t facts = 0;      // fact spans in it
  size_t turns = 0;      // whole turns in it
};

// `kept`: the messages that stay (a unit already in one of them is not carried again; what the user
// says there makes an assistant unit an echo). `count_tokens(text)`: tokens as the window counts them.
// `memo` (may be null) keeps the per-message analyses; `model` is part of its key (token counts).
Ledger build_ledger(const std::vector<const api::Message*>& dropped, const std::vector<const api::Message*>& kept,
                    std::string_view question, int64_t budget_tokens,
                    const std::function<int64_t(std::string_view)>& count_tokens, LedgerMemo* memo = nullptr,
                    std::string_view model = {});

}  // namespace kuai::stages
