// bench_semantic_cache: how fast the semantic cache answers, against baselines measured in the same run.
//  1. Gateway: `kuai fake-upstream` (TTFT --ttft-ms, default 200 ms) behind `kuai serve` with pipeline
//     [cache] (hash embedder). Measures end to end, at concurrency 1, keep-alive, interleaved:
//       (a) upstream directly, (b) a gateway cache miss (new question each time, goes upstream),
//       (c) a gateway cache hit (paraphrases of a stored question),
//       (d) the same gateway with a zero-TTFT upstream and no stage (pure gateway overhead baseline).
//     Prints p50/p99 of each and the hit's speed-up over the upstream.
//  2. Index: an HNSW namespace index of N entries (synthetic EN/ZH-like queries through the hash
//     embedder, or random unit vectors for the large run): build time, lookup p50/p99 (k = 4) and
//     memory; plus the whole lookup path (features + embedding + store lookup with guards) at 20k.
//  3. Sentence embedder (`embedder: local` on a BERT-family GGUF): per-query embedding time of a
//     bge-small-shaped file (`kuai synth --preset bge-small`, F16 and Q8_0) for 16 EN/ZH cache queries,
//     kuai's BertModel in-process against llama.cpp's llama-embedding on the same file and queries (its
//     own "prompt eval time", so process start and load are left out of both), median over the queries;
//     then all 16 as one batch (embed_all) against llama-embedding given all 16 prompts at once.
// Usage: bench_semantic_cache [--hits N] [--ttft-ms MS] [--no-gateway] [--no-index] [--no-embedder]
//        [--million] [--million-dim D] [--threads T] [--kuai PATH]
// --million adds the 1M-entry index (random unit vectors of --million-dim, default 128, built on
// --threads threads): minutes on a small machine, so it is opt-in.
#include "../../tests/support/process.h"

#include "cache/dot.h"
#include "cache/embedder.h"
#include "cache/store.h"
#include "cache/vector_index.h"
#include "engine/model/sentence_embedder.h"
#include "engine/threads/thread_pool.h"
#include "support/paths.h"
#include "tools/bench.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace kuai::test;
using namespace kuai::cache;
using Clock = std::chrono::steady_clock;

