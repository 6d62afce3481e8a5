// The job store on a real SQLite file: leases return a dead worker's line, a line completes once,
// batches finalise into output/error files, cancel is idempotent, tenants never see each other's ids.
#include "jobs/store.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

namespace kuai::jobs {
namespace {
namespace json = boost::json;

struct TempStore {
  std::string dir = ::testing::TempDir() + "kuai_jobs_store_" + std::to_string(::getpid()) + "_" +
                    std::to_string(reinterpret_cast<uintptr_t>(this));
  std::unique_ptr<Store> store;
  TempStore() { reopen(); }
  ~TempStore() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
  void reopen() {
    store.reset();
    auto s = Store::open(dir);
    if (auto* e = std::get_if<std::string>(&s)) throw std::runtime_error(*e);
    store = std::move(std::get<std::unique_ptr<Store>>(s));
  }
};

json::object batch_obj(const std::string& id) {
  return json::object{{"id", id}, {"object", "batch"}, {"endpoint", "/v1/chat/completions"}, {"status", "in_progress"},
                      {"expires_at", now_s() + 3600}, {"output_file_id", nullptr}, {"error_file_id", nullptr}};
}

std::vector<json::object> lines_of(const std::string& jsonl) {
  std::vector<json::object> out;
  size_t pos = 0;
  while (pos < jsonl.size()) {
    size_t eol = jsonl.find('\n', pos);
    out.push_back(json::parse(jsonl.substr(pos, eol - pos)).as_object());
    pos = eol + 1;
  }
  return out;
}

TEST(JobStore, ExpiredLeaseReturnsTheLineAndOnlyTheFirstResultCounts) {
  TempStore t;
  t.store->create_batch("alice", batch_obj("batch_1"), {{"a", R"({"x":1})"}}, 0);
  int64_t now = now_ms();
  auto first = t.store->claim("w1", now, 1000);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->custom_id, "a");
  EXPECT_EQ(first->attempts, 1);
  EXPECT_FALSE(t.store->claim("w2", now + 500, 1000)) << "a leased line is not claimable";
  auto again = t.store->claim("w2", now + 1001, 1000);  // w1 died: its lease passed
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_TRUE(t.store->complete(*again, Result{200, R"({"ok":2})", "r2"}));
  EXPECT_FALSE(t.store->complete(*first, Result{200, R"({"ok":1})", "r1"})) << "second completion of one line";
  ASSERT_TRUE(t.store->finalize_if_done("batch_1", now_s()));
  auto b = t.store->batch("alice", "batch_1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->at("status").as_string(), "completed");
  auto out = t.store->file_content("alice", std::string(b->at("output_file_id").as_string()));
  ASSERT_TRUE(out);
  auto lines = lines_of(*out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("custom_id").as_string(), "a");
  EXPECT_EQ(lines[0].at("response").at("body").at("ok").as_int64(), 2);
  EXPECT_TRUE(b->at("error_file_id").is_null());
}

TEST(JobStore, HeartbeatKeepsTheLeaseAndReleaseRequeues) {
  TempStore t;
  t.store->create_batch("alice", batch_obj("batch_2"), {{"a", "{}"}}, 0);
  int64_t now = now_ms();
  ASSERT_TRUE(t.store->claim("w1", now, 1000));
  t.store->heartbeat("w1", now + 5000);
  EXPECT_FALSE(t.store->claim("w2", now + 2000, 1000));
  t.store->release("w1");
  auto c = t.store->claim("w2", now + 2000, 1000);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->attempts, 1) << "a released line was not a failed attempt";
}

TEST(JobStore, ErrorLinesGoToTheErrorFileAndDataSurvivesReopen) {
  TempStore t;
  t.store->create_batch("alice", batch_obj("batch_3"), {{"good", "{}"}, {"bad", "{}"}}, 0);
  t.reopen();
  for (int i = 0; i < 2; ++i) {
    auto it = t.store->claim("w", now_ms(), 1000);
    ASSERT_TRUE(it);
    bool bad = it->custom_id == "bad";
    t.store->complete(*it, bad ? Result{400, R"({"error":{"message":"no","type":"invalid_request_error","param":null,"code":"x"}})", "r"}
                               : Result{200, "{}", "r"});
  }
  ASSERT_TRUE(t.store->finalize_if_done("batch_3", now_s()));
  auto b = t.store->batch("alice", "batch_3");
  EXPECT_EQ(b->at("request_counts").at("completed").as_int64(), 1);
  EXPECT_EQ(b->at("request_counts").at("failed").as_int64(), 1);
  auto err = lines_of(*t.store->file_content("alice", std::string(b->at("error_file_id").as_string())));
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].at("custom_id").as_string(), "bad");
  EXPECT_EQ(err[0].at("error").at("code").as_string(), "x");
  EXPECT_EQ(err[0].at("response").at("status_code").as_int64(), 400);
  EXPECT_EQ(t.store->pending_events(10).size(), 1u);
  EXPECT_EQ(t.store->pending_events(10)[0].type, "batch.completed");
}

