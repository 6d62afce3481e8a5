// GGUF reader and writer: a real file from another tool, a round trip of every metadata type and of
// aligned tensors, and the errors for files that are not GGUF.
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include "support/paths.h"

namespace kuai::engine {
namespace {

using kuai::test::shared_dir;

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("kuai_gguf_" + std::to_string(::getpid()) + "_" + name)).string();
}

TEST(GgufFile, ReadsStories260KFromAnotherTool) {
  auto f = GgufFile::open(shared_dir() + "/models/stories260K/stories260K.gguf");
  ASSERT_TRUE(f.ok()) << f.error();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.architecture(), "llama");
  EXPECT_EQ(g.get_u32("llama.embedding_length"), 64u);
  EXPECT_EQ(g.get_u32("llama.block_count"), 5u);
  EXPECT_NEAR(*g.get_f32("llama.attention.layer_norm_rms_epsilon"), 1e-5f, 1e-9f);
  EXPECT_EQ(g.get_string("tokenizer.ggml.model"), "llama");
  auto tokens = g.get_array<std::string>("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens);
  EXPECT_EQ(tokens->size(), 512u);
  EXPECT_EQ((*tokens)[1], "<s>");
  EXPECT_FALSE(g.get_array<float>("tokenizer.ggml.tokens"));  // strings do not convert to numbers
  EXPECT_FALSE(g.get_u32("no.such.key"));
  EXPECT_FALSE(g.get_string("llama.block_count"));  // wrong type

  const GgufTensor* emb = g.tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, GgmlType::F32);
  EXPECT_EQ(emb->ne[0], 64);
  EXPECT_EQ(emb->ne[1], 512);
  EXPECT_EQ(emb->n_bytes, 64u * 512u * 4u);
  EXPECT_EQ(emb->row_bytes(), 256u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(emb->data) % 32, 0u);
  EXPECT_EQ(g.tensor("nope"), nullptr);
}

TEST(GgufFile, ReadsEveryVocabFile) {
  for (const auto& e : std::filesystem::directory_iterator(shared_dir() + "/tokenizer-tests")) {
    if (e.path().extension() != ".gguf") continue;
    auto f = GgufFile::open(e.path().string());
    ASSERT_TRUE(f.ok()) << f.error();
    EXPECT_TRUE((*f)->get_string("tokenizer.ggml.model")) << e.path();
  }
}

