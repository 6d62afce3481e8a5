#include "train/corpus.h"

#include <fstream>
#include <sstream>

#include "engine/tokenizer/tokenizer.h"
#include "train/teacher.h"

namespace kuai::train {

engine::Result<Corpus> corpus_from_file(const std::string& path, const engine::Tokenizer& tok, int min_tokens) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return engine::make_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return engine::make_error("cannot read " + path);
  Corpus c;
  c.seqs.push_back(tok.encode(ss.str(), /*add_special=*/true, /*parse_special=*/false));
  if (int64_t(c.seqs[0].size()) < min_tokens)
    return engine::make_error(path + " has " + std::to_string(c.seqs[0].size()) + " tokens; at least " +
                              std::to_string(min_tokens) + " are needed");
  return c;
}

engine::Result<Corpus> corpus_from_teacher(const engine::model::LlamaModel& teacher, int n, int len, uint64_t seed,
                                           int32_t first, int32_t stop, engine::ThreadPool& pool) {
  if (n <= 0 || len < 2) return engine::make_error("need at least one sequence of 2 tokens or more to sample");
  Teacher t(teacher, pool);
  Corpus c;
  for (int i = 0; i < n; ++i) {
    auto s = t.sample(std::span(&first, 1), len, seed + uint64_t(i), stop);
    if (!s) return std::move(s).take_error();
    c.seqs.push_back(std::move(s).value());
  }
  return c;
}

}  // namespace kuai::train
