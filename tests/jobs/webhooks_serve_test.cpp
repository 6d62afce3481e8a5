// Webhooks from the real `kuai serve`: receivers on loopback that check Standard Webhooks signatures
// (computed here with OpenSSL, not with kuai's signer), a failing receiver retried with the same
// webhook-id, a 410 that disables an endpoint, and a private address refused by the SSRF guard.
#include "support/gateway_procs.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>

#include <arpa/inet.h>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace kuai::test {
namespace {
namespace json = boost::json;

const char* kOldSecret = "whsec_b2xkIHNlY3JldCBrZXk=";  // "old secret key"
const char* kNewSecret = "whsec_bmV3IHNlY3JldCBrZXk=";  // "new secret key"

std::string expected_sig(const std::string& key, const std::string& id, const std::string& ts, const std::string& body) {
  std::string msg = id + "." + ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), mac, &len);
  std::string out(64, '\0');
  out.resize(static_cast<size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(len))));
  return "v1," + out;
}

struct Hit {
  std::string id, timestamp, signature, body;
  bool signed_ok = false;
};

// A one-request-per-connection HTTP receiver; `status_for(n)` is the answer to its n-th request (0-based).
class Receiver {
 public:
  Receiver(const char* addr, std::function<int(int)> status_for) : status_for_(std::move(status_for)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, addr, &a.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
      throw std::runtime_error("receiver cannot listen");
    socklen_t n = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    url = std::string("http://") + addr + ":" + std::to_string(ntohs(a.sin_port)) + "/hook";
    thread_ = std::thread([this] { loop(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::vector<Hit> hits() {
    std::lock_guard lock(mu_);
    return hits_;
  }
  std::string url;

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string data;
      char buf[4096];
      size_t want = std::string::npos;
      while (true) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 2000) <= 0) break;
        ssize_t r = ::recv(c, buf, sizeof buf, 0);
        if (r <= 0) break;
        data.append(buf, static_cast<size_t>(r));
        auto end = data.find("\r\n\r\n");
        if (end != std::string::npos && want == std::string::npos) {
          auto cl = lower(data.substr(0, end)).find("content-length:");
          want = end + 4 + (cl == std::string::npos ? 0 : std::stoul(data.substr(cl + 15)));
        }
        if (data.size() >= want) break;
      }
      auto end = data.find("\r\n\r\n");
      if (end == std::string::npos) {
        ::close(c);
        continue;
      }
      std::string head = lower(data.substr(0, end));
      auto header = [&](const std::string& name) {
        auto p = head.find("\r\n" + name + ":");
        if (p == std::string::npos) return std::string();
        auto v = p + name.size() + 3;
        std::string value = data.substr(v, data.find("\r\n", v) - v);  // original case
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        return value;
      };
      Hit h{header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"), data.substr(end + 4)};
      h.signed_ok = h.signature == expected_sig("old secret key", h.id, h.timestamp, h.body) + " " +
                                       expected_sig("new secret key", h.id, h.timestamp, h.body);
      int n;
      {
        std::lock_guard lock(mu_);
        n = static_cast<int>(hits_.size());
        hits_.push_back(h);
      }
      std::string resp = "HTTP/1.1 " + std::to_string(status_for_(n)) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  int fd_ = -1;
  std::function<int(int)> status_for_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Hit> hits_;
  std::thread thread_;
};

TEST(JobsWebhooks, SignedRetriedDisabledAndGuarded) {
  Receiver flaky("127.0.0.1", [](int n) { return n == 0 ? 500 : 204; });  // first try fails
  Receiver gone("127.0.0.1", [](int) { return 410; });
  Receiver hidden("127.0.0.2", [](int) { return 200; });  // private and not listed
  Fake fake({});
  std::string dir = ::testing::TempDir() + "kuai_jobs_hooks_" + std::to_string(::getpid());
  auto ep = [](const Receiver& r) {
    return "{url: '" + r.url + "', secrets: [" + kOldSecret + ", " + kNewSecret + "]}";
  };
  Serve gw({"--upstream", fake.url(), "--set", "jobs.dir=" + dir, "--set",
            "jobs.webhooks.endpoints=[" + ep(flaky) + ", " + ep(gone) + ", " + ep(hidden) + "]", "--set",
            "jobs.webhooks.allow_private=[127.0.0.1]", "--set", "jobs.webhooks.backoff_initial_ms=100"});
  HttpClient c(gw.port);
  std::vector<std::string> jobs;
  for (int i = 0; i < 2; ++i) {
    auto r = c.post("/v1/chat/completions", R"({"model":"m","background":true,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(r.status, 202) << r.body;
    jobs.emplace_back(parse_obj(r.body).at("id").as_string());
    ASSERT_TRUE(wait_until([&] { return parse_obj(c.get("/v1/chat/jobs/" + jobs.back()).body).at("status").as_string() == "completed"; }));
    if (i == 0) ASSERT_TRUE(wait_until([&] { return gone.hits().size() == 1; })) << "the 410 endpoint got the first event";
  }
  ASSERT_TRUE(wait_until([&] { return flaky.hits().size() >= 3; })) << gw.proc.output();
  auto hits = flaky.hits();
  std::map<std::string, int> by_id;
  std::map<std::string, std::set<std::string>> hook_ids;  // job → webhook-ids seen
  for (const auto& h : hits) {
    EXPECT_TRUE(h.signed_ok) << h.signature << " for " << h.body;
    auto body = parse_obj(h.body);
    EXPECT_EQ(body.at("id").as_string(), h.id);
    EXPECT_EQ(body.at("type").as_string(), "chat.job.completed");
    by_id[std::string(body.at("data").at("id").as_string())]++;
    hook_ids[std::string(body.at("data").at("id").as_string())].insert(h.id);
  }
  EXPECT_EQ(hook_ids[jobs[0]].size(), 1u) << "a retry carries the same webhook-id";
  EXPECT_EQ(by_id[jobs[0]], 2);
  EXPECT_EQ(by_id[jobs[1]], 1);
  std::this_thread::sleep_for(Ms(300));
  EXPECT_EQ(gone.hits().size(), 1u) << "a 410 disabled the endpoint";
  EXPECT_TRUE(hidden.hits().empty()) << "127.0.0.2 is private and not in allow_private";

  auto log = parse_obj(c.get("/v1/chat/jobs/" + jobs[0] + "/webhook_deliveries").body);
  std::map<std::string, json::object> by_url;
  for (const auto& d : log.at("data").as_array()) by_url[std::string(d.at("url").as_string())] = d.as_object();
  ASSERT_EQ(by_url.size(), 3u) << json::serialize(log);
  EXPECT_EQ(by_url[flaky.url].at("status").as_string(), "delivered");
  EXPECT_EQ(by_url[flaky.url].at("attempts").as_int64(), 2);
  EXPECT_EQ(by_url[gone.url].at("status").as_string(), "disabled");
  EXPECT_EQ(by_url[hidden.url].at("status").as_string(), "refused");
  auto metrics = c.get("/metrics").body;
  EXPECT_NE(metrics.find("kuai_jobs_webhook_deliveries_total{result=\"delivered\"} 2"), std::string::npos) << metrics;
  gw.proc.stop();
  std::filesystem::remove_all(dir);
}

TEST(JobsWebhooks, BadWebhookConfigStopsStartUp) {
  ChildProcess p(kuai_bin(), {"serve", "--port", "0", "--set", "jobs.dir=/tmp/kuai-never", "--set",
                              "jobs.webhooks.endpoints=[{url: 'http://x/h', secrets: [not-a-secret]}]"});
  auto code = p.wait_exit();
  ASSERT_TRUE(code);
  EXPECT_NE(*code, 0);
  EXPECT_NE(p.output().find("whsec_"), std::string::npos) << p.output();
}

}  // namespace
}  // namespace kuai::test

namespace kuai::test {
namespace {

// A delivery still failing when the gateway is killed is delivered after the restart, with the same
// webhook-id: no webhook is lost.
TEST(JobsWebhooks, KillNineLosesNoWebhook) {
  std::atomic<bool> up{false};
  Receiver r("127.0.0.1", [&](int) { return up ? 200 : 503; });
  Fake fake({});
  std::string dir = ::testing::TempDir() + "kuai_jobs_hooks_kill_" + std::to_string(::getpid());
  std::vector<std::string> args{"--upstream", fake.url(), "--set", "jobs.dir=" + dir, "--set",
                                "jobs.webhooks.endpoints=[{url: '" + r.url + "', secrets: [" + kOldSecret + ", " + kNewSecret + "]}]",
                                "--set", "jobs.webhooks.allow_private=[127.0.0.1]", "--set",
                                "jobs.webhooks.backoff_initial_ms=50", "--set", "jobs.webhooks.backoff_max_ms=200"};
  {
    Serve gw(args);
    HttpClient c(gw.port);
    auto resp = c.post("/v1/chat/completions", R"({"model":"m","background":true,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(resp.status, 202);
    ASSERT_TRUE(wait_until([&] { return r.hits().size() >= 2; })) << "retried while the receiver fails";
    ::kill(gw.proc.pid(), SIGKILL);
    gw.proc.wait_exit();
  }
  size_t failed_tries = r.hits().size();
  up = true;
  Serve again(args);
  ASSERT_TRUE(wait_until([&] { return r.hits().size() > failed_tries; }));
  auto hits = r.hits();
  for (const auto& h : hits) {
    EXPECT_EQ(h.id, hits[0].id) << "every try of one event carries its webhook-id";
    EXPECT_TRUE(h.signed_ok);
  }
  std::this_thread::sleep_for(Ms(400));
  EXPECT_EQ(r.hits().size(), failed_tries + 1) << "delivered once after the restart, then no more";
  again.proc.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kuai::test

namespace kuai::test {
namespace {

// metadata.webhook_url: a tenant listed in request_url_tenants gets its own receiver called (signed
// with request_url_secrets); another tenant's request is refused with a clear error.
TEST(JobsWebhooks, PerJobWebhookUrlOnlyWhereTheTenantMayGiveOne) {
  Receiver mine("127.0.0.1", [](int) { return 200; });
  Fake fake({});
  std::string dir = ::testing::TempDir() + "kuai_jobs_hooks_url_" + std::to_string(::getpid());
  Serve gw({"--upstream", fake.url(), "--set", "jobs.dir=" + dir, "--set", "tenants={sk-alice: alice, sk-bob: bob}",
            "--set", "jobs.webhooks.request_url_tenants=[alice]", "--set",
            std::string("jobs.webhooks.request_url_secrets=[") + kOldSecret + ", " + kNewSecret + "]", "--set",
            "jobs.webhooks.allow_private=[127.0.0.1]"});
  HttpClient c(gw.port);
  std::string body = R"({"model":"m","background":true,"metadata":{"webhook_url":")" + mine.url +
                     R"("},"messages":[{"role":"user","content":"hi"}]})";
  auto denied = c.post("/v1/chat/completions", body, {{"Authorization", "Bearer sk-bob"}});
  EXPECT_EQ(expect_error(denied, 400).at("code").as_string(), "webhook_url_not_allowed");
  auto r = c.post("/v1/chat/completions", body, {{"Authorization", "Bearer sk-alice"}});
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id(parse_obj(r.body).at("id").as_string());
  ASSERT_TRUE(wait_until([&] { return mine.hits().size() == 1; }));
  auto hit = mine.hits()[0];
  EXPECT_TRUE(hit.signed_ok) << hit.signature;
  EXPECT_EQ(parse_obj(hit.body).at("data").at("id").as_string(), id);
  gw.proc.stop();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kuai::test
