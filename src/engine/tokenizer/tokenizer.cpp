#include "engine/tokenizer/tokenizer.h"

#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/unicode_util.h"

#include <algorithm>
#include <cstdio>

namespace kuai::engine {
namespace {

TokenId special_id(const GgufFile& f, const std::string& key, TokenId fallback, size_t n_vocab) {
  const GgufValue* v = f.find(key);
  if (!v) return fallback;
  auto id = v->as_i64();
  if (!id || *id < 0 || static_cast<uint64_t>(*id) >= n_vocab) return kNoToken;  // e.g. u32 -1 = none
  return static_cast<TokenId>(*id);
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& f) {
  auto v = std::make_unique<Impl>();
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model) return make_error("no tokenizer in the file (tokenizer.ggml.model missing)");
  v->model = *model;
  v->pre = f.get_string("tokenizer.ggml.pre").value_or("");
  if (v->model == "llama") v->kind = TokenizerKind::Spm;
  else if (v->model == "gpt2") v->kind = TokenizerKind::Bpe;
  else if (v->model == "bert") v->kind = TokenizerKind::WordPiece;
  else return make_error("unsupported tokenizer model '" + v->model + "' (llama, gpt2 and bert are)");

  auto tokens = f.get_array<std::string>("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) return make_error("tokenizer.ggml.tokens missing or not an array of strings");
  if (tokens->size() > static_cast<size_t>(INT32_MAX)) return make_error("too many tokens");
  v->text = std::move(*tokens);
  const size_t n = v->text.size();
  if (f.has("tokenizer.ggml.scores")) {
    auto scores = f.get_array<float>("tokenizer.ggml.scores");
    if (!scores || scores->size() != n) return make_error("tokenizer.ggml.scores must be " + std::to_string(n) + " numbers");
    v->scores = std::move(*scores);
  } else {
    v->scores.assign(n, 0.f);
  }
  v->types.assign(n, TokenType::Normal);
  if (f.has("tokenizer.ggml.token_type")) {
    auto types = f.get_array<int32_t>("tokenizer.ggml.token_type");
    if (!types || types->size() != n) return make_error("tokenizer.ggml.token_type must be " + std::to_string(n) + " integers");
    for (size_t i = 0; i < n; ++i) {
      const int32_t t = (*types)[i];
      v->types[i] = (t >= 0 && t <= 6) ? static_cast<TokenType>(t) : TokenType::Undefined;
    }
  }
  v->to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    v->to_id.emplace(v->text[i], static_cast<TokenId>(i));  // first one wins on duplicates
    v->max_token_bytes = std::max(v->max_token_bytes, v->text[i].size());
  }

  const bool spm = v->kind == TokenizerKind::Spm;
  v->bos = special_id(f, "tokenizer.ggml.bos_token_id", spm ? 1 : kNoToken, n);
  v->eos = special_id(f, "tokenizer.ggml.eos_token_id", spm ? 2 : kNoToken, n);
  v->unk = special_id(f, "tokenizer.ggml.unknown_token_id", spm ? 0 : kNoToken, n);
  v->eot = special_id(f, "tokenizer.ggml.eot_token_id", kNoToken, n);
  v->eom = special_id(f, "tokenizer.ggml.eom_token_id", kNoToken, n);
  v->pad = special_id(f, "tokenizer.ggml.padding_token_id", kNoToken, n);
  v->sep = special_id(f, "tokenizer.ggml.seperator_token_id", kNoToken, n);
  v->cls = special_id(f, "tokenizer.ggml.cls_token_id", kNoToken, n);
  v->mask = special_id(f, "tokenizer.ggml.mask_token_id", kNoToken, n);
  if (v->kind == TokenizerKind::WordPiece) {
    if (v->bos == kNoToken) v->bos = v->cls;
    if (v->eos == kNoToken) v->eos = v->sep;
  }
  v->add_bos = f.get_bool("tokenizer.ggml.add_bos_token").value_or(spm || v->kind == TokenizerKind::WordPiece);
  v->add_eos = f.get_bool("tokenizer.ggml.add_eos_token").value_or(v->kind == TokenizerKind::WordPiece);
  v->add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(spm);
  if (v->add_bos && v->bos == kNoToken) v->add_bos = false;
  if (v->add_eos && v->eos == kNoToken) v->add_eos = false;
  v->chat_template = f.get_string("tokenizer.chat_template");

