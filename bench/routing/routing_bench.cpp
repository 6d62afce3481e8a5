// bench_routing: what the route and extract stages buy, measured through `kuai serve` with a fast fake
// small model and a slow fake large one (two `kuai fake-upstream` processes), each stage off vs on in
// the same run:
//   routing:    a mixed workload (tests/data/route_set.jsonl, English and Chinese) → mean and p95
//               latency, share of large-model calls avoided;
//   extraction: questions over long documents → input tokens the large model saw, mean/p95 latency.
// Usage: bench_routing [--requests N] [--concurrency C] [--source DIR]   (kuai is found next to this
// binary, or through $KUAI_BIN). Runs in ~20–40 s on 2 cores.
#include "../../tests/support/process.h"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace {

using kuai::test::ChildProcess;
using kuai::test::HttpClient;
using kuai::test::Ms;
namespace json = boost::json;

struct Proc {
  std::unique_ptr<ChildProcess> child;
  uint16_t port = 0;
  Proc(const std::vector<std::string>& args) {
    child = std::make_unique<ChildProcess>(kuai::test::kuai_bin(), args);
    port = child->wait_listening(Ms(20000));
    if (port == 0) throw std::runtime_error("did not start: " + child->output());
  }
  int64_t model_requests() {
    HttpClient c(port);
    return json::parse(c.get("/stats").body).at("model_requests").to_number<int64_t>();
  }
};

std::unique_ptr<Proc> gateway(uint16_t small, uint16_t large, const std::string& stages, const std::string& tag) {
  std::string path = std::filesystem::temp_directory_path() / ("kuai_bench_routing_" + tag + "_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "server: {access_log: false}\nlog: {level: warn}\nmodels:\n"
                      << "  small: {backends: [{url: 'http://127.0.0.1:" << small << "/v1'}]}\n"
                      << "  large: {backends: [{url: 'http://127.0.0.1:" << large << "/v1'}]}\n"
                      << stages;
  return std::make_unique<Proc>(std::vector<std::string>{"serve", "--config", path, "--port", "0"});
}

struct RunResult {
  std::vector<double> latency_ms;
  int64_t prompt_tokens = 0;  // as reported by the upstream that answered (usage.prompt_tokens)
  int errors = 0;
  double mean() const { return latency_ms.empty() ? 0 : std::accumulate(latency_ms.begin(), latency_ms.end(), 0.0) / latency_ms.size(); }
  double p95() const {
    if (latency_ms.empty()) return 0;
    auto v = latency_ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(0.95 * static_cast<double>(v.size())))];
  }
};

RunResult run(uint16_t port, const std::vector<std::string>& bodies, int concurrency) {
  RunResult out;
  std::mutex mu;
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      HttpClient c(port, Ms(60000));
      for (size_t i = next++; i < bodies.size(); i = next++) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = c.post("/v1/chat/completions", bodies[i]);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        std::lock_guard lock(mu);
        if (r.status != 200) {
          ++out.errors;
          continue;
        }
        out.latency_ms.push_back(ms);
        auto v = json::parse(r.body);
        if (auto* u = v.as_object().if_contains("usage"); u && u->is_object())
          out.prompt_tokens += u->as_object().at("prompt_tokens").to_number<int64_t>();
      }
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

std::string chat_body(const std::string& text) {
  json::object body{{"model", "large"},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", text}}}}};
  return json::serialize(body);
}

std::string long_document(int seed) {
  std::string doc;
  for (int p = 0; p < 14; ++p) {
    for (int s = 0; s < 7; ++s)
      doc += "Section " + std::to_string(p) + " of report " + std::to_string(seed) + " lists item " + std::to_string(s) +
             ", which was checked, costed and found to be within the budget agreed last spring. ";
    doc += "\n\n";
    for (int s = 0; s < 5; ++s) doc += "报告第" + std::to_string(p) + "部分的第" + std::to_string(s) + "项已经核对，费用在预算之内。";
    doc += "\n\n";
  }
  return doc;
}

}  // namespace

