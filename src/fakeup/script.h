// `kuai fake-upstream --script FILE`: scripted answers for tests and benchmarks. One rule a line,
// `PATTERN => ANSWER`, checked in order against a chat's last message (a plain substring; `*` matches
// anything). `\n` in ANSWER is a line break; an ANSWER of `!STATUS message` answers that HTTP error
// (e.g. `!500 boom`). Blank lines and lines starting with `#` are ignored. Unmatched chats get the
// usual generated answer. Pure; any thread.
#pragma once

#include "fakeup/options.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::fakeup {

// Parses a script; an error names the line.
std::optional<std::string> parse_script(std::string_view text, std::vector<ScriptRule>& out);
std::optional<std::string> load_script(const std::string& path, std::vector<ScriptRule>& out);
// The first rule matching `last_message`, or null.
const ScriptRule* match_script(const std::vector<ScriptRule>& rules, std::string_view last_message);

}  // namespace kuai::fakeup
