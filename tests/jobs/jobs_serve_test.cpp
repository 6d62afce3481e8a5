// Async jobs end to end: the real `kuai serve` with a job store in a temporary folder, the fake
// upstream, background chat jobs (poll, resumable events, cancel), batches over raw HTTP (bad input),
// the official `openai` npm client, and a `kill -9` of the gateway mid-batch.
#include "support/gateway_procs.h"
#include "support/paths.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>
#include <unistd.h>

namespace kuai::test {
namespace {
namespace json = boost::json;

const HeaderList kAlice{{"Authorization", "Bearer sk-alice"}};
const HeaderList kBob{{"Authorization", "Bearer sk-bob"}};

struct JobsDir {
  std::string path = ::testing::TempDir() + "kuai_jobs_" + std::to_string(::getpid()) + "_" + std::to_string(free_port());
  ~JobsDir() { std::filesystem::remove_all(path); }
};

std::vector<std::string> serve_args(const Fake& fake, const std::string& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> a{"--upstream", fake.url(), "--set", "tenants={sk-alice: alice, sk-bob: bob}",
                             "--set", "jobs.dir=" + dir, "--log-level", "warn"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::string multipart(const std::string& purpose, const std::string& data, const std::string& boundary) {
  return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n" + purpose + "\r\n--" + boundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n" +
         data + "\r\n--" + boundary + "--\r\n";
}

HttpResponse upload(HttpClient& c, const std::string& data, const HeaderList& who = kAlice) {
  return c.post("/v1/files", multipart("batch", data, "kuaiBoundary42"), who, "multipart/form-data; boundary=kuaiBoundary42");
}

std::string chat_line(const std::string& id, const std::string& url = "/v1/chat/completions") {
  return R"({"custom_id":")" + id + R"(","method":"POST","url":")" + url +
         R"(","body":{"model":"default","messages":[{"role":"user","content":"say )" + id + R"("}]}})" + "\n";
}

std::string create_batch_body(const std::string& file_id) {
  return R"({"input_file_id":")" + file_id + R"(","endpoint":"/v1/chat/completions","completion_window":"24h"})";
}

json::object wait_batch_final(HttpClient& c, const std::string& id, Ms timeout = Ms(60000)) {
  json::object b;
  wait_until([&] {
    b = parse_obj(c.get("/v1/batches/" + id, kAlice).body);
    auto st = b.contains("status") ? std::string(b.at("status").as_string()) : "";
    return st == "completed" || st == "failed" || st == "cancelled" || st == "expired";
  }, timeout);
  return b;
}

TEST(JobsServe, BackgroundChatJobPollsResumesAndBelongsToItsTenant) {
  Fake fake({"--answer-tokens", "12"});
  JobsDir dir;
  Serve gw(serve_args(fake, dir.path));
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions",
                  R"({"model":"default","background":true,"messages":[{"role":"user","content":"write a story"}]})", kAlice);
  ASSERT_EQ(r.status, 202) << r.body;
  auto job = parse_obj(r.body);
  std::string id(job.at("id").as_string());
  EXPECT_EQ(job.at("object").as_string(), "chat.completion.job");
  EXPECT_EQ(job.at("status").as_string(), "queued");
  ASSERT_TRUE(wait_until([&] {
    job = parse_obj(c.get("/v1/chat/jobs/" + id, kAlice).body);
    return job.at("status").as_string() == "completed";
  })) << json::serialize(job);
  const auto& completion = job.at("completion").as_object();
  EXPECT_EQ(completion.at("object").as_string(), "chat.completion");
  EXPECT_FALSE(completion.at("choices").as_array()[0].at("message").at("content").as_string().empty());
  EXPECT_EQ(json::parse(fake.stats().at("last_body").as_string().c_str()).as_object().count("background"), 0u)
      << "the kuai extension never reaches the upstream";

  auto all = c.get("/v1/chat/jobs/" + id + "/events", kAlice);
  ASSERT_EQ(all.status, 200);
  EXPECT_NE(all.body.find("data: [DONE]"), std::string::npos);
  size_t n = 0;
  for (size_t p = 0; p < all.body.size(); p = all.body.find('\n', p) + 1) {
    if (all.body.compare(p, 4, "id: ") == 0) ++n;
    if (all.body.find('\n', p) == std::string::npos) break;
  }
  ASSERT_GE(n, 12u) << all.body;  // one event per token
  auto resumed = c.get("/v1/chat/jobs/" + id + "/events", {{"Authorization", "Bearer sk-alice"}, {"Last-Event-ID", "3"}});
  EXPECT_EQ(resumed.body.rfind("id: 4\n", 0), 0u) << resumed.body;
  auto after = c.get("/v1/chat/jobs/" + id + "/events?starting_after=5", kAlice);
  EXPECT_EQ(after.body.rfind("id: 6\n", 0), 0u) << after.body;
  EXPECT_EQ(all.body.substr(all.body.find("id: 4\n")), resumed.body) << "a resumed stream is the rest of the same stream";

