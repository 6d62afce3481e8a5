// SentencePiece-style encoding ("llama" vocabs): start from UTF-8 characters, repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring vocab token (leftmost on ties), then emit each
// piece as its token, or split it back along its merge history, or fall back to byte tokens.
#include "engine/tokenizer/tokenizer_impl.h"
#include "engine/tokenizer/unicode_util.h"

#include <queue>

namespace kuai::engine {
namespace {

struct Symbol {
  int prev, next;
  size_t begin, n;  // byte range in the text
};

struct Bigram {
  int left, right;
  float score;
  size_t size;
  bool operator<(const Bigram& o) const {  // priority_queue pops the "largest"
    return score < o.score || (score == o.score && left > o.left);
  }
};

class SpmSession {
 public:
  SpmSession(const Tokenizer::Impl& v, std::string_view text) : v_(v), text_(text) {}

  void run(std::vector<TokenId>& out) {
    for (size_t off = 0; off < text_.size();) {
      const size_t n = std::min(text_.size() - off, tok::utf8_len(static_cast<uint8_t>(text_[off])));
      const int idx = static_cast<int>(symbols_.size());
      symbols_.push_back({idx - 1, off + n == text_.size() ? -1 : idx + 1, off, n});
      off += n;
    }
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add(i - 1, i);
    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& l = symbols_[b.left];
      Symbol& r = symbols_[b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    if (symbols_.empty()) return;
    for (int i = 0; i != -1; i = symbols_[i].next) resegment(symbols_[i], out);
  }

 private:
  std::string_view piece(const Symbol& s) const { return text_.substr(s.begin, s.n); }

  void try_add(int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view joined = text_.substr(symbols_[left].begin, symbols_[left].n + symbols_[right].n);
    const TokenId id = v_.lookup(joined);
    if (id == kNoToken) return;
    queue_.push({left, right, v_.scores[id], joined.size()});
    rev_merge_[std::string(joined)] = {left, right};
  }

  void resegment(const Symbol& s, std::vector<TokenId>& out) {
    const std::string_view p = piece(s);
    if (const TokenId id = v_.lookup(p); id != kNoToken) {
      out.push_back(id);
      return;
    }
    auto it = rev_merge_.find(std::string(p));
    if (it == rev_merge_.end()) {
      for (char c : p) {
        const TokenId b = v_.byte_token[static_cast<uint8_t>(c)];
        out.push_back(b != kNoToken ? b : v_.unk);
      }
      return;
    }
    const auto [l, r] = it->second;
    resegment(symbols_[l], out);
    resegment(symbols_[r], out);
  }

  const Tokenizer::Impl& v_;
  std::string_view text_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Bigram> queue_;
  std::unordered_map<std::string, std::pair<int, int>> rev_merge_;
};

}  // namespace

void spm_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>& out) {
  SpmSession(v, text).run(out);
}

}  // namespace kuai::engine
