// bench_engine_serving: the embedded engine through the gateway (`kuai serve --model`), over real HTTP
// and SSE. On a synthetic model of a real shape (default: TinyLlama-1.1B, Q4_0, made here with
// tools::synth_model in a temp dir):
//   1. 1, 4, 16, 32 concurrent streams: aggregate generated tokens/s, as a ratio of one stream;
//   2. time to first token of a request whose ~1,000-token system prompt is cached vs not;
//   3. KV waste (kuai_kv_waste_ratio sampled from /metrics while 32 streams run).
// Targets (issue 5): >= 4x aggregate throughput at 16 streams; cached TTFT <= 10% of uncached; waste < 4%.
//   --engine-only: the same stream counts on an in-process Engine (no HTTP), with the engine's phase
//   timers (forward: matmul / attention / output; scheduler, sampling, dispatch); --compare adds a run
//   with Q4_0/Q8_0 through kernels::matmul instead of model::int8_gemm (the same-run baseline of that kernel).
//   Beside it, llama.cpp's llama-batched-bench (found where tools::find_llama_bench finds llama-bench) runs
//   the same file with the same stream counts, prompt length and generated tokens per stream, and the
//   table shows its generated tokens / total time and kuai's ratio; --no-peer skips it, and a peer that is
//   absent or dies (SIGILL: llama.cpp's portable build needs AVX-VNNI for Q4_0/Q8_0) leaves "-".
// Usage: bench_engine_serving [--preset tinyllama-1.1b|stories110m|tiny] [--type q4_0] [--tokens N]
//        [--streams 1,4,16,32] [--system-words N] [--threads T] [--kuai PATH] [--model FILE]
//        [--kv-block N] [--engine-only [--compare] [--no-peer] [--prompt-tokens N] [--kv-type f16|q8_0]]
//   --prompt-tokens (default 15) and --kv-type (default f16) apply to --engine-only: long prompts make
//   decode attention-bound (the peer keeps llama.cpp's F16 KV cache).
#include "engine/model/llama_model.h"
#include "engine/sched/engine.h"
#include "tools/llama_peer.h"
#include "tools/synth.h"

#include "../../tests/support/process.h"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <map>
#include <sys/wait.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using kuai::test::Ms;

double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

struct StreamResult {
  bool ok = false;
  std::string error;
  Clock::time_point start, first, last;
  int64_t completion_tokens = 0;
  int64_t prompt_tokens = 0;
};

