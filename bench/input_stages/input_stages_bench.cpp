// bench_input_stages: what the input stages cost and save.
//  0. On ../shared/eval-dev/chats.jsonl (when present; beside the source tree, or $KUAI_SHARED): per
//     configuration ([slim]; [slim, summarize, window] with window.max_tokens 300, the summary in its
//     default mode `ledger`) the share of `must_keep` facts still present verbatim, of labelled filler
//     removed, of input tokens removed (counted as the judge counts them: the fake upstream's
//     usage.prompt_tokens), and µs of this thread's CPU time per request, averaged over the chats.
//     `--lost` also names the facts lost. The CPU model is printed first (as `lscpu` names it).
//  1. Per-request time of slim, window, slim + window (target < 50 µs) and slim + ledger + window 300
//     (target <= 100 µs) on a 20-turn English/Chinese conversation, against a same-run baseline
//     (copying the request only), three ways: cold (the per-message memos off), next turn (memos on,
//     the history seen before, the last answer and question new: what a chat client sends) and repeat
//     (the same request again). Each figure is the median of 5 batches of this thread's CPU time
//     (robust to other jobs on the cores). The chats' µs per request (0.) are cold.
//  2. Input tokens removed (%), by the estimate.
//  3. End-to-end latency with and without the stages, through `kuai serve` and a `kuai fake-upstream`
//     whose first-token delay grows with prompt tokens (processes started here, on loopback).
// Usage: bench_input_stages [iterations=2000] [e2e_requests=20] [--lost] [--profile-cold N] [--dump]   (KUAI_BIN defaults to ./kuai)
#include "../../tests/support/paths.h"
#include "../../tests/support/process.h"

#include "config/config.h"
#include "fakeup/token_count.h"
#include "pipeline/pipeline.h"
#include "stages/slim.h"
#include "stages/summarize.h"
#include "stages/window.h"
#include "text/estimate.h"

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

using namespace kuai;
using Clock = std::chrono::steady_clock;

namespace {

api::Message msg(const std::string& role, const std::string& content) {
  api::Message m;
  m.role = role;
  m.content = content;
  m.raw = {{"role", role}, {"content", content}};
  return m;
}

api::ChatRequest conversation() {
  api::ChatRequest r;
  r.model = "big";
  r.messages.push_back(msg("system", "You are a helpful travel assistant.\n\n\n\nAnswer briefly and precisely."));
  for (int t = 0; t < 20; ++t) {
    if (t % 2 == 0) {
      r.messages.push_back(msg("user", "Hi there! I hope this message finds you well. What should I see in Rome on day " +
                                           std::to_string(t) + "? Please take your time and think carefully.   "
                                           "I have a budget of 200 euros.\n\n\nThanks in advance!"));
      r.messages.push_back(msg("assistant", "On day " + std::to_string(t) + " see the Colosseum, the Roman Forum and "
                                            "the Pantheon; lunch near Campo de' Fiori costs about 20 euros."));
    } else {
      r.messages.push_back(msg("user", "您好！请你耐心理解用户提问，不要着急。第" + std::to_string(t) +
                                           "天在北京应该去哪里？预算是一千元。谢谢！"));
      r.messages.push_back(msg("assistant", "第" + std::to_string(t) + "天可以去故宫、天坛和颐和园，门票共约一百五十元。"));
    }
  }
  r.messages.push_back(msg("user", "Hi there! Which of the two cities has better street food? Thanks in advance!"));
  return r;
}

int64_t tokens_of(const api::ChatRequest& r) {
  int64_t t = 0;
  for (const auto& m : r.messages) t += text::estimate_tokens(m.content) + 4;
  return t;
}

// This thread's CPU time in microseconds: unlike the wall clock, it does not count the time the
// thread waits while other jobs on the shared cores run.
double thread_cpu_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// Per-request time of `f`: the median over 5 batches of this thread's CPU time per iteration.
template <class F>
double per_request_us(int iterations, const api::ChatRequest& req, pipeline::Services& services, F&& f) {
  std::vector<double> batches;
  int per_batch = std::max(1, iterations / 5);
  for (int b = 0; b < 5; ++b) {
    double t0 = thread_cpu_us();
    for (int i = 0; i < per_batch; ++i) {
      pipeline::Context ctx;
      ctx.request = req;
      ctx.services = &services;
      f(ctx);
    }
    batches.push_back((thread_cpu_us() - t0) / per_batch);
  }
  std::sort(batches.begin(), batches.end());
  return batches[2];
}

// The CPU's model name, as `lscpu` prints it (from /proc/cpuinfo).
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    auto at = line.find(':');
    if (at != std::string::npos) return line.substr(line.find_first_not_of(" \t", at + 1));
  }
  return "unknown CPU";
}

