// Async jobs against the fake upstream (50 ms to first token): a batch of N chat lines run by 64
// workers inside `kuai serve`, as a throughput ratio of the same N requests sent live through the same
// gateway at concurrency 64 (target ≥ 0.9×); then enqueue-to-start latency of background chat jobs on
// an idle queue, p50/p99 from kuai_jobs_queue_latency_seconds (interpolated inside its buckets, as
// Prometheus' histogram_quantile does; target ≤ 5 ms with SQLite). Client, gateway and upstream share
// the machine's cores, so the throughput is a ratio from the same run. RabbitMQ and the engine batch
// are not built yet: n/a. Last line machine-readable:
//   jobs: batch_vs_live=… enqueue_p99_ms_sqlite=… enqueue_p99_ms_amqp=n/a engine_batch_speedup=n/a
// Usage: bench_jobs [--lines N (2000)] [--jobs J (200)] [--ttft-ms MS (50)]   (KUAI_BIN or ./kuai)
#include "../../tests/support/process.h"

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

}  // namespace

int main(int argc, char** argv) {
  int lines = 2000, jobs = 200;
  std::string ttft = "50";
  const int kConcurrency = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--lines") lines = std::atoi(argv[i + 1]);
    else if (a == "--jobs") jobs = std::atoi(argv[i + 1]);
    else if (a == "--ttft-ms") ttft = argv[i + 1];
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
  std::string mp = "--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--B\r\nContent-Disposition: "
                   "form-data; name=\"file\"; filename=\"b.jsonl\"\r\n\r\n" + input + "\r\n--B--\r\n";
  auto f = parse_obj(c.post("/v1/files", mp, {}, "multipart/form-data; boundary=B").body);
  std::string create = R"({"input_file_id":")" + std::string(f.at("id").as_string()) +
                       R"(","endpoint":"/v1/chat/completions","completion_window":"24h"})";
  auto t1 = Clock::now();
  auto b = parse_obj(c.post("/v1/batches", create).body);
  std::string bid(b.at("id").as_string());
  wait_until([&] {
    b = parse_obj(c.get("/v1/batches/" + bid).body);
    return b.at("status").as_string() == "completed";
  }, Ms(600000));
  double batch_s = std::chrono::duration<double>(Clock::now() - t1).count();
  int64_t ok = b.at("request_counts").at("completed").as_int64();

  // Enqueue-to-start on an idle queue: background chat jobs one after another.
  auto before = latency_buckets(c);
  for (int i = 0; i < jobs; ++i) {
    auto r = parse_obj(c.post("/v1/chat/completions", R"({"model":"default","background":true,"messages":[{"role":"user","content":"hi"}]})").body);
    std::string id(r.at("id").as_string());
    wait_until([&] { return parse_obj(c.get("/v1/chat/jobs/" + id).body).at("status").as_string() == "completed"; });
  }
  auto after = latency_buckets(c);
  double p50 = quantile_ms(before, after, 0.5), p99 = quantile_ms(before, after, 0.99);

  double ratio = live_s / batch_s;
  std::printf("live:  %d requests at concurrency %d in %.2f s (%.0f req/s, %d failed)\n", lines, kConcurrency, live_s,
              lines / live_s, failed.load());
  std::printf("batch: %d lines (%lld completed) with %d workers in %.2f s (%.0f lines/s)\n", lines,
              static_cast<long long>(ok), kConcurrency, batch_s, lines / batch_s);
  std::printf("batch throughput / live throughput = %.2fx (target >= 0.9x)\n", ratio);
  std::printf("enqueue-to-start, %d background jobs on an idle queue (SQLite): p50 %.2f ms, p99 %.2f ms (target <= 5 ms)\n",
              jobs, p50, p99);
  std::printf("jobs: batch_vs_live=%.2f enqueue_p99_ms_sqlite=%.2f enqueue_p99_ms_amqp=n/a engine_batch_speedup=n/a\n",
              ratio, p99);
  serve.stop();
  std::filesystem::remove_all(dir);
  return 0;
}
