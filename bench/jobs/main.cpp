// Async jobs against the fake upstream (50 ms to first token): a batch of N chat lines run by 64
// workers inside `kuai serve`, as a throughput ratio of the same N requests sent live through the same
// gateway at concurrency 64 (target ≥ 0.9×); then enqueue-to-start latency of background chat jobs on
// an idle queue, p50/p99 from kuai_jobs_queue_latency_seconds (interpolated inside its buckets, as
// Prometheus' histogram_quantile does; target ≤ 5 ms with SQLite). Client, gateway and upstream share
// the machine's cores, so the throughput is a ratio from the same run. The same enqueue-to-start with
// `jobs.queue: amqp://…` on a RabbitMQ broker the bench starts (target ≤ 10 ms; n/a without
// rabbitmq-server). Then the embedded engine: a 64-line batch's aggregate completion tokens/s as a
// ratio of the same 64 requests one after another (continuous batching; target ≥ 3×), on a model of a
// real shape (stories110m, Q4_0, made by `kuai synth` in a temp dir; --engine-model FILE instead) and,
// for comparison, on ../shared/models/stories260K (260K parameters: a step costs little more than its
// per-token bookkeeping, so batching has little to save there). Last line machine-readable (the engine
// figure is the first model's):
//   jobs: batch_vs_live=… enqueue_p99_ms_sqlite=… enqueue_p99_ms_amqp=… engine_batch_speedup=…
// Usage: bench_jobs [--lines N (10000)] [--jobs J (200)] [--ttft-ms MS (50)] [--engine-model GGUF]
//                   [--engine-tokens T (64)]   (KUAI_BIN or ./kuai; KUAI_SHARED)
#include "../../tests/support/process.h"
#include "support/paths.h"
#include "support/rabbitmq.h"

#include <boost/json.hpp>

#include <atomic>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>
#include <unistd.h>

namespace {
using namespace kuai::test;
using Clock = std::chrono::steady_clock;

boost::json::object parse_obj(const std::string& s) {
  boost::system::error_code ec;
  auto v = boost::json::parse(s, ec);
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

bool wait_until(const std::function<bool()>& pred, Ms timeout = Ms(10000)) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(Ms(20));
  }
  return pred();
}

// `kuai VERB --port 0 ARGS…` as a child process; its port once it listens (0: it did not start).
uint16_t start(ChildProcess& p, std::vector<std::string> args) {
  p.start(kuai_bin(), args);
  return p.wait_listening();
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

std::string chat_body(int i) {
  return R"({"model":"default","messages":[{"role":"user","content":"request number )" + std::to_string(i) + R"("}]})";
}

// Cumulative bucket counts of the queue-latency histogram: le (seconds) → count.
std::map<double, double> latency_buckets(HttpClient& c) {
  std::map<double, double> out;
  std::string text = c.get("/metrics").body;
  std::regex re(R"re(kuai_jobs_queue_latency_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+))re");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    std::string le = (*it)[1];
    out[le == "+Inf" ? 1e9 : std::stod(le)] = std::stod((*it)[2]);
  }
  return out;
}

// The q-quantile (ms) of the observations between two snapshots, linear inside its bucket.
double quantile_ms(const std::map<double, double>& before, const std::map<double, double>& after, double q) {
  double total = after.rbegin()->second - (before.empty() ? 0 : before.rbegin()->second);
  double rank = q * total, prev_le = 0, prev_n = 0;
  for (const auto& [le, n_after] : after) {
    double n = n_after - (before.count(le) ? before.at(le) : 0);
    if (n >= rank) {
      double in_bucket = n - prev_n;
      double frac = in_bucket > 0 ? (rank - prev_n) / in_bucket : 1;
      return (prev_le + (std::min(le, 60.0) - prev_le) * frac) * 1000;
    }
    prev_le = le;
    prev_n = n;
  }
  return -1;
}


