#include "fakeup/script.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace kuai::fakeup {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> parse_script(std::string_view text, std::vector<ScriptRule>& out) {
  int line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    size_t arrow = line.find("=>");
    if (arrow == std::string_view::npos)
      return "script line " + std::to_string(line_no) + ": expected 'PATTERN => ANSWER'";
    ScriptRule r;
    r.pattern = std::string(trim(line.substr(0, arrow)));
    std::string_view answer = trim(line.substr(arrow + 2));
    if (r.pattern.empty()) return "script line " + std::to_string(line_no) + ": empty pattern (use * for any)";
    if (!answer.empty() && answer[0] == '!') {
      auto [p, ec] = std::from_chars(answer.data() + 1, answer.data() + answer.size(), r.status);
      if (ec != std::errc() || r.status < 400 || r.status > 599)
        return "script line " + std::to_string(line_no) + ": '!STATUS' needs an HTTP error status 400..599";
      answer = trim(answer.substr(static_cast<size_t>(p - answer.data())));
    }
    r.answer = unescape(answer);
    out.push_back(std::move(r));
  }
  return std::nullopt;
}

std::optional<std::string> load_script(const std::string& path, std::vector<ScriptRule>& out) {
  std::ifstream in(path);
  if (!in) return "cannot read the script '" + path + "'";
  std::stringstream ss;
  ss << in.rdbuf();
  if (auto err = parse_script(ss.str(), out)) return path + ": " + *err;
  return std::nullopt;
}

const ScriptRule* match_script(const std::vector<ScriptRule>& rules, std::string_view last_message) {
  for (const auto& r : rules)
    if (r.pattern == "*" || last_message.find(r.pattern) != std::string_view::npos) return &r;
  return nullptr;
}

}  // namespace kuai::fakeup
