// Test helper: reads the stories260K reference JSON (../shared/models/stories260K/reference) with a
// minimal scanner for the few array fields the tests need (the engine tests link no JSON library).
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include "support/paths.h"

namespace kuai::engine::model::test {

using kuai::test::shared_dir;

struct StoriesReference {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits_first5;  // (5, 512)
};

// Numbers of the array that follows "key": [ ... ] (nested arrays flattened, with per-row splits).
inline std::vector<std::vector<double>> json_number_rows(const std::string& text, const std::string& key) {
  std::vector<std::vector<double>> rows;
  size_t at = text.find("\"" + key + "\"");
  if (at == std::string::npos) return rows;
  at = text.find('[', at);
  int depth = 0;
  std::vector<double> cur;
  for (size_t i = at; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '[') {
      ++depth;
      if (depth == 2) cur.clear();
    } else if (c == ']') {
      if (depth == 2 || (depth == 1 && rows.empty() && !cur.empty())) rows.push_back(cur), cur.clear();
      if (--depth == 0) break;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      char* end = nullptr;
      cur.push_back(std::strtod(text.c_str() + i, &end));
      i = size_t(end - text.c_str()) - 1;
    }
  }
  return rows;
}

inline StoriesReference load_stories_reference(const std::string& stem) {
  StoriesReference r;
  std::ifstream in(shared_dir() + "/models/stories260K/reference/" + stem + ".json");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  auto ints = [&](const std::string& key) {
    std::vector<int32_t> out;
    auto rows = json_number_rows(text, key);
    if (!rows.empty())
      for (double d : rows[0]) out.push_back(int32_t(d));
    return out;
  };
  r.prompt_tokens = ints("prompt_tokens");
  r.tokens = ints("tokens");
  for (auto& row : json_number_rows(text, "logits_full_first5_positions"))
    r.logits_first5.emplace_back(row.begin(), row.end());
  return r;
}

}  // namespace kuai::engine::model::test