struct Chat {
  api::ChatRequest request;
  std::vector<std::string> must_keep, filler;
};

std::vector<Chat> load_chats(const std::string& path) {
  std::vector<Chat> chats;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::json::object o = boost::json::parse(line).as_object();
    Chat c;
    c.request.model = "big";
    for (const auto& m : o.at("messages").as_array())
      c.request.messages.push_back(msg(std::string(m.at("role").as_string()), std::string(m.at("content").as_string())));
    for (const auto& s : o.at("must_keep").as_array()) c.must_keep.emplace_back(s.as_string());
    for (const auto& s : o.at("filler").as_array()) c.filler.emplace_back(s.as_string());
    chats.push_back(std::move(c));
  }
  return chats;
}

// What the judge sees: every forwarded message's text, and the fake upstream's prompt token count.
std::string forwarded_text(const api::ChatRequest& r) {
  std::string all;
  for (const auto& m : r.messages) all += m.content + "\n";
  return all;
}
int64_t judge_tokens(const api::ChatRequest& r) {
  int64_t t = 0;
  for (const auto& m : r.messages) t += fakeup::count_tokens(m.content);
  return t;
}

// One configuration over the chats: facts kept, filler removed, tokens removed, CPU µs per request.
template <class F>
void judge_chats(const char* name, const std::vector<Chat>& chats, pipeline::Services& services, bool lost, F&& f) {
  size_t kept = 0, total = 0, gone = 0, fill = 0;
  int64_t t_off = 0, t_on = 0;
  for (size_t i = 0; i < chats.size(); ++i) {
    pipeline::Context ctx;
    ctx.request = chats[i].request;
    ctx.services = &services;
    f(ctx);
    std::string out = forwarded_text(ctx.request);
    for (const auto& s : chats[i].must_keep) {
      ++total;
      bool in = out.find(s) != std::string::npos;
      kept += in;
      if (!in && lost) std::printf("    lost (chat %zu): %s\n", i, s.c_str());
    }
    if (const char* show = std::getenv("KUAI_BENCH_SHOW"); show && std::atoi(show) == static_cast<int>(i))
      std::printf("--- chat %zu forwarded:\n%s---\n", i, out.c_str());
    for (const auto& s : chats[i].filler) { ++fill; gone += out.find(s) == std::string::npos; }
    t_off += judge_tokens(chats[i].request);
    t_on += judge_tokens(ctx.request);
  }
  // Time: the whole set per batch, median of 5 batches, per request.
  std::vector<double> batches;
  const int reps = 20;
  for (int b = 0; b < 5; ++b) {
    double t0 = thread_cpu_us();
    for (int r = 0; r < reps; ++r)
      for (const auto& c : chats) {
        pipeline::Context ctx;
        ctx.request = c.request;
        ctx.services = &services;
        f(ctx);
      }
    batches.push_back((thread_cpu_us() - t0) / (reps * static_cast<double>(chats.size())));
  }
  std::sort(batches.begin(), batches.end());
  std::printf("  %-32s facts kept %5.1f%% (%zu/%zu), tokens removed %5.1f%%, filler removed %5.1f%%, %7.2f us/request\n",
              name, 100.0 * kept / total, kept, total, 100.0 * (1 - static_cast<double>(t_on) / t_off),
              100.0 * gone / fill, batches[2]);
}

