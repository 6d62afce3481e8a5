// bench_engine: decode and prompt speed of the embedded engine on a TinyLlama-1.1B-shaped synthetic model
// (kuai synth, seeded random weights) for F32, F16, Q8_0, Q4_0 and Q4_K_M, 2 threads, with same-run
// baselines: each type's speedup over F32, and decode read bandwidth (weight bytes per token x tokens/s)
// as a fraction of this machine's read bandwidth measured in the same run by a STREAM-like loop.
// Prompt processing is reported in GFLOP/s (2 x matmul parameters x tokens / s).
//
// Fairness: the STREAM-like loop and decode run on the same pool (same thread count); the loop only
// reads. On a shared machine other processes take CPU time from both, so both are measured in windows
// of similar length (one STREAM pass over 512 MiB ~ one decoded token) and reported alike: the best
// window ("best", the least disturbed) and the median. The bandwidth loop is re-run right before each
// type's decode, so the two see the same machine state. "cpu" is the CPU time the process got during
// decode divided by (wall time x threads): below ~90% the box was busy and wall-clock figures are low.
// A kernel-only line per weight type (one matvec over a 256 MiB matrix through kernels::matmul, as
// decode does) separates kernel speed from the rest of the forward pass.
//
// llama.cpp's llama-bench (tools/llama_peer.h: ../shared/tools/llama.cpp/, amx/ on AMX CPUs, or
// KUAI_LLAMA_BENCH) runs pp and tg on the same file with the same threads right after kuai's figures for
// each type, and the table shows its tokens/s and kuai's ratio; when it is absent or dies, the table says
// why and shows "-". --no-peer skips it.
//
// Default run is short (few tokens, one repetition) so it does not hog a shared machine; --full runs
// pp512 / tg32 with 3 repetitions. Models are generated into a temporary folder (removed afterwards)
// unless --model-dir names a folder to keep them in (then they are reused).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include <sys/resource.h>

#include "engine/kernels/matmul.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "tools/bench.h"
#include "tools/llama_peer.h"
#include "tools/synth.h"

namespace fs = std::filesystem;
using namespace kuai;

namespace {

struct Options {
  std::string model_dir;
  std::string preset = "tinyllama-1.1b";
  std::vector<std::string> types = {"f32", "f16", "q8_0", "q4_0", "q4_k_m"};
  int threads = 2, n_prompt = 64, n_gen = 8, reps = 1;
  bool peer = true;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= s.size()) {
    const size_t b = s.find(',', a);
    out.push_back(s.substr(a, b == std::string::npos ? std::string::npos : b - a));
    if (b == std::string::npos) break;
    a = b + 1;
  }
  return out;
}