  expect_error(c.get("/v1/chat/jobs/" + id, kBob), 404);
  expect_error(c.get("/v1/chat/jobs/" + id + "/events", kBob), 404);
  expect_error(c.post("/v1/chat/jobs/" + id + "/cancel", "", kBob), 404);
  expect_error(c.get("/v1/chat/jobs/chatjob_nope", kAlice), 404);
  expect_error(c.post("/v1/chat/completions", R"({"model":"default","background":"yes","messages":[{"role":"user","content":"x"}]})", kAlice), 400);
}

TEST(JobsServe, CancelStopsTheUpstreamCall) {
  Fake fake({"--answer-tokens", "2000", "--tokens-per-s", "50"});
  JobsDir dir;
  Serve gw(serve_args(fake, dir.path));
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions",
                  R"({"model":"default","background":true,"messages":[{"role":"user","content":"a long one"}]})", kAlice);
  ASSERT_EQ(r.status, 202);
  std::string id(parse_obj(r.body).at("id").as_string());
  ASSERT_TRUE(wait_until([&] { return fake.stats().at("streams_started").as_int64() >= 1; }));
  auto cancelled = c.post("/v1/chat/jobs/" + id + "/cancel", "", kAlice);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(parse_obj(cancelled.body).at("status").as_string(), "cancelled");
  EXPECT_TRUE(wait_until([&] { return fake.stats().at("streams_aborted").as_int64() >= 1; }))
      << "the upstream stream was not cut: " << json::serialize(fake.stats());
  EXPECT_EQ(parse_obj(c.get("/v1/chat/jobs/" + id, kAlice).body).at("status").as_string(), "cancelled");
  auto events = c.get("/v1/chat/jobs/" + id + "/events", kAlice);
  EXPECT_NE(events.body.find("\"cancelled\""), std::string::npos) << events.body;
  EXPECT_EQ(parse_obj(c.post("/v1/chat/jobs/" + id + "/cancel", "", kAlice).body).at("status").as_string(), "cancelled");
}

TEST(JobsServe, BadBatchInputIsAClearError) {
  Fake fake({});
  JobsDir dir;
  Serve gw(serve_args(fake, dir.path, {"--set", "jobs.max_file_bytes=4000", "--set", "server.max_body_bytes=3000"}));
  HttpClient c(gw.port);
  // Uploads take jobs.max_file_bytes, not server.max_body_bytes; other routes keep the latter.
  std::string lines;
  while (lines.size() < 3500) lines += chat_line("l" + std::to_string(lines.size()));
  auto fits = upload(c, lines);
  EXPECT_EQ(fits.status, 200) << fits.body;
  expect_error(c.post("/v1/chat/completions", std::string(3500, ' '), kAlice), 413);
  // Malformed JSONL and an unknown endpoint: the batch fails validation, each error naming its line.
  auto f = upload(c, chat_line("a") + "{oops\n" + chat_line("b", "/v1/images/generations"));
  ASSERT_EQ(f.status, 200) << f.body;
  std::string fid(parse_obj(f.body).at("id").as_string());
  auto b = parse_obj(c.post("/v1/batches", create_batch_body(fid), kAlice).body);
  EXPECT_EQ(b.at("status").as_string(), "failed");
  auto& data = b.at("errors").at("data").as_array();
  ASSERT_EQ(data.size(), 2u) << json::serialize(b);
  EXPECT_EQ(data[0].at("line").as_int64(), 2);
  EXPECT_EQ(data[0].at("code").as_string(), "invalid_json_line");
  EXPECT_EQ(data[1].at("line").as_int64(), 3);
  EXPECT_EQ(data[1].at("code").as_string(), "invalid_url");
  // Oversize upload, wrong purpose, not multipart, unknown file id, bad endpoint and window.
  auto big = upload(c, std::string(5000, 'x'));
  EXPECT_EQ(expect_error(big, 413).at("code").as_string(), "file_too_large");
  expect_error(c.post("/v1/files", multipart("fine-tune", "x", "B1"), kAlice, "multipart/form-data; boundary=B1"), 400);
  expect_error(c.post("/v1/files", "{}", kAlice), 415);
  expect_error(c.post("/v1/files", "garbage", kAlice, "multipart/form-data; boundary=B1"), 400);
  expect_error(c.post("/v1/batches", create_batch_body("file-unknown"), kAlice), 404);
  expect_error(c.post("/v1/batches", R"({"input_file_id":")" + fid + R"(","endpoint":"/v1/images","completion_window":"24h"})", kAlice), 400);
  expect_error(c.post("/v1/batches", R"({"input_file_id":")" + fid + R"(","endpoint":"/v1/embeddings","completion_window":"soon"})", kAlice), 400);
  expect_error(c.post("/v1/batches", "[1]", kAlice), 400);
  // Another tenant's ids are not found; a finished batch cannot be cancelled.
  std::string bid(b.at("id").as_string());
  expect_error(c.get("/v1/batches/" + bid, kBob), 404);
  expect_error(c.get("/v1/files/" + fid + "/content", kBob), 404);
  expect_error(c.request("DELETE", "/v1/files/" + fid, "", kBob), 404);
  expect_error(c.post("/v1/batches", create_batch_body(fid), kBob), 404);
  EXPECT_EQ(expect_error(c.post("/v1/batches/" + bid + "/cancel", "", kAlice), 409).at("code").as_string(),
            "batch_not_cancellable");
  expect_error(c.get("/v1/batches", {}), 401);
}

