#include "tools/convert_hf_tokenizer.h"

#include "engine/gguf/gguf_writer.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer.h"

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace kuai::tools {
namespace {

namespace json = boost::json;
using engine::make_error;
using engine::Result;
using engine::Status;
using engine::TokenType;

Result<json::value> read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec) return make_error(path + ": not valid JSON (" + ec.message() + ")");
  return v;
}

// A token named in tokenizer_config.json: either "text" or {"content": "text", ...}.
std::optional<std::string> config_token(const json::object& cfg, const char* key) {
  const json::value* v = cfg.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_object())
    if (const json::value* c = v->as_object().if_contains("content"); c && c->is_string())
      return std::string(c->as_string());
  return std::nullopt;
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
};

// Places `text` at `id`, growing the table; ids never seen stay "[PAD<id>]" (unused).
Status place(Vocab& v, int64_t id, std::string text, TokenType type) {
  if (id < 0 || id > (1 << 24)) return make_error("token id " + std::to_string(id) + " out of range");
  const size_t i = static_cast<size_t>(id);
  if (v.tokens.size() <= i) {
    const size_t old = v.tokens.size();
    v.tokens.resize(i + 1);
    v.types.resize(i + 1, static_cast<int32_t>(TokenType::Unused));
    for (size_t k = old; k <= i; ++k) v.tokens[k] = "[PAD" + std::to_string(k) + "]";
  }
  v.tokens[i] = std::move(text);
  v.types[i] = static_cast<int32_t>(type);
  return engine::Ok{};
}

Result<Vocab> read_vocab(const json::object& root) {
  const json::value* model = root.if_contains("model");
  if (!model || !model->is_object()) return make_error("no \"model\" object");
  const json::object& m = model->as_object();
  const json::value* type = m.if_contains("type");
  if (!type || !type->is_string() || type->as_string() != "BPE")
    return make_error("model.type must be \"BPE\" (byte-level BPE); WordPiece and Unigram vocabularies are not "
                      "converted from tokenizer.json");
  const json::value* vocab = m.if_contains("vocab");
  const json::value* merges = m.if_contains("merges");
  if (!vocab || !vocab->is_object()) return make_error("model.vocab must be an object of token → id");
  if (!merges || !merges->is_array()) return make_error("model.merges must be an array");

  Vocab v;
  for (const auto& [text, id] : vocab->as_object()) {
    if (!id.is_int64()) return make_error("model.vocab[\"" + std::string(text) + "\"] is not an integer id");
    if (auto st = place(v, id.as_int64(), std::string(text), TokenType::Normal); !st) return std::move(st).take_error();
  }
  if (const json::value* added = root.if_contains("added_tokens"); added && added->is_array()) {
    for (const json::value& a : added->as_array()) {
      const json::object* o = a.if_object();
      const json::value* id = o ? o->if_contains("id") : nullptr;
      const json::value* content = o ? o->if_contains("content") : nullptr;
      if (!id || !id->is_int64() || !content || !content->is_string())
        return make_error("added_tokens entries need an integer id and a string content");
      const json::value* special = o->if_contains("special");
      const bool is_special = special && special->is_bool() && special->as_bool();
      if (auto st = place(v, id->as_int64(), std::string(content->as_string()),
                          is_special ? TokenType::Control : TokenType::UserDefined);
          !st)
        return std::move(st).take_error();
    }
  }
  v.merges.reserve(merges->as_array().size());
  for (const json::value& e : merges->as_array()) {
    if (e.is_string()) {
      v.merges.emplace_back(e.as_string());
    } else if (e.is_array() && e.as_array().size() == 2 && e.as_array()[0].is_string() &&
               e.as_array()[1].is_string()) {
      v.merges.push_back(std::string(e.as_array()[0].as_string()) + " " + std::string(e.as_array()[1].as_string()));
    } else {
      return make_error("model.merges entries must be \"a b\" strings or [a, b] pairs");
    }
  }
  if (v.tokens.empty()) return make_error("model.vocab is empty");
  return v;
}

std::optional<uint32_t> find_id(const Vocab& v, const std::string& text) {
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i] == text) return static_cast<uint32_t>(i);
  return std::nullopt;
}

}  // namespace

Status convert_hf_tokenizer(const HfTokenizerConvertOptions& o) {
  const auto known = engine::tok::PreTokenizer::known_names();
  if (std::find(known.begin(), known.end(), o.pre) == known.end()) {
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return make_error("unknown pre-tokenizer '" + o.pre + "' (known: " + list + ")");
  }
  auto root = read_json(o.tokenizer_json);
  if (!root) return std::move(root).take_error();
  if (!root->is_object()) return make_error(o.tokenizer_json + ": not a JSON object");
  auto vocab = read_vocab(root->as_object());
  if (!vocab) return make_error(o.tokenizer_json + ": " + vocab.error());

  engine::GgufWriter w;
  w.set_string("general.name", o.name);
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", o.pre);
  w.set("tokenizer.ggml.tokens", engine::GgufValue::array_strings(vocab->tokens));
  w.set_array("tokenizer.ggml.token_type", vocab->types);
  w.set("tokenizer.ggml.merges", engine::GgufValue::array_strings(vocab->merges));

  // Specials and the chat template live in tokenizer_config.json, beside tokenizer.json.
  const auto config_path = std::filesystem::path(o.tokenizer_json).parent_path() / "tokenizer_config.json";
  bool add_bos = false;
  if (std::filesystem::exists(config_path)) {
    auto cfg = read_json(config_path.string());
    if (!cfg) return std::move(cfg).take_error();
    if (const json::object* c = cfg->if_object()) {
      for (const auto& [key, gguf_key] : {std::pair{"bos_token", "tokenizer.ggml.bos_token_id"},
                                          std::pair{"eos_token", "tokenizer.ggml.eos_token_id"},
                                          std::pair{"pad_token", "tokenizer.ggml.padding_token_id"}}) {
        if (auto text = config_token(*c, key))
          if (auto id = find_id(*vocab, *text)) w.set_u32(gguf_key, *id);
      }
      if (const json::value* b = c->if_contains("add_bos_token"); b && b->is_bool()) add_bos = b->as_bool();
      if (const json::value* t = c->if_contains("chat_template"); t && t->is_string())
        w.set_string("tokenizer.chat_template", std::string(t->as_string()));
    }
  }
  w.set_bool("tokenizer.ggml.add_bos_token", add_bos);
  return w.write(o.output_path);
}

}  // namespace kuai::tools