std::string upload(HttpClient& c, const std::string& jsonl) {
  std::string mp = "--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--B\r\nContent-Disposition: "
                   "form-data; name=\"file\"; filename=\"b.jsonl\"\r\n\r\n" + jsonl + "\r\n--B--\r\n";
  auto f = parse_obj(c.post("/v1/files", mp, {}, "multipart/form-data; boundary=B").body);
  return f.contains("id") ? std::string(f.at("id").as_string()) : "";
}

// Creates a batch of `input_file` and waits until it is completed; the final batch object.
boost::json::object run_batch(HttpClient& c, const std::string& input_file) {
  std::string create = R"({"input_file_id":")" + input_file + R"(","endpoint":"/v1/chat/completions","completion_window":"24h"})";
  auto b = parse_obj(c.post("/v1/batches", create).body);
  if (!b.contains("id")) return b;
  std::string bid(b.at("id").as_string());
  wait_until([&] {
    b = parse_obj(c.get("/v1/batches/" + bid).body);
    auto st = b.at("status").as_string();
    return st == "completed" || st == "failed" || st == "expired" || st == "cancelled";
  }, Ms(600000));
  return b;
}

// Enqueue-to-start p50/p99 (ms) of `jobs` background chat jobs sent one after another to an idle queue.
std::pair<double, double> enqueue_latency(HttpClient& c, int jobs) {
  auto before = latency_buckets(c);
  for (int i = 0; i < jobs; ++i) {
    auto r = parse_obj(c.post("/v1/chat/completions", R"({"model":"default","background":true,"messages":[{"role":"user","content":"hi"}]})").body);
    if (!r.contains("id")) return {-1, -1};
    std::string id(r.at("id").as_string());
    wait_until([&] { return parse_obj(c.get("/v1/chat/jobs/" + id).body).at("status").as_string() == "completed"; });
  }
  auto after = latency_buckets(c);
  return {quantile_ms(before, after, 0.5), quantile_ms(before, after, 0.99)};
}

// The same enqueue-to-start with RabbitMQ as the queue (a broker started here, workers in the gateway).
double amqp_enqueue_p99(const std::string& fake_url, int jobs) {
  auto* mq = RabbitMq::shared();
  if (!mq) {
    std::printf("enqueue-to-start (RabbitMQ): n/a, %s is not installed\n", RabbitMq::kServer);
    return -1;
  }
  std::string dir = "/tmp/kuai_bench_jobs_amqp_" + std::to_string(::getpid());
  ChildProcess serve;
  uint16_t port = start(serve, {"serve", "--port", "0", "--upstream", fake_url, "--set", "jobs.dir=" + dir,
                                "--set", "jobs.queue=" + mq->url(), "--set", "jobs.workers=64", "--log-level", "warn",
                                "--set", "server.access_log=false"});
  if (!port) {
    std::fprintf(stderr, "bench_jobs: kuai serve on RabbitMQ did not start:\n%s", serve.output().c_str());
    return -1;
  }
  HttpClient c(port, Ms(60000));
  auto [p50, p99] = enqueue_latency(c, jobs);
  std::printf("enqueue-to-start, %d background jobs on an idle queue (RabbitMQ): p50 %.2f ms, p99 %.2f ms (target <= 10 ms)\n",
              jobs, p50, p99);
  serve.stop();
  std::filesystem::remove_all(dir);
  return p99;
}

int64_t completion_tokens(const boost::json::object& response) {
  auto* u = response.if_contains("usage");
  return u && u->is_object() && u->as_object().contains("completion_tokens") ? u->as_object().at("completion_tokens").to_number<int64_t>() : 0;
}

