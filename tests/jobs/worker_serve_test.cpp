// `kuai serve` accepting jobs and separate `kuai worker` processes running them, on the embedded
// SQLite queue (the gateway's jobs.dir) and on a real RabbitMQ broker (started by the test): kill -9
// of a worker mid-batch (another finishes; every custom_id exactly once), SIGTERM (running lines are
// handed back without costing an attempt), a line whose runs keep dying (dead-lettered), a chat
// job retried after its worker died (event ids keep growing; a resumed reader gets the restart), and
// a chat job cancelled through the gateway while a worker runs it (the worker stops the upstream call).
#include "support/gateway_procs.h"
#include "support/paths.h"
#include "support/rabbitmq.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <unistd.h>

namespace kuai::test {
namespace {
namespace json = boost::json;

const HeaderList kAlice{{"Authorization", "Bearer sk-alice"}};

struct JobsDir {
  std::string path = ::testing::TempDir() + "kuai_workers_" + std::to_string(::getpid()) + "_" + std::to_string(free_port());
  ~JobsDir() { std::filesystem::remove_all(path); }
};

struct Worker {
  ChildProcess proc;
  explicit Worker(const std::vector<std::string>& args) {
    std::vector<std::string> all{"worker", "--threads", "2"};
    all.insert(all.end(), args.begin(), args.end());
    proc.start(kuai_bin(), all);
    bool ready = wait_until([&] { return proc.output().find("worker ready:") != std::string::npos || !proc.running(); },
                            Ms(20000));
    if (!ready || !proc.running()) throw std::runtime_error("kuai worker did not start:\n" + proc.output());
  }
};

// Where the lines wait: the gateway's store (sqlite) or RabbitMQ.
enum class QueueKind { sqlite, amqp };

class Workers : public ::testing::TestWithParam<QueueKind> {
 protected:
  void SetUp() override {
    if (GetParam() == QueueKind::amqp) {
      mq_ = RabbitMq::shared();
      if (!mq_) GTEST_SKIP() << "rabbitmq-server is not installed (" << RabbitMq::kServer << ")";
    }
  }
  // Config shared by the gateway and its workers; `extra` adds --set pairs.
  std::vector<std::string> common(const Fake& fake, std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"--upstream", fake.url(), "--set", "tenants={sk-alice: alice}", "--set",
                               "jobs.dir=" + dir_.path, "--set", "jobs.lease_ms=500", "--log-level", "warn"};
    if (mq_) {
      a.insert(a.end(), {"--set", "jobs.queue=" + mq_->url(), "--set", "jobs.amqp_queue=" + queue_});
    }
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::vector<std::string> gateway(const Fake& fake, std::vector<std::string> extra = {}) {
    auto a = common(fake, std::move(extra));
    a.insert(a.end(), {"--set", "jobs.workers=0"});  // accepts only: the workers run the lines
    return a;
  }
  std::vector<std::string> worker(const Fake& fake, std::vector<std::string> extra = {}) {
    auto a = common(fake, std::move(extra));
    a.insert(a.end(), {"--set", "jobs.workers=4"});
    return a;
  }

  RabbitMq* mq_ = nullptr;
  JobsDir dir_;
  std::string queue_ = "kuai.test." + std::to_string(::getpid()) + "." + std::to_string(free_port());
};

std::string upload_lines(HttpClient& c, int n) {
  std::string data;
  for (int i = 0; i < n; ++i)
    data += R"({"custom_id":"line-)" + std::to_string(i) +
            R"(","method":"POST","url":"/v1/chat/completions","body":{"model":"default","messages":[{"role":"user","content":"say )" +
            std::to_string(i) + R"("}]}})" + "\n";
  std::string body = "--kB\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--kB\r\n"
                     "Content-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\r\n" + data + "\r\n--kB--\r\n";
  auto r = c.post("/v1/files", body, kAlice, "multipart/form-data; boundary=kB");
  EXPECT_EQ(r.status, 200) << r.body;
  auto f = parse_obj(r.body);
  return f.contains("id") ? std::string(f.at("id").as_string()) : "";
}

std::string create_batch(HttpClient& c, const std::string& file) {
  auto r = c.post("/v1/batches", R"({"input_file_id":")" + file + R"(","endpoint":"/v1/chat/completions","completion_window":"24h"})",
                  kAlice);
  EXPECT_EQ(r.status, 200) << r.body;
  return std::string(parse_obj(r.body).at("id").as_string());
}

