#include "tools/convert_llama2c.h"

#include "engine/gguf/gguf_writer.h"
#include "engine/tokenizer/tokenizer.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <vector>

namespace kuai::tools {
namespace {

using engine::GgmlType;
using engine::make_error;

engine::Result<std::vector<uint8_t>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot open");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return make_error(path + ": read failed");
  return bytes;
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

engine::Result<Vocab> read_tokenizer(const std::string& path, int32_t vocab_size) {
  auto bytes = read_file(path);
  if (!bytes) return std::move(bytes).take_error();
  const auto& b = *bytes;
  size_t off = 0;
  auto take = [&](void* out, size_t n) {
    if (b.size() - off < n) return false;
    std::memcpy(out, b.data() + off, n);
    off += n;
    return true;
  };
  int32_t max_len = 0;
  if (!take(&max_len, 4)) return make_error(path + ": truncated tokenizer header");
  Vocab v;
  for (int32_t i = 0; i < vocab_size; ++i) {
    float score = 0;
    int32_t len = 0;
    if (!take(&score, 4) || !take(&len, 4)) return make_error(path + ": truncated at token " + std::to_string(i));
    if (len < 0 || static_cast<size_t>(len) > b.size() - off)
      return make_error(path + ": token " + std::to_string(i) + " has bad length " + std::to_string(len));
    std::string text(reinterpret_cast<const char*>(b.data() + off), static_cast<size_t>(len));
    off += static_cast<size_t>(len);
    int32_t type = static_cast<int32_t>(engine::TokenType::Normal);
    if (i == 0) {
      type = static_cast<int32_t>(engine::TokenType::Unknown);
    } else if (text == "\n<s>\n" || text == "\n</s>\n" || text == "<s>" || text == "</s>") {
      text = text.find("</s>") != std::string::npos ? "</s>" : "<s>";
      type = static_cast<int32_t>(engine::TokenType::Control);
    } else if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>') {
      type = static_cast<int32_t>(engine::TokenType::Byte);
    } else {
      std::string escaped;
      for (char c : text) {
        if (c == ' ') escaped += "\xE2\x96\x81";
        else escaped.push_back(c);
      }
      text = std::move(escaped);
    }
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
  }
  if (off != b.size())
    return make_error(path + ": " + std::to_string(b.size() - off) + " bytes left after " + std::to_string(vocab_size) +
                      " tokens (tokenizer does not match the checkpoint's vocab_size)");
  return v;
}

}  // namespace