TEST(JobsServe, JobsOffAnswer404) {
  Fake fake({});
  Serve gw({"--upstream", fake.url()});
  HttpClient c(gw.port);
  EXPECT_EQ(expect_error(c.get("/v1/batches"), 404).at("code").as_string(), "jobs_disabled");
  expect_error(c.post("/v1/chat/completions", R"({"model":"m","background":true,"messages":[{"role":"user","content":"x"}]})"), 404);
}

std::string node_path() {
  for (const char* p : {"/usr/bin/node", "/usr/local/bin/node"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

TEST(JobsServe, OfficialOpenAiClientRunsABatch) {
  std::string node = node_path();
  std::string script = source_dir() + "/tests/jobs/openai_batch.mjs";
  if (node.empty()) GTEST_SKIP() << "node is not installed (scripts/setup installs it)";
  if (!std::filesystem::exists(source_dir() + "/node_modules/openai/package.json"))
    GTEST_SKIP() << "the npm package 'openai' is not installed (run scripts/setup)";
  Fake fake({});
  JobsDir dir;
  Serve gw(serve_args(fake, dir.path));
  std::string cmd = node + " " + script + " http://127.0.0.1:" + std::to_string(gw.port) + " sk-alice 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << out;
  std::string last = out;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  if (auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
  auto r = parse_obj(last);
  EXPECT_EQ(r.at("status").as_string(), "completed") << out;
  EXPECT_EQ(r.at("created_status").as_string(), "in_progress");
  EXPECT_EQ(r.at("counts").at("total").as_int64(), 7);
  EXPECT_EQ(r.at("counts").at("completed").as_int64(), 6);
  EXPECT_EQ(r.at("counts").at("failed").as_int64(), 1);
  EXPECT_EQ(r.at("metadata").at("run").as_string(), "npm");
  std::map<std::string, int> seen;
  for (const auto& l : r.at("output").as_array()) {
    seen[std::string(l.as_array()[0].as_string())]++;
    EXPECT_EQ(l.as_array()[1].as_int64(), 200);
    EXPECT_EQ(l.as_array()[2].as_string(), "chat.completion");
  }
  EXPECT_EQ(seen.size(), 6u);
  auto& errors = r.at("errors").as_array();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].as_array()[0].as_string(), "bad-body");
  EXPECT_EQ(errors[0].as_array()[1].as_int64(), 400);
  EXPECT_TRUE(r.at("listed").as_bool());
  EXPECT_EQ(r.at("cancel_status").as_int64(), 409);
  EXPECT_GE(r.at("files").as_int64(), 2) << "input and output files";
  EXPECT_TRUE(r.at("deleted").as_bool());
}

// kill -9 of the gateway while a batch is in progress; a new gateway on the same jobs.dir finishes it:
// every custom_id appears exactly once in the output.
TEST(JobsServe, KillNineMidBatchLosesNothing) {
  Fake fake({"--ttft-ms", "150", "--threads", "2"});
  JobsDir dir;
  const int kLines = 40;
  std::vector<std::string> extra{"--set", "jobs.workers=4", "--set", "jobs.lease_ms=500"};
  std::string bid;
  {
    Serve gw(serve_args(fake, dir.path, extra));
    HttpClient c(gw.port);
    std::string input;
    for (int i = 0; i < kLines; ++i) input += chat_line("line-" + std::to_string(i));
    auto f = upload(c, input);
    ASSERT_EQ(f.status, 200) << f.body;
    auto b = parse_obj(c.post("/v1/batches", create_batch_body(std::string(parse_obj(f.body).at("id").as_string())), kAlice).body);
    bid = std::string(b.at("id").as_string());
    ASSERT_TRUE(wait_until([&] {
      auto cur = parse_obj(c.get("/v1/batches/" + bid, kAlice).body);
      return cur.at("request_counts").at("completed").as_int64() >= 4;
    }));
    auto cur = parse_obj(c.get("/v1/batches/" + bid, kAlice).body);
    ASSERT_EQ(cur.at("status").as_string(), "in_progress");
    ASSERT_LT(cur.at("request_counts").at("completed").as_int64(), kLines);
    ::kill(gw.proc.pid(), SIGKILL);
    gw.proc.wait_exit();
  }
  Serve again(serve_args(fake, dir.path, extra));
  HttpClient c(again.port);
  auto b = wait_batch_final(c, bid);
  ASSERT_EQ(b.at("status").as_string(), "completed") << json::serialize(b);
  EXPECT_EQ(b.at("request_counts").at("completed").as_int64(), kLines);
  EXPECT_TRUE(b.at("error_file_id").is_null());
  auto out = c.get("/v1/files/" + std::string(b.at("output_file_id").as_string()) + "/content", kAlice);
  std::map<std::string, int> seen;
  size_t pos = 0;
  while (pos < out.body.size()) {
    size_t eol = out.body.find('\n', pos);
    auto line = parse_obj(out.body.substr(pos, eol - pos));
    seen[std::string(line.at("custom_id").as_string())]++;
    pos = eol + 1;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kLines));
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
}

}  // namespace
}  // namespace kuai::test

