// `kuai cache eval`: labelled query pairs ({"a", "b", "same", "kind"} per JSONL line) run offline through
// the semantic cache's own code (query features, hash embedder or given model vectors, store, guards) the way the eval-dev judge
// runs them through a gateway: every `a` is stored, then every `b` is looked up. Reports the hit rate on
// true paraphrases, false hits by kind, refusals by guard, and a sweep over the content coverage, so users tune
// `stages.cache` on their own traffic.
// Pure computation; one thread.
#pragma once

#include "stages/semantic_cache.h"

#include <map>
#include <string>
#include <variant>
#include <vector>

namespace kuai::stages {

struct LabelledPair {
  std::string a, b;
  bool same = false;
  std::string kind;  // "paraphrase", "negation", "number", … (free text)
};

// The pairs of a JSONL file; a malformed line is an error naming it ("pairs.jsonl line 7: …").
std::variant<std::vector<LabelledPair>, std::string> read_labelled_pairs(const std::string& path);

struct PairEvalResult {
  double threshold = 0;
  int same = 0, different = 0;       // pairs of each label
  int hits = 0;                      // true paraphrases answered from their own `a`
  int false_hits = 0;                // any other hit
  std::map<std::string, int> false_hits_by_kind;
  // True paraphrases missed: their own question was not among the candidates the guards verify (the
  // nearest `candidates` at `threshold` or closer), or it was and a guard refused it (by guard).
  int not_retrieved = 0;
  std::map<std::string, int> refused_by_guard;
  std::map<std::string, std::pair<int, int>> hits_by_script;  // "en"/"zh"/"mixed" → (hits, same pairs)
  // Retrieval alone, for true paraphrases: how often the paraphrase's own question is the nearest
  // stored one, or among the nearest 4 / 16 (by the embedder's cosine), and the median cosine to it.
  int top1 = 0, top4 = 0, top16 = 0;
  double median_cosine = 0;
  // The model verifier's share (stages.cache.verifier_model; counted whether or not one is set): lookups
  // that would ask it (a grey candidate at cfg.verifier.min_similarity or closer), and the true
  // paraphrases whose grey candidate is their own question (hits a verifier that is always right adds).
  int verifier_asks = 0, verifier_could_hit = 0;
  // Every pair that went wrong: a missed paraphrase ("not retrieved", "refused: <guard>" for its own
  // question, "miss" when no guard refuses it but another candidate was nearer in words) or a false hit.
  struct Wrong {
    const LabelledPair* pair;
    std::string outcome;
    double similarity;  // of the nearest candidate (0: none)
    std::string served = {};  // a false hit: the stored query whose answer was served
  };
  std::vector<Wrong> wrong;
  double hit_rate() const { return same ? double(hits) / same : 0; }
  double false_hit_rate() const { return same + different ? double(false_hits) / (same + different) : 0; }
};

// Each pair's query vectors from a model embedder (unit length), computed once by the caller;
// a.size() == b.size() == the number of pairs.
struct PairVectors {
  std::vector<std::vector<float>> a, b;
};

// One run at `cfg` (its store threshold included). Vectors come from `vectors` when given, else from
// the hash embedder (cfg.hash_dim).
PairEvalResult evaluate_pairs(const std::vector<LabelledPair>& pairs, const CacheStageConfig& cfg,
                              const PairVectors* vectors = nullptr);

}  // namespace kuai::stages
