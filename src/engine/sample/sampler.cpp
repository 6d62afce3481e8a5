#include "engine/sample/sampler.h"

#include <algorithm>
#include <cmath>

namespace kuai::engine::sample {

int32_t sample_greedy(std::span<const float> logits) {
  // The largest value in 8 independent lanes (the compiler makes them one vector max), then its first
  // index: the same answer as one compare per element, without a dependent load per element.
  constexpr size_t kLanes = 8;
  const size_t n = logits.size();
  if (n == 0) return 0;
  float lane[kLanes];
  for (size_t l = 0; l < kLanes; ++l) lane[l] = logits[0];
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t l = 0; l < kLanes; ++l) lane[l] = logits[i + l] > lane[l] ? logits[i + l] : lane[l];
  float best = lane[0];
  for (size_t l = 1; l < kLanes; ++l) best = lane[l] > best ? lane[l] : best;
  for (; i < n; ++i) best = logits[i] > best ? logits[i] : best;
  for (size_t j = 0; j < n; ++j)
    if (logits[j] == best) return int32_t(j);
  return 0;  // only when every value is NaN
}

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {}

void Sampler::reset() {
  rng_.seed(params_.seed);
  recent_.clear();
}

void Sampler::accept(int32_t token) {
  recent_.push_back(token);
  while (int32_t(recent_.size()) > std::max(0, params_.penalty_last_n)) recent_.pop_front();
}

double Sampler::uniform() { return double(rng_() >> 11) * (1.0 / 9007199254740992.0); }

void Sampler::apply_penalties(std::span<float> logits) const {
  const bool repeat = params_.repeat_penalty != 1.0f && params_.repeat_penalty > 0;
  if (recent_.empty() || (!repeat && params_.frequency_penalty == 0 && params_.presence_penalty == 0)) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : recent_)
    if (t >= 0 && size_t(t) < logits.size()) ++counts[t];
  for (auto [t, c] : counts) {
    float& l = logits[size_t(t)];
    if (repeat) l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
    l -= float(c) * params_.frequency_penalty + params_.presence_penalty;
  }
}

int32_t Sampler::sample(std::span<float> logits) {
  if (logits.empty()) return 0;
  apply_penalties(logits);
  if (params_.temperature <= 0) return sample_greedy(logits);

  cand_.clear();
  for (size_t i = 0; i < logits.size(); ++i) cand_.emplace_back(logits[i] / params_.temperature, int32_t(i));
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = cand_.size();
  if (params_.top_k > 0 && size_t(params_.top_k) < keep) {
    keep = size_t(params_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + ptrdiff_t(keep), cand_.end(), by_logit);
    cand_.resize(keep);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // softmax over the survivors
  const float max = cand_[0].first;
  double sum = 0;
  for (auto& c : cand_) {
    c.first = std::exp(c.first - max);
    sum += c.first;
  }
  for (auto& c : cand_) c.first = float(c.first / sum);
  if (params_.top_p < 1.0f) {
    double cum = 0;
    size_t n = 0;
    while (n < cand_.size()) {
      cum += cand_[n].first;
      ++n;
      if (cum >= params_.top_p) break;
    }
    cand_.resize(std::max<size_t>(1, n));
  }
  if (params_.min_p > 0) {
    const float floor = params_.min_p * cand_[0].first;
    size_t n = 1;
    while (n < cand_.size() && cand_[n].first >= floor) ++n;
    cand_.resize(n);
  }
  double total = 0;
  for (const auto& c : cand_) total += c.first;
  double r = uniform() * total;
  for (const auto& c : cand_) {
    r -= c.first;
    if (r < 0) return c.second;
  }
  return cand_.back().second;
}

}  // namespace kuai::engine::sample
