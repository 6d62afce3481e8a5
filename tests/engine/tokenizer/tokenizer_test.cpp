// Tokenizer behaviour beyond the shared vectors: llama2.c's encoding of stories260K prompts, special
// tokens, decode round trips, and errors for bad vocab metadata.
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include "support/paths.h"

namespace kuai::engine {
namespace {

using kuai::test::shared_dir;

std::unique_ptr<Tokenizer> load(const std::string& path) {
  auto f = GgufFile::open(path);
  EXPECT_TRUE(f.ok()) << f.error();
  if (!f.ok()) return nullptr;
  auto t = Tokenizer::from_gguf(**f);
  EXPECT_TRUE(t.ok()) << t.error();
  return t.ok() ? std::move(*t) : nullptr;
}

std::unique_ptr<Tokenizer> vocab(const std::string& name) {
  return load(shared_dir() + "/tokenizer-tests/ggml-vocab-" + name + ".gguf");
}

// Minimal reader for the jsonl lines: the "text" string (JSON escapes) and the "ids" array.
std::string json_string_after(const std::string& line, const std::string& key) {
  size_t p = line.find("\"" + key + "\": \"");
  if (p == std::string::npos) return {};
  p += key.size() + 5;
  std::string out;
  while (p < line.size() && line[p] != '"') {
    char c = line[p++];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    char e = line[p++];
    switch (e) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case 'u': {
        uint32_t cp = std::stoul(line.substr(p, 4), nullptr, 16);
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {  // surrogate pair
          const uint32_t lo = std::stoul(line.substr(p + 2, 4), nullptr, 16);
          p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) out.push_back(static_cast<char>(cp));
        else if (cp < 0x800) { out.push_back(static_cast<char>(0xC0 | (cp >> 6))); out.push_back(static_cast<char>(0x80 | (cp & 0x3F))); }
        else if (cp < 0x10000) { out.push_back(static_cast<char>(0xE0 | (cp >> 12))); out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))); out.push_back(static_cast<char>(0x80 | (cp & 0x3F))); }
        else { out.push_back(static_cast<char>(0xF0 | (cp >> 18))); out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F))); out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))); out.push_back(static_cast<char>(0x80 | (cp & 0x3F))); }
        break;
      }
      default: out.push_back(e);
    }
  }
  return out;
}

std::vector<TokenId> json_ids(const std::string& line) {
  std::vector<TokenId> ids;
  size_t p = line.find("\"ids\": [");
  if (p == std::string::npos) return ids;
  p += 8;
  const size_t end = line.find(']', p);
  std::string body = line.substr(p, end - p);
  size_t q = 0;
  while (q < body.size()) {
    size_t comma = body.find(',', q);
    if (comma == std::string::npos) comma = body.size();
    if (comma > q) ids.push_back(std::stoi(body.substr(q, comma - q)));
    q = comma + 1;
  }
  return ids;
}

TEST(Tokenizer, MatchesLlama2cEncodeOnStories260K) {
  auto tok = load(shared_dir() + "/models/stories260K/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  std::ifstream in(shared_dir() + "/models/stories260K/reference/tok512_encode.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    const std::string text = json_string_after(line, "text");
    const auto expected = json_ids(line);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(tok->encode(text, /*add_special=*/true), expected) << "text: '" << text << "'";
    ++n;
  }
  EXPECT_EQ(n, 15);
}

TEST(Tokenizer, SpmSpecialsAndDecode) {
  auto tok = vocab("llama-spm");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), TokenizerKind::Spm);
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_TRUE(tok->is_eog(2));
  const auto with_bos = tok->encode("Hello world", true);
  ASSERT_FALSE(with_bos.empty());
  EXPECT_EQ(with_bos[0], 1);
  EXPECT_EQ(tok->decode(with_bos), "Hello world");
  // parse_special: "<s>" in the text is BOS; without it, it is plain text.
  const auto special = tok->encode("<s>Hi", false, true);
  ASSERT_GE(special.size(), 2u);
  EXPECT_EQ(special[0], 1);
  const auto plain = tok->encode("<s>Hi", false, false);
  EXPECT_NE(plain[0], 1);
  EXPECT_EQ(tok->decode(plain), "<s>Hi");
  // Byte fallback round trip (characters outside the vocab).
  const std::string odd = "emoji 🦙 and \x01 control";
  EXPECT_EQ(tok->decode(tok->encode(odd, false)), odd);
  EXPECT_EQ(tok->token_to_piece(1), "");
  EXPECT_EQ(tok->token_to_piece(1, true), "<s>");
  EXPECT_EQ(tok->token_to_piece(-5), "");
  EXPECT_EQ(tok->token_to_piece(1 << 30), "");
}