int64_t completed(HttpClient& c, const std::string& id) {
  auto b = parse_obj(c.get("/v1/batches/" + id, kAlice).body);
  return b.at("request_counts").at("completed").as_int64();
}

json::object wait_final(HttpClient& c, const std::string& id, Ms timeout = Ms(60000)) {
  json::object b;
  wait_until([&] {
    b = parse_obj(c.get("/v1/batches/" + id, kAlice).body);
    auto st = std::string(b.at("status").as_string());
    return st == "completed" || st == "failed" || st == "cancelled" || st == "expired";
  }, timeout);
  return b;
}

// Every custom_id of the output file, with how often it appears.
std::map<std::string, int> output_ids(HttpClient& c, const json::object& batch) {
  std::map<std::string, int> seen;
  if (!batch.at("output_file_id").is_string()) return seen;
  auto out = c.get("/v1/files/" + std::string(batch.at("output_file_id").as_string()) + "/content", kAlice).body;
  for (size_t pos = 0; pos < out.size();) {
    size_t eol = out.find('\n', pos);
    seen[std::string(parse_obj(out.substr(pos, eol - pos)).at("custom_id").as_string())]++;
    pos = eol + 1;
  }
  return seen;
}

void expect_each_once(const std::map<std::string, int>& seen, int lines) {
  EXPECT_EQ(seen.size(), static_cast<size_t>(lines)) << "every line is in the output file";
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id << " appears " << n << " times";
}

TEST(WorkerVerb, HelpNamesTheQueueAndTheGracefulStop) {
  auto r = run_shell(kuai_bin() + " worker --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--queue"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--dir"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SIGTERM"), std::string::npos) << r.out;
}

TEST(WorkerVerb, WithoutAStoreOrABrokerItSaysWhatItNeeds) {
  auto r = run_shell(kuai_bin() + " worker --upstream http://127.0.0.1:9");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("jobs.dir"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("amqp://"), std::string::npos) << r.out;
}

// The gateway only accepts (jobs.workers 0); a worker runs the batch and is killed -9 mid-batch; a
// second worker finishes it: nothing lost, nothing twice.
TEST_P(Workers, KillNineOfAWorkerMidBatchLosesAndDuplicatesNothing) {
  Fake fake({"--ttft-ms", "150", "--threads", "2"});
  Serve gw(gateway(fake));
  HttpClient c(gw.port);
  const int kLines = 40;
  std::string bid = create_batch(c, upload_lines(c, kLines));
  {
    Worker w(worker(fake));
    ASSERT_TRUE(wait_until([&] { return completed(c, bid) >= 4; }, Ms(30000))) << w.proc.output();
    ::kill(w.proc.pid(), SIGKILL);
    w.proc.wait_exit();
  }
  auto mid = parse_obj(c.get("/v1/batches/" + bid, kAlice).body);
  ASSERT_EQ(mid.at("status").as_string(), "in_progress") << "the gateway runs no lines itself";
  ASSERT_LT(mid.at("request_counts").at("completed").as_int64(), kLines);
  Worker again(worker(fake));
  auto b = wait_final(c, bid);
  ASSERT_EQ(b.at("status").as_string(), "completed") << json::serialize(b) << again.proc.output();
  EXPECT_EQ(b.at("request_counts").at("completed").as_int64(), kLines);
  EXPECT_TRUE(b.at("error_file_id").is_null());
  expect_each_once(output_ids(c, b), kLines);
}