TEST(GgufWriter, RoundTripsEveryValueTypeAndAlignedTensors) {
  GgufWriter w;
  w.set("u8", GgufValue::of<uint8_t>(200));
  w.set("i8", GgufValue::of<int8_t>(-100));
  w.set("u16", GgufValue::of<uint16_t>(60000));
  w.set("i16", GgufValue::of<int16_t>(-30000));
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set_f32("f32", 1.5f);
  w.set_bool("bool", true);
  w.set_string("str", "héllo\n");
  w.set_u64("u64", 1ull << 60);
  w.set("i64", GgufValue::of<int64_t>(-(1ll << 60)));
  w.set("f64", GgufValue::of(2.25));
  w.set_array<float>("arr.f32", {1.f, -2.f, 3.5f});
  w.set_array<int32_t>("arr.i32", {-1, 0, 7});
  w.set_array<std::string>("arr.str", {"a", "", "ccc"});
  w.set_array<bool>("arr.bool", {true, false});
  w.set("arr.nested", GgufValue::array_of_arrays({GgufValue::array<uint16_t>({1, 2}), GgufValue::array<std::string>({"x"})}));
  w.set_u32("u32", 7);  // replaces, keeps position

  std::vector<float> a(64 * 3);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f;
  std::vector<uint8_t> q8(2 * 34, 0xAB);  // two Q8_0 blocks: one row of 64
  w.add_tensor("a", GgmlType::F32, {64, 3}, std::span(reinterpret_cast<const uint8_t*>(a.data()), a.size() * 4));
  w.add_tensor("q", GgmlType::Q8_0, {64}, std::move(q8));
  w.add_tensor("filled", GgmlType::F16, {5, 1, 1, 2}, [](std::span<uint8_t> out) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(i);
  });
  const std::string path = temp_path("roundtrip.gguf");
  ASSERT_TRUE(w.write(path).ok());

  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.error();
  const GgufFile& g = **f;
  EXPECT_EQ(g.metadata().size(), 17u);
  EXPECT_EQ(g.metadata()[4].key, "u32");
  EXPECT_EQ(g.get_u32("u8"), 200u);
  EXPECT_EQ(g.get_i32("i8"), -100);
  EXPECT_EQ(g.get_u32("u16"), 60000u);
  EXPECT_EQ(g.get_i32("i16"), -30000);
  EXPECT_EQ(g.get_u32("u32"), 7u);
  EXPECT_EQ(g.get_i32("i32"), -2000000000);
  EXPECT_EQ(g.get_u32("i32"), std::nullopt);  // negative does not fit unsigned
  EXPECT_EQ(g.get_f32("f32"), 1.5f);
  EXPECT_EQ(g.get_bool("bool"), true);
  EXPECT_EQ(g.get_string("str"), "héllo\n");
  EXPECT_EQ(g.get_u64("u64"), 1ull << 60);
  EXPECT_EQ(g.find("i64")->as_i64(), -(1ll << 60));
  EXPECT_EQ(g.find("f64")->as_f64(), 2.25);
  EXPECT_EQ(g.find("f64")->type(), GgufValueType::F64);
  EXPECT_EQ(g.get_array<float>("arr.f32"), (std::vector<float>{1.f, -2.f, 3.5f}));
  EXPECT_EQ(g.get_array<int64_t>("arr.i32"), (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_FALSE(g.get_array<uint32_t>("arr.i32"));  // -1 does not fit
  EXPECT_EQ(g.get_array<std::string>("arr.str"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(g.get_array<bool>("arr.bool"), (std::vector<bool>{true, false}));
  const GgufValue* nested = g.find("arr.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->array_size(), 2u);
  EXPECT_EQ(nested->at(0)->as_vector<uint16_t>(), (std::vector<uint16_t>{1, 2}));
  EXPECT_EQ(nested->at(1)->as_vector<std::string>(), (std::vector<std::string>{"x"}));

  ASSERT_EQ(g.tensors().size(), 3u);
  const GgufTensor* ta = g.tensor("a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->n_dims, 2u);
  EXPECT_EQ(ta->n_rows(), 3);
  EXPECT_EQ(std::memcmp(ta->data, a.data(), a.size() * 4), 0);
  const GgufTensor* tq = g.tensor("q");
  EXPECT_EQ(tq->n_bytes, 68u);
  EXPECT_EQ(tq->data[67], 0xAB);
  const GgufTensor* tf = g.tensor("filled");
  EXPECT_EQ(tf->n_elements(), 10);
  EXPECT_EQ(tf->data[19], 19);
  for (const auto& t : g.tensors()) EXPECT_EQ((t.data - g.tensors()[0].data) % 32, 0) << t.name;
  std::filesystem::remove(path);
}

TEST(GgufWriter, RejectsBadShapesAndDuplicates) {
  GgufWriter w;
  w.add_tensor("x", GgmlType::Q4_0, {31}, std::vector<uint8_t>(18));
  EXPECT_FALSE(w.write(temp_path("bad.gguf")).ok());
  GgufWriter d;
  d.add_tensor("x", GgmlType::F32, {1}, std::vector<uint8_t>(4));
  d.add_tensor("x", GgmlType::F32, {1}, std::vector<uint8_t>(4));
  auto st = d.write(temp_path("dup.gguf"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("duplicate"), std::string::npos);
  GgufWriter s;
  s.add_tensor("x", GgmlType::F32, {2}, std::vector<uint8_t>(4));
  EXPECT_FALSE(s.write(temp_path("size.gguf")).ok());
}

TEST(GgufFile, ClearErrorsForNonGgufInput) {
  auto missing = GgufFile::open("/nonexistent/x.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("cannot open"), std::string::npos);

  const uint8_t text[] = "hello world, not a model";
  auto bad = GgufFile::parse(text, sizeof text);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("magic"), std::string::npos);

  const uint8_t v1[] = {'G', 'G', 'U', 'F', 1, 0, 0, 0};
  auto old = GgufFile::parse(v1, sizeof v1);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.error().find("version 1"), std::string::npos);

  auto empty = GgufFile::parse(nullptr, 0);
  EXPECT_FALSE(empty.ok());
}

}  // namespace
}  // namespace kuai::engine
