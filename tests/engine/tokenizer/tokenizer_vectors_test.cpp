// The tokenizer against llama.cpp's test vectors (../shared/tokenizer-tests: vocab-only GGUF + .inp/.out,
// add_special=false, parse_special=false) and against llama2.c's tokenizer for stories260K.
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include "support/paths.h"

namespace kuai::engine {
namespace {

using kuai::test::shared_dir;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_inputs(const std::string& all) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t pos = all.find(sep); pos != std::string::npos; pos = all.find(sep, start)) {
    out.push_back(all.substr(start, pos - start));
    start = pos + sep.size();
  }
  return out;
}

std::vector<std::vector<TokenId>> read_outputs(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<TokenId>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<TokenId> ids;
    TokenId id;
    while (ls >> id) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

std::string join(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) s += " " + std::to_string(id);
  return s;
}

class VocabVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabVectors, MatchesExpectedIds) {
  const std::string base = shared_dir() + "/tokenizer-tests/ggml-vocab-" + GetParam() + ".gguf";
  auto file = GgufFile::open(base);
  ASSERT_TRUE(file.ok()) << file.error();
  auto tok = Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.error();
  const auto inputs = split_inputs(read_all(base + ".inp"));
  const auto expected = read_outputs(base + ".out");
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(expected.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto got = (*tok)->encode(inputs[i], /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(join(got), join(expected[i])) << GetParam() << " #" << i << " input: '" << inputs[i] << "'";
  }
}

INSTANTIATE_TEST_SUITE_P(Shared, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "falcon", "mpt", "starcoder", "refact",
                                           "deepseek-llm", "deepseek-coder", "bert-bge"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace kuai::engine
