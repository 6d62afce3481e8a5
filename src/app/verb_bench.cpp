// `kuai bench`: llama-bench's tests (ppN: a prompt of N tokens in one batch; tgN: N tokens generated one
// by one), options and output formats (markdown table, JSON list), so the two can be compared side by side.
// Each test is followed, back to back, by llama.cpp's llama-bench on the same file, test and threads when
// it is found (tools/llama_peer.h; --no-peer skips it): its tokens/s and kuai's ratio to it are printed
// beside kuai's figure, with the CPU named.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include "app/verbs.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "tools/bench.h"
#include "tools/generate.h"
#include "tools/llama_peer.h"

namespace kuai::app {
namespace {

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    o += c;
  }
  return o;
}

struct Row {
  std::string file, type;
  uint64_t size = 0, params = 0;
  int threads = 0, n_prompt = 0, n_gen = 0;
  std::vector<double> ns;
  std::string time;
  double peer_ts = 0;  // llama-bench's mean tokens/s on the same test; 0: not run or failed
};

VerbRegistrar reg("bench", [](CLI::App& root) {
  struct Args {
    std::vector<std::string> models;
    std::vector<int> prompts{512}, gens{128}, threads{2};
    int reps = 5;
    std::string output = "md";
    bool no_peer = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = root.add_subcommand("bench", "Measure prompt processing (pp) and generation (tg) speed, like llama-bench.");
  cmd->add_option("-m,--model", a->models, "GGUF model file(s)")->required()->delimiter(',');
  cmd->add_option("-p,--n-prompt", a->prompts, "prompt sizes (comma-separated; 0 skips)")->delimiter(',')->capture_default_str();
  cmd->add_option("-n,--n-gen", a->gens, "generation lengths (comma-separated; 0 skips)")->delimiter(',')->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "thread counts (comma-separated)")->delimiter(',')->capture_default_str();
  cmd->add_option("-r,--repetitions", a->reps, "repetitions of each test")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("-o,--output", a->output, "md|json")->capture_default_str()->check(CLI::IsMember({"md", "json"}));
  cmd->add_flag("--no-peer", a->no_peer, "do not run llama.cpp's llama-bench beside each test");
  cmd->callback([a] {
    std::vector<Row> rows;
    std::string peer_bin, peer_note = "skipped (--no-peer)";
    if (!a->no_peer) {
      if (auto b = tools::find_llama_bench()) {
        peer_bin = *b;
        peer_note = peer_bin;
      } else {
        peer_note = b.error();
      }
    }
    for (const auto& path : a->models) {
      auto lm = tools::load_model(path);
      if (!lm) {
        set_exit_code(fail("bench", lm.error(), "give llama/qwen2 GGUF files with weights"));
        return;
      }
      const auto& m = *lm->model;
      for (int nt : a->threads) {
        engine::ThreadPool pool(std::max(1, nt));
        auto run = [&](int n_prompt, int n_gen) -> bool {
          Row r{path, tools::model_type_label(m), tools::model_size_bytes(m), m.n_params(), nt, n_prompt, n_gen, {}, {}};
          const std::time_t now = std::time(nullptr);
          char buf[32];
          std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
          r.time = buf;
          tools::BenchRunner runner(m, std::max(n_prompt, n_gen), pool);
          auto once = [&] { return n_prompt > 0 ? runner.prompt_seconds(n_prompt) : runner.generate_seconds(n_gen); };
          (void)once();  // warm-up, as llama-bench's: pages the weights and the runner's buffers in
          for (int rep = 0; rep < a->reps; ++rep) {
            auto s = once();
            if (!s) {
              set_exit_code(fail("bench", s.error(), "the test may exceed the model's context"));
              return false;
            }
            r.ns.push_back(*s * 1e9);
          }
          if (!peer_bin.empty()) {  // right after kuai's runs, so both see the same machine state
            auto p = tools::run_llama_bench(peer_bin, path, n_prompt, n_gen, nt, a->reps);
            if (p) {
              r.peer_ts = *p;
            } else {
              peer_note = peer_bin + ": " + p.error();
              peer_bin.clear();  // it will not do better on the next test
            }
          }
          rows.push_back(std::move(r));
          return true;
        };
        for (int p : a->prompts)
          if (p > 0 && !run(p, 0)) return;
        for (int n : a->gens)
          if (n > 0 && !run(0, n)) return;
      }
    }
    auto ts_of = [](const Row& r) {
      std::vector<double> ts;
      for (double ns : r.ns) ts.push_back(double(r.n_prompt + r.n_gen) * 1e9 / ns);
      return ts;
    };
    if (a->output == "json") {
      const std::string cpu = json_escape(tools::cpu_model_name());
      std::printf("[\n");
      for (size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        const auto ts = ts_of(r);
        const auto sns = tools::mean_stddev(r.ns), sts = tools::mean_stddev(ts);
        std::ostringstream ns_list, ts_list;
        for (size_t k = 0; k < r.ns.size(); ++k) {
          ns_list << (k ? ", " : "") << int64_t(r.ns[k]);
          ts_list << (k ? ", " : "") << ts[k];
        }
        std::printf(
            "  {\n    \"build_commit\": \"kuai\",\n    \"build_number\": 0,\n    \"cpu_info\": \"%s\",\n"
            "    \"gpu_info\": \"\",\n    \"backends\": \"CPU\",\n    \"model_filename\": \"%s\",\n"
            "    \"model_type\": \"%s\",\n    \"model_size\": %llu,\n    \"model_n_params\": %llu,\n"
            "    \"n_batch\": %d,\n    \"n_ubatch\": %d,\n    \"n_threads\": %d,\n    \"type_k\": \"f32\",\n"
            "    \"type_v\": \"f32\",\n    \"n_gpu_layers\": 0,\n    \"n_prompt\": %d,\n    \"n_gen\": %d,\n"
            "    \"test_time\": \"%s\",\n    \"avg_ns\": %lld,\n    \"stddev_ns\": %lld,\n    \"avg_ts\": %.6f,\n"
            "    \"stddev_ts\": %.6f,\n    \"samples_ns\": [ %s ],\n    \"samples_ts\": [ %s ],\n"
            "    \"peer_avg_ts\": %.6f,\n    \"ratio_to_peer\": %.6f\n  }%s\n",
            cpu.c_str(), json_escape(r.file).c_str(), json_escape(r.type).c_str(),
            static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(r.params), std::max(1, r.n_prompt),
            std::max(1, r.n_prompt), r.threads, r.n_prompt, r.n_gen, r.time.c_str(), static_cast<long long>(sns.mean),
            static_cast<long long>(sns.stddev), sts.mean, sts.stddev, ns_list.str().c_str(), ts_list.str().c_str(),
            r.peer_ts, r.peer_ts > 0 ? sts.mean / r.peer_ts : 0.0, i + 1 < rows.size() ? "," : "");
      }
      std::printf("]\n");
      return;
    }
    std::printf("| model                          |       size |     params | backend    | threads |          test |                  t/s |  llama.cpp t/s |   ratio |\n");
    std::printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: | ------------: | -------------------: | -------------: | ------: |\n");
    for (const Row& r : rows) {
      const auto sts = tools::mean_stddev(ts_of(r));
      char size[32], params[32], test[32], tps[48];
      std::snprintf(size, sizeof size, "%.2f MiB", double(r.size) / 1048576.0);
      if (r.size >= (1ull << 30)) std::snprintf(size, sizeof size, "%.2f GiB", double(r.size) / 1073741824.0);
      std::snprintf(params, sizeof params, "%.2f M", double(r.params) / 1e6);
      if (r.params >= 1000000000ull) std::snprintf(params, sizeof params, "%.2f B", double(r.params) / 1e9);
      std::snprintf(test, sizeof test, r.n_prompt > 0 ? "pp%d" : "tg%d", r.n_prompt > 0 ? r.n_prompt : r.n_gen);
      std::snprintf(tps, sizeof tps, "%.2f ± %.2f", sts.mean, sts.stddev);
      char peer[32] = "-", ratio[32] = "-";
      if (r.peer_ts > 0) {
        std::snprintf(peer, sizeof peer, "%.2f", r.peer_ts);
        std::snprintf(ratio, sizeof ratio, "%.2fx", sts.mean / r.peer_ts);
      }
      std::printf("| %-30s | %10s | %10s | %-10s | %7d | %13s | %20s | %14s | %7s |\n", r.type.c_str(), size, params,
                  "CPU", r.threads, test, tps, peer, ratio);
    }
    std::printf("\nCPU: %s; kernels: %s; peer: %s\n", tools::cpu_model_name().c_str(),
                std::string(engine::kernels::isa_name(engine::kernels::detected_isa())).c_str(), peer_note.c_str());
  });
});

}  // namespace
}  // namespace kuai::app