namespace kuai::test {
namespace {

// kill -9 while a background chat job streams: after a restart the job runs again and completes; its
// event stream, read from the start, is the cut first run, a restart event, then one whole answer.
TEST(JobsServe, KillNineMidChatJobCompletesAfterRestart) {
  Fake fake({"--answer-tokens", "40", "--tokens-per-s", "20"});
  JobsDir dir;
  std::vector<std::string> extra{"--set", "jobs.lease_ms=500"};
  std::string id;
  {
    Serve gw(serve_args(fake, dir.path, extra));
    HttpClient c(gw.port);
    auto r = c.post("/v1/chat/completions",
                    R"({"model":"default","background":true,"messages":[{"role":"user","content":"go"}]})", kAlice);
    ASSERT_EQ(r.status, 202);
    id = std::string(parse_obj(r.body).at("id").as_string());
    ASSERT_TRUE(wait_until([&] {
      return parse_obj(c.get("/v1/chat/jobs/" + id, kAlice).body).at("status").as_string() == "in_progress" &&
             fake.stats().at("streams_started").as_int64() >= 1;
    }));
    std::this_thread::sleep_for(Ms(300));  // a few chunks stored
    ::kill(gw.proc.pid(), SIGKILL);
    gw.proc.wait_exit();
  }
  Serve again(serve_args(fake, dir.path, extra));
  HttpClient c(again.port);
  json::object job;
  ASSERT_TRUE(wait_until([&] {
    job = parse_obj(c.get("/v1/chat/jobs/" + id, kAlice).body);
    return job.at("status").as_string() == "completed";
  }, Ms(20000))) << json::serialize(job);
  std::string content(job.at("completion").at("choices").as_array()[0].at("message").at("content").as_string());
  auto events = c.get("/v1/chat/jobs/" + id + "/events", kAlice).body;
  EXPECT_EQ(events.rfind("id: 1\n", 0), 0u);
  EXPECT_NE(events.find("data: [DONE]"), std::string::npos);
  // The retry continues the numbering after the first run's chunks, behind a restart event; what
  // follows it is one whole answer (tests/jobs/worker_serve_test.cpp checks a resumed reader).
  size_t restart = events.find("chat.completion.job.restart");
  ASSERT_NE(restart, std::string::npos) << events;
  std::string streamed;
  for (size_t p = restart; (p = events.find("\"content\":\"", p)) != std::string::npos; p += 11)
    streamed += events.substr(p + 11, events.find('"', p + 11) - (p + 11));
  EXPECT_EQ(streamed, content) << "after the restart event: one whole answer";
}

}  // namespace
}  // namespace kuai::test
