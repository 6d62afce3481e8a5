// Byte-level BPE encoding ("gpt2" vocabs): pre-split with the vocab's regexes, map each word's bytes to
// GPT-2 code points, then repeatedly merge the adjacent pair with the lowest merge rank (leftmost on
// ties) and emit each final piece's token.
#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/unicode_util.h"

#include <queue>

namespace kuai::engine {
namespace {

struct Symbol {
  int prev, next;
  size_t begin, n;
};

struct Bigram {
  int left, right;
  int rank;
  size_t size;
  bool operator<(const Bigram& o) const {  // pop the lowest rank, then the leftmost
    return rank > o.rank || (rank == o.rank && left > o.left);
  }
};

void encode_word(const Tokenizer::Impl& v, const std::string& word, std::vector<TokenId>& out) {
  if (v.ignore_merges) {
    if (const TokenId id = v.lookup(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  for (size_t off = 0; off < word.size();) {
    const size_t n = std::min(word.size() - off, tok::utf8_len(static_cast<uint8_t>(word[off])));
    const int idx = static_cast<int>(symbols.size());
    symbols.push_back({idx - 1, off + n == word.size() ? -1 : idx + 1, off, n});
    off += n;
  }
  std::priority_queue<Bigram> queue;
  std::string key;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    key.assign(word, l.begin, l.n);
    key.push_back(' ');
    key.append(word, r.begin, r.n);
    auto it = v.bpe_ranks.find(key);
    if (it == v.bpe_ranks.end()) return;
    queue.push({left, right, it->second, l.n + r.n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size || l.next != b.right) continue;  // stale
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (const Symbol& s : symbols) {
    if (s.n == 0) continue;
    const std::string_view p = std::string_view(word).substr(s.begin, s.n);
    if (const TokenId id = v.lookup(p); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // No token for the piece: fall back to one token per code point, then the unknown token.
    for (size_t i = 0; i < p.size();) {
      const size_t n = std::min(p.size() - i, tok::utf8_len(static_cast<uint8_t>(p[i])));
      const TokenId id = v.lookup(p.substr(i, n));
      if (id != kNoToken) out.push_back(id);
      else if (v.unk != kNoToken) out.push_back(v.unk);
      i += n;
    }
  }
}

}  // namespace

void bpe_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>& out) {
  for (std::string_view piece : v.pre_tok->split(text)) encode_word(v, tok::bytes_to_unicode(piece), out);
}

}  // namespace kuai::engine
