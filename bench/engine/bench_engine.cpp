// bench_engine: decode and prompt speed of the embedded engine on a TinyLlama-1.1B-shaped synthetic model
// (kuai synth, seeded random weights) for F32, F16, Q8_0, Q4_0 and Q4_K_M, 2 threads, with same-run
// baselines: each type's speedup over F32, and decode read bandwidth (weight bytes per token x tokens/s)
// as a fraction of this machine's read bandwidth measured in the same run by a STREAM-like loop.
// Prompt processing is reported in GFLOP/s (2 x matmul parameters x tokens / s).
//
// Default run is short (few tokens, one repetition) so it does not hog a shared machine; --full runs
// pp512 / tg32 with 3 repetitions. Models are generated into a temporary folder (removed afterwards)
// unless --model-dir names a folder to keep them in (then they are reused).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "tools/bench.h"
#include "tools/synth.h"

namespace fs = std::filesystem;
using namespace kuai;

namespace {

struct Options {
  std::string model_dir;
  std::string preset = "tinyllama-1.1b";
  std::vector<std::string> types = {"f32", "f16", "q8_0", "q4_0", "q4_k_m"};
  int threads = 2, n_prompt = 64, n_gen = 8, reps = 1;
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

int usage() {
  std::fprintf(stderr,
               "usage: bench_engine [--model-dir DIR] [--preset P] [--types f32,f16,q8_0,q4_0,q4_k_m] [--threads N]\n"
               "                    [--prompt N] [--gen N] [--reps N] [--full]\n");
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
    else if (a == "--help" || a == "-h") return usage();
    else return usage();
  }
  const bool temp_dir = o.model_dir.empty();
  if (temp_dir) o.model_dir = (fs::temp_directory_path() / ("kuai_bench_engine_" + std::to_string(::getpid()))).string();
  fs::create_directories(o.model_dir);

  engine::ThreadPool pool(o.threads);
  std::printf("kernels: %s, threads: %d, model: %s (synthetic), pp%d, tg%d, %d rep(s)\n",
              std::string(engine::kernels::isa_name(engine::kernels::detected_isa())).c_str(), o.threads,
              o.preset.c_str(), o.n_prompt, o.n_gen, o.reps);
  const double bw = tools::measure_read_bandwidth(pool, size_t(1) << 30, 3);
  std::printf("measured read bandwidth (STREAM-like sum, %d threads): %.2f GB/s\n\n", o.threads, bw / 1e9);

  struct Result {
    std::string type;
    double tg = 0, pp = 0, bytes_per_token = 0, gflops = 0;
  };
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
    (void)tools::bench_generate_seconds(model, 1, pool);  // page the weights in
    std::vector<double> tg, pp;
    for (int r = 0; r < o.reps; ++r) {
      auto g = tools::bench_generate_seconds(model, o.n_gen, pool);
      auto p = tools::bench_prompt_seconds(model, o.n_prompt, pool);
      if (!g || !p) {
        std::fprintf(stderr, "run failed\n");
        return 1;
      }
      tg.push_back(o.n_gen / *g);
      pp.push_back(o.n_prompt / *p);
    }
    Result r;
    r.type = type;
    r.tg = tools::mean_stddev(tg).mean;
    r.pp = tools::mean_stddev(pp).mean;
    r.bytes_per_token = double(model.weight_bytes_per_token());
    // matmul parameters: everything but the embedding table (which is a lookup)
    const auto& h = model.hparams();
    const double matmul_params = double(model.n_params()) - double(h.n_vocab) * h.n_embd *
                                                               (model.file().tensor("output.weight") ? 1.0 : 0.0);
    r.gflops = 2.0 * matmul_params * r.pp / 1e9;
    results.push_back(r);
    std::fprintf(stderr, "%s: tg %.2f tok/s, pp %.2f tok/s\n", type.c_str(), r.tg, r.pp);
    if (temp_dir) fs::remove(path);
  }
  if (temp_dir) fs::remove_all(o.model_dir);

  const Result* base = nullptr;
  for (const auto& r : results)
    if (r.type == "f32") base = &r;
  std::printf("| type | weights MiB/token | decode tok/s | decode vs f32 | decode GB/s | of measured bw | prompt tok/s | prompt vs f32 | prompt GFLOP/s |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& r : results) {
    const double gbs = r.bytes_per_token * r.tg / 1e9;
    char dvs[16] = "-", pvs[16] = "-";
    if (base) {
      std::snprintf(dvs, sizeof dvs, "%.2fx", r.tg / base->tg);
      std::snprintf(pvs, sizeof pvs, "%.2fx", r.pp / base->pp);
    }
    std::printf("| %s | %.0f | %.2f | %s | %.2f | %.0f%% | %.2f | %s | %.1f |\n", r.type.c_str(),
                r.bytes_per_token / 1048576.0, r.tg, dvs, gbs, 100.0 * gbs * 1e9 / bw, r.pp, pvs, r.gflops);
  }
  return 0;
}