engine::Status convert_llama2c(const Llama2cConvertOptions& o) {
  auto ckpt = read_file(o.checkpoint_path);
  if (!ckpt) return std::move(ckpt).take_error();
  const std::vector<uint8_t>& c = *ckpt;
  Llama2cHeader h{};
  if (c.size() < sizeof h) return make_error(o.checkpoint_path + ": shorter than the 28-byte llama2.c header");
  std::memcpy(&h, c.data(), sizeof h);
  if (h.dim == 0x616b3432 /* "ak42": llama2.c export version >= 1 */)
    return make_error(o.checkpoint_path + ": llama2.c export version 1/2 files are not supported (use the legacy format)");
  const bool shared = h.vocab_size > 0;
  const int64_t vocab = h.vocab_size < 0 ? -static_cast<int64_t>(h.vocab_size) : h.vocab_size;
  if (h.dim <= 0 || h.hidden_dim <= 0 || h.n_layers <= 0 || h.n_heads <= 0 || h.n_kv_heads <= 0 || vocab <= 0 ||
      h.seq_len <= 0 || h.dim % h.n_heads != 0 || h.n_heads % h.n_kv_heads != 0 || (h.dim / h.n_heads) % 2 != 0 ||
      h.dim > (1 << 16) || h.hidden_dim > (1 << 18) || h.n_layers > 1024 || vocab > (1 << 22) || h.seq_len > (1 << 24))
    return make_error(o.checkpoint_path + ": implausible llama2.c header (dim " + std::to_string(h.dim) + ", heads " +
                      std::to_string(h.n_heads) + "/" + std::to_string(h.n_kv_heads) + ", vocab " +
                      std::to_string(h.vocab_size) + ")");
  const int64_t dim = h.dim, hidden = h.hidden_dim, L = h.n_layers, head = dim / h.n_heads;
  const int64_t kv_dim = head * h.n_kv_heads;

  // Float offsets of each block, in file order.
  int64_t at = 0;
  auto block = [&](int64_t n) {
    const int64_t start = at;
    at += n;
    return start;
  };
  const int64_t emb = block(vocab * dim), rms_att = block(L * dim), wq = block(L * dim * dim),
                wk = block(L * kv_dim * dim), wv = block(L * kv_dim * dim), wo = block(L * dim * dim),
                rms_ffn = block(L * dim), w1 = block(L * hidden * dim), w2 = block(L * dim * hidden),
                w3 = block(L * hidden * dim), rms_final = block(dim);
  block(static_cast<int64_t>(h.seq_len) * head);  // freq_cis_real + freq_cis_imag (seq_len × head/2 each)
  const int64_t wcls = shared ? emb : block(vocab * dim);
  const uint64_t need = sizeof h + static_cast<uint64_t>(at) * 4;
  if (c.size() < need)
    return make_error(o.checkpoint_path + ": truncated: " + std::to_string(c.size()) + " bytes, the header implies " +
                      std::to_string(need));

  auto vocab_r = read_tokenizer(o.tokenizer_path, static_cast<int32_t>(vocab));
  if (!vocab_r) return std::move(vocab_r).take_error();

  const uint8_t* base = c.data() + sizeof h;
  auto floats = [&](int64_t offset, int64_t n) {
    return std::span<const uint8_t>(base + offset * 4, static_cast<size_t>(n) * 4);
  };

  engine::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", o.name);
  w.set_u32("llama.context_length", static_cast<uint32_t>(h.seq_len));
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(dim));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(hidden));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(h.n_heads));
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(h.n_kv_heads));
  w.set_u32("llama.block_count", static_cast<uint32_t>(L));
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(head));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", o.rms_epsilon);
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_array("tokenizer.ggml.tokens", vocab_r->tokens);
  w.set_array("tokenizer.ggml.scores", vocab_r->scores);
  w.set_array("tokenizer.ggml.token_type", vocab_r->types);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.seperator_token_id", 0xFFFFFFFFu);  // none (spelled as GGUF spells it)
  w.set_u32("tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);

  w.add_tensor("token_embd.weight", GgmlType::F32, {dim, vocab}, floats(emb, vocab * dim));
  w.add_tensor("output_norm.weight", GgmlType::F32, {dim}, floats(rms_final, dim));
  w.add_tensor("output.weight", GgmlType::F32, {dim, vocab}, floats(wcls, vocab * dim));
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    w.add_tensor(p + "attn_q.weight", GgmlType::F32, {dim, dim}, floats(wq + l * dim * dim, dim * dim));
    w.add_tensor(p + "attn_k.weight", GgmlType::F32, {dim, kv_dim}, floats(wk + l * kv_dim * dim, kv_dim * dim));
    w.add_tensor(p + "attn_v.weight", GgmlType::F32, {dim, kv_dim}, floats(wv + l * kv_dim * dim, kv_dim * dim));
    w.add_tensor(p + "attn_output.weight", GgmlType::F32, {dim, dim}, floats(wo + l * dim * dim, dim * dim));
    w.add_tensor(p + "attn_norm.weight", GgmlType::F32, {dim}, floats(rms_att + l * dim, dim));
    w.add_tensor(p + "ffn_gate.weight", GgmlType::F32, {dim, hidden}, floats(w1 + l * hidden * dim, hidden * dim));
    w.add_tensor(p + "ffn_down.weight", GgmlType::F32, {hidden, dim}, floats(w2 + l * dim * hidden, dim * hidden));
    w.add_tensor(p + "ffn_up.weight", GgmlType::F32, {dim, hidden}, floats(w3 + l * hidden * dim, hidden * dim));
    w.add_tensor(p + "ffn_norm.weight", GgmlType::F32, {dim}, floats(rms_ffn + l * dim, dim));
  }
  return w.write(o.output_path);
}

}  // namespace kuai::tools
