// The live dashboard (issue 23): its access rules over HTTP, its event stream, and the page itself in a
// real browser (Debian's chromium driven by playwright-core: tests/server/dashboard_browser.mjs) while
// traffic flows, with every request outside the gateway blocked.
#include "support/gateway_procs.h"
#include "support/paths.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace kuai::test;

namespace {

const char* kChat = R"({"model":"gpt-test","messages":[{"role":"user","content":"Hello! What is the capital of France?"}]})";

std::vector<std::string> dashboard_args(const Fake& fake) {
  return {"--upstream", fake.url(), "--set", "admin_key=s3cret", "--set", "stages.cache.enabled=true",
          "--set", "stages.slim.enabled=true"};
}

// The session cookie from a successful login ("kuai_dashboard=…").
std::string login(HttpClient& c, std::string* set_cookie = nullptr) {
  auto r = c.post("/dashboard/login", "key=s3cret", {}, "application/x-www-form-urlencoded");
  EXPECT_EQ(r.status, 303) << r.body;
  EXPECT_EQ(r.header("location"), "/dashboard");
  std::string cookie = r.header("set-cookie");
  if (set_cookie) *set_cookie = cookie;
  return cookie.substr(0, cookie.find(';'));
}

}  // namespace

TEST(Dashboard, LoginGuardsThePageAndTheEvents) {
  Fake fake({});
  Serve serve(dashboard_args(fake));
  HttpClient c(serve.port);
  auto page = c.get("/dashboard");
  EXPECT_EQ(page.status, 401);
  EXPECT_NE(page.body.find("name=\"key\""), std::string::npos) << "a login form";
  expect_error(c.get("/dashboard/events"), 401);
  EXPECT_EQ(c.post("/dashboard/login", "key=wrong", {}, "application/x-www-form-urlencoded").status, 401);
  EXPECT_EQ(c.get("/dashboard", {{"Cookie", "kuai_dashboard=forged"}}).status, 401);

  std::string set_cookie;
  const std::string cookie = login(c, &set_cookie);
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos) << set_cookie;
  auto ok = c.get("/dashboard", {{"Cookie", cookie}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("/dashboard/app.js"), std::string::npos);
  EXPECT_EQ(c.get("/dashboard/app.js").status, 200);  // the script holds no data
}

TEST(Dashboard, EventsCarryCountersAndRequests) {
  Fake fake({});
  Serve serve(dashboard_args(fake));
  HttpClient c(serve.port);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(c.post("/v1/chat/completions", kChat).status, 200);
  const std::string cookie = login(c);
  RawConnection raw(serve.port);
  ASSERT_TRUE(raw.send_all("GET /dashboard/events HTTP/1.1\r\nHost: x\r\nCookie: " + cookie + "\r\n\r\n"));
  std::string got;
  ASSERT_TRUE(wait_until([&] {
    raw.recv_some(got, Ms(200));
    auto data = got.find("data: ");
    return data != std::string::npos && got.find("\n\n", data) != std::string::npos;
  }));
  const auto start = got.find("data: ") + 6;
  auto event = parse_obj(got.substr(start, got.find("\n\n", start) - start));
  const auto& requests = event.at("requests").as_array();
  ASSERT_EQ(requests.size(), 2u);  // the chats; not the login
  const auto& second = requests[1].as_object();
  EXPECT_EQ(second.at("model").as_string(), "gpt-test");
  EXPECT_EQ(second.at("kuai").as_object().at("x-kuai-cache").as_string(), "hit");
  EXPECT_FALSE(second.contains("content"));  // dashboard.show_content is off
  const auto& metrics = event.at("metrics").as_object();
  EXPECT_TRUE(metrics.contains("kuai_cache_lookups_total"));
  EXPECT_TRUE(metrics.contains("kuai_request_first_byte_seconds"));
  EXPECT_EQ(event.at("stages").as_array().size(), 2u);
  // SIGTERM ends the stream, so an open dashboard never holds the drain.
  EXPECT_EQ(serve.proc.stop(SIGTERM, Ms(5000)), 0) << serve.proc.output();
}

