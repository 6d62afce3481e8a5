// `kuai train` and `kuai distill` through the real binary: the written GGUF loads and generates in kuai
// (and in llama.cpp's llama-simple when its binaries are at hand), bad input is a one-line error with
// a hint and no output file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "support/paths.h"
#include "support/process.h"

namespace {

namespace fs = std::filesystem;

struct CliRun {
  int rc;
  std::string out, err;
};

CliRun run(const std::string& cmdline) {
  static int n = 0;
  const fs::path dir = fs::temp_directory_path();
  const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(n++);
  const std::string out = (dir / ("kuai_train_out_" + tag)).string(), err = (dir / ("kuai_train_err_" + tag)).string();
  const int status = std::system((cmdline + " >" + out + " 2>" + err + " </dev/null").c_str());
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

CliRun kuai(const std::string& args) { return run(kuai::test::kuai_bin() + " " + args); }

std::string teacher() { return kuai::test::shared_dir() + "/models/stories260K/stories260K.gguf"; }

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kuai_train_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream t(dir_ / "text.txt");
    for (int i = 0; i < 6; ++i)
      t << "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
           "One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(TrainCli, TrainedModelLoadsAndGeneratesInKuaiAndLlamaCpp) {
  const std::string out = path("trained.gguf");
  CliRun r = kuai("train --model-config n_layer=1,n_embd=32,n_head=4,n_head_kv=2,n_ff=48,ctx=64 --tokenizer " +
                  teacher() + " --data " + path("text.txt") + " --steps 40 --seq-len 32 --batch 4 --lr 1e-2 -t 2 -o " + out);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("\"step\":40"), std::string::npos) << r.err;  // JSON log lines off a terminal
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  r = kuai("generate -m " + out + " -p 'Once upon a time' -n 12 --temp 0 --no-prompt-echo");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GT(r.out.size(), 4u);

  const std::string simple = kuai::test::shared_dir() + "/tools/llama.cpp/llama-simple";
  if (!fs::exists(simple)) GTEST_SKIP() << "llama.cpp's llama-simple is not at " << simple << "; the llama.cpp check was skipped";
  r = run(simple + " -m " + out + " -n 8 'Once upon a time'");
  if (r.rc == 128 + 4 || r.rc == -1) GTEST_SKIP() << "llama-simple does not run on this CPU (SIGILL)";
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("Once upon a time"), std::string::npos) << r.out;
}

TEST_F(TrainCli, DistillFromSampledTextWithResume) {
  const std::string out = path("student.gguf"), ck = path("student.ckpt");
  const std::string args = "distill --teacher " + teacher() +
                           " --student-config n_layer=1 --generate 8 --seq-len 24 --steps 6 --batch 2 --loss skew-kl"
                           " --temperature 2 --alpha 0.7 --top-k 32 --on-policy 0.5 --checkpoint " + ck + " --checkpoint-every 3 -o " + out;
  CliRun r = kuai(args);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("\"verb\":\"distill\""), std::string::npos) << r.err;
  ASSERT_TRUE(fs::exists(ck));
  r = kuai(args + " --resume");  // the checkpoint is at the last step: nothing left, same output
  ASSERT_EQ(r.rc, 0) << r.err;
  r = kuai("generate -m " + out + " -p 'Once' -n 8 --temp 0");
  EXPECT_EQ(r.rc, 0) << r.err;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(TrainCli, KilledThenResumedGivesTheSameModelAsAnUninterruptedRun) {
  auto args = [&](const std::string& tag) {
    return std::vector<std::string>{"train", "--model-config", "n_layer=1,n_embd=32,n_head=4,n_head_kv=2,n_ff=48,ctx=32",
                                    "--tokenizer", teacher(), "--data", path("text.txt"), "--steps", "150", "--seq-len",
                                    "16", "--batch", "2", "-t", "2", "--checkpoint-every", "5", "--checkpoint",
                                    path(tag + ".ckpt"), "-o", path(tag + ".gguf")};
  };
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& a : v) s += " '" + a + "'";
    return s;
  };
  CliRun r = kuai(join(args("whole")));
  ASSERT_EQ(r.rc, 0) << r.err;

  kuai::test::ChildProcess child(kuai::test::kuai_bin(), args("cut"));
  for (int i = 0; i < 6000 && !fs::exists(path("cut.ckpt")) && child.running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(path("cut.ckpt"))) << child.output();
  child.stop(SIGKILL);
  const bool cut_short = !fs::exists(path("cut.gguf"));
  r = kuai(join(args("cut")) + " --resume");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(slurp(path("cut.gguf")), slurp(path("whole.gguf")));
  if (!cut_short) GTEST_SKIP() << "the first run finished before it was killed; only the resume of a finished run was checked";
}

TEST_F(TrainCli, BadInputIsAOneLineErrorWithAHintAndNoOutput) {
  const std::string out = path("never.gguf");
  auto expect_error = [&](const std::string& args, const std::string& needle) {
    const CliRun r = kuai(args);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_EQ(r.err.rfind("kuai ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("hint: "), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  };
  const std::string cfg = " --model-config n_layer=1,n_embd=32,n_head=4,n_ff=48,ctx=64 ";
  expect_error("train" + cfg + "--tokenizer /nonexistent.gguf --data " + path("text.txt") + " -o " + out, "nonexistent");
  { std::ofstream(path("empty.txt")); }
  expect_error("train" + cfg + "--tokenizer " + teacher() + " --data " + path("empty.txt") + " -o " + out, "tokens");
  { std::ofstream(path("corrupt.gguf")) << "GGUF not really"; }
  expect_error("distill --teacher " + path("corrupt.gguf") + " --student-config n_layer=1 --generate 2 -o " + out, "corrupt.gguf");
  expect_error("distill --teacher " + teacher() + " --student-config n_layer=1,n_vocab=600 --generate 2 -o " + out, "vocabulary");
  expect_error("distill --teacher " + teacher() + " --student-config n_layer=1 --generate 2 --loss kld -o " + out, "kld");
  expect_error("train" + cfg + "--tokenizer " + teacher() + " --data " + path("text.txt") + " -o /nonexistent/x.gguf",
               "/nonexistent");
  expect_error("train --model-config n_layer=1,n_embd=30,n_head=4 --tokenizer " + teacher() + " --data " + path("text.txt") +
               " -o " + out, "n_head");
  for (const char* verb : {"train", "distill"}) {
    const CliRun r = kuai(std::string(verb) + " --help");
    EXPECT_EQ(r.rc, 0);
    EXPECT_NE(r.out.find("--checkpoint"), std::string::npos);
  }
}

}  // namespace