  if (v->kind == TokenizerKind::Bpe) {
    auto merges = f.get_array<std::string>("tokenizer.ggml.merges");
    if (!merges) return make_error("tokenizer.ggml.merges missing (required for gpt2 tokenizers)");
    v->bpe_ranks.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const std::string& m = (*merges)[i];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) return make_error("tokenizer.ggml.merges[" + std::to_string(i) + "] has no space");
      v->bpe_ranks.emplace(m, static_cast<TokenId>(i));
    }
    auto pre = tok::PreTokenizer::create(v->pre);
    if (!pre) return std::move(pre).take_error();
    v->pre_tok = std::move(*pre);
    v->ignore_merges = v->pre == "llama3" || v->pre == "llama-v3" || v->pre == "llama-bpe" || v->pre == "falcon3";
  }

  v->byte_token.fill(kNoToken);
  if (spm) {
    for (int b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "<0x%02X>", b);
      TokenId id = v->lookup(hex);
      if (id == kNoToken) id = v->lookup(std::string(1, static_cast<char>(b)));
      v->byte_token[b] = id;
    }
  }

  for (size_t i = 0; i < n; ++i) {
    const TokenType t = v->types[i];
    if ((t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) && !v->text[i].empty())
      v->special_cache.push_back(static_cast<TokenId>(i));
  }
  std::stable_sort(v->special_cache.begin(), v->special_cache.end(),
                   [&](TokenId a, TokenId b) { return v->text[a].size() > v->text[b].size(); });

  for (TokenId id : {v->eos, v->eot, v->eom})
    if (id != kNoToken) v->eog.push_back(id);
  for (const char* t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                        "<|eom_id|>", "<EOT>", "</s>"}) {
    const TokenId id = v->lookup(t);
    if (id != kNoToken && v->types[id] == TokenType::Control &&
        std::find(v->eog.begin(), v->eog.end(), id) == v->eog.end())
      v->eog.push_back(id);
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(v)));
}

