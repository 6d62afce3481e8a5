// The `ledger` summary of the summarize stage (its default mode): instead of a lossy summary, the facts
// of the dropped turns that a later question may need, carried VERBATIM (each line is an exact
// substring of one dropped message), then the dropped turns most relevant to the last user message,
// whole, while the budget lasts.
//
// Facts. Every sentence (split at . ! ? 。！？ and line breaks) of a dropped user/assistant message is
// scored by its fact marks: digits and identifiers (SS-4471902, #50217, $45, 3.95%, 10月1日), dates
// and months, capitalised names inside the sentence, constraint and preference words ("allergic",
// "only", "must", "never", "budget", 过敏, 只能, 预算…), and decision words ("instead", "rather",
// "changed my mind", 那就, 还是, 改成…); plus the terms it shares with the last user message
// (Latin words and CJK bigrams, stop words out). A sentence with no fact mark is not a fact. Facts are
// taken best first until `budget_tokens` is spent and printed in conversation order, so a decision
// changed later appears after the value it replaces (the note says the later line wins); adjacent
// chosen sentences of one message are printed as one span with the bytes between them, so a fact
// spanning sentences stays an exact substring. A user sentence without a mark is still a candidate,
// ranked below every marked one (after slim, what a user says is mostly content).
// Turns. With budget left, whole dropped user turns are added, most relevant first (shared terms with
// the last user message), when they fit and are not already all in the facts.
// Pure and deterministic; any thread. Cost: linear in the dropped text (no ICU), a few µs per turn.
#pragma once

#include "api/chat.h"

#include <cstdint>
#include <functional>
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
Ledger build_ledger(const std::vector<const api::Message*>& dropped, const std::vector<const api::Message*>& kept,
                    std::string_view question, int64_t budget_tokens,
                    const std::function<int64_t(std::string_view)>& count_tokens);

}  // namespace kuai::stages
