// `kuai fake-upstream --embedding-pairs FILE.jsonl`: the fake's /v1/embeddings as a stand-in for a trained
// sentence embedder, for tests of the paths a real one takes. FILE holds labelled pairs, one JSON object
// a line, {"a", "b", "same"} (`kuai cache eval`'s format): a pair's `a` gets a seeded direction of its
// own; its `b` sits at cosine 0.95 to it when `same` is true (a paraphrase) and at 0.92 when false (a
// look-alike: trained embedders put those nearly as close, so the cache's hard guards must refuse them).
// Texts not in FILE get the fake's usual seeded random vector. Pure; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kuai::fakeup {

struct EmbeddingPlace {
  uint64_t pair = 0;  // line number: the pair's seeded direction
  double cosine = 1;  // to the pair's `a` (1 for `a` itself)
};
using EmbeddingPairs = std::unordered_map<std::string, EmbeddingPlace>;

// Reads FILE; an error names the line.
std::optional<std::string> load_embedding_pairs(const std::string& path, EmbeddingPairs& out);
// The unit vector of `place` (dim values), for seed `seed`.
std::vector<double> pair_embedding(const EmbeddingPlace& place, int dim, uint64_t seed);

}  // namespace kuai::fakeup