// The third [slim] figure: words slim removes outside the labelled filler. From the stage's own
// span report (report_spans: every removed span, by message and byte offset): each removed word (a
// Latin letter/digit run or a CJK character) whose bytes are outside every occurrence of the chat's
// filler strings in that message counts. Whitespace and punctuation are not words.
void audit_removed_words(const std::vector<Chat>& chats, const std::string& slim_yaml, bool lost) {
  config::Config cfg;
  (void)config::Config::load_string(slim_yaml, cfg);
  pipeline::Services services;
  services.config = &cfg;
  std::string err;
  auto slim = stages::make_slim_stage(cfg.at("stages.slim"), services, err);
  if (!slim) {
    std::fprintf(stderr, "slim config: %s\n", err.c_str());
    return;
  }
  auto* stage = static_cast<stages::SlimStage*>(slim.get());
  size_t removed = 0, outside = 0;
  std::vector<std::string> examples;
  for (size_t i = 0; i < chats.size(); ++i) {
    pipeline::Context ctx;
    ctx.request = chats[i].request;
    ctx.services = &services;
    stage->slim_request(ctx);
    auto reply = stage->on_admin("GET", "last", "");
    if (!reply) continue;
    const auto report = boost::json::parse(reply->body).as_object();
    if (!report.contains("spans")) continue;  // nothing removed
    for (const auto& sp : report.at("spans").as_array()) {
      const auto& o = sp.as_object();
      const size_t m = static_cast<size_t>(o.at("message").to_number<int64_t>());
      const size_t at = static_cast<size_t>(o.at("offset").to_number<int64_t>());
      const std::string text(o.at("text").as_string());
      const std::string& content = chats[i].request.messages.at(m).content;
      std::vector<uint8_t> in_filler(content.size(), 0);
      for (const auto& f : chats[i].filler)
        for (size_t k = content.find(f); k != std::string::npos; k = content.find(f, k + 1))
          std::fill(in_filler.begin() + static_cast<std::ptrdiff_t>(k), in_filler.begin() + static_cast<std::ptrdiff_t>(k + f.size()), 1);
      for (size_t b = 0; b < text.size();) {
        const auto c = static_cast<unsigned char>(text[b]);
        size_t e = b + 1;
        bool word = false;
        if (std::isalnum(c)) {
          while (e < text.size() && std::isalnum(static_cast<unsigned char>(text[e]))) ++e;
          word = true;
        } else if (c >= 0xE3 && c <= 0xE9 && b + 2 < text.size()) {  // a CJK ideograph (3 bytes)
          e = b + 3;
          word = c >= 0xE4;
        } else if (c >= 0x80) {
          while (e < text.size() && (static_cast<unsigned char>(text[e]) & 0xC0) == 0x80) ++e;
        }
        if (word) {
          ++removed;
          bool inside = true;
          for (size_t q = at + b; q < at + e && q < in_filler.size(); ++q) inside = inside && in_filler[q];
          if (!inside) {
            ++outside;
            if (lost) examples.push_back("chat " + std::to_string(i) + ": \"" + text.substr(b, e - b) + "\" in \"" + text + "\"");
          }
        }
        b = e;
      }
    }
  }
  std::printf("  %-32s words removed %zu, outside the labelled filler %zu (%.1f%%)%s\n", "[slim] audit", removed, outside,
              removed ? 100.0 * static_cast<double>(outside) / static_cast<double>(removed) : 0.0,
              lost ? "" : " (--lost lists them)");
  for (const auto& e : examples) std::printf("    outside filler: %s\n", e.c_str());
}

