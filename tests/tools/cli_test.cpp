// The engine verbs through the real binary: text on stdout, logs on stderr, one-line errors with a hint
// and a non-zero exit, llama-bench-shaped JSON.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include "support/paths.h"

namespace {

namespace fs = std::filesystem;

struct CliRun {
  int rc;
  std::string out, err;
};

CliRun run(const std::string& args) {
  static int n = 0;
  const fs::path dir = fs::temp_directory_path();
  const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(n++);
  const std::string out = (dir / ("kuai_cli_out_" + tag)).string(), err = (dir / ("kuai_cli_err_" + tag)).string();
  const std::string cmd = kuai::test::kuai_bin() + " " + args + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  CliRun r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  fs::remove(out);
  fs::remove(err);
  return r;
}

std::string model() { return kuai::test::shared_dir() + std::string("/models/stories260K/stories260K.gguf"); }

TEST(EngineCli, GeneratePrintsTextOnStdoutAndTimingsOnStderr) {
  const CliRun r = run("generate -m " + model() + " -p 'Once upon a time' -n 96 --temp 0 -t 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::ifstream in(kuai::test::shared_dir() + std::string("/models/stories260K/reference/greedy_once_upon_a_time.txt"));
  std::stringstream expect;
  expect << in.rdbuf();
  EXPECT_EQ(r.out, expect.str());
  EXPECT_NE(r.err.find("tok/s"), std::string::npos);
}

TEST(EngineCli, ErrorsAreOneLineWithHint) {
  CliRun r = run("generate -m /nonexistent.gguf -p hi");
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.err.rfind("kuai generate: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("hint: "), std::string::npos);
  r = run("quantize " + model() + " /tmp/never.gguf --type q3_x");
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.err.rfind("kuai quantize: ", 0), 0u) << r.err;
  // A llama file is not a sentence embedder: kuai embed says so in one line.
  r = run("embed -m " + model() + " hello");
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.err.rfind("kuai embed: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("not a BERT-family embedder"), std::string::npos) << r.err;
  for (const char* verb : {"generate", "quantize", "synth", "perplexity", "bench", "embed"}) {
    r = run(std::string(verb) + " --help");
    EXPECT_EQ(r.rc, 0) << verb;
    EXPECT_NE(r.out.find("--"), std::string::npos) << verb;
  }
}

TEST(EngineCli, QuantizePerplexityAndBenchJson) {
  const fs::path dir = fs::temp_directory_path() / ("kuai_cli_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string q = (dir / "q8.gguf").string(), text = (dir / "t.txt").string();
  CliRun r = run("quantize " + model() + " " + q + " --type q8_0");
  ASSERT_EQ(r.rc, 0) << r.err;
  {
    std::ofstream t(text);
    t << "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
         "One day, she saw a big, red ball. She wanted to play with it, but it was too high.";
  }
  r = run("perplexity -m " + q + " -f " + text + " --ctx 32");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("perplexity ", 0), 0u) << r.out;
  r = run("bench -m " + q + " -p 16 -n 4 -t 1 -r 2 -o json --no-peer");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* key : {"\"model_type\": \"llama", "\"n_prompt\": 16", "\"n_gen\": 4", "\"n_threads\": 1", "\"avg_ts\":",
                          "\"stddev_ts\":", "\"peer_avg_ts\": 0.000000"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  EXPECT_EQ(r.out.front(), '[');
  // a peer that is not there is named under the table, and kuai's figures stand alone
  ::setenv("KUAI_LLAMA_BENCH", "/nonexistent/llama-bench", 1);
  r = run("bench -m " + q + " -p 8 -n 0 -r 1 -o md");
  ::unsetenv("KUAI_LLAMA_BENCH");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("pp8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("llama.cpp t/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peer: KUAI_LLAMA_BENCH=/nonexistent/llama-bench does not exist"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CPU: "), std::string::npos) << r.out;
  fs::remove_all(dir);
}

}  // namespace
