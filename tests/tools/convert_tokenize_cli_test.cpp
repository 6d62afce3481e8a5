// The real binary: `kuai convert llama2c` then `kuai tokenize` on its output; a corrupt GGUF and a missing
// checkpoint are one-line errors with a hint and a non-zero exit.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include "support/paths.h"

namespace {

struct Run {
  int code;
  std::string out;  // stdout and stderr together
};

Run run(const std::string& cmd) {
  Run r{-1, {}};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(ConvertTokenizeCli, ConvertThenTokenizeAndErrors) {
  const std::string kuai = kuai::test::kuai_bin();
  const std::string dir = kuai::test::shared_dir() + "/models/stories260K/";
  const auto tmp = std::filesystem::temp_directory_path() / ("kuai_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  const std::string out = (tmp / "s.gguf").string();

  auto conv = run(kuai + " convert llama2c --checkpoint " + dir + "stories260K.bin --tokenizer " + dir +
                  "tok512.bin -o " + out);
  ASSERT_EQ(conv.code, 0) << conv.out;

  auto tok = run("printf 'Once upon a time\\n' | " + kuai + " tokenize -m " + out);
  EXPECT_EQ(tok.code, 0);
  EXPECT_EQ(tok.out, "1 403 407 261 378\n");
  auto nobos = run(kuai + " tokenize -m " + out + " --no-bos -p 'Lily and Tom'");
  EXPECT_EQ(nobos.out, "317 269 274 287\n");
  auto pieces = run(kuai + " tokenize -m " + out + " --pieces -p 'Once'");
  EXPECT_EQ(pieces.out, "1\t<s>\n403\t Once\n");
  auto special = run(kuai + " tokenize -m " + out + " --no-bos --parse-special -p '</s>'");
  EXPECT_EQ(special.out, "2\n");

  // A truncated GGUF: clear error, hint, exit 1.
  {
    std::ifstream in(out, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(tmp / "cut.gguf", std::ios::binary).write(bytes.data(), 5000);
  }
  auto bad = run(kuai + " tokenize -m " + (tmp / "cut.gguf").string() + " -p hi");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("kuai tokenize: "), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("hint: "), std::string::npos) << bad.out;

  auto missing = run(kuai + " convert llama2c --checkpoint /nonexistent.bin --tokenizer x -o " + (tmp / "x.gguf").string());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.out.find("kuai convert: /nonexistent.bin: cannot open"), std::string::npos) << missing.out;

  auto help = run(kuai + " tokenize --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--parse-special"), std::string::npos);
  std::filesystem::remove_all(tmp);
}

}  // namespace
