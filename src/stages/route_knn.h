// The `knn` decider of the route stage: nearest labelled examples. Examples ({text, intent}) come from
// a JSONL or YAML file (stages.route.examples_file; default data/route/examples.jsonl); the stage
// embeds them once at start-up with an Embedder and keeps the unit vectors here.
//
// classify(): cosine similarity to every example (brute force: a few thousand examples take well
// under a millisecond), the k best vote with their similarity as weight.
//   confidence = (weight of the winning intent) / (weight of all k)   — how unanimous the neighbours are
//   abstains when the best similarity is below min_similarity         — nothing close enough is known
// Thread-safety: filled once at start-up; classify() is const, any thread.
#pragma once

#include "stages/route_intent.h"

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace kuai::stages::route {

struct LabelledExample {
  std::string text;
  std::string intent;
};

// Reads examples: `.jsonl` (one {"text": …, "intent": …} object a line; blank lines and lines starting
// with # are skipped) or `.yaml`/`.yml` (a list of {text, intent}, or a map intent → [texts]).
// Errors (missing file, bad line) are a message naming the file and line.
std::variant<std::vector<LabelledExample>, std::string> load_examples(const std::string& path);

class KnnIndex {
 public:
  KnnIndex(size_t k, double min_similarity) : k_(k == 0 ? 1 : k), min_similarity_(min_similarity) {}

  // `embedding` need not be normalised; a zero vector is ignored. All vectors must share one dimension
  // (the first added sets it; a different one is ignored and counted in skipped()).
  void add(std::string intent, std::vector<float> embedding);
  std::optional<IntentGuess> classify(const std::vector<float>& query) const;

  size_t size() const { return intents_.size(); }
  size_t dim() const { return dim_; }
  size_t skipped() const { return skipped_; }

 private:
  size_t k_;
  double min_similarity_;
  size_t dim_ = 0;
  size_t skipped_ = 0;
  std::vector<std::string> intents_;
  std::vector<float> vectors_;  // (size(), dim_) row-major, unit rows
};

}  // namespace kuai::stages::route