TEST(JobStore, CancelIsIdempotentAndAFinishedBatchCannotBeCancelled) {
  TempStore t;
  t.store->create_batch("alice", batch_obj("batch_4"), {{"a", "{}"}, {"b", "{}"}}, 0);
  auto running = t.store->claim("w", now_ms(), 1000);
  ASSERT_TRUE(running);
  std::string err;
  auto c = t.store->cancel_batch("alice", "batch_4", err);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->at("status").as_string(), "cancelling") << "a running line still finishes";
  EXPECT_FALSE(t.store->claim("w", now_ms(), 1000)) << "queued lines were dropped";
  t.store->complete(*running, Result{200, "{}", "r"});
  ASSERT_TRUE(t.store->finalize_if_done("batch_4", now_s()));
  auto again = t.store->cancel_batch("alice", "batch_4", err);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->at("status").as_string(), "cancelled");
  EXPECT_EQ(again->at("request_counts").at("completed").as_int64(), 1);
  EXPECT_FALSE(again->at("output_file_id").is_null()) << "a cancelled batch keeps the output it has";

  t.store->create_batch("alice", batch_obj("batch_5"), {{"a", "{}"}}, 0);
  auto it = t.store->claim("w", now_ms(), 1000);
  t.store->complete(*it, Result{200, "{}", "r"});
  t.store->finalize_if_done("batch_5", now_s());
  EXPECT_FALSE(t.store->cancel_batch("alice", "batch_5", err));
  EXPECT_NE(err.find("completed"), std::string::npos) << err;
}

TEST(JobStore, AnotherTenantSeesNothing) {
  TempStore t;
  t.store->create_batch("alice", batch_obj("batch_6"), {{"a", "{}"}}, 0);
  FileMeta f = t.store->add_file("alice", "in.jsonl", "batch", "data");
  EXPECT_FALSE(t.store->batch("bob", "batch_6"));
  EXPECT_FALSE(t.store->file("bob", f.id));
  EXPECT_FALSE(t.store->file_content("bob", f.id));
  EXPECT_FALSE(t.store->delete_file("bob", f.id));
  std::string err;
  EXPECT_FALSE(t.store->cancel_batch("bob", "batch_6", err));
  EXPECT_TRUE(err.empty());
  bool more = true;
  EXPECT_TRUE(t.store->list_batches("bob", "", 10, more).empty());
  EXPECT_EQ(t.store->list_batches("alice", "", 10, more).size(), 1u);
  EXPECT_TRUE(t.store->file_content("alice", f.id));
}