struct Gateway {
  std::unique_ptr<test::KuaiProcess> proc;
  std::string path;
  Gateway(uint16_t upstream, const std::string& stages) {
    path = "/tmp/kuai_bench_input_" + std::to_string(::getpid()) + "_" + std::to_string(test::free_port()) + ".yaml";
    std::ofstream(path) << "models:\n  big: {backends: [{url: 'http://127.0.0.1:" << upstream << "/v1'}]}\n" << stages;
    proc = std::make_unique<test::KuaiProcess>(std::vector<std::string>{"serve", "--config", path, "--port", "0"});
  }
  ~Gateway() { std::remove(path.c_str()); }
};

double mean_latency_ms(uint16_t port, const std::string& body, int n) {
  test::HttpClient c(port, test::Ms(60000));
  c.post("/v1/chat/completions", body);  // warm-up (connections, summary memo)
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto r = c.post("/v1/chat/completions", body);
    if (r.status != 200) {
      std::fprintf(stderr, "request failed: %d %s\n", r.status, r.body.c_str());
      return -1;
    }
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / n;
}

// One set of input stages built from a config text (each set has its own memos).
struct Stages {
  config::Config cfg;
  pipeline::Services services;
  std::unique_ptr<pipeline::Stage> slim, summarize, window;
  explicit Stages(const std::string& yaml) {
    (void)config::Config::load_string(yaml, cfg);
    services.config = &cfg;
    std::string err;
    slim = stages::make_slim_stage(cfg.at("stages.slim"), services, err);
    summarize = stages::make_summarize_stage(cfg.at("stages.summarize"), services, err);
    window = stages::make_window_stage(cfg.at("stages.window"), services, err);
    if (!slim || !summarize || !window) throw std::runtime_error("stage config: " + err);
  }
  void run_slim(pipeline::Context& c) { static_cast<stages::SlimStage*>(slim.get())->slim_request(c); }
  void run_window(pipeline::Context& c) { static_cast<stages::WindowStage*>(window.get())->window_request(c); }
  void run_full(pipeline::Context& c) {
    run_slim(c);
    static_cast<stages::SummarizeStage*>(summarize.get())->ledger_request(c);
    run_window(c);
  }
};

// A request as the next turn of the conversation sends it: the history as before, a new answer and
// a new question (the last two messages changed, so the per-message memos miss on them only).
void next_turn(pipeline::Context& c, int64_t& turn) {
  auto& msgs = c.request.messages;
  const std::string tag = " (turn " + std::to_string(++turn) + ")";
  msgs.back().content += tag;
  if (msgs.size() >= 2) msgs[msgs.size() - 2].content += tag;
}

}  // namespace

