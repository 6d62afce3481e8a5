#include "train/teacher.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/sample/sampler.h"

namespace kuai::train {

using engine::model::BatchToken;
using engine::model::SequenceKv;

Teacher::Teacher(const engine::model::LlamaModel& m, engine::ThreadPool& pool) : model_(m), st_(pool) {}

engine::Status Teacher::logits(const int32_t* tokens, int n, float* out) {
  auto kv = model_.make_kv_cache(n);
  SequenceKv* seqs[] = {kv.get()};
  batch_.clear();
  for (int i = 0; i < n; ++i) batch_.push_back({tokens[i], i, 0, true});
  return model_.forward(batch_, seqs, st_, out);
}

void teacher_distribution(float* z, int n, float temperature, int top_k) {
  float mx = z[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, z[i]);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += (z[i] = std::exp((z[i] - mx) / temperature));
  for (int i = 0; i < n; ++i) z[i] = float(z[i] / sum);
  if (top_k <= 0 || top_k >= n) return;
  thread_local std::vector<int> idx;
  idx.resize(size_t(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::nth_element(idx.begin(), idx.begin() + top_k, idx.end(), [&](int a, int b) { return z[a] > z[b]; });
  double kept = 0;
  for (int i = 0; i < top_k; ++i) kept += z[idx[size_t(i)]];
  const float rest = float(std::max(0.0, 1.0 - kept) / double(n - top_k));
  for (int i = top_k; i < n; ++i) z[idx[size_t(i)]] = rest;
}

engine::Status Teacher::probs(const int32_t* tokens, int n, float temperature, int top_k, float* out) {
  if (auto st = logits(tokens, n, out); !st) return st;
  const int V = n_vocab();
  for (int t = 0; t < n; ++t) teacher_distribution(out + size_t(t) * V, V, temperature, top_k);
  return engine::Ok{};
}

engine::Result<std::vector<int32_t>> Teacher::sample(std::span<const int32_t> prefix, int len, uint64_t seed,
                                                     int32_t stop) {
  if (prefix.empty() || int(prefix.size()) >= len) return std::vector<int32_t>(prefix.begin(), prefix.end());
  engine::sample::SamplerParams sp;
  sp.temperature = 1.0f;
  sp.top_k = 0;
  sp.top_p = 1.0f;
  sp.min_p = 0.0f;
  sp.seed = seed;
  engine::sample::Sampler sampler(sp);
  auto kv = model_.make_kv_cache(len);
  SequenceKv* seqs[] = {kv.get()};
  std::vector<int32_t> out(prefix.begin(), prefix.end());
  std::vector<float> logits(static_cast<size_t>(n_vocab()));
  batch_.clear();
  for (size_t i = 0; i < out.size(); ++i) batch_.push_back({out[i], int32_t(i), 0, i + 1 == out.size()});
  if (auto st = model_.forward(batch_, seqs, st_, logits.data()); !st) return std::move(st).take_error();
  while (true) {
    const int32_t next = sampler.sample(logits);
    out.push_back(next);
    if (next == stop || int(out.size()) >= len) break;
    const BatchToken bt{next, int32_t(out.size()) - 1, 0, true};
    if (auto st = model_.forward(std::span(&bt, 1), seqs, st_, logits.data()); !st) return std::move(st).take_error();
  }
  return out;
}

}  // namespace kuai::train