// The embedded engine: 64 lines as one batch vs the same 64 requests one after another, as the ratio
// of aggregate completion tokens per second.
double engine_batch_speedup(const std::string& model, int tokens) {
  const int kLines = 64;
  std::string dir = "/tmp/kuai_bench_jobs_engine_" + std::to_string(::getpid());
  ChildProcess serve;
  uint16_t port = start(serve, {"serve", "--port", "0", "--model", model, "--set", "jobs.dir=" + dir, "--set",
                                "jobs.workers=" + std::to_string(kLines), "--log-level", "warn", "--set", "server.access_log=false"});
  if (!port) {
    std::fprintf(stderr, "bench_jobs: kuai serve --model %s did not start:\n%s", model.c_str(), serve.output().c_str());
    return -1;
  }
  auto body = [&](int i) {
    return R"({"model":"default","temperature":0,"max_tokens":)" + std::to_string(tokens) +
           R"(,"messages":[{"role":"user","content":"Once upon a time there was a little )" + (i % 2 ? std::string("cat") : "dog") +
           " called number " + std::to_string(i) + R"("}]})";
  };
  HttpClient c(port, Ms(600000));
  int64_t seq_tokens = 0;
  auto t0 = Clock::now();
  for (int i = 0; i < kLines; ++i) seq_tokens += completion_tokens(parse_obj(c.post("/v1/chat/completions", body(i)).body));
  double seq_s = std::chrono::duration<double>(Clock::now() - t0).count();

  std::string input;
  for (int i = 0; i < kLines; ++i)
    input += R"({"custom_id":"e)" + std::to_string(i) + R"(","method":"POST","url":"/v1/chat/completions","body":)" + body(i) + "}\n";
  std::string file = upload(c, input);
  auto t1 = Clock::now();
  auto b = run_batch(c, file);
  double batch_s = std::chrono::duration<double>(Clock::now() - t1).count();
  int64_t batch_tokens = 0;
  if (b.contains("output_file_id") && b.at("output_file_id").is_string()) {
    std::string out = c.get("/v1/files/" + std::string(b.at("output_file_id").as_string()) + "/content").body;
    for (size_t pos = 0; pos < out.size();) {
      size_t eol = out.find('\n', pos);
      auto line = parse_obj(out.substr(pos, eol - pos));
      auto* resp = line.if_contains("response");
      if (resp && resp->is_object() && resp->as_object().at("body").is_object())
        batch_tokens += completion_tokens(resp->as_object().at("body").as_object());
      pos = eol == std::string::npos ? out.size() : eol + 1;
    }
  }
  serve.stop();
  std::filesystem::remove_all(dir);
  if (seq_tokens == 0 || batch_tokens == 0) {
    std::fprintf(stderr, "bench_jobs: the engine produced no tokens (sequential %lld, batch %lld)\n",
                 static_cast<long long>(seq_tokens), static_cast<long long>(batch_tokens));
    return -1;
  }
  double seq_tps = seq_tokens / seq_s, batch_tps = batch_tokens / batch_s;
  std::printf("engine (%s, %d lines, max_tokens %d): one after another %.0f tok/s (%.2f s) | batch %.0f tok/s (%.2f s) | %.2fx (target >= 3x)\n",
              model.c_str(), kLines, tokens, seq_tps, seq_s, batch_tps, batch_s, batch_tps / seq_tps);
  return batch_tps / seq_tps;
}