int main(int argc, char** argv) {
  bool lost = false;
  int profile_cold = 0;  // --profile-cold N: only the cold slim + ledger + window 300 path, N times (for perf)
  bool dump = false;     // --dump: every output message and header (diff two builds to show a change keeps them)
  std::vector<const char*> args;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--lost") lost = true;
    else if (std::string_view(argv[i]) == "--profile-cold" && i + 1 < argc) profile_cold = std::atoi(argv[++i]);
    else if (std::string_view(argv[i]) == "--dump") dump = true;
    else args.push_back(argv[i]);
  }
  const int iterations = args.size() > 0 ? std::atoi(args[0]) : 2000;
  const int e2e = args.size() > 1 ? std::atoi(args[1]) : 20;
  std::printf("CPU: %s\n", cpu_model().c_str());
  if (!std::getenv("KUAI_BIN")) {
    auto exe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "kuai";
    ::setenv("KUAI_BIN", exe.c_str(), 1);
  }

  // Memos on (the default) and off (every message analysed on every request: the cold cost).
  const std::string turns4 = "pipeline: [slim, summarize, window]\nstages: {window: {max_turns: 4}";
  const std::string tokens300 = "pipeline: [slim, summarize, window]\nstages: {window: {max_tokens: 300}";
  const std::string memo_off = ", slim: {memo_mb: 0}, summarize: {ledger_memo_mb: 0}";
  std::unique_ptr<Stages> warm4, cold4, warm300, cold300;
  try {
    warm4 = std::make_unique<Stages>(turns4 + "}\n");
    cold4 = std::make_unique<Stages>(turns4 + memo_off + "}\n");
    warm300 = std::make_unique<Stages>(tokens300 + "}\n");
    cold300 = std::make_unique<Stages>(tokens300 + memo_off + "}\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  pipeline::Services& services = warm4->services;
  const api::ChatRequest req = conversation();
  if (dump) {
    std::vector<api::ChatRequest> reqs{req};
    const std::string path = test::shared_dir() + "/eval-dev/chats.jsonl";
    if (std::filesystem::exists(path))
      for (auto& c : load_chats(path)) reqs.push_back(std::move(c.request));
    const std::pair<const char*, std::function<void(pipeline::Context&)>> runs[] = {
        {"slim", [&](pipeline::Context& c) { cold4->run_slim(c); }},
        {"slim+window4", [&](pipeline::Context& c) { cold4->run_slim(c); cold4->run_window(c); }},
        {"slim+ledger+window300", [&](pipeline::Context& c) { cold300->run_full(c); }}};
    for (size_t i = 0; i < reqs.size(); ++i)
      for (const auto& [name, run] : runs) {
        pipeline::Context c;
        c.request = reqs[i];
        c.services = &cold300->services;
        run(c);
        std::printf("== request %zu, %s\n", i, name);
        for (const auto& m : c.request.messages) std::printf("%s: %s\n", m.role.c_str(), m.content.c_str());
        for (const auto& [k, v] : c.response_headers) std::printf("%s: %s\n", k.c_str(), v.c_str());
      }
    return 0;
  }
  if (profile_cold > 0) {
    for (int i = 0; i < profile_cold; ++i) {
      pipeline::Context c;
      c.request = req;
      c.services = &cold300->services;
      cold300->run_full(c);
    }
    return 0;
  }

  // 0. The development chats, as ../shared/eval-dev/judge/chats judges them (in process); the time is
  //    the cold one (memos off: each chat is a new conversation).
  const std::string chats_path = test::shared_dir() + "/eval-dev/chats.jsonl";
  if (std::filesystem::exists(chats_path)) {
    auto chats = load_chats(chats_path);
    std::printf("eval-dev chats (%zu, %s), CPU time with memos off:\n", chats.size(), chats_path.c_str());
    judge_chats("[slim]", chats, cold4->services, lost, [&](pipeline::Context& c) { cold4->run_slim(c); });
    audit_removed_words(chats, "pipeline: [slim]\nstages: {slim: {memo_mb: 0, report_spans: true}}\n", lost);
    judge_chats("[slim, summarize, window 300]", chats, cold300->services, lost,
                [&](pipeline::Context& c) { cold300->run_full(c); });
  } else {
    std::printf("eval-dev chats: %s not found, skipped\n", chats_path.c_str());
  }

  // 1. Stage time (the copy of the request is the baseline, measured the same way in the same run).
  //    cold: memos off. next turn: memos on, the conversation seen before, its last answer and question
  //    new (what a chat client sends every turn). repeat: the same request again (all from the memos).
  int64_t turn = 0;
  per_request_us(iterations / 10 + 1, req, services, [&](pipeline::Context& c) { cold4->run_slim(c); });
  double base = per_request_us(iterations, req, services, [](pipeline::Context&) {});
  double base_next = per_request_us(iterations, req, services, [&](pipeline::Context& c) { next_turn(c, turn); });
  auto timed = [&](Stages& st, bool next, auto&& f) {
    return per_request_us(iterations, req, st.services, [&](pipeline::Context& c) {
             if (next) next_turn(c, turn);
             f(st, c);
           }) - (next ? base_next : base);
  };
  auto slim_f = [](Stages& st, pipeline::Context& c) { st.run_slim(c); };
  auto window_f = [](Stages& st, pipeline::Context& c) { st.run_window(c); };
  auto both_f = [](Stages& st, pipeline::Context& c) { st.run_slim(c); st.run_window(c); };
  auto full_f = [](Stages& st, pipeline::Context& c) { st.run_full(c); };
  std::printf("stage time, 20-turn conversation (%zu messages, %lld tokens est.), %d iterations (us; cold | next turn | repeat):\n",
              req.messages.size(), static_cast<long long>(tokens_of(req)), iterations);
  std::printf("  baseline (request copy)    %8.2f\n", base);
  struct Row { const char* name; Stages* cold; Stages* warm; void (*f)(Stages&, pipeline::Context&); double target; };
  const Row rows[] = {{"slim", cold4.get(), warm4.get(), +slim_f, 0},
                      {"window (max_turns 4)", cold4.get(), warm4.get(), +window_f, 0},
                      {"slim + window", cold4.get(), warm4.get(), +both_f, 50},
                      {"slim + ledger + window 300", cold300.get(), warm300.get(), +full_f, 100}};
  for (const Row& r : rows) {
    double cold = timed(*r.cold, false, r.f), next = timed(*r.warm, true, r.f), repeat = timed(*r.warm, false, r.f);
    std::printf("  %-26s %8.2f | %8.2f | %8.2f", r.name, cold, next, repeat);
    if (r.target > 0)
      std::printf("   target <= %.0f us: cold %s (%.2fx), next turn %s (%.2fx)", r.target, cold <= r.target ? "met" : "MISSED",
                  cold / r.target, next <= r.target ? "met" : "MISSED", next / r.target);
    std::printf("\n");
  }

  // 2. Tokens removed.
  auto removed = [&](auto&& f) {
    pipeline::Context c;
    c.request = req;
    c.services = &services;
    f(c);
    return 100.0 * static_cast<double>(tokens_of(req) - tokens_of(c.request)) / static_cast<double>(tokens_of(req));
  };
  std::printf("input tokens removed: slim %.1f%%, window %.1f%%, slim + window %.1f%%\n",
              removed([&](pipeline::Context& c) { warm4->run_slim(c); }),
              removed([&](pipeline::Context& c) { warm4->run_window(c); }),
              removed([&](pipeline::Context& c) { warm4->run_slim(c); warm4->run_window(c); }));

  // 3. End to end through kuai serve + fake upstream (first token delay 100 µs per prompt token).
  if (e2e <= 0) return 0;
  try {
    test::ChildProcess up(test::kuai_bin(), {"fake-upstream", "--port", "0", "--latency-per-prompt-token-us", "100",
                                             "--ttft-ms", "2", "--answer-tokens", "16"});
    uint16_t up_port = up.wait_listening();
    if (up_port == 0) throw std::runtime_error("fake-upstream did not start: " + up.output());
    Gateway off(up_port, "pipeline: []\n");
    Gateway on(up_port, "pipeline: [slim, summarize, window]\nstages: {window: {max_turns: 4}}\n");
    boost::json::array msgs;
    for (const auto& m : req.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    std::string body = boost::json::serialize(boost::json::object{{"model", "big"}, {"messages", msgs}});
    double ms_off = mean_latency_ms(off.proc->port, body, e2e);
    double ms_on = mean_latency_ms(on.proc->port, body, e2e);
    std::printf("end to end (%d requests, upstream +100 us per prompt token): stages off %.2f ms, on %.2f ms, "
                "on/off %.2fx (%.1f%% faster)\n",
                e2e, ms_off, ms_on, ms_on / ms_off, 100.0 * (1 - ms_on / ms_off));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "end-to-end part skipped: %s\n", e.what());
    return 1;
  }
  return 0;
}