TEST(JobStore, ChatJobCompletesOnceAndCancelStopsIt) {
  TempStore t;
  t.store->create_chat_job("alice", json::object{{"id", "cj_1"}, {"status", "queued"}}, R"({"messages":[]})", 0);
  auto it = t.store->claim("w", now_ms(), 1000);
  ASSERT_TRUE(it);
  EXPECT_EQ(it->kind, Kind::chat);
  EXPECT_EQ(t.store->chat_job("alice", "cj_1")->at("status").as_string(), "in_progress");
  EXPECT_EQ(t.store->append_event("cj_1", R"({"c":1})"), 1);
  EXPECT_EQ(t.store->append_event("cj_1", R"({"c":2})"), 2);
  EXPECT_EQ(t.store->events_after("cj_1", 1, 10).size(), 1u);
  EXPECT_TRUE(t.store->complete(*it, Result{200, R"({"id":"chatcmpl-1"})", "r"}));
  auto job = t.store->chat_job("alice", "cj_1");
  EXPECT_EQ(job->at("status").as_string(), "completed");
  EXPECT_EQ(job->at("completion").at("id").as_string(), "chatcmpl-1");

  t.store->create_chat_job("alice", json::object{{"id", "cj_2"}, {"status", "queued"}}, "{}", 0);
  auto it2 = t.store->claim("w", now_ms(), 1000);
  ASSERT_TRUE(it2);
  EXPECT_EQ(t.store->cancel_chat_job("alice", "cj_2")->at("status").as_string(), "cancelled");
  EXPECT_EQ(t.store->heartbeat("w", now_ms() + 1000), std::vector<std::string>{"cj_2"});
  EXPECT_FALSE(t.store->complete(*it2, Result{200, "{}", "r"})) << "a cancelled job's result is dropped";
  EXPECT_EQ(t.store->chat_job("alice", "cj_2")->at("status").as_string(), "cancelled");
  EXPECT_FALSE(t.store->chat_job("bob", "cj_1"));
}

TEST(JobStore, AnExpiredBatchKeepsTheOutputItHas) {
  TempStore t;
  auto obj = batch_obj("batch_7");
  obj["expires_at"] = now_s() - 1;
  t.store->create_batch("alice", obj, {{"a", "{}"}, {"b", "{}"}, {"c", "{}"}}, 0);
  auto running = t.store->claim("w", now_ms(), 1000);
  ASSERT_TRUE(running);
  EXPECT_EQ(t.store->expire_batches(now_s()), 1);
  EXPECT_FALSE(t.store->claim("w", now_ms(), 1000)) << "queued lines of an expired batch are dropped";
  EXPECT_FALSE(t.store->finalize_if_done("batch_7", now_s())) << "the running line still finishes";
  t.store->complete(*running, Result{200, "{}", "r"});
  ASSERT_TRUE(t.store->finalize_if_done("batch_7", now_s()));
  auto b = t.store->batch("alice", "batch_7");
  EXPECT_EQ(b->at("status").as_string(), "expired");
  EXPECT_TRUE(b->at("expired_at").is_int64());
  EXPECT_EQ(b->at("request_counts").at("total").as_int64(), 3);
  EXPECT_EQ(b->at("request_counts").at("completed").as_int64(), 1);
  EXPECT_EQ(lines_of(*t.store->file_content("alice", std::string(b->at("output_file_id").as_string()))).size(), 1u);
  EXPECT_EQ(t.store->pending_events(10).back().type, "batch.expired");
}

TEST(JobStore, GivingUpIsAnErrorLineAndRetentionPurges) {
  TempStore t;
  t.store->create_batch("alice", batch_obj("batch_8"), {{"a", "{}"}}, 0);
  auto it = t.store->claim("w", now_ms(), 1000);
  ASSERT_TRUE(it);
  EXPECT_TRUE(t.store->give_up(*it, "claimed 3 times"));
  ASSERT_TRUE(t.store->finalize_if_done("batch_8", now_s()));
  auto b = t.store->batch("alice", "batch_8");
  auto err = lines_of(*t.store->file_content("alice", std::string(b->at("error_file_id").as_string())));
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].at("error").at("code").as_string(), "max_attempts_exceeded");
  EXPECT_EQ(err[0].at("response").at("status_code").as_int64(), 500);
  EXPECT_EQ(t.store->purge(now_s() - 3600), 0) << "nothing is older than an hour";
  EXPECT_GE(t.store->purge(now_s() + 1), 2) << "the batch and its error file";
  EXPECT_FALSE(t.store->batch("alice", "batch_8"));
}

}  // namespace
}  // namespace kuai::jobs

