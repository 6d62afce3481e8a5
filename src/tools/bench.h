// Speed measurements shared by `kuai bench` (llama-bench's tests and output) and bench/engine:
// pp<N>: a prompt of N tokens (tokens/s = N / time); tg<N>: N tokens generated one at a time from
// position 0 (tokens/s = N / time), as llama-bench defines them. Token ids are fixed pseudo-random.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf/result.h"

namespace kuai::engine {
class ThreadPool;
}
namespace kuai::engine::model {
class LlamaModel;
}

namespace kuai::tools {

// Runs the tests, keeping their state between runs as llama-bench keeps a context per test: the KV
// cache and the forward pass's scratch are made once, so a repetition pays no allocation and no
// first-touch page faults (a fresh cache per run cost ~20% of a stories110m pp256 in faults and zeroing).
// A prompt goes in ubatches of kPromptUbatch tokens (llama-bench's -ub default, and the default
// engine.max_batch_tokens of a served model).
class BenchRunner {
 public:
  static constexpr int kPromptUbatch = 512;
  // n_ctx: the most positions a test will use (prompt or generated tokens).
  BenchRunner(const engine::model::LlamaModel& m, int n_ctx, engine::ThreadPool& pool);
  ~BenchRunner();
  BenchRunner(const BenchRunner&) = delete;
  BenchRunner& operator=(const BenchRunner&) = delete;
  // Seconds for one run. Errors: more tokens than n_ctx, forward errors.
  engine::Result<double> prompt_seconds(int n_prompt);
  engine::Result<double> generate_seconds(int n_gen);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "llama 1B Q8_0": architecture, size label, file type, as llama-bench prints model_type.
std::string model_type_label(const engine::model::LlamaModel& m);
// Bytes of all tensor data in the file.
uint64_t model_size_bytes(const engine::model::LlamaModel& m);

// Read bandwidth of this machine in bytes/s: a STREAM-like sum over a buffer much larger than the caches,
// split across the pool's threads (best of `reps`).
double measure_read_bandwidth(engine::ThreadPool& pool, size_t bytes = size_t(1) << 30, int reps = 3);
// The same loop, bytes/s of each of `passes` passes in order.
std::vector<double> read_bandwidth_passes(engine::ThreadPool& pool, size_t bytes, int passes);

// The CPU's model name from /proc/cpuinfo ("unknown" when unreadable): every speed figure names it.
std::string cpu_model_name();

struct Stats {
  double mean = 0, stddev = 0;
};
Stats mean_stddev(const std::vector<double>& v);

}  // namespace kuai::tools