namespace {

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

std::string body(const std::string& q) {
  std::string esc;
  for (char c : q) esc += (c == '"' ? std::string("\\\"") : std::string(1, c));
  return R"({"model":"bench","max_tokens":64,"messages":[{"role":"user","content":")" + esc + R"("}]})";
}

double timed_post(HttpClient& c, const std::string& b, std::string* cache_header = nullptr) {
  auto t0 = Clock::now();
  auto r = c.post("/v1/chat/completions", b);
  double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  if (cache_header) *cache_header = r.header("x-kuai-cache");
  return r.status == 200 ? us : -1;
}

// CPU time (user + system) of a process so far, in seconds (/proc/PID/stat fields 14 and 15).
double cpu_seconds(pid_t pid) {
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  unsigned long utime = 0, stime = 0;
  // after ") ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

long rss_kb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, res = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    std::fclose(f);
  }
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

// Synthetic but varied queries: templates × topics × places × numbers, English and Chinese.
std::string synthetic_query(std::mt19937_64& rng, uint64_t i) {
  static const char* en_t[] = {"how do I %s %s in %s", "what is the best way to %s %s near %s",
                               "can you %s my %s for %s", "why does %s %s fail in %s"};
  static const char* verbs[] = {"install", "clean", "fix", "buy", "sell", "cook", "learn", "reset", "paint", "book"};
  static const char* nouns[] = {"printer", "bicycle", "password", "garden", "laptop", "kitchen", "guitar", "passport",
                                "camera", "router", "sofa", "engine", "roof", "account", "ticket", "violin"};
  static const char* places[] = {"Paris", "Tokyo", "Berlin", "Lima", "Cairo", "Oslo", "Denver", "Hanoi", "Quito", "Perth"};
  static const char* zh_t[] = {"%s怎么%s%s", "如何在%s%s%s", "%s的%s%s多少钱"};
  static const char* zh_p[] = {"北京", "上海", "杭州", "成都", "西安", "广州", "南京", "武汉"};
  static const char* zh_v[] = {"修理", "购买", "清洗", "安装", "预订", "学习"};
  static const char* zh_n[] = {"打印机", "自行车", "电脑", "吉他", "相机", "沙发", "门票", "护照"};
  char buf[256];
  if (rng() % 3 == 0) {
    std::snprintf(buf, sizeof buf, zh_t[rng() % 3], zh_p[rng() % 8], zh_v[rng() % 6], zh_n[rng() % 8]);
  } else {
    std::snprintf(buf, sizeof buf, en_t[rng() % 4], verbs[rng() % 10], nouns[rng() % 16], places[rng() % 10]);
  }
  return std::string(buf) + " #" + std::to_string(i);  // the number keeps entries distinct
}

void gateway_bench(const std::string& kuai, int hits, int ttft_ms) {
  ChildProcess up(kuai, {"fake-upstream", "--port", "0", "--ttft-ms", std::to_string(ttft_ms), "--answer-tokens", "64"});
  uint16_t up_port = up.wait_listening();
  ChildProcess up0(kuai, {"fake-upstream", "--port", "0", "--ttft-ms", "0", "--answer-tokens", "64"});
  uint16_t up0_port = up0.wait_listening();
  ChildProcess gw(kuai, {"serve", "--port", "0", "--log-level", "warn", "--upstream", "http://127.0.0.1:" + std::to_string(up_port),
                         "--set", "pipeline=[cache]", "--set", "server.access_log=false"});
  uint16_t gw_port = gw.wait_listening();
  ChildProcess gw0(kuai, {"serve", "--port", "0", "--log-level", "warn", "--upstream", "http://127.0.0.1:" + std::to_string(up0_port),
                          "--set", "server.access_log=false"});
  uint16_t gw0_port = gw0.wait_listening();
  if (!up_port || !up0_port || !gw_port || !gw0_port) {
    std::printf("gateway bench: a child did not start\n%s\n%s\n", gw.output().c_str(), up.output().c_str());
    return;
  }
  HttpClient direct(up_port), via(gw_port), base(gw0_port);
  const std::string stored = "How do I reset my password on the company laptop?";
  const std::vector<std::string> paraphrases = {"how do I reset my password on the company laptop",
                                                "How can I reset my password on the company laptop?",
                                                "How do I reset my passwords on the company laptop"};
  std::string h;
  timed_post(via, body(stored), &h);  // miss: stores the answer
  timed_post(via, body(stored), &h);
  if (h != "hit") std::printf("warning: the warm-up did not hit (x-kuai-cache: %s)\n", h.c_str());
  std::vector<double> t_direct, t_miss, t_hit, t_base;
  const double gw_cpu0 = cpu_seconds(gw.pid()), gw0_cpu0 = cpu_seconds(gw0.pid());
  int slow_rounds = std::max(1, std::min(30, 3000 / std::max(1, ttft_ms)));
  int per_round = std::max(1, hits / slow_rounds);
  int wrong = 0;
  for (int round = 0; round < slow_rounds; ++round) {
    t_direct.push_back(timed_post(direct, body(stored)));
    t_miss.push_back(timed_post(via, body("Explain topic number " + std::to_string(round) + " in detail"), &h));
    for (int i = 0; i < per_round; ++i) {
      t_hit.push_back(timed_post(via, body(paraphrases[size_t(i) % paraphrases.size()]), &h));
      wrong += h != "hit";
      t_base.push_back(timed_post(base, body(stored)));
    }
  }
  // CPU the gateways spent (all requests of the loop; the cache gateway's are hits but for the
  // slow_rounds misses): independent of how busy the shared cores are, unlike the p99.
  const double gw_cpu = cpu_seconds(gw.pid()) - gw_cpu0, gw0_cpu = cpu_seconds(gw0.pid()) - gw0_cpu0;
  auto row = [](const char* name, const std::vector<double>& v) {
    std::printf("  %-44s n=%5zu  p50 %9.1f us  p99 %9.1f us\n", name, v.size(), pct(v, 0.5), pct(v, 0.99));
  };
  std::printf("gateway (loopback, concurrency 1, upstream TTFT %d ms, 64-token answers):\n", ttft_ms);
  row("(a) upstream directly", t_direct);
  row("(b) kuai + cache, miss (goes upstream)", t_miss);
  row("(c) kuai + cache, hit (paraphrase)", t_hit);
  row("(d) kuai, no stage, 0-TTFT upstream (baseline)", t_base);
  std::printf("  hit p99 / upstream p50 = %.4f   hit p50 / no-stage gateway p50 = %.2f   non-hits among hits: %d\n",
              pct(t_hit, 0.99) / pct(t_direct, 0.5), pct(t_hit, 0.5) / pct(t_base, 0.5), wrong);
  std::printf("  gateway CPU per request: cache gateway %.1f us (hits, %zu misses among them), no-stage gateway %.1f us\n",
              1e6 * gw_cpu / double(t_hit.size() + t_miss.size()), t_miss.size(), 1e6 * gw0_cpu / double(t_base.size()));
  std::printf("  target: hit p99 <= 1000 us -> %s\n", pct(t_hit, 0.99) <= 1000 ? "met" : "NOT met on this machine");
}

void index_bench(size_t n, size_t dim, bool text, unsigned threads) {
  std::mt19937_64 rng(42);
  HashEmbedder emb(dim);
  std::vector<float> data(n * dim);
  std::vector<uint64_t> labels(n);
  auto t0 = Clock::now();
  std::normal_distribution<float> g(0, 1);
  for (size_t i = 0; i < n; ++i) {
    labels[i] = i + 1;
    std::vector<float> v;
    if (text) {
      v = emb.embed_words(query_features(synthetic_query(rng, i)).terms);
    } else {
      v.resize(dim);
      for (auto& x : v) x = g(rng);
      l2_normalize(v);
    }
    std::copy(v.begin(), v.end(), data.begin() + long(i * dim));
  }
  double embed_s = std::chrono::duration<double>(Clock::now() - t0).count();
  long rss0 = rss_kb();
  IndexParams p;
  p.dim = dim;
  p.initial_capacity = n;
  VectorIndex index(p);
  t0 = Clock::now();
  index.add_batch(labels, data.data(), threads);
  double build_s = std::chrono::duration<double>(Clock::now() - t0).count();
  long rss1 = rss_kb();
  // Queries: stored vectors with noise (near neighbours exist, as for a paraphrase).
  std::vector<double> lat;
  size_t found = 0;
  std::vector<float> q(dim);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  for (int i = 0; i < 5000; ++i) {
    size_t j = pick(rng);
    for (size_t d = 0; d < dim; ++d) q[d] = data[j * dim + d] + 0.05f * g(rng) / std::sqrt(float(dim));
    l2_normalize(q);
    auto s = Clock::now();
    auto r = index.search(q.data(), 4);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
    found += !r.empty() && r[0].first == labels[j];
  }
  std::printf("index n=%zu dim=%zu (%s): vectors %.1f s, build %.1f s on %u thread(s); lookup k=4 p50 %.1f us p99 %.1f us; "
              "recall@1 %.3f; index memory %.0f MiB (%.0f B/entry; RSS +%.0f MiB)\n",
              n, dim, text ? "hash-embedded synthetic queries" : "random unit vectors", embed_s, build_s, threads,
              pct(lat, 0.5), pct(lat, 0.99), double(found) / 5000.0, double(index.memory_bytes()) / 1048576.0,
              double(index.memory_bytes()) / double(n), double(rss1 - rss0) / 1024.0);
}

void store_path_bench(size_t n) {
  StoreConfig cfg;
  cfg.max_entries = n + 10;
  Store store(cfg);
  HashEmbedder emb;
  std::mt19937_64 rng(7);
  std::vector<std::string> qs;
  for (size_t i = 0; i < n; ++i) {
    std::string q = synthetic_query(rng, i);
    auto f = query_features(q);
    store.insert("ns", q, f, emb.embed_words(f.terms), Answer{"answer " + std::to_string(i)}, 100, 1000);
    if (i % (n / 1000) == 0) qs.push_back(q);
  }
  std::vector<double> lat;
  int hits = 0;
  for (const auto& q0 : qs) {
    std::string q = "please " + q0 + "?";  // a different normalised text: the HNSW path + guards
    auto t0 = Clock::now();
    auto f = query_features(q);
    std::vector<float> v;
    emb.embed_sync(q, f, v);
    auto r = store.lookup("ns", f, &v, 2000, 0.5);
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    hits += r.kind == LookupResult::Kind::Hit;
  }
  std::printf("store lookup path at %zu entries (features + hash embedding + exact/HNSW + guards): p50 %.1f us p99 %.1f us (%d/%zu hits)\n",
              n, pct(lat, 0.5), pct(lat, 0.99), hits, qs.size());
}

}  // namespace

