#include "cache/embedder.h"

#include "api/error.h"
#include "cache/word_lists.h"
#include "pipeline/services.h"
#include "text/script.h"
#include "text/utf8.h"

#include <cmath>
#include <cstdint>

namespace kuai::cache {
namespace {

uint64_t hash_feature(std::string_view s, uint64_t salt) {
  uint64_t h = 1469598103934665603ULL ^ salt;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  // splitmix64 finaliser: spreads FNV's low bits over the whole word.
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

void add(std::vector<float>& v, std::string_view feature, uint64_t salt, float weight) {
  uint64_t h = hash_feature(feature, salt);
  float sign = (h >> 63) ? -1.0f : 1.0f;
  v[h % v.size()] += sign * weight;
}

// Salts keep a word, a bigram and an n-gram with the same bytes apart.
constexpr uint64_t kWord = 1, kBigram = 2, kGram = 3;

}  // namespace

void l2_normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += double(x) * x;
  if (sum <= 0) return;
  float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

std::vector<float> HashEmbedder::embed_words(const std::vector<std::string>& words) const {
  std::vector<float> v(dim_, 0.0f);
  std::string prev;  // previous content word, for word bigrams
  for (const auto& w : words) {
    bool cjk = text::has_cjk(w);
    bool stop = cjk ? is_zh_stopword(w) : is_en_stopword(w);
    add(v, w, kWord, stop ? 0.3f : 1.0f);
    if (!stop) {
      if (!prev.empty()) add(v, prev + " " + w, kBigram, 0.5f);
      prev = w;
    }
    if (cjk) {
      // Characters and character bigrams: robust to segmentation differences.
      std::vector<std::string> chars;
      for (size_t i = 0; i < w.size();) {
        size_t len;
        text::utf8_decode(w, i, len);
        chars.emplace_back(w.substr(i, len));
        i += len;
      }
      for (size_t i = 0; i < chars.size(); ++i) {
        add(v, chars[i], kGram, stop ? 0.15f : 0.4f);
        if (i + 1 < chars.size()) add(v, chars[i] + chars[i + 1], kGram, 0.5f);
      }
    } else if (!stop && w.size() >= 4 && w[0] != '#') {  // a synset id or tag has no spelling to share
      std::string padded = "<" + w + ">";
      float weight = 1.2f / static_cast<float>(padded.size() - 2);
      for (size_t i = 0; i + 3 <= padded.size(); ++i) add(v, std::string_view(padded).substr(i, 3), kGram, weight);
    }
  }
  l2_normalize(v);
  return v;
}

bool HashEmbedder::embed_sync(std::string_view, const QueryFeatures& f, std::vector<float>& out) {
  out = embed_words(f.terms);
  return true;
}

boost::asio::awaitable<std::vector<float>> HashEmbedder::embed(std::string_view, const QueryFeatures& f, const api::Tenant&) {
  co_return embed_words(f.terms);
}

boost::asio::awaitable<std::vector<float>> ModelEmbedder::embed(std::string_view text, const QueryFeatures&,
                                                                const api::Tenant& tenant) {
  if (!models_ || !models_->has_model(model_))
    throw api::Error::internal("cache embedder: model '" + model_ + "' is not configured");
  api::EmbeddingRequest req;
  req.model = model_;
  req.input.emplace_back(text);
  api::Embeddings out = co_await models_->embed(req, tenant);
  if (out.data.empty() || out.data.front().empty())
    throw api::Error::bad_gateway("cache embedder: model '" + model_ + "' returned no embedding");
  std::vector<float> v = std::move(out.data.front());
  l2_normalize(v);
  co_return v;
}

}  // namespace kuai::cache