// SIGTERM with a short grace: the worker exits 0 at once and hands its running lines back without
// counting an attempt (jobs.max_attempts 1 would fail them otherwise); the next worker finishes.
TEST_P(Workers, SigtermHandsRunningLinesBackWithoutCostingAnAttempt) {
  Fake fake({"--ttft-ms", "400", "--threads", "2"});
  std::vector<std::string> extra{"--set", "jobs.max_attempts=1", "--set", "jobs.stop_grace_ms=50"};
  Serve gw(gateway(fake, extra));
  HttpClient c(gw.port);
  const int kLines = 12;
  std::string bid = create_batch(c, upload_lines(c, kLines));
  {
    Worker w(worker(fake, extra));
    ASSERT_TRUE(wait_until([&] { return fake.stats().at("requests").as_int64() >= 4; }, Ms(30000))) << w.proc.output();
    auto t0 = std::chrono::steady_clock::now();
    auto rc = w.proc.stop(SIGTERM, Ms(10000));
    EXPECT_EQ(rc, 0) << w.proc.output();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, Ms(5000)) << "the grace period bounds the stop";
  }
  ASSERT_LT(completed(c, bid), kLines);
  Worker again(worker(fake, extra));
  auto b = wait_final(c, bid);
  ASSERT_EQ(b.at("status").as_string(), "completed") << json::serialize(b) << again.proc.output();
  EXPECT_EQ(b.at("request_counts").at("completed").as_int64(), kLines) << "no line lost an attempt to the hand-back";
  EXPECT_EQ(b.at("request_counts").at("failed").as_int64(), 0);
  expect_each_once(output_ids(c, b), kLines);
}

struct Event {
  int64_t id = 0;
  std::string data;
};

std::vector<Event> events_of(const std::string& sse) {
  std::vector<Event> out;
  for (size_t p = 0; (p = sse.find("id: ", p)) != std::string::npos;) {
    Event e;
    e.id = std::stoll(sse.substr(p + 4));
    size_t d = sse.find("data: ", p);
    e.data = sse.substr(d + 6, sse.find('\n', d) - (d + 6));
    out.push_back(e);
    p = d;
  }
  return out;
}

std::string streamed_content(const std::vector<Event>& events, size_t from) {
  std::string s;
  for (size_t i = from; i < events.size(); ++i) {
    auto o = parse_obj(events[i].data);
    auto* ch = o.if_contains("choices");
    if (!ch || !ch->is_array() || ch->as_array().empty() || !ch->as_array()[0].is_object()) continue;
    auto* delta = ch->as_array()[0].as_object().if_contains("delta");
    auto* c = delta && delta->is_object() ? delta->as_object().if_contains("content") : nullptr;
    if (c && c->is_string()) s += c->as_string();
  }
  return s;
}

// A background chat job whose worker is killed mid-stream runs again on another worker; its events
// keep one numbering: a reader resuming from the last id it saw gets a restart event, then the
// whole new answer.
TEST_P(Workers, ARetriedChatJobKeepsItsEventNumbering) {
  Fake fake({"--answer-tokens", "40", "--tokens-per-s", "20"});
  Serve gw(gateway(fake));
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions",
                  R"({"model":"default","background":true,"messages":[{"role":"user","content":"go"}]})", kAlice);
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id(parse_obj(r.body).at("id").as_string());
  {
    Worker w(worker(fake));
    ASSERT_TRUE(wait_until([&] { return fake.stats().at("streams_started").as_int64() >= 1; }, Ms(20000)));
    std::this_thread::sleep_for(Ms(600));  // some chunks stored
    ::kill(w.proc.pid(), SIGKILL);
    w.proc.wait_exit();
  }
  Worker again(worker(fake));
  json::object job;
  ASSERT_TRUE(wait_until([&] {
    job = parse_obj(c.get("/v1/chat/jobs/" + id, kAlice).body);
    return job.at("status").as_string() == "completed";
  }, Ms(30000))) << json::serialize(job) << again.proc.output();
  std::string content(job.at("completion").at("choices").as_array()[0].at("message").at("content").as_string());

  auto events = events_of(c.get("/v1/chat/jobs/" + id + "/events", kAlice).body);
  ASSERT_GE(events.size(), 3u);
  size_t restart = events.size();
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].id, static_cast<int64_t>(i + 1)) << "one numbering, never restarted";
    if (events[i].data.find("chat.completion.job.restart") != std::string::npos) restart = i;
  }
  ASSERT_LT(restart, events.size()) << "the retry is announced";
  ASSERT_GT(restart, 0u) << "the first run's chunks stay (a reader may have seen them)";
  EXPECT_EQ(streamed_content(events, restart + 1), content) << "after the restart: the whole answer";

  // A reader that saw up to the last chunk of the first run resumes there.
  auto resumed = events_of(c.get("/v1/chat/jobs/" + id + "/events", {{"Authorization", "Bearer sk-alice"},
                                                                   {"Last-Event-ID", std::to_string(events[restart - 1].id)}}).body);
  ASSERT_FALSE(resumed.empty());
  EXPECT_NE(resumed[0].data.find("chat.completion.job.restart"), std::string::npos);
  EXPECT_EQ(streamed_content(resumed, 1), content);
}

