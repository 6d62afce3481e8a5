#include "tools/synth_vocab.h"

#include <random>
#include <unordered_set>
#include <vector>

#include "engine/gguf/gguf_writer.h"

namespace kuai::tools {
namespace {

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xE0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// GPT-2's byte -> printable code point map.
std::vector<std::string> byte_symbols() {
  std::vector<std::string> out(256);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    out[size_t(b)] = utf8(printable ? uint32_t(b) : uint32_t(256 + extra++));
  }
  return out;
}

// BERT's WordPiece layout as GGUF stores it: [PAD] 0, [unused…], [UNK] 100, [CLS] 101, [SEP] 102,
// [MASK] 103, then single characters as word starts ("▁a") and as continuations ("a", BERT's "##a"),
// then word starts and continuations made of earlier pieces.
void write_wordpiece_vocab(engine::GgufWriter& w, int32_t n_vocab, std::mt19937_64& rng) {
  const std::string start = "\xe2\x96\x81";  // ▁
  std::vector<std::string> tokens;
  std::vector<int32_t> types;  // 1 normal, 3 control
  std::unordered_set<std::string> seen;
  auto add = [&](std::string s, int32_t type) {
    seen.insert(s);
    tokens.push_back(std::move(s));
    types.push_back(type);
  };
  add("[PAD]", 3);
  while (tokens.size() < 100) add("[unused" + std::to_string(tokens.size() - 1) + "]", 3);
  for (const char* s : {"[UNK]", "[CLS]", "[SEP]", "[MASK]"}) add(s, 3);
  const std::string alphabet = "etaoinshrdlucmfwypvbgkjqxz0123456789.,!?'\"-:;()";
  for (char c : alphabet) add(start + c, 1);
  for (char c : alphabet) add(std::string(1, c), 1);
  const size_t first_piece = 104;
  while (int32_t(tokens.size()) < n_vocab) {
    const size_t span = tokens.size() - first_piece;
    const std::string& a = tokens[first_piece + rng() % span];
    std::string b = tokens[first_piece + rng() % span];
    if (b.starts_with(start)) b = b.substr(start.size());
    std::string piece = a + b;
    if (piece.size() > 18 || seen.count(piece)) continue;
    add(std::move(piece), 1);
  }
  tokens.resize(size_t(n_vocab));
  types.resize(size_t(n_vocab));
  w.set_string("tokenizer.ggml.model", "bert");
  w.set_string("tokenizer.ggml.pre", "default");
  w.set_array("tokenizer.ggml.tokens", tokens);
  w.set_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.token_type_count", 2);
  w.set_u32("tokenizer.ggml.padding_token_id", 0);
  w.set_u32("tokenizer.ggml.unknown_token_id", 100);
  w.set_u32("tokenizer.ggml.cls_token_id", 101);
  w.set_u32("tokenizer.ggml.seperator_token_id", 102);
  w.set_u32("tokenizer.ggml.mask_token_id", 103);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", true);
}

}  // namespace

void write_synth_vocab(engine::GgufWriter& w, const std::string& arch, int32_t n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // 1 normal, 2 unknown, 3 control, 6 byte
  std::unordered_set<std::string> seen;
  if (arch == "qwen2") {
    const int n_special = 3;
    const auto bytes = byte_symbols();
    std::vector<std::string> merges;
    for (const auto& b : bytes) {
      tokens.push_back(b);
      seen.insert(b);
      types.push_back(1);
    }
    // pieces made of printable ASCII letters first (so real text finds merges), then any pair
    const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
    while (int32_t(tokens.size()) < n_vocab - n_special) {
      const size_t limit = tokens.size();
      const size_t a = rng() % std::min<size_t>(limit, 256 + tokens.size() / 2);
      const size_t b = rng() % std::min<size_t>(limit, 256 + tokens.size() / 2);
      std::string left = a < 256 ? bytes[size_t(uint8_t(letters[a % letters.size()]))] : tokens[a];
      std::string right = b < 256 ? bytes[size_t(uint8_t(letters[b % letters.size()]))] : tokens[b];
      if (rng() % 4 == 0) left = bytes[size_t(' ')] + left;  // "Ġ" prefix, as GPT-2 word starts
      const std::string piece = left + right;
      if (piece.size() > 24 || !seen.insert(piece).second) continue;
      // a merge needs both halves to be tokens
      if (!seen.count(left)) {
        continue;
      }
      tokens.push_back(piece);
      types.push_back(1);
      merges.push_back(left + " " + right);
    }
    for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
      tokens.emplace_back(s);
      types.push_back(3);
    }
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "qwen2");
    w.set_array("tokenizer.ggml.tokens", tokens);
    w.set_array("tokenizer.ggml.token_type", types);
    w.set_array("tokenizer.ggml.merges", merges);
    w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(n_vocab - 3));
    w.set_u32("tokenizer.ggml.padding_token_id", uint32_t(n_vocab - 3));
    w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(n_vocab - 3));
    w.set_bool("tokenizer.ggml.add_bos_token", false);
    w.set_string("tokenizer.chat_template",
                 "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                 "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
    return;
  }
  if (arch == "bert") {
    write_wordpiece_vocab(w, n_vocab, rng);
    return;
  }
  auto add = [&](std::string s, float score, int32_t type) {
    seen.insert(s);
    tokens.push_back(std::move(s));
    scores.push_back(score);
    types.push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  char hex[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    add(hex, 0, 6);
  }
  const std::string space = "\xe2\x96\x81";  // ▁
  const std::string alphabet = "etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,!?'\"-:;()";
  for (char c : alphabet) add(std::string(1, c), -float(tokens.size()), 1);
  add(space, -float(tokens.size()), 1);
  const size_t first_piece = 259;
  while (int32_t(tokens.size()) < n_vocab) {
    const size_t span = tokens.size() - first_piece;
    const size_t a = first_piece + rng() % span, b = first_piece + rng() % span;
    std::string piece = (rng() % 3 == 0 ? space : std::string()) + tokens[a] + tokens[b];
    if (piece.size() > 24 || seen.count(piece)) continue;
    add(std::move(piece), -float(tokens.size()), 1);
  }
  tokens.resize(size_t(n_vocab));
  scores.resize(size_t(n_vocab));
  types.resize(size_t(n_vocab));
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string("tokenizer.ggml.pre", "default");
  w.set_array("tokenizer.ggml.tokens", tokens);
  w.set_array("tokenizer.ggml.scores", scores);
  w.set_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
}

}  // namespace kuai::tools
