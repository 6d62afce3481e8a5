// WordPiece encoding ("bert" vocabs). Not yet implemented beyond a whole-word lookup; see wordpiece notes
// in docs/ARCHITECTURE.md.
#include "engine/tokenizer/tokenizer_impl.h"

namespace kuai::engine {

void wordpiece_encode(const Tokenizer::Impl& v, std::string_view text, std::vector<TokenId>& out) {
  const TokenId id = v.lookup(text);
  out.push_back(id != kNoToken ? id : v.unk);
}

}  // namespace kuai::engine