std::vector<Fragment> partition_special(const Tokenizer::Impl& v, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags;
  if (!text.empty()) frags.push_back({kNoToken, text});
  for (TokenId id : v.special_cache) {
    const TokenType t = v.types[id];
    if (!parse_special && (t == TokenType::Control || t == TokenType::Unknown)) continue;
    const std::string& s = v.text[id];
    std::vector<Fragment> next;
    bool changed = false;
    for (const Fragment& fr : frags) {
      if (fr.token != kNoToken || fr.text.size() < s.size()) {
        next.push_back(fr);
        continue;
      }
      size_t start = 0;
      for (size_t pos = fr.text.find(s); pos != std::string_view::npos; pos = fr.text.find(s, start)) {
        if (pos > start) next.push_back({kNoToken, fr.text.substr(start, pos - start)});
        next.push_back({id, {}});
        start = pos + s.size();
        changed = true;
      }
      if (start < fr.text.size()) next.push_back({kNoToken, fr.text.substr(start)});
    }
    if (changed) frags = std::move(next);
  }
  return frags;
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& v = *impl_;
  std::vector<TokenId> out;
  if (add_special && v.add_bos) out.push_back(v.bos);
  const auto frags = partition_special(v, text, parse_special);
  bool prev_special = true;  // SPM: a dummy-prefix space before text at the start or after a token
  for (const Fragment& fr : frags) {
    if (fr.token != kNoToken) {
      out.push_back(fr.token);
      prev_special = true;
      continue;
    }
    switch (v.kind) {
      case TokenizerKind::Spm: {
        std::string s;
        if (v.add_space_prefix && prev_special) s = " ";
        s.append(fr.text);
        spm_encode(v, tok::escape_spaces(s), out);
        break;
      }
      case TokenizerKind::Bpe: bpe_encode(v, fr.text, out); break;
      case TokenizerKind::WordPiece: wordpiece_encode(v, fr.text, out); break;
    }
    prev_special = false;
  }
  if (add_special && v.add_eos) out.push_back(v.eos);
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool special) const {
  const Impl& v = *impl_;
  if (!v.valid(id)) return {};
  const std::string& t = v.text[id];
  switch (v.types[id]) {
    case TokenType::Control: return special ? t : std::string();
    case TokenType::Unknown: return v.kind == TokenizerKind::Spm ? std::string("\xE2\x96\x85") : (special ? t : "");
    case TokenType::UserDefined: return t;
    case TokenType::Byte:
      if (t.size() == 6 && t.rfind("<0x", 0) == 0) return std::string(1, static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
      return t;
    default: break;
  }
  switch (v.kind) {
    case TokenizerKind::Spm: return tok::unescape_spaces(t);
    case TokenizerKind::Bpe: return tok::unicode_to_bytes(t);
    case TokenizerKind::WordPiece:
      if (t.rfind("##", 0) == 0) return t.substr(2);
      return " " + t;
  }
  return t;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool special) const {
  const Impl& v = *impl_;
  std::string out;
  bool first_text = true;
  for (TokenId id : ids) {
    std::string p = token_to_piece(id, special);
    if (p.empty()) continue;
    if (first_text && (v.kind == TokenizerKind::WordPiece || (v.kind == TokenizerKind::Spm && v.add_space_prefix)) &&
        p[0] == ' ' && v.valid(id) && v.types[id] != TokenType::Byte)
      p.erase(0, 1);
    first_text = false;
    out += p;
  }
  return out;
}

TokenizerKind Tokenizer::kind() const { return impl_->kind; }
const std::string& Tokenizer::model_name() const { return impl_->model; }
const std::string& Tokenizer::pre_name() const { return impl_->pre; }
size_t Tokenizer::n_vocab() const { return impl_->text.size(); }
size_t Tokenizer::max_token_bytes() const { return impl_->max_token_bytes; }
const std::string& Tokenizer::token_text(TokenId id) const {
  static const std::string kEmpty;
  return impl_->valid(id) ? impl_->text[id] : kEmpty;
}
TokenType Tokenizer::token_type(TokenId id) const { return impl_->valid(id) ? impl_->types[id] : TokenType::Undefined; }
float Tokenizer::token_score(TokenId id) const { return impl_->valid(id) ? impl_->scores[id] : 0.f; }
std::optional<TokenId> Tokenizer::find(std::string_view text) const {
  const TokenId id = impl_->lookup(text);
  if (id == kNoToken) return std::nullopt;
  return id;
}
TokenId Tokenizer::bos() const { return impl_->bos; }
TokenId Tokenizer::eos() const { return impl_->eos; }
TokenId Tokenizer::eot() const { return impl_->eot; }
TokenId Tokenizer::unk() const { return impl_->unk; }
TokenId Tokenizer::pad() const { return impl_->pad; }
TokenId Tokenizer::sep() const { return impl_->sep; }
TokenId Tokenizer::cls() const { return impl_->cls; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
bool Tokenizer::is_eog(TokenId id) const {
  return std::find(impl_->eog.begin(), impl_->eog.end(), id) != impl_->eog.end();
}
const std::vector<TokenId>& Tokenizer::eog_ids() const { return impl_->eog; }
const std::optional<std::string>& Tokenizer::chat_template() const { return impl_->chat_template; }

}  // namespace kuai::engine
