// The real binary: `kuai convert llama2c` then `kuai tokenize` on its output; a corrupt GGUF and a missing
// checkpoint are one-line errors with a hint and a non-zero exit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include "support/paths.h"
#include "support/process.h"

namespace {

TEST(ConvertTokenizeCli, ConvertThenTokenizeAndErrors) {
  const std::string kuai = kuai::test::kuai_bin();
  const std::string dir = kuai::test::shared_dir() + "/models/stories260K/";
  const auto tmp = std::filesystem::temp_directory_path() / ("kuai_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  const std::string out = (tmp / "s.gguf").string();

  auto conv = kuai::test::run_shell(kuai + " convert llama2c --checkpoint " + dir + "stories260K.bin --tokenizer " + dir +
                  "tok512.bin -o " + out);
  ASSERT_EQ(conv.code, 0) << conv.out;

  auto tok = kuai::test::run_shell("printf 'Once upon a time\\n' | " + kuai + " tokenize -m " + out);
  EXPECT_EQ(tok.code, 0);
  EXPECT_EQ(tok.out, "1 403 407 261 378\n");
  auto nobos = kuai::test::run_shell(kuai + " tokenize -m " + out + " --no-bos -p 'Lily and Tom'");
  EXPECT_EQ(nobos.out, "317 269 274 287\n");
  auto pieces = kuai::test::run_shell(kuai + " tokenize -m " + out + " --pieces -p 'Once'");
  EXPECT_EQ(pieces.out, "1\t<s>\n403\t Once\n");
  auto special = kuai::test::run_shell(kuai + " tokenize -m " + out + " --no-bos --parse-special -p '</s>'");
  EXPECT_EQ(special.out, "2\n");

  // A truncated GGUF: clear error, hint, exit 1.
  {
    std::ifstream in(out, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(tmp / "cut.gguf", std::ios::binary).write(bytes.data(), 5000);
  }
  auto bad = kuai::test::run_shell(kuai + " tokenize -m " + (tmp / "cut.gguf").string() + " -p hi");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("kuai tokenize: "), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("hint: "), std::string::npos) << bad.out;

  auto missing = kuai::test::run_shell(kuai + " convert llama2c --checkpoint /nonexistent.bin --tokenizer x -o " + (tmp / "x.gguf").string());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.out.find("kuai convert: /nonexistent.bin: cannot open"), std::string::npos) << missing.out;

  auto help = kuai::test::run_shell(kuai + " tokenize --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--parse-special"), std::string::npos);
  std::filesystem::remove_all(tmp);
}

}  // namespace