std::string fmt(double v) {
  if (v < 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int lines = 10000, jobs = 200, engine_tokens = 64;
  std::string ttft = "50", engine_model;
  const int kConcurrency = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--lines") lines = std::atoi(argv[i + 1]);
    else if (a == "--jobs") jobs = std::atoi(argv[i + 1]);
    else if (a == "--ttft-ms") ttft = argv[i + 1];
    else if (a == "--engine-model") engine_model = argv[i + 1];
    else if (a == "--engine-tokens") engine_tokens = std::max(1, std::atoi(argv[i + 1]));
  }
  std::string dir = "/tmp/kuai_bench_jobs_" + std::to_string(::getpid());
  ChildProcess fake, serve;
  uint16_t fake_port = start(fake, {"fake-upstream", "--port", "0", "--ttft-ms", ttft, "--threads", "2"});
  uint16_t port = start(serve, {"serve", "--port", "0", "--upstream", "http://127.0.0.1:" + std::to_string(fake_port),
                                "--set", "jobs.dir=" + dir, "--set", "jobs.workers=" + std::to_string(kConcurrency),
                                "--log-level", "warn", "--set", "server.access_log=false"});
  if (!fake_port || !port) {
    std::fprintf(stderr, "bench_jobs: kuai did not start:\n%s%s", fake.output().c_str(), serve.output().c_str());
    return 1;
  }
  std::printf("CPU: %s, %u cores shared by client, kuai and the fake upstream (%s ms to first token)\n",
              cpu_name().c_str(), std::thread::hardware_concurrency(), ttft.c_str());

  // Live: N requests at concurrency 64.
  std::atomic<int> next{0}, failed{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kConcurrency; ++t) {
    threads.emplace_back([&] {
      HttpClient c(port, Ms(60000));
      for (int i; (i = next++) < lines;)
        if (c.post("/v1/chat/completions", chat_body(i)).status != 200) ++failed;
    });
  }
  for (auto& t : threads) t.join();
  double live_s = std::chrono::duration<double>(Clock::now() - t0).count();

  // Batch: the same N requests as one batch, from create to completed.
  HttpClient c(port, Ms(60000));
  std::string input;
  for (int i = 0; i < lines; ++i)
    input += R"({"custom_id":"r)" + std::to_string(i) + R"(","method":"POST","url":"/v1/chat/completions","body":)" +
             chat_body(i) + "}\n";
  std::string file = upload(c, input);
  auto t1 = Clock::now();
  auto b = run_batch(c, file);
  double batch_s = std::chrono::duration<double>(Clock::now() - t1).count();
  int64_t ok = b.contains("request_counts") ? b.at("request_counts").at("completed").as_int64() : 0;

  auto [p50, p99] = enqueue_latency(c, jobs);
  double ratio = live_s / batch_s;
  std::printf("live:  %d requests at concurrency %d in %.2f s (%.0f req/s, %d failed)\n", lines, kConcurrency, live_s,
              lines / live_s, failed.load());
  std::printf("batch: %d lines (%lld completed) with %d workers in %.2f s (%.0f lines/s)\n", lines,
              static_cast<long long>(ok), kConcurrency, batch_s, lines / batch_s);
  std::printf("batch throughput / live throughput = %.2fx (target >= 0.9x)\n", ratio);
  std::printf("enqueue-to-start, %d background jobs on an idle queue (SQLite): p50 %.2f ms, p99 %.2f ms (target <= 5 ms)\n",
              jobs, p50, p99);
  serve.stop();
  std::filesystem::remove_all(dir);

  double amqp_p99 = amqp_enqueue_p99("http://127.0.0.1:" + std::to_string(fake_port), jobs);
  double engine = -1;
  std::string synth_dir;
  if (engine_model.empty()) {
    synth_dir = dir + "_synth";
    std::filesystem::create_directories(synth_dir);
    engine_model = synth_dir + "/stories110m-q4_0.gguf";
    auto made = run_shell(kuai_bin() + " synth --preset stories110m --type q4_0 -o " + engine_model);
    if (made.code != 0) std::fprintf(stderr, "bench_jobs: kuai synth failed:\n%s", made.out.c_str());
  }
  if (std::ifstream(engine_model)) engine = engine_batch_speedup(engine_model, engine_tokens);
  else std::printf("engine: %s not found: n/a\n", engine_model.c_str());
  const std::string small = shared_dir() + "/models/stories260K/stories260K.gguf";
  if (!synth_dir.empty() && std::ifstream(small)) engine_batch_speedup(small, engine_tokens);
  if (!synth_dir.empty()) std::filesystem::remove_all(synth_dir);
  std::printf("jobs: batch_vs_live=%.2f enqueue_p99_ms_sqlite=%.2f enqueue_p99_ms_amqp=%s engine_batch_speedup=%s\n",
              ratio, p99, fmt(amqp_p99).c_str(), fmt(engine).c_str());
  return 0;
}
