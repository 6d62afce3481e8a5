// `kuai prune` through the real binary: the report and JSON, --report alone writes nothing, and bad
// arguments are one-line errors (with a hint) and a non-zero exit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "prune_test_util.h"

namespace kuai::tools::prune_test {
namespace {

struct CliRun {
  int rc;
  std::string out, err;
};

CliRun run(const TempDir& dir, const std::string& args) {
  const std::string cmd =
      test::kuai_bin() + " prune " + args + " >" + dir.file("out") + " 2>" + dir.file("err") + " </dev/null";
  const int status = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir.file("out")), slurp(dir.file("err"))};
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

class PruneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    write(dir.file("calib.txt"), model_text(stories(), 1, 96));
    write(dir.file("eval.txt"), model_text(stories(), 2, 96));
  }
  std::string base() const { return "-m " + stories() + " --calib " + dir.file("calib.txt"); }
  TempDir dir;
};

TEST_F(PruneCli, WritesAndReportsBeforeAndAfter) {
  const CliRun r = run(dir, base() + " -o " + dir.file("p.gguf") + " --eval " + dir.file("eval.txt") +
                                " --drop-layers 1 --heads-keep 0.75 --ffn-keep 0.75 --metric angular,fluctuation");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir.file("p.gguf")));
  EXPECT_FALSE(fs::exists(dir.file("p.gguf.tmp")));
  for (const char* s : {"plan: 4 of 5 layers, 3 of 4 KV groups, 129 of 172", "parameters", "file bytes", "perplexity",
                        "prompt tok/s", "decode tok/s"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_EQ(r.out.find("block_influence"), std::string::npos);  // the importance table only with --report
}

TEST_F(PruneCli, ReportAloneWritesNothingAndJsonIsOneObject) {
  CliRun r = run(dir, base() + " --report --drop-layers 2");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("block_influence"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("plan: 3 of 5 layers"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("decode tok/s"), std::string::npos);
  r = run(dir, base() + " --report --json --ffn-keep 0.5");
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.front(), '{');
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1);
  EXPECT_NE(r.out.find("\"ffn_channels\":86"), std::string::npos) << r.out;
}

TEST_F(PruneCli, BadArgumentsAreOneLineErrors) {
  const std::string out = " -o " + dir.file("never.gguf");
  write(dir.file("not_a_model.gguf"), "this is not a GGUF file");
  const std::pair<std::string, std::string> cases[] = {
      {base() + out + " --heads-keep 0", "--heads-keep must be in (0, 1]"},
      {base() + out + " --ffn-keep 1.5", "--ffn-keep must be in (0, 1]"},
      {base() + out + " --drop-layers 5", "at least one must stay"},
      {base() + out + " --drop-layers 2,9", "layer 9 does not exist"},
      {base() + out + " --drop-layers two", "neither a count nor a list"},
      {base() + out + " --metric cosine", "unknown metric 'cosine'"},
      {"-m " + stories() + out, "no calibration text"},
      {"-m " + stories() + out + " --calib " + dir.file("missing.txt"), "cannot read calibration text"},
      {"-m " + dir.file("not_a_model.gguf") + " --calib " + dir.file("calib.txt") + out, "not_a_model.gguf"},
      {base(), "no output file"},
      {base() + out + " --heal-generate 4", "--heal-data / --heal-generate without --heal-steps"},
      {base() + " --report --heal-steps 5", "healing needs an output file"},
      {base() + out + " --heal-hidden 1", "--heal-hidden without --heal-steps"},
      {base() + out + " --heal-steps 5 --heal-hidden 1 --drop-layers 1", "--heal-hidden with --drop-layers"},
      {base() + out + " --heal-steps 5 --heal-data " + dir.file("missing.txt"), "cannot read healing text"},
      {base() + out + " --heal-steps 5 --heal-seq-len 4000", "healing: the healing text has"},
  };
  for (const auto& [args, message] : cases) {
    const CliRun r = run(dir, args);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_EQ(r.err.rfind("kuai prune: ", 0), 0u) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << "\n" << r.err;
    const size_t first_line = r.err.find('\n');
    EXPECT_EQ(r.err.find("kuai prune: ", 1), std::string::npos) << r.err;
    EXPECT_EQ(r.err.substr(first_line + 1).rfind("hint: ", 0), 0u) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir.file("never.gguf")));
}

TEST_F(PruneCli, HelpNamesEveryOption) {
  const CliRun r = run(dir, "--help");
  EXPECT_EQ(r.rc, 0);
  for (const char* o : {"--calib", "--drop-layers", "--heads-keep", "--ffn-keep", "--metric", "--report", "--json",
                        "--type", "--eval", "--heal-steps", "--heal-data", "--heal-generate", "--heal-lr", "--heal-hidden", "--compensate"})
    EXPECT_NE(r.out.find(o), std::string::npos) << o;
}

TEST_F(PruneCli, AnotherArchitectureIsRefused) {
  // tiny-qwen2's tensors under an architecture prune does not know.
  const std::string qwen = dir.file("qwen.gguf"), other = dir.file("gpt2.gguf");
  ASSERT_EQ(std::system((test::kuai_bin() + " synth --preset tiny-qwen2 -o " + qwen + " >/dev/null 2>&1").c_str()), 0);
  auto f = engine::GgufFile::open(qwen);
  ASSERT_TRUE(f.ok());
  engine::GgufWriter w;
  for (const auto& kv : (*f)->metadata()) {
    std::string key = kv.key.rfind("qwen2.", 0) == 0 ? "gpt2." + kv.key.substr(6) : kv.key;
    w.set(key, kv.key == "general.architecture" ? engine::GgufValue::of(std::string("gpt2")) : kv.value);
  }
  for (const auto& t : (*f)->tensors())
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + std::max<uint32_t>(1, t.n_dims)),
                 std::vector<uint8_t>(t.data, t.data + t.n_bytes));
  ASSERT_TRUE(w.write(other).ok());
  const CliRun r = run(dir, "-m " + other + " --calib " + dir.file("calib.txt") + " -o " + dir.file("never.gguf"));
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.substr(0, r.err.find('\n')).find("unsupported architecture 'gpt2'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("never.gguf")));
}

TEST_F(PruneCli, Qwen2RefusesTaylorHealingAndHeadCuts) {
  const std::string qwen = dir.file("qwen.gguf");
  ASSERT_EQ(std::system((test::kuai_bin() + " synth --preset tiny-qwen2 -o " + qwen + " >/dev/null 2>&1").c_str()), 0);
  for (const char* extra : {" --ffn-keep 0.5 --metric taylor", " --ffn-keep 0.5 --heal-steps 5"}) {
    const CliRun r = run(dir, "-m " + qwen + " --calib " + dir.file("calib.txt") + " -o " + dir.file("never.gguf") + extra);
    EXPECT_NE(r.rc, 0) << extra;
    EXPECT_NE(r.err.find("need a llama file"), std::string::npos) << extra << ": " << r.err;
  }
  const CliRun heads = run(dir, "-m " + qwen + " --calib " + dir.file("calib.txt") + " -o " + dir.file("never.gguf") +
                                    " --heads-keep 0.5");
  EXPECT_NE(heads.rc, 0);
  EXPECT_NE(heads.err.find("a qwen2 file keeps all its heads"), std::string::npos) << heads.err;
}

}  // namespace
}  // namespace kuai::tools::prune_test