namespace kuai::jobs {
namespace {

// A retried chat job continues the event numbering: a reader that resumes from the last id it saw
// gets a restart event, then the whole new answer; ids only grow.
TEST(JobStore, ARetriedChatJobContinuesTheEventNumbering) {
  TempStore t;
  t.store->create_chat_job("alice", json::object{{"id", "cj_r"}, {"status", "queued"}}, "{}", 0);
  auto first = t.store->claim("w1", now_ms(), 100);
  ASSERT_TRUE(first);
  t.store->begin_run("cj_r", first->attempts);
  EXPECT_TRUE(t.store->events_after("cj_r", 0, 10).empty()) << "a first run writes no restart event";
  t.store->append_event("cj_r", R"({"c":"a"})");
  t.store->append_event("cj_r", R"({"c":"b"})");
  auto second = t.store->claim("w2", now_ms() + 1000, 100);  // w1's lease passed: w1 died
  ASSERT_TRUE(second);
  EXPECT_EQ(second->attempts, 2);
  t.store->begin_run("cj_r", second->attempts);
  EXPECT_EQ(t.store->append_event("cj_r", R"({"c":"A"})"), 4);
  auto resumed = t.store->events_after("cj_r", 2, 10);  // the reader had seen 1 and 2
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].first, 3);
  auto restart = json::parse(resumed[0].second).as_object();
  EXPECT_EQ(restart.at("object").as_string(), "chat.completion.job.restart");
  EXPECT_EQ(restart.at("attempt").as_int64(), 2);
  EXPECT_EQ(resumed[1].second, R"({"c":"A"})");
}

// The RabbitMQ path: the store keeps the record, the broker hands lines out. Published lines are not
// claimable from the store, still count as unfinished, and complete once.
TEST(JobStore, PublishedLinesAreTheBrokersAndCompleteOnce) {
  TempStore t;
  t.store->create_batch("alice", batch_obj("batch_p"), {{"a", "{}"}, {"b", "{}"}}, 7);
  auto todo = t.store->unpublished(10);
  ASSERT_EQ(todo.size(), 2u);
  EXPECT_EQ(todo[0].priority, 7);
  t.store->mark_published(todo);
  EXPECT_TRUE(t.store->unpublished(10).empty());
  EXPECT_FALSE(t.store->claim("w", now_ms(), 1000)) << "the broker, not the store, hands out published lines";
  EXPECT_EQ(t.store->counts().queued, 2);
  EXPECT_TRUE(t.store->started("batch_p", todo[0].line, "amqp-w", 1));
  EXPECT_EQ(t.store->counts().running, 1);
  EXPECT_FALSE(t.store->finalize_if_done("batch_p", now_s()));
  EXPECT_TRUE(t.store->complete(todo[0], Result{200, "{}", "r0"}));
  EXPECT_FALSE(t.store->complete(todo[0], Result{200, "{}", "r0-again"})) << "a redelivered line's second result";
  EXPECT_TRUE(t.store->give_up(todo[1], "dead-lettered"));
  EXPECT_TRUE(t.store->finalize_if_done("batch_p", now_s()));
  auto b = t.store->batch("alice", "batch_p");
  EXPECT_EQ(b->at("request_counts").at("completed").as_int64(), 1);
  EXPECT_EQ(b->at("request_counts").at("failed").as_int64(), 1);
  EXPECT_FALSE(t.store->started("batch_p", todo[0].line, "amqp-w", 2)) << "a finished line does not start again";
}

}  // namespace
}  // namespace kuai::jobs
