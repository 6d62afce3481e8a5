#include "stages/cache_eval.h"

#include "cache/dot.h"
#include "cache/embedder.h"
#include "cache/guards.h"
#include "cache/query_features.h"
#include "cache/store.h"
#include "stages/cache_verifier.h"
#include "text/script.h"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>

namespace kuai::stages {

std::variant<std::vector<LabelledPair>, std::string> read_labelled_pairs(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "cannot read '" + path + "'";
  std::vector<LabelledPair> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + " line " + std::to_string(n) + ": ";
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) return where + "not a JSON object";
    const auto& o = v.as_object();
    auto str = [&](const char* k) -> const boost::json::string* {
      auto* f = o.if_contains(k);
      return f && f->is_string() ? &f->as_string() : nullptr;
    };
    auto* same = o.if_contains("same");
    if (!str("a") || !str("b")) return where + "needs string fields \"a\" and \"b\"";
    if (!same || !same->is_bool()) return where + "needs a boolean field \"same\"";
    LabelledPair p;
    p.a = std::string(*str("a"));
    p.b = std::string(*str("b"));
    p.same = same->as_bool();
    p.kind = str("kind") ? std::string(*str("kind")) : (p.same ? "paraphrase" : "different");
    out.push_back(std::move(p));
  }
  if (out.empty()) return "'" + path + "' holds no pairs";
  return out;
}

PairEvalResult evaluate_pairs(const std::vector<LabelledPair>& pairs, const CacheStageConfig& cfg,
                              const PairVectors* vectors) {
  PairEvalResult r;
  r.threshold = cfg.store.threshold;
  cache::StoreConfig sc = cfg.store;
  sc.ttl_ms = 0;
  sc.max_entries = std::max<size_t>(sc.max_entries, 2 * pairs.size());
  cache::Store store(sc);
  cache::HashEmbedder embedder(cfg.hash_dim);
  const std::string ns = "eval";
  auto vector_of = [&](const std::string& q, const cache::QueryFeatures& f, size_t i, bool is_a) {
    if (vectors) return (is_a ? vectors->a : vectors->b)[i];
    std::vector<float> v;
    embedder.embed_sync(q, f, v);
    return v;
  };
  std::vector<std::vector<float>> stored;
  std::vector<cache::QueryFeatures> stored_features;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& p = pairs[i];
    stored_features.push_back(cache::query_features(p.a));
    stored.push_back(vector_of(p.a, stored_features.back(), i, true));
    store.insert(ns, p.a, stored_features.back(), stored.back(), cache::Answer{p.a, "stop", 1}, 1.0, 0);
  }
  auto cosine = [](const std::vector<float>& x, const std::vector<float>& y) {  // unit vectors
    return cache::dot_f32(x.data(), y.data(), std::min(x.size(), y.size()));
  };
  std::vector<double> own_cosines;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto& p = pairs[i];
    (p.same ? r.same : r.different) += 1;
    const bool zh_a = text::has_cjk(p.a), zh_b = text::has_cjk(p.b);
    const std::string script = zh_a && zh_b ? "zh" : !zh_a && !zh_b ? "en" : "mixed";
    if (p.same) r.hits_by_script[script].second += 1;
    auto f = cache::query_features(p.b);
    auto v = vector_of(p.b, f, i, false);
    // What became of a paraphrase's own question: among the candidates the guards verify (the nearest
    // `candidates` at `threshold` or closer), and if so, which guard (if any) refuses it.
    bool own_retrieved = false;
    cache::Guard own_guard = cache::Guard::None;
    if (p.same) {
      const double own = cosine(v, stored[i]);
      own_cosines.push_back(own);
      int better = 0;
      for (size_t j = 0; j < stored.size(); ++j) better += j != i && pairs[j].a != p.a && cosine(v, stored[j]) > own;
      r.top1 += better < 1;
      r.top4 += better < 4;
      r.top16 += better < 16;
      own_retrieved = size_t(better) < sc.candidates && own >= sc.threshold;
      cache::GuardConfig guards = sc.guards;
      guards.wording_trusted = own >= sc.guards.content_trusted_similarity;
      own_guard = cache::check_guards(stored_features[i], f, guards, nullptr);
    }
    auto got = store.lookup(ns, f, &v, 0, 0.0);
    if (in_grey_zone(got, cfg.verifier)) {
      ++r.verifier_asks;
      auto grey = store.get(got.grey_entry_id);
      r.verifier_could_hit += p.same && grey && grey->query == p.a;
    }
    if (got.kind == cache::LookupResult::Kind::Hit) {
      if (p.same && got.answer.content == p.a) {
        ++r.hits;
        r.hits_by_script[script].first += 1;
      } else {
        ++r.false_hits;
        ++r.false_hits_by_kind[p.kind];
        r.wrong.push_back({&p, "false hit", got.similarity, got.answer.content});  // eval answers are their query
      }
    } else if (p.same && !own_retrieved) {
      ++r.not_retrieved;
      r.wrong.push_back({&p, "not retrieved", got.similarity});
    } else if (p.same && own_guard != cache::Guard::None) {
      ++r.refused_by_guard[std::string(cache::guard_name(own_guard))];
      r.wrong.push_back({&p, "refused: " + std::string(cache::guard_name(own_guard)), got.similarity});
    } else if (p.same) {
      r.wrong.push_back({&p, "miss", got.similarity});
    }
  }
  if (!own_cosines.empty()) {
    std::nth_element(own_cosines.begin(), own_cosines.begin() + own_cosines.size() / 2, own_cosines.end());
    r.median_cosine = own_cosines[own_cosines.size() / 2];
  }
  return r;
}

}  // namespace kuai::stages