TEST(Dashboard, OffOrUnprotectedBeyondLoopback) {
  Fake fake({});
  Serve off({"--upstream", fake.url(), "--set", "dashboard.enabled=false"});
  expect_error(HttpClient(off.port).get("/dashboard"), 404);
  // Listening on every interface, the dashboard is off unless switched on; switched on without an
  // admin_key it is refused, with the fix in the message.
  Serve wide({"--upstream", fake.url(), "--host", "0.0.0.0"});
  expect_error(HttpClient(wide.port).get("/dashboard"), 404);
  Serve open({"--upstream", fake.url(), "--host", "0.0.0.0", "--set", "dashboard.enabled=true"});
  auto err = expect_error(HttpClient(open.port).get("/dashboard"), 403);
  EXPECT_NE(std::string(err.at("message").as_string()).find("admin_key"), std::string::npos);
  // On loopback without a key the page is open (only local users reach it).
  Serve local({"--upstream", fake.url()});
  EXPECT_EQ(HttpClient(local.port).get("/dashboard").status, 200);
}

TEST(Dashboard, WorksInARealBrowserWithoutTheNetwork) {
  const std::string script = source_dir() + "/tests/server/dashboard_browser.mjs";
  if (!std::filesystem::exists("/usr/bin/chromium"))
    GTEST_SKIP() << "Debian's chromium is not installed (bash scripts/setup installs it)";
  if (!std::filesystem::exists(source_dir() + "/node_modules/playwright-core"))
    GTEST_SKIP() << "node_modules/playwright-core is not installed (bash scripts/setup installs it)";
  Fake fake({});
  char jobs_dir[] = "/tmp/kuai-dash-jobs-XXXXXX";
  ASSERT_NE(::mkdtemp(jobs_dir), nullptr);
  auto args = dashboard_args(fake);
  args.insert(args.end(), {"--set", std::string("jobs.dir=") + jobs_dir, "--set",
                           "flows.dir=" + source_dir() + "/data/flows"});
  Serve serve(args);
  auto run = run_shell("KUAI_URL=http://127.0.0.1:" + std::to_string(serve.port) +
                       " KUAI_KEY=s3cret timeout 120 node " + script);
  ASSERT_EQ(run.code, 0) << run.out;
  auto found = parse_obj(run.out.substr(run.out.rfind('{', run.out.rfind("\"outside_requests\""))));
  EXPECT_TRUE(found.at("outside_requests").as_array().empty()) << run.out;
  EXPECT_TRUE(found.at("console_errors").as_array().empty()) << run.out;
  EXPECT_TRUE(found.at("login_form").as_bool());
  EXPECT_EQ(found.at("wrong_key_message").as_string(), "Wrong key.");
  EXPECT_TRUE(found.at("cookie").as_object().at("httpOnly").as_bool());
  EXPECT_EQ(found.at("cookie").as_object().at("sameSite").as_string(), "Strict");
  EXPECT_GE(found.at("total").to_number<double>(), 6);  // 3 chats, 1 malformed, 1 background, 1 flow
  EXPECT_GE(found.at("request_rows").to_number<double>(), 4);
  EXPECT_GE(found.at("cache_hits").to_number<double>(), 2);
  EXPECT_GE(found.at("errors_rows").to_number<double>(), 1);  // the malformed request's 400
  EXPECT_EQ(found.at("pipeline").as_string(), "pipeline: slim → cache");
  const std::string detail(found.at("detail").as_string());
  EXPECT_NE(detail.find("x-kuai-cache: hit"), std::string::npos) << detail;
  EXPECT_NE(detail.find("cache"), std::string::npos) << detail;
  // The jobs and flows panels show the background job and the flow run.
  EXPECT_EQ(found.at("flow_status").to_number<int>(), 200);
  EXPECT_NE(std::string(found.at("flows_row").as_string()).find("compare"), std::string::npos) << run.out;
  EXPECT_FALSE(found.at("jobs_bars").as_array().empty()) << run.out;
  std::filesystem::remove_all(jobs_dir);
}
