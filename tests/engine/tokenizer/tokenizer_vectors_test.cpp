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
#include "support/tokenizer_vectors.h"

namespace kuai::engine {
namespace {

using kuai::test::shared_dir;

class VocabVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(VocabVectors, MatchesExpectedIds) {
  const std::string base = shared_dir() + "/tokenizer-tests/ggml-vocab-" + GetParam() + ".gguf";
  auto file = GgufFile::open(base);
  ASSERT_TRUE(file.ok()) << file.error();
  auto tok = Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.error();
  const auto vectors = test::read_vectors(base);
  ASSERT_EQ(vectors.size(), 46u);
  for (size_t i = 0; i < vectors.size(); ++i) {
    const auto got = (*tok)->encode(vectors[i].input, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(test::join_ids(got), test::join_ids(vectors[i].ids))
        << GetParam() << " #" << i << " input: '" << vectors[i].input << "'";
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