// Bytes/s of one decode-shaped matvec (one token, `cols` = 2048 like TinyLlama's attention input) over
// a ~256 MiB weight of `type`, best of `reps`. Every row holds the same quantized random values.
double matvec_bandwidth(engine::ThreadPool& pool, engine::GgmlType type, int reps) {
  namespace k = engine::kernels;
  const int64_t cols = 2048;
  const k::KernelTraits* t = k::kernel_traits(type);
  if (!t || !t->vec_dot) return 0;
  const size_t rb = engine::row_bytes(type, uint64_t(cols));
  const int64_t rows = int64_t((size_t(256) << 20) / rb);
  std::vector<uint8_t> data(rb * size_t(rows));
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
  for (auto& v : x) v = dist(rng);
  t->from_float(x.data(), data.data(), cols);
  pool.parallel_for(rows, 256, [&](int64_t b, int64_t e, int) {
    for (int64_t r = std::max<int64_t>(b, 1); r < e; ++r) std::memcpy(data.data() + size_t(r) * rb, data.data(), rb);
  });
  const k::WeightView w{type, data.data(), rows, cols, rb};
  k::MatmulScratch scratch;
  double best = 0;
  for (int r = 0; r < reps + 1; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    k::matmul(pool, w, x.data(), 1, y.data(), scratch);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::max(best, double(data.size()) / sec);  // the first run pages the buffer in
  }
  return best;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// Seconds per decoded token (tg: one token at a time from position 0, as tools::BenchRunner::generate_seconds).
std::vector<double> decode_token_seconds(const engine::model::LlamaModel& m, int n_gen, engine::ThreadPool& pool) {
  using namespace engine::model;
  ForwardState st(pool);
  auto kv = m.make_kv_cache(std::max(1, n_gen));
  SequenceKv* seqs[] = {kv.get()};
  std::vector<float> logits(size_t(m.hparams().n_vocab));
  std::vector<double> out;
  for (int i = 0; i < n_gen; ++i) {
    const BatchToken bt{int32_t((uint32_t(i) * 2654435761u + 7u) % uint32_t(m.hparams().n_vocab)), i, 0, true};
    const auto t0 = std::chrono::steady_clock::now();
    if (auto s = m.forward(std::span(&bt, 1), seqs, st, logits.data()); !s) return {};
    out.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return out;
}

// Prefill kernel speed on one thread, GFLOP/s: 64 activation rows against a 512 x 2048 weight (in
// cache), through vec_dot_x4 (4 rows per weight read) or through 4 single-row vec_dot calls (the
// one-token-at-a-time way). Best of 3.
double prefill_kernel_gflops(engine::GgmlType type, bool x4) {
  namespace k = engine::kernels;
  const int cols = 2048, rows = 512, tokens = 64;
  const k::KernelTraits* t = k::kernel_traits(type);
  const k::KernelTraits* at = t ? k::kernel_traits(t->act_type) : nullptr;
  if (!t || !at || !t->vec_dot_x4) return 0;
  const size_t rb = engine::row_bytes(type, uint64_t(cols)), ab = engine::row_bytes(t->act_type, uint64_t(cols));
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> f(static_cast<size_t>(cols));
  std::vector<uint8_t> w(rb * rows), a(ab * tokens);
  for (int r = 0; r < rows; ++r) {
    for (auto& v : f) v = dist(rng);
    t->from_float(f.data(), w.data() + size_t(r) * rb, cols);
  }
  for (int r = 0; r < tokens; ++r) {
    for (auto& v : f) v = dist(rng);
    at->from_float(f.data(), a.data() + size_t(r) * ab, cols);
  }
  float out[4], sink = 0;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int tk = 0; tk < tokens; tk += 4) {
      for (int r = 0; r < rows; ++r) {
        const uint8_t* wr = w.data() + size_t(r) * rb;
        const uint8_t* ar = a.data() + size_t(tk) * ab;
        if (x4) {
          t->vec_dot_x4(cols, wr, ar, ab, out);
        } else {
          for (int j = 0; j < 4; ++j) out[j] = t->vec_dot(cols, wr, ar + size_t(j) * ab);
        }
        sink += out[0];
      }
    }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * cols * rows * tokens / sec / 1e9);
  }
  volatile float keep = sink;
  (void)keep;
  return best;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_engine [--model-dir DIR] [--preset P] [--types f32,f16,q8_0,q4_0,q4_k_m] [--threads N]\n"
               "                    [--prompt N] [--gen N] [--reps N] [--full] [--no-peer]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model-dir") o.model_dir = next();
    else if (a == "--preset") o.preset = next();
    else if (a == "--types") o.types = split(next());
    else if (a == "--threads") o.threads = std::atoi(next().c_str());
    else if (a == "--prompt") o.n_prompt = std::atoi(next().c_str());
    else if (a == "--gen") o.n_gen = std::atoi(next().c_str());
    else if (a == "--reps") o.reps = std::atoi(next().c_str());
    else if (a == "--full") o.n_prompt = 512, o.n_gen = 32, o.reps = 3;
    else if (a == "--no-peer") o.peer = false;
    else if (a == "--help" || a == "-h") return usage();
    else return usage();
  }
  const bool temp_dir = o.model_dir.empty();
  if (temp_dir) o.model_dir = (fs::temp_directory_path() / ("kuai_bench_engine_" + std::to_string(::getpid()))).string();
  fs::create_directories(o.model_dir);

  engine::ThreadPool pool(o.threads);
  std::printf("CPU: %s; kernels: %s, threads: %d, model: %s (synthetic), pp%d, tg%d, %d rep(s)\n",
              tools::cpu_model_name().c_str(), std::string(engine::kernels::isa_name(engine::kernels::detected_isa())).c_str(), o.threads,
              o.preset.c_str(), o.n_prompt, o.n_gen, o.reps);
  const double bw = tools::measure_read_bandwidth(pool, size_t(1) << 30, 3);
  std::printf("measured read bandwidth (STREAM-like sum, %d threads): %.2f GB/s\n", o.threads, bw / 1e9);
  std::printf("kernel matvec (1 token x 256 MiB weight, %d threads), of measured bw:", o.threads);
  for (auto type : {engine::GgmlType::F32, engine::GgmlType::F16, engine::GgmlType::Q8_0, engine::GgmlType::Q4_0,
                    engine::GgmlType::Q4_K, engine::GgmlType::Q6_K}) {
    const double mv = matvec_bandwidth(pool, type, 3);
    std::printf(" %s %.2f GB/s (%.0f%%)", std::string(engine::ggml_type_name(type)).c_str(), mv / 1e9, 100 * mv / bw);
  }
  std::printf("\nprefill kernels (1 thread, 64 tokens x 512x2048 weight in cache), GFLOP/s 4-row kernel vs 4 single dots:");
  for (auto type : {engine::GgmlType::F32, engine::GgmlType::F16, engine::GgmlType::Q8_0, engine::GgmlType::Q4_0,
                    engine::GgmlType::Q4_K, engine::GgmlType::Q6_K}) {
    const double g4 = prefill_kernel_gflops(type, true), g1 = prefill_kernel_gflops(type, false);
    std::printf(" %s %.1f vs %.1f (%.2fx)", std::string(engine::ggml_type_name(type)).c_str(), g4, g1, g4 / g1);
  }
  std::printf("\n\n");

  struct Result {
    std::string type;
    double tg = 0, tg_median = 0, pp = 0, bytes_per_token = 0, gflops = 0, bw = 0, bw_median = 0, cpu = 0;
    double peer_pp = 0, peer_tg = 0;  // llama-bench's tokens/s on the same file; 0: not run
  };
  std::string peer_bin, peer_note = "skipped (--no-peer)";
  if (o.peer) {
    if (auto b = tools::find_llama_bench()) peer_bin = peer_note = *b;
    else peer_note = b.error();
  }
  std::vector<Result> results;
  for (const auto& type : o.types) {
    const std::string path = o.model_dir + "/" + o.preset + "-" + type + ".gguf";
    if (!fs::exists(path)) {
      std::fprintf(stderr, "synthesizing %s ...\n", path.c_str());
      tools::SynthOptions so;
      so.preset = o.preset;
      so.type = type;
      so.seed = 1;
      so.n_threads = o.threads;
      if (auto st = tools::synth_model(path, so); !st) {
        std::fprintf(stderr, "synth failed: %s\n", st.error().c_str());
        return 1;
      }
    }
    auto m = engine::model::LlamaModel::load(path);
    if (!m) {
      std::fprintf(stderr, "load failed: %s\n", m.error().c_str());
      return 1;
    }
    const auto& model = **m;
    tools::BenchRunner runner(model, std::max(1, o.n_prompt), pool);
    (void)runner.prompt_seconds(o.n_prompt);  // warm-up: pages the weights and the runner's buffers in
    std::vector<double> tg, pp, bws;
    double cpu = 0, wall = 0;
    for (int r = 0; r < o.reps; ++r) {
      for (double b : tools::read_bandwidth_passes(pool, size_t(512) << 20, 4)) bws.push_back(b);
      const double c0 = cpu_seconds();
      const auto w0 = std::chrono::steady_clock::now();
      const std::vector<double> g = decode_token_seconds(model, o.n_gen, pool);
      wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
      cpu += cpu_seconds() - c0;
      auto p = runner.prompt_seconds(o.n_prompt);
      if (g.empty() || !p) {
        std::fprintf(stderr, "run failed\n");
        return 1;
      }
      for (double t : g) tg.push_back(1.0 / t);
      pp.push_back(o.n_prompt / *p);
    }
    Result r;
    r.type = type;
    r.tg = *std::max_element(tg.begin(), tg.end());
    r.tg_median = median(tg);
    r.bw = *std::max_element(bws.begin(), bws.end());
    r.bw_median = median(bws);
    r.cpu = cpu / (wall * o.threads);
    r.pp = *std::max_element(pp.begin(), pp.end());
    r.bytes_per_token = double(model.weight_bytes_per_token());
    // matmul parameters: everything but the embedding table (which is a lookup)
    const auto& h = model.hparams();
    const double matmul_params = double(model.n_params()) - double(h.n_vocab) * h.n_embd *
                                                               (model.file().tensor("output.weight") ? 1.0 : 0.0);
    r.gflops = 2.0 * matmul_params * r.pp / 1e9;
    if (!peer_bin.empty()) {  // back to back with kuai's figures
      auto pp_peer = tools::run_llama_bench(peer_bin, path, o.n_prompt, 0, o.threads, o.reps);
      auto tg_peer = pp_peer ? tools::run_llama_bench(peer_bin, path, 0, o.n_gen, o.threads, o.reps) : pp_peer;
      if (pp_peer && tg_peer) {
        r.peer_pp = *pp_peer;
        r.peer_tg = *tg_peer;
      } else {
        peer_note = peer_bin + ": " + (pp_peer ? tg_peer.error() : pp_peer.error());
        peer_bin.clear();
      }
    }
    results.push_back(r);
    std::fprintf(stderr, "%s: tg %.2f tok/s (median %.2f), pp %.2f tok/s, bw %.2f GB/s (median %.2f), cpu %.0f%%\n",
                 type.c_str(), r.tg, r.tg_median, r.pp, r.bw / 1e9, r.bw_median / 1e9, 100 * r.cpu);
    if (temp_dir) fs::remove(path);
  }
  if (temp_dir) fs::remove_all(o.model_dir);

  const Result* base = nullptr;
  for (const auto& r : results)
    if (r.type == "f32") base = &r;
  std::printf("llama.cpp peer: %s\n", peer_note.c_str());
  std::printf("| type | kuai pp%d tok/s | llama.cpp pp | pp ratio | kuai tg%d tok/s | llama.cpp tg | tg ratio |\n", o.n_prompt,
              o.n_gen);
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& r : results) {
    auto fig = [](double v, const char* unit) {
      char buf[32] = "-";
      if (v > 0) std::snprintf(buf, sizeof buf, "%.2f%s", v, unit);
      return std::string(buf);
    };
    auto ratio = [&](double kuai, double peer) { return fig(peer > 0 ? kuai / peer : 0, "x"); };
    // kuai's tg here is llama-bench's definition: tokens / total time of the run (the median token's rate)
    std::printf("| %s | %.2f | %s | %s | %.2f | %s | %s |\n", r.type.c_str(), r.pp, fig(r.peer_pp, "").c_str(),
                ratio(r.pp, r.peer_pp).c_str(), r.tg_median, fig(r.peer_tg, "").c_str(), ratio(r.tg_median, r.peer_tg).c_str());
  }
  std::printf("\n");
  std::printf("decode: best token (median token); bandwidth: best pass (median pass) right before that decode\n");
  std::printf("| type | weights MiB/token | decode tok/s | decode vs f32 | decode GB/s | STREAM GB/s | of STREAM | cpu | "
              "prompt tok/s | prompt vs f32 | prompt GFLOP/s |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& r : results) {
    const double gbs = r.bytes_per_token * r.tg / 1e9, gbs_med = r.bytes_per_token * r.tg_median / 1e9;
    char dvs[32] = "-", pvs[16] = "-";
    if (base) {
      std::snprintf(dvs, sizeof dvs, "%.2fx (%.2fx)", r.tg / base->tg, r.tg_median / base->tg_median);
      std::snprintf(pvs, sizeof pvs, "%.2fx", r.pp / base->pp);
    }
    std::printf("| %s | %.0f | %.2f (%.2f) | %s | %.2f (%.2f) | %.2f (%.2f) | %.0f%% (%.0f%%) | %.0f%% | %.2f | %s | %.1f |\n",
                r.type.c_str(), r.bytes_per_token / 1048576.0, r.tg, r.tg_median, dvs, gbs, gbs_med, r.bw / 1e9,
                r.bw_median / 1e9, 100.0 * gbs * 1e9 / r.bw, 100.0 * gbs_med * 1e9 / r.bw_median, 100 * r.cpu, r.pp, pvs,
                r.gflops);
  }
  return 0;
}