TEST(Tokenizer, BpeDecodeRoundTripsBytes) {
  for (const char* name : {"gpt-2", "deepseek-llm", "falcon", "starcoder"}) {
    auto tok = vocab(name);
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(tok->kind(), TokenizerKind::Bpe);
    for (const std::string text : {"Hello, world!\n\tTabs  and  spaces", "中文 and ελληνικά 🦙", "  \n\n x", ""}) {
      EXPECT_EQ(tok->decode(tok->encode(text, false)), text) << name;
    }
  }
}

TEST(Tokenizer, BpeParseSpecial) {
  auto tok = vocab("gpt-2");
  ASSERT_NE(tok, nullptr);
  const TokenId eot = *tok->find("<|endoftext|>");
  const auto on = tok->encode("a<|endoftext|>b", false, true);
  ASSERT_EQ(on.size(), 3u);
  EXPECT_EQ(on[1], eot);
  const auto off = tok->encode("a<|endoftext|>b", false, false);
  EXPECT_GT(off.size(), 3u);
  EXPECT_EQ(std::count(off.begin(), off.end(), eot), 0);
}

TEST(Tokenizer, InvalidUtf8NeverCrashes) {
  for (const char* name : {"llama-spm", "gpt-2", "deepseek-coder", "bert-bge"}) {
    auto tok = vocab(name);
    ASSERT_NE(tok, nullptr);
    const std::string bad = std::string("ab\xff\xfe\xc3(\xe2\x82 end\xf0\x9f", 15);
    const auto ids = tok->encode(bad, true, true);
    EXPECT_FALSE(ids.empty()) << name;
    for (TokenId id : ids) EXPECT_LT(static_cast<size_t>(id), tok->n_vocab());
  }
}

TEST(Tokenizer, ErrorsForBadMetadata) {
  const auto dir = std::filesystem::temp_directory_path();
  auto build = [&](auto&& fill) {
    GgufWriter w;
    fill(w);
    const std::string path = (dir / ("kuai_tok_" + std::to_string(::getpid()) + ".gguf")).string();
    EXPECT_TRUE(w.write(path).ok());
    auto f = GgufFile::open(path);
    std::filesystem::remove(path);
    return Tokenizer::from_gguf(**f);
  };
  auto none = build([](GgufWriter&) {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("tokenizer.ggml.model"), std::string::npos);
  auto unknown = build([](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "rwkv");
    w.set_array<std::string>("tokenizer.ggml.tokens", {"a"});
  });
  EXPECT_FALSE(unknown.ok());
  auto mismatch = build([](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_array<std::string>("tokenizer.ggml.tokens", {"a", "b"});
    w.set_array<float>("tokenizer.ggml.scores", {0.f});
  });
  EXPECT_FALSE(mismatch.ok());
  auto no_merges = build([](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_array<std::string>("tokenizer.ggml.tokens", {"a"});
  });
  EXPECT_FALSE(no_merges.ok());
  auto bad_pre = build([](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "no-such-pre");
    w.set_array<std::string>("tokenizer.ggml.tokens", {"a"});
    w.set_array<std::string>("tokenizer.ggml.merges", {});
  });
  ASSERT_FALSE(bad_pre.ok());
  EXPECT_NE(bad_pre.error().find("no-such-pre"), std::string::npos);
  // Special ids out of range are dropped, not trusted.
  auto out_of_range = build([](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_array<std::string>("tokenizer.ggml.tokens", {"<unk>", "\xE2\x96\x81" "a"});
    w.set_u32("tokenizer.ggml.bos_token_id", 99);
  });
  ASSERT_TRUE(out_of_range.ok());
  EXPECT_EQ((*out_of_range)->bos(), kNoToken);
  EXPECT_EQ((*out_of_range)->encode("a", true), (std::vector<TokenId>{1}));
}

}  // namespace
}  // namespace kuai::engine
