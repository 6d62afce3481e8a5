// kuai convert llama2c: the converted stories260K equals the GGUF that llama.cpp's converter made from the
// same checkpoint (tensors byte for byte, vocab, hyper-parameters), and bad inputs are clear errors.
#include "tools/convert_llama2c.h"

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include "support/paths.h"

namespace kuai::tools {
namespace {

using engine::GgufFile;

using kuai::test::shared_dir;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("kuai_conv_" + std::to_string(::getpid()) + "_" + name)).string();
}

TEST(ConvertLlama2c, Stories260KEqualsReferenceGguf) {
  const std::string dir = shared_dir() + "/models/stories260K/";
  Llama2cConvertOptions o;
  o.checkpoint_path = dir + "stories260K.bin";
  o.tokenizer_path = dir + "tok512.bin";
  o.output_path = temp_path("stories260K.gguf");
  auto st = convert_llama2c(o);
  ASSERT_TRUE(st.ok()) << st.error();

  auto ours = GgufFile::open(o.output_path);
  auto ref = GgufFile::open(dir + "stories260K.gguf");
  ASSERT_TRUE(ours.ok()) << ours.error();
  ASSERT_TRUE(ref.ok()) << ref.error();
  const GgufFile& a = **ours;
  const GgufFile& b = **ref;

  // Every metadata key of the reference, same type and value.
  for (const auto& kv : b.metadata()) {
    const engine::GgufValue* mine = a.find(kv.key);
    ASSERT_NE(mine, nullptr) << kv.key;
    EXPECT_EQ(mine->type(), kv.value.type()) << kv.key;
    if (kv.value.is_array()) {
      EXPECT_EQ(mine->array_type(), kv.value.array_type()) << kv.key;
      EXPECT_EQ(mine->raw(), kv.value.raw()) << kv.key;
      EXPECT_EQ(mine->strings(), kv.value.strings()) << kv.key;
    } else if (kv.value.as_string()) {
      EXPECT_EQ(*mine->as_string(), *kv.value.as_string()) << kv.key;
    } else {
      EXPECT_EQ(mine->as_f64(), kv.value.as_f64()) << kv.key;
    }
  }
  // Same tensors: names, order, types, shapes, bytes.
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (size_t i = 0; i < b.tensors().size(); ++i) {
    const auto& x = a.tensors()[i];
    const auto& y = b.tensors()[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.type, y.type) << y.name;
    EXPECT_EQ(x.ne, y.ne) << y.name;
    ASSERT_EQ(x.n_bytes, y.n_bytes) << y.name;
    EXPECT_EQ(std::memcmp(x.data, y.data, x.n_bytes), 0) << y.name;
  }
  // Same tokenization through the vocab.
  auto ta = engine::Tokenizer::from_gguf(a);
  auto tb = engine::Tokenizer::from_gguf(b);
  ASSERT_TRUE(ta.ok() && tb.ok());
  EXPECT_EQ((*ta)->encode("Once upon a time, Lily ran."), (*tb)->encode("Once upon a time, Lily ran."));
  std::filesystem::remove(o.output_path);
}

TEST(ConvertLlama2c, ClearErrorsForBadInput) {
  const std::string dir = shared_dir() + "/models/stories260K/";
  Llama2cConvertOptions o;
  o.checkpoint_path = "/nonexistent.bin";
  o.tokenizer_path = dir + "tok512.bin";
  o.output_path = temp_path("x.gguf");
  auto missing = convert_llama2c(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot open"), std::string::npos);

  // Truncated checkpoint.
  std::ifstream in(dir + "stories260K.bin", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = temp_path("cut.bin");
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  o.checkpoint_path = cut;
  auto truncated = convert_llama2c(o);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().find("truncated"), std::string::npos);

  // Garbage header.
  std::string garbage = bytes.substr(0, 64);
  std::memset(garbage.data(), 0xff, 28);
  std::ofstream(cut, std::ios::binary | std::ios::trunc).write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  auto bad = convert_llama2c(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("implausible"), std::string::npos);

  // Tokenizer of another size.
  o.checkpoint_path = dir + "stories260K.bin";
  o.tokenizer_path = cut;
  EXPECT_FALSE(convert_llama2c(o).ok());
  std::filesystem::remove(cut);
  EXPECT_FALSE(std::filesystem::exists(o.output_path));
}

}  // namespace
}  // namespace kuai::tools