// A chat job running on a `kuai worker` (the gateway only accepts) is cancelled through the gateway:
// the worker hears of it (the store's heartbeat; RabbitMQ's cancel exchange) and stops the upstream
// stream long before its end; the job ends cancelled.
TEST_P(Workers, CancellingAChatJobStopsItsRemoteWorker) {
  Fake fake({"--answer-tokens", "400", "--tokens-per-s", "20"});  // 20 s to the last token
  Serve gw(gateway(fake));
  Worker w(worker(fake));
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions",
                  R"({"model":"default","background":true,"messages":[{"role":"user","content":"go"}]})", kAlice);
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id(parse_obj(r.body).at("id").as_string());
  ASSERT_TRUE(wait_until([&] {
    return parse_obj(c.get("/v1/chat/jobs/" + id, kAlice).body).at("status").as_string() == "in_progress" &&
           fake.stats().at("streams_started").as_int64() >= 1;
  }, Ms(20000))) << w.proc.output();
  std::this_thread::sleep_for(Ms(300));  // some chunks stored
  auto cancel = c.post("/v1/chat/jobs/" + id + "/cancel", "", kAlice);
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  EXPECT_TRUE(wait_until([&] { return fake.stats().at("streams_aborted").as_int64() >= 1; }, Ms(8000)))
      << "the worker stopped reading the upstream stream: " << json::serialize(fake.stats()) << w.proc.output();
  EXPECT_EQ(fake.stats().at("streams_completed").as_int64(), 0);
  EXPECT_EQ(parse_obj(c.get("/v1/chat/jobs/" + id, kAlice).body).at("status").as_string(), "cancelled");
}

INSTANTIATE_TEST_SUITE_P(Queue, Workers, ::testing::Values(QueueKind::sqlite, QueueKind::amqp),
                         [](const auto& info) { return info.param == QueueKind::sqlite ? "sqlite" : "amqp"; });

// RabbitMQ: a line whose run dies each time (its worker killed -9, jobs.max_attempts 1) is rejected
// into the dead-letter queue; the gateway fails it as max_attempts_exceeded instead of running it forever.
TEST(WorkersAmqp, ALineThatExhaustsItsAttemptsIsDeadLettered) {
  RabbitMq* mq = RabbitMq::shared();
  if (!mq) GTEST_SKIP() << "rabbitmq-server is not installed (" << RabbitMq::kServer << ")";
  Fake fake({"--answer-tokens", "200", "--tokens-per-s", "20"});
  JobsDir dir;
  std::string q = "kuai.test.dead." + std::to_string(::getpid());
  std::vector<std::string> a{"--upstream", fake.url(), "--set", "tenants={sk-alice: alice}", "--set",
                             "jobs.dir=" + dir.path, "--set", "jobs.queue=" + mq->url(), "--set", "jobs.amqp_queue=" + q,
                             "--set", "jobs.max_attempts=1", "--log-level", "warn"};
  auto g = a;
  g.insert(g.end(), {"--set", "jobs.workers=0"});
  Serve gw(g);
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions",
                  R"({"model":"default","background":true,"messages":[{"role":"user","content":"go"}]})", kAlice);
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id(parse_obj(r.body).at("id").as_string());
  {
    Worker w(a);
    ASSERT_TRUE(wait_until([&] { return fake.stats().at("streams_started").as_int64() >= 1; }, Ms(20000)))
        << w.proc.output() << gw.proc.output();
    ::kill(w.proc.pid(), SIGKILL);
    w.proc.wait_exit();
  }
  Worker again(a);
  json::object job;
  ASSERT_TRUE(wait_until([&] {
    job = parse_obj(c.get("/v1/chat/jobs/" + id, kAlice).body);
    return job.at("status").as_string() == "failed";
  }, Ms(20000))) << json::serialize(job);
  EXPECT_EQ(job.at("error").at("code").as_string(), "max_attempts_exceeded");
  EXPECT_EQ(fake.stats().at("streams_started").as_int64(), 1) << "the dead line did not run again";
}

}  // namespace
}  // namespace kuai::test
