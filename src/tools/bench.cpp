#include "tools/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>

#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"

namespace kuai::tools {

using namespace engine::model;
using Clock = std::chrono::steady_clock;

namespace {
int32_t bench_token(int i, int32_t n_vocab) { return int32_t((uint32_t(i) * 2654435761u + 7u) % uint32_t(n_vocab)); }
}  // namespace

struct BenchRunner::Impl {
  Impl(const LlamaModel& model, int ctx, engine::ThreadPool& pool)
      : m(model), n_ctx(std::max(1, ctx)), st(pool), kv(model.make_kv_cache(n_ctx)),
        logits(size_t(model.hparams().n_vocab)) {}
  engine::Status check(int n) const {
    if (n > n_ctx) return engine::make_error("a test of " + std::to_string(n) + " tokens in a runner of " + std::to_string(n_ctx));
    return engine::Ok{};
  }
  const LlamaModel& m;
  int n_ctx;
  ForwardState st;
  std::unique_ptr<SequenceKv> kv;
  std::vector<BatchToken> batch;
  std::vector<float> logits;
};

BenchRunner::BenchRunner(const LlamaModel& m, int n_ctx, engine::ThreadPool& pool)
    : impl_(std::make_unique<Impl>(m, n_ctx, pool)) {}
BenchRunner::~BenchRunner() = default;

engine::Result<double> BenchRunner::prompt_seconds(int n_prompt) {
  Impl& I = *impl_;
  if (auto s = I.check(n_prompt); !s) return std::move(s).take_error();
  SequenceKv* seqs[] = {I.kv.get()};
  const int32_t n_vocab = I.m.hparams().n_vocab;
  const auto t0 = Clock::now();
  for (int b = 0; b < n_prompt; b += kPromptUbatch) {
    const int e = std::min(n_prompt, b + kPromptUbatch);
    I.batch.clear();
    for (int i = b; i < e; ++i) I.batch.push_back({bench_token(i, n_vocab), i, 0, i == n_prompt - 1});
    if (auto s = I.m.forward(I.batch, seqs, I.st, I.logits.data()); !s) return std::move(s).take_error();
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

engine::Result<double> BenchRunner::generate_seconds(int n_gen) {
  Impl& I = *impl_;
  if (auto s = I.check(n_gen); !s) return std::move(s).take_error();
  SequenceKv* seqs[] = {I.kv.get()};
  const int32_t n_vocab = I.m.hparams().n_vocab;
  const auto t0 = Clock::now();
  for (int i = 0; i < n_gen; ++i) {
    const BatchToken bt{bench_token(i, n_vocab), i, 0, true};
    if (auto s = I.m.forward(std::span(&bt, 1), seqs, I.st, I.logits.data()); !s) return std::move(s).take_error();
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string model_type_label(const LlamaModel& m) {
  const double p = double(m.n_params());
  char size[32];
  if (p >= 1e9) std::snprintf(size, sizeof size, "%.0fB", p / 1e9);
  else if (p >= 1e8) std::snprintf(size, sizeof size, "%.1fB", p / 1e9);
  else std::snprintf(size, sizeof size, "%.0fM", p / 1e6);
  const uint32_t ft = m.file().get_u32("general.file_type").value_or(0);
  const char* ftype = "F32";
  switch (ft) {
    case 1: ftype = "F16"; break;
    case 2: ftype = "Q4_0"; break;
    case 7: ftype = "Q8_0"; break;
    case 14: ftype = "Q4_K - Small"; break;
    case 15: ftype = "Q4_K - Medium"; break;
    case 18: ftype = "Q6_K"; break;
    case 32: ftype = "BF16"; break;
    default: break;
  }
  return m.hparams().arch_name + " " + size + " " + ftype;
}

uint64_t model_size_bytes(const LlamaModel& m) {
  uint64_t b = 0;
  for (const auto& t : m.file().tensors()) b += t.n_bytes;
  return b;
}

std::vector<double> read_bandwidth_passes(engine::ThreadPool& pool, size_t bytes, int passes) {
  const size_t n = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  pool.parallel_for(int64_t(n), int64_t(n / size_t(pool.size() * 8) + 1), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) buf[size_t(i)] = uint64_t(i);
  });
  std::vector<double> out;
  std::vector<uint64_t> sums(size_t(pool.size()) * 8, 0);
  for (int r = 0; r < passes; ++r) {
    const auto t0 = Clock::now();
    // large chunks so each thread streams through memory sequentially
    pool.parallel_for(int64_t(n), int64_t(1) << 20, [&](int64_t b, int64_t e, int ith) {
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const uint64_t* p = buf.get();
      int64_t i = b;
      for (; i + 4 <= e; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
      }
      for (; i < e; ++i) s0 += p[i];
      sums[size_t(ith) * 8] += s0 + s1 + s2 + s3;
    });
    const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
    out.push_back(double(n * sizeof(uint64_t)) / sec);
  }
  volatile uint64_t sink = std::accumulate(sums.begin(), sums.end(), uint64_t(0));
  (void)sink;
  return out;
}

double measure_read_bandwidth(engine::ThreadPool& pool, size_t bytes, int reps) {
  const auto passes = read_bandwidth_passes(pool, bytes, reps);
  return passes.empty() ? 0 : *std::max_element(passes.begin(), passes.end());
}

Stats mean_stddev(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / double(v.size() - 1));
  }
  return s;
}

}  // namespace kuai::tools