// llama-embedding's own time for one query (ms, its "prompt eval time"); nullopt when it is absent or
// does not run on this CPU.
std::optional<double> llama_embedding_ms(const std::string& bin, const std::string& model, const std::string& q,
                                         int threads) {
  const auto r = run_shell(bin + " -m " + model + " -t " + std::to_string(threads) + " --embd-normalize 2 -p '" + q + "'");
  const size_t at = r.out.find("prompt eval time =");
  if (r.code != 0 || at == std::string::npos) return std::nullopt;
  return std::strtod(r.out.c_str() + at + std::strlen("prompt eval time ="), nullptr);
}

void embedder_bench(const std::string& kuai, int threads) {
  namespace fs = std::filesystem;
  const std::vector<std::string> queries = {
      "What documents do I need for a Schengen visa application?", "How do I reset my router password?",
      "Can I return a laptop after 30 days?", "How long should I boil eggs for a soft yolk?",
      "What is the penalty for filing taxes late?", "How do I transfer money from PayPal to my bank?",
      "Why does my phone battery drain so fast?", "Is it safe to take ibuprofen on an empty stomach?",
      "宝宝几个月可以添加辅食", "信用卡逾期一天会影响征信吗", "高铁票改签有次数限制吗", "护照过期了怎么换新",
      "怎么查看linux磁盘空间", "公积金贷款需要什么条件", "手机丢了微信怎么办", "每天走一万步有什么好处"};
  const std::string llama = shared_dir() + "/tools/llama.cpp/llama-embedding";
  std::printf("\nsentence embedder (bge-small shape: 12 layers, width 384; %zu EN/ZH queries; %d threads; CPU %s)\n",
              queries.size(), threads, kuai::tools::cpu_model_name().c_str());
  for (const std::string type : {"f16", "q8_0"}) {
    const std::string path = (fs::temp_directory_path() / ("kuai_bench_bge_" + type + "_" + std::to_string(::getpid()) + ".gguf")).string();
    if (run_shell(kuai + " synth --preset bge-small --type " + type + " -o " + path).code != 0) {
      std::printf("  %s: kuai synth failed\n", type.c_str());
      continue;
    }
    auto embedder = kuai::engine::model::SentenceEmbedder::load(path);
    if (!embedder) {
      std::printf("  %s: %s\n", type.c_str(), embedder.error().c_str());
      continue;
    }
    const auto& model = (*embedder)->model();
    kuai::engine::ThreadPool pool(threads);
    kuai::engine::model::BertState st(pool);
    std::vector<double> ours, peer;
    size_t tokens = 0;
    for (const auto& q : queries) {
      const auto ids = (*embedder)->tokens(q);
      tokens += ids.size();
      (void)model.embed(ids, st);  // warm-up: buffers, page faults
      double best = 1e30;
      for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = Clock::now();
        (void)model.embed(ids, st);
        best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
      ours.push_back(best);
      if (auto ms = llama_embedding_ms(llama, path, q, threads)) peer.push_back(*ms);
    }
    // All queries at once (/v1/embeddings with many inputs; `kuai cache eval`): one batch against
    // llama-embedding given them as one newline-separated prompt list (it batches them too).
    std::vector<std::vector<int32_t>> all;
    std::string joined;
    for (const auto& q : queries) {
      all.push_back((*embedder)->tokens(q));
      joined += (joined.empty() ? "" : "\n") + q;
    }
    double batch_ms = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = Clock::now();
      (void)(*embedder)->embed_all(all, st);
      batch_ms = std::min(batch_ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    const auto peer_batch = llama_embedding_ms(llama, path, joined, threads);
    const double k = pct(ours, 0.5);
    std::printf("  %-5s kuai %.2f ms per query (median; %.1f tokens on average)", type.c_str(), k,
                double(tokens) / double(queries.size()));
    if (peer.size() == queries.size()) {
      const double l = pct(peer, 0.5);
      std::printf(", llama-embedding %.2f ms, kuai %.2fx llama.cpp's speed\n", l, l / k);
    } else {
      std::printf(", llama-embedding: no figure (absent, or SIGILL on this CPU)\n");
    }
    std::printf("        all %zu as one batch: kuai %.2f ms", queries.size(), batch_ms);
    if (peer_batch)
      std::printf(", llama-embedding %.2f ms, kuai %.2fx llama.cpp's speed\n", *peer_batch, *peer_batch / batch_ms);
    else
      std::printf(", llama-embedding: no figure\n");
    fs::remove(path);
  }
}

int main(int argc, char** argv) {
  int hits = 2000, ttft_ms = 200;
  bool gateway = true, index = true, embedder = true, million = false;
  size_t million_dim = 128;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::string kuai = std::getenv("KUAI_BIN") ? std::getenv("KUAI_BIN") : self_dir() + "/kuai";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--hits") hits = std::stoi(next());
    else if (a == "--ttft-ms") ttft_ms = std::stoi(next());
    else if (a == "--no-gateway") gateway = false;
    else if (a == "--no-index") index = false;
    else if (a == "--no-embedder") embedder = false;
    else if (a == "--million") million = true;
    else if (a == "--million-dim") million_dim = std::stoul(next());
    else if (a == "--threads") threads = unsigned(std::stoul(next()));
    else if (a == "--kuai") kuai = next();
    else { std::fprintf(stderr, "usage: bench_semantic_cache [--hits N] [--ttft-ms MS] [--no-gateway] [--no-index] [--no-embedder] [--million] [--million-dim D] [--threads T] [--kuai PATH]\n"); return 2; }
  }
  std::printf("dot kernel: %s\n", dot_f32_isa());
  if (gateway) gateway_bench(kuai, hits, ttft_ms);
  if (index) {
    index_bench(100000, 512, true, threads);
    store_path_bench(20000);
  }
  if (million) index_bench(1000000, million_dim, false, threads);
  if (embedder) embedder_bench(kuai, int(std::min(threads, 8u)));
  return 0;
}
