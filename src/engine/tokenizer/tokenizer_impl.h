// Internal to src/engine/tokenizer: the vocabulary data shared by the SPM, BPE and WordPiece encoders.
#pragma once

#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer.h"

#include <array>
#include <string>
#include <unordered_map>
#include <vector>

namespace kuai::engine {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;

struct Tokenizer::Impl {
  TokenizerKind kind = TokenizerKind::Spm;
  std::string model, pre;
  std::vector<std::string> text;
  std::vector<float> scores;
  std::vector<TokenType> types;
  TokenMap to_id;
  TokenMap bpe_ranks;                  // "left right" → merge rank (BPE)
  std::vector<TokenId> special_cache;  // control/user-defined/unknown tokens, longest text first
  std::array<TokenId, 256> byte_token{};  // SPM byte fallback (<0xHH>), kNoToken when absent
  TokenId bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken, pad = kNoToken,
          sep = kNoToken, cls = kNoToken, mask = kNoToken;
  bool add_bos = false, add_eos = false, add_space_prefix = true, ignore_merges = false;
  std::vector<TokenId> eog;
  std::unique_ptr<tok::PreTokenizer> pre_tok;  // BPE only
  std::optional<std::string> chat_template;
  size_t max_token_bytes = 0;

  TokenId lookup(std::string_view s) const {
    auto it = to_id.find(s);
    return it == to_id.end() ? kNoToken : it->second;
  }
  bool valid(TokenId id) const { return id >= 0 && static_cast<size_t>(id) < text.size(); }
};

// A piece of the input: a token matched as a whole (token != kNoToken) or raw text to encode.
struct Fragment {
  TokenId token = kNoToken;
  std::string_view text;
};
std::vector<Fragment> partition_special(const Tokenizer::Impl& v, std::string_view text, bool parse_special);

void spm_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>& out);
void bpe_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>& out);
void wordpiece_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>& out);

}  // namespace kuai::engine