// One streamed /v1/chat/completions request (the prompt as one user message; a synthetic model has no
// chat template, so it reads the text as is) over its own connection; timestamps the first content event.
StreamResult stream_completion(uint16_t port, const std::string& prompt, int max_tokens) {
  StreamResult r;
  boost::json::array messages{boost::json::object{{"role", "user"}, {"content", prompt}}};
  boost::json::object body{{"model", "bench"},           {"messages", messages},   {"max_tokens", max_tokens},
                           {"temperature", 0},           {"stream", true},         {"ignore_eos", true},
                           {"stream_options", boost::json::object{{"include_usage", true}}}};
  const std::string payload = boost::json::serialize(body);
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
  kuai::test::RawConnection conn;
  r.start = Clock::now();
  if (!conn.connect(port) || !conn.send_all(req)) {
    r.error = "connect/send failed";
    return r;
  }
  std::string raw;  // bytes as received (chunked transfer encoding)
  size_t pos = 0;
  bool headers_done = false;
  std::string sse;  // de-chunked body
  bool done = false;
  auto now_ok = [&] {
    // Parse whatever complete SSE events we have.
    for (;;) {
      size_t end = sse.find("\n\n");
      if (end == std::string::npos) return;
      std::string ev = sse.substr(0, end);
      sse.erase(0, end + 2);
      if (ev.rfind("data: ", 0) != 0) continue;
      std::string data = ev.substr(6);
      if (data == "[DONE]") {
        done = true;
        return;
      }
      boost::system::error_code ec;
      auto v = boost::json::parse(data, ec);
      if (ec || !v.is_object()) continue;
      const auto& o = v.as_object();
      if (o.contains("error")) {
        r.error = data;
        done = true;
        return;
      }
      if (const auto* u = o.if_contains("usage"); u && u->is_object()) {
        r.completion_tokens = u->as_object().at("completion_tokens").to_number<int64_t>();
        r.prompt_tokens = u->as_object().at("prompt_tokens").to_number<int64_t>();
      }
      if (const auto* ch = o.if_contains("choices"); ch && ch->is_array() && !ch->as_array().empty()) {
        const auto& c0 = ch->as_array()[0].as_object();
        const auto* delta = c0.if_contains("delta");
        const auto* text = delta && delta->is_object() ? delta->as_object().if_contains("content") : nullptr;
        if (text && text->is_string() && !text->as_string().empty()) {
          if (r.first == Clock::time_point{}) r.first = Clock::now();
          r.last = Clock::now();
        }
      }
    }
  };
  while (!done) {
    if (conn.recv_some(raw, Ms(600000)) <= 0) break;
    if (!headers_done) {
      size_t h = raw.find("\r\n\r\n");
      if (h == std::string::npos) continue;
      if (raw.compare(0, 12, "HTTP/1.1 200") != 0) {
        r.error = raw.substr(0, std::min<size_t>(raw.size(), 400));
        return r;
      }
      headers_done = true;
      pos = h + 4;
    }
    // De-chunk.
    for (;;) {
      size_t eol = raw.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const size_t n = std::strtoul(raw.c_str() + pos, nullptr, 16);
      if (n == 0) {
        done = true;
        break;
      }
      if (raw.size() < eol + 2 + n + 2) break;
      sse.append(raw, eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    now_ok();
  }
  r.ok = r.error.empty() && r.completion_tokens > 0;
  if (!r.ok && r.error.empty()) r.error = "no usage in the stream";
  return r;
}

double metric_value(uint16_t port, const std::string& name) {
  kuai::test::HttpClient http(port);
  auto resp = http.get("/metrics");
  std::istringstream in(resp.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0 && (line.size() > name.size() && (line[name.size()] == '{' || line[name.size()] == ' '))) {
      return std::atof(line.substr(line.rfind(' ') + 1).c_str());
    }
  }
  return -1;
}

std::string words(int n, unsigned seed) {
  static const char* kWords[] = {"the", "cat", "sat", "on", "a", "mat", "and", "looked", "at", "bright", "moon",
                                 "while", "rain", "fell", "over", "quiet", "town", "where", "children", "played"};
  std::string s;
  for (int i = 0; i < n; ++i) {
    seed = seed * 1103515245u + 12345u;
    if (i) s += ' ';
    s += kWords[(seed >> 16) % 20];
  }
  return s;
}

constexpr int kPromptTokens = 15;  // per stream in --engine-only (and for the peer) unless --prompt-tokens

// llama-batched-bench beside llama-bench: generated tokens / total time (prompt + generation) per stream
// count, as kuai's engine-only tok/s counts them. Error: why there is no figure.
kuai::engine::Result<std::map<int, double>> run_batched_peer(const std::string& model, int threads, int prompt_tokens,
                                                             int tokens, const std::vector<int>& streams) {
  auto bench = kuai::tools::find_llama_bench();
  if (!bench.ok()) return kuai::engine::make_error(bench.error());
  const std::string bin = (std::filesystem::path(*bench).parent_path() / "llama-batched-bench").string();
  if (!std::filesystem::exists(bin)) return kuai::engine::make_error(bin + " not found");
  std::string npl;
  int max_streams = 1;
  for (int n : streams) npl += (npl.empty() ? "" : ",") + std::to_string(n), max_streams = std::max(max_streams, n);
  const int ctx = max_streams * (prompt_tokens + tokens) + 64;
  const std::string cmd = "'" + bin + "' -m '" + model + "' -c " + std::to_string(ctx) + " -b 512 -ub 512 -npp " +
                          std::to_string(prompt_tokens) + " -ntg " + std::to_string(tokens) + " -npl " + npl + " -t " +
                          std::to_string(threads) + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return kuai::engine::make_error("cannot start " + bin);
  std::map<int, double> out;
  char line[1024];
  while (std::fgets(line, sizeof line, p)) {
    // |    PP |     TG |    B |   N_KV |   T_PP s | S_PP t/s |   T_TG s | S_TG t/s |      T s |    S t/s |
    int pp = 0, tg = 0, b = 0, nkv = 0;
    double tpp = 0, spp = 0, ttg = 0, stg = 0, t = 0;
    if (std::sscanf(line, " | %d | %d | %d | %d | %lf | %lf | %lf | %lf | %lf |", &pp, &tg, &b, &nkv, &tpp, &spp, &ttg,
                    &stg, &t) == 9 && t > 0)
      out[b] = double(b) * tg / t;
  }
  const int status = ::pclose(p);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : code > 128 ? code - 128 : 0;
  if (sig == SIGILL) return kuai::engine::make_error("llama-batched-bench died with SIGILL (built for instructions this CPU lacks)");
  if (out.empty()) return kuai::engine::make_error("llama-batched-bench printed no result (exit status " + std::to_string(code) + ")");
  return out;
}

// --engine-only: the same stream counts straight on an in-process Engine (no HTTP, no tokenizer), with
// the engine's phase timers, to tell the engine's own scaling from the gateway's share.
struct EngineOnly {
  int threads = 2, tokens = 32, prompt_tokens = kPromptTokens;
  std::vector<int> streams;
  int32_t block_tokens = kuai::engine::sched::EngineOptions{}.block_tokens;
  kuai::engine::kv::KvType kv_type = kuai::engine::kv::KvType::kF16;
  bool int8_gemm = true, peer = true;
};

int run_engine_only(const std::string& model_file, const EngineOnly& o) {
  namespace es = kuai::engine::sched;
  const int threads = o.threads, tokens = o.tokens, block_tokens = o.block_tokens;
  const bool int8_gemm = o.int8_gemm, peer = o.peer;
  const std::vector<int>& streams = o.streams;
  auto loaded = kuai::engine::model::LlamaModel::load(model_file);
  if (!loaded.ok()) {
    std::fprintf(stderr, "load failed: %s\n", loaded.error().c_str());
    return 1;
  }
  std::shared_ptr<const kuai::engine::model::LlamaModel> model(std::move(loaded).value());
  es::EngineOptions eo;
  eo.kv_memory_bytes = 2ull << 30;
  eo.threads = threads;
  eo.max_seqs = std::max(32, *std::max_element(streams.begin(), streams.end()));
  eo.block_tokens = block_tokens;
  eo.kv_type = o.kv_type;
  eo.profile = true;
  eo.int8_gemm = int8_gemm;
  auto created = es::Engine::create(model, eo);
  if (!created.ok()) {
    std::fprintf(stderr, "engine failed: %s\n", created.error().c_str());
    return 1;
  }
  es::Engine& engine = *created.value();
  const int32_t n_vocab = model->hparams().n_vocab;
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  int64_t generated = 0;
  // Decode alone: from the moment every stream has its first token (all prompts done) to the end.
  int with_first = 0;
  int64_t generated_at_all_first = 0;
  Clock::time_point all_first;
  auto run = [&](int n, int max_tokens) {
    {
      std::lock_guard lock(mu);
      finished = 0;
      generated = 0;
      with_first = 0;
      generated_at_all_first = 0;
    }
    for (int i = 0; i < n; ++i) {
      es::Request r;
      r.id = engine.next_id();
      unsigned seed = unsigned(i + 1) * 2654435761u;
      for (int j = 0; j < o.prompt_tokens; ++j) {
        seed = seed * 1103515245u + 12345u;
        r.prompt.push_back(int32_t(3 + (seed >> 8) % unsigned(n_vocab - 3)));
      }
      r.max_tokens = max_tokens;
      auto err = engine.submit(std::move(r), [&, first = true](const es::Event& e) mutable {
        std::lock_guard lock(mu);
        if (e.token >= 0) {
          ++generated;
          if (first && ++with_first == n) all_first = Clock::now(), generated_at_all_first = generated;
          first = false;
        }
        if (e.finish != es::FinishReason::kNone) {
          ++finished;
          cv.notify_all();
        }
      });
      if (err) {  // refused (a prompt longer than the context): nothing will finish it
        std::fprintf(stderr, "submit: %s\n", err->c_str());
        std::lock_guard lock(mu);
        ++finished;
      }
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished >= n; });
    return generated;
  };
  run(1, 4);  // warm up
  std::printf("\n## Engine only (in-process, no gateway): %d compute threads, %d prompt + %d generated tokens per stream, "
              "KV %s in blocks of %d, %s\n\n",
              threads, o.prompt_tokens, tokens, std::string(kuai::engine::kv::kv_type_name(o.kv_type)).c_str(), block_tokens,
              int8_gemm ? "Q4_0/Q8_0 through model::int8_gemm" : "kernels::matmul only");
  std::printf("| streams | tok/s | ratio | llama.cpp tok/s | vs llama.cpp | decode tok/s | steps | ms/step | forward | matmul | attention | output | sched+sample+complete | dispatch | idle |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  struct Line {
    int streams;
    double tps;
    std::string rest;  // steps onwards
  };
  std::vector<Line> lines;
  for (int n : streams) {
    const es::EngineStats before = engine.stats();
    const auto t0 = Clock::now();
    const int64_t got = run(n, tokens);
    const auto t_end = Clock::now();
    const double wall = secs(t0, t_end);
    const double decode_s = secs(all_first, t_end);
    const double decode_tps = decode_s > 0 ? double(got - generated_at_all_first) / decode_s : 0.0;
    std::this_thread::sleep_for(Ms(20));  // let the engine publish its last step's stats
    const es::EngineStats after = engine.stats();
    const auto& a = after.profile;
    const auto& b = before.profile;
    const double tps = double(got) / wall;
    const double fwd = a.forward - b.forward;
    const double mm = (a.model.matmul_qkv - b.model.matmul_qkv) + (a.model.matmul_wo - b.model.matmul_wo) +
                      (a.model.matmul_ffn - b.model.matmul_ffn) + (a.model.matmul_down - b.model.matmul_down);
    const int64_t steps = after.steps - before.steps;
    auto pct = [&](double x) { return 100.0 * x / wall; };
    char buf[512];
    std::snprintf(buf, sizeof buf, "| %.0f%% | %.0f%% | %.0f%% | %.0f%% | %.1f%% | %.1f%% | %.0f%% |", pct(fwd), pct(mm),
                  pct(a.model.attention - b.model.attention), pct(a.model.output - b.model.output),
                  pct((a.schedule - b.schedule) + (a.sample - b.sample) + (a.complete - b.complete)),
                  pct(a.dispatch - b.dispatch), pct(a.idle - b.idle));
    char steps_col[128];
    std::snprintf(steps_col, sizeof steps_col, " %.2f | %lld | %.1f ", decode_tps, static_cast<long long>(steps),
                  steps ? 1000.0 * wall / double(steps) : 0.0);
    lines.push_back({n, tps, std::string(steps_col) + buf});
    std::fprintf(stderr, "%d streams: %.2f tok/s\n", n, tps);
  }
  // llama-batched-bench right after kuai's runs, so both see the same machine state
  std::map<int, double> peer_tps;
  std::string note = "skipped (--no-peer)";
  if (peer) {
    if (auto r = run_batched_peer(model_file, threads, o.prompt_tokens, tokens, streams)) peer_tps = *r, note = "llama-batched-bench, same file";
    else note = r.error();
  }
  for (const Line& l : lines) {
    const auto it = peer_tps.find(l.streams);
    char peer_cols[96] = " - | - |";
    if (it != peer_tps.end()) std::snprintf(peer_cols, sizeof peer_cols, " %.2f | %.2fx |", it->second, l.tps / it->second);
    std::printf("| %d | %.2f | %.2fx |%s%s\n", l.streams, l.tps, l.tps / lines.front().tps, peer_cols, l.rest.c_str());
  }
  std::printf("\nllama.cpp peer: %s (its tok/s: generated tokens / total time, prompt %d tokens per stream)\n", note.c_str(),
              o.prompt_tokens);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string preset = "tinyllama-1.1b", type = "q4_0", kuai_path, model_file;
  int tokens = 32, system_words = 190, threads = 2, kv_block = 0, prompt_tokens = kPromptTokens;
  auto kv_type = kuai::engine::kv::KvType::kF16;
  bool engine_only = false, compare = false, peer = true;
  std::vector<int> streams{1, 4, 16, 32};
  for (int i = 1; i < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--engine-only" || k == "--compare" || k == "--no-peer") {
      (k == "--compare" ? compare : k == "--no-peer" ? peer : engine_only) = k != "--no-peer";
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "option %s needs a value\n", k.c_str());
      return 2;
    }
    std::string v = argv[i + 1];
    if (k == "--preset") preset = v;
    else if (k == "--type") type = v;
    else if (k == "--tokens") tokens = std::atoi(v.c_str());
    else if (k == "--system-words") system_words = std::atoi(v.c_str());
    else if (k == "--threads") threads = std::atoi(v.c_str());
    else if (k == "--kuai") kuai_path = v;
    else if (k == "--model") model_file = v;
    else if (k == "--kv-block") kv_block = std::atoi(v.c_str());
    else if (k == "--prompt-tokens") prompt_tokens = std::max(1, std::atoi(v.c_str()));
    else if (k == "--kv-type") {
      const auto t = kuai::engine::kv::kv_type_from_name(v);
      if (!t) {
        std::fprintf(stderr, "--kv-type: unknown type %s (f16, q8_0, f32)\n", v.c_str());
        return 2;
      }
      kv_type = *t;
    }
    else if (k == "--streams") {
      streams.clear();
      std::stringstream ss(v);
      std::string x;
      while (std::getline(ss, x, ',')) streams.push_back(std::atoi(x.c_str()));
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (kuai_path.empty()) {
    const char* env = std::getenv("KUAI_BIN");
    kuai_path = env ? env : (std::filesystem::path(argv[0]).parent_path().parent_path() / "kuai").string();
    if (!std::filesystem::exists(kuai_path)) kuai_path = (std::filesystem::path(argv[0]).parent_path() / "kuai").string();
  }
  ::setenv("KUAI_BIN", kuai_path.c_str(), 1);  // KuaiProcess starts $KUAI_BIN
  char tmpl[] = "/tmp/kuai-bench-serving-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  if (model_file.empty()) {
    model_file = dir + "/" + preset + "-" + type + ".gguf";
    kuai::tools::SynthOptions so;
    so.preset = preset;
    so.type = type;
    so.seed = 1;
    so.n_threads = threads;
    const auto t0 = Clock::now();
    auto st = kuai::tools::synth_model(model_file, so);
    if (!st.ok()) {
      std::fprintf(stderr, "synth failed: %s\n", st.error().c_str());
      return 1;
    }
    std::fprintf(stderr, "synthesised %s %s in %.1f s\n", preset.c_str(), type.c_str(), secs(t0, Clock::now()));
  }
  if (engine_only) {
    EngineOnly o;
    o.threads = threads, o.tokens = tokens, o.prompt_tokens = prompt_tokens, o.streams = streams, o.kv_type = kv_type;
    if (kv_block > 0) o.block_tokens = kv_block;
    int r = 0;
    if (compare) {
      EngineOnly base = o;
      base.int8_gemm = base.peer = false;
      r |= run_engine_only(model_file, base);
    }
    o.peer = peer;
    r |= run_engine_only(model_file, o);
    std::filesystem::remove_all(dir);
    return r;
  }
  const int max_streams = *std::max_element(streams.begin(), streams.end());
  std::vector<std::string> args{"serve", "--port", "0", "--model", "bench=" + model_file, "--kv-memory", "2GiB",
                                "--threads", std::to_string(threads), "--max-seqs", std::to_string(std::max(32, max_streams)),
                                "--max-batch-tokens", "512", "--log-level", "warn", "--set", "server.access_log=false"};
  if (kv_block > 0) {
    args.push_back("--set");
    args.push_back("engine.block_tokens=" + std::to_string(kv_block));
  }
  int rc = 0;
  try {
    kuai::test::KuaiProcess kuai(args, Ms(600000));
    const uint16_t port = kuai.port;
    // Warm up (page the weights in).
    stream_completion(port, "warm up", 4);

    std::printf("\n## Engine serving: %s %s, %d compute threads, %d tokens per stream, KV blocks of %s tokens\n\n",
                preset.c_str(), type.c_str(), threads, tokens,
                kv_block > 0 ? std::to_string(kv_block).c_str() : "default");
    std::printf("| streams | generated tokens | wall s | aggregate tok/s | ratio vs 1 stream | mean TTFT s |\n");
    std::printf("|---:|---:|---:|---:|---:|---:|\n");
    double base = 0;
    double waste_sum = 0;
    int waste_n = 0;
    for (int n : streams) {
      std::vector<StreamResult> res(static_cast<size_t>(n));
      std::atomic<bool> running{true};
      std::thread sampler;
      if (n == max_streams) {
        sampler = std::thread([&] {
          while (running) {
            const double used = metric_value(port, "kuai_kv_blocks_used");
            const double w = metric_value(port, "kuai_kv_waste_ratio");
            if (used > 0 && w >= 0) waste_sum += w, ++waste_n;
            std::this_thread::sleep_for(Ms(100));
          }
        });
      }
      const auto t0 = Clock::now();
      std::vector<std::thread> ts;
      for (int i = 0; i < n; ++i) {
        ts.emplace_back([&, i] { res[size_t(i)] = stream_completion(port, "story " + std::to_string(i) + ": " + words(8, unsigned(i + 1)), tokens); });
      }
      for (auto& t : ts) t.join();
      const auto t1 = Clock::now();
      running = false;
      if (sampler.joinable()) sampler.join();
      int64_t total = 0;
      double ttft = 0;
      for (const auto& r : res) {
        if (!r.ok) {
          std::fprintf(stderr, "stream failed: %s\n", r.error.c_str());
          rc = 1;
          continue;
        }
        total += r.completion_tokens;
        ttft += secs(r.start, r.first);
      }
      const double tps = double(total) / secs(t0, t1);
      if (base == 0) base = tps;
      std::printf("| %d | %lld | %.2f | %.2f | %.2fx | %.3f |\n", n, static_cast<long long>(total), secs(t0, t1), tps,
                  tps / base, ttft / n);
      std::fflush(stdout);
    }

    // Cached vs uncached system prompt.
    const std::string system = "System: " + words(system_words, 777) + "\n";
    auto uncached = stream_completion(port, system + "User: tell me about the moon.\nAssistant:", 2);
    auto cached = stream_completion(port, system + "User: and the rain?\nAssistant:", 2);
    if (!uncached.ok || !cached.ok) {
      std::fprintf(stderr, "TTFT request failed: %s %s\n", uncached.error.c_str(), cached.error.c_str());
      rc = 1;
    } else {
      const double tu = secs(uncached.start, uncached.first), tc = secs(cached.start, cached.first);
      std::printf("\n| system prompt | prompt tokens | TTFT s | ratio |\n|---|---:|---:|---:|\n");
      std::printf("| not cached | %lld | %.3f | 1.00 |\n| cached | %lld | %.3f | %.3f |\n",
                  static_cast<long long>(uncached.prompt_tokens), tu, static_cast<long long>(cached.prompt_tokens), tc,
                  tc / tu);
    }
    std::printf("\nKV waste while %d streams ran (mean of %d samples of kuai_kv_waste_ratio): %.2f%%\n", max_streams,
                waste_n, waste_n ? 100.0 * waste_sum / waste_n : -1.0);
    std::printf("prefix-hit tokens: %.0f\n", metric_value(port, "kuai_kv_prefix_hit_tokens_total"));
    kuai.proc.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench failed: %s\n", e.what());
    rc = 1;
  }
  std::filesystem::remove_all(dir);
  return rc;
}