int main(int argc, char** argv) {
  int requests = 160, concurrency = 8;
  std::string source = ".";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--requests") requests = std::stoi(argv[i + 1]);
    else if (a == "--concurrency") concurrency = std::stoi(argv[i + 1]);
    else if (a == "--source") source = argv[i + 1];
  }
  if (!std::getenv("KUAI_BIN")) {
    auto self = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "kuai";
    ::setenv("KUAI_BIN", self.c_str(), 1);
  }
  if (const char* s = std::getenv("KUAI_SOURCE_DIR")) source = s;

  // The mixed workload: the labelled routing set, cycled.
  std::vector<std::string> queries;
  {
    std::ifstream in(source + "/tests/data/route_set.jsonl");
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) queries.emplace_back(json::parse(line).at("text").as_string());
  }
  if (queries.empty()) {
    std::fprintf(stderr, "bench_routing: cannot read %s/tests/data/route_set.jsonl\nhint: pass --source <kuai checkout>\n", source.c_str());
    return 1;
  }
  std::vector<std::string> bodies;
  for (int i = 0; i < requests; ++i) bodies.push_back(chat_body(queries[(static_cast<size_t>(i) * 7) % queries.size()]));

  const std::string route_stages = "pipeline: [route]\nstages:\n  route:\n    enabled: {ON}\n    default: large\n"
                                   "    targets: {greeting: small, weather: small, extraction: small, translation: small}\n"
                                   "    examples_file: '" + source + "/data/route/examples.jsonl'\n";
  auto with = [](std::string s, bool on) { return s.replace(s.find("{ON}"), 4, on ? "true" : "false"); };

  std::printf("== routing: %d mixed EN/ZH requests, concurrency %d; small model ttft 5 ms, large 120 ms ==\n", requests, concurrency);
  RunResult route_res[2];
  int64_t large_calls[2];
  for (int on = 0; on < 2; ++on) {
    Proc small({"fake-upstream", "--port", "0", "--threads", "2", "--ttft-ms", "5", "--answer-tokens", "24"});
    Proc large({"fake-upstream", "--port", "0", "--threads", "2", "--ttft-ms", "120", "--answer-tokens", "24"});
    auto gw = gateway(small.port, large.port, with(route_stages, on), "route");
    route_res[on] = run(gw->port, bodies, concurrency);
    large_calls[on] = large.model_requests();
    std::printf("  routing %-3s: mean %7.1f ms  p95 %7.1f ms  large-model calls %4lld  small-model calls %4lld  errors %d\n",
                on ? "on" : "off", route_res[on].mean(), route_res[on].p95(), static_cast<long long>(large_calls[on]),
                static_cast<long long>(small.model_requests()), route_res[on].errors);
  }
  std::printf("  ratio on/off: mean latency %.3f, p95 latency %.3f; large-model calls avoided %.1f%%\n",
              route_res[1].mean() / route_res[0].mean(), route_res[1].p95() / route_res[0].p95(),
              100.0 * (1.0 - static_cast<double>(large_calls[1]) / static_cast<double>(std::max<int64_t>(large_calls[0], 1))));

  const int docs = 16, doc_concurrency = 4;
  std::vector<std::string> doc_bodies;
  for (int i = 0; i < docs; ++i)
    doc_bodies.push_back(chat_body(long_document(i) + "\n\nWhich sections of report " + std::to_string(i) + " went over budget?"));
  const std::string extract_stages = "pipeline: [extract]\nstages:\n  extract:\n    enabled: {ON}\n    model: small\n"
                                     "    min_tokens: 500\n    chunk_tokens: 400\n    max_parallel: 4\n";
  std::printf("== extraction: %d questions over ~%lld-byte documents, concurrency %d; small ttft 20 ms; large 50 ms + 100 us/prompt token ==\n",
              docs, static_cast<long long>(long_document(0).size()), doc_concurrency);
  RunResult ex_res[2];
  for (int on = 0; on < 2; ++on) {
    Proc small({"fake-upstream", "--port", "0", "--threads", "2", "--ttft-ms", "20", "--answer-tokens", "24"});
    Proc large({"fake-upstream", "--port", "0", "--threads", "2", "--ttft-ms", "50", "--latency-per-prompt-token-us", "100",
                "--answer-tokens", "24"});
    auto gw = gateway(small.port, large.port, with(extract_stages, on), "extract");
    ex_res[on] = run(gw->port, doc_bodies, doc_concurrency);
    std::printf("  extraction %-3s: large-model input %7lld tokens  mean %7.1f ms  p95 %7.1f ms  small-model calls %4lld  errors %d\n",
                on ? "on" : "off", static_cast<long long>(ex_res[on].prompt_tokens), ex_res[on].mean(), ex_res[on].p95(),
                static_cast<long long>(small.model_requests()), ex_res[on].errors);
  }
  std::printf("  ratio on/off: large-model input tokens %.3f, mean latency %.3f, p95 latency %.3f\n",
              static_cast<double>(ex_res[1].prompt_tokens) / static_cast<double>(std::max<int64_t>(ex_res[0].prompt_tokens, 1)),
              ex_res[1].mean() / ex_res[0].mean(), ex_res[1].p95() / ex_res[0].p95());
  return route_res[0].errors + route_res[1].errors + ex_res[0].errors + ex_res[1].errors == 0 ? 0 : 1;
}
