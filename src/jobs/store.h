// The job store and embedded queue: one SQLite file (WAL) holding files, batches, background chat
// jobs, their lines (the queue), chat chunks (for resumable event streams) and webhook events.
//
// Queue: each unit of work is a line (job id, line number). A worker claims a line with a lease
// (owner, lease_until); the owner's heartbeat extends its leases; a line whose lease passed (its
// worker died) is claimable again: at-least-once execution. Completion is keyed by (job, line): only
// the first result of a line is stored (exactly-once from the client's view). A job reaching a final
// state records its webhook event in the same transaction (no event lost on a crash).
//
// Tenancy: every client-facing call takes the tenant; another tenant's id is "not found".
// Times: API fields in unix seconds; leases and queue latency in unix milliseconds.
// Thread-safety: every method locks one mutex; calls are short (one transaction) except
// add_file/content of large files and batch finalisation (one pass over the batch's lines).
#pragma once

#include "jobs/sqlite.h"

#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kuai::jobs {

enum class Kind { batch_line = 0, chat = 1 };

// A claimed line.
struct Item {
  std::string job;
  int64_t line = 0;
  Kind kind = Kind::batch_line;
  std::string tenant;
  std::string custom_id;
  std::string endpoint;  // "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings"
  std::string body;      // the request JSON
  int attempts = 0;      // claims so far, this one included
  int64_t enqueued_ms = 0;
  int priority = 0;      // the tenant's tier priority (set by Store::unpublished only)
};

// What running a line produced: the HTTP status and body a live request would have got.
struct Result {
  int status_code = 200;
  std::string body;
  std::string request_id;
};

struct FileMeta {
  std::string id, tenant, filename, purpose;
  int64_t bytes = 0, created_at = 0;
  boost::json::object to_json() const;
};

// A validated batch input line.
struct BatchLine {
  std::string custom_id;
  std::string body;
};

// A final state reached: what webhooks announce.
struct JobEvent {
  std::string id;      // the event id (webhook-id: the same on every retry)
  std::string tenant;
  std::string type;    // batch.completed | batch.failed | … | chat.job.completed | …
  std::string job_id;
  int64_t created_at = 0;
  std::string request_url;  // the job's metadata.webhook_url, when it gave one
};

// One webhook event to one endpoint.
struct Delivery {
  JobEvent event;
  std::string endpoint;  // the URL
  int attempts = 0;      // tries so far
};

struct QueueCounts {
  int64_t queued = 0, running = 0;
};

class Store {
 public:
  // Opens or creates `<dir>/jobs.db`; an error message when the directory or file cannot be used.
  static std::variant<std::unique_ptr<Store>, std::string> open(const std::string& dir);

  // Files.
  FileMeta add_file(const std::string& tenant, const std::string& filename, const std::string& purpose,
                    std::string_view data);
  std::optional<FileMeta> file(const std::string& tenant, const std::string& id);
  std::optional<std::string> file_content(const std::string& tenant, const std::string& id);
  // Newest first; `after` is a file id (cursor); `purpose` empty = all.
  std::vector<FileMeta> list_files(const std::string& tenant, const std::string& purpose, const std::string& after,
                                   int limit, bool& has_more);
  bool delete_file(const std::string& tenant, const std::string& id);

  // Batches. `obj` is the batch object (id, status, …). Lines are queued with `priority`.
  void create_batch(const std::string& tenant, const boost::json::object& obj, const std::vector<BatchLine>& lines,
                    int priority);
  // A batch that failed validation (no lines).
  void create_failed_batch(const std::string& tenant, const boost::json::object& obj);
  // The batch with live request_counts; nullopt when unknown for this tenant.
  std::optional<boost::json::object> batch(const std::string& tenant, const std::string& id);
  std::vector<boost::json::object> list_batches(const std::string& tenant, const std::string& after, int limit,
                                                bool& has_more);
  // in_progress → cancelling (queued lines dropped; running ones finish, then the batch is finalised
  // as cancelled). Idempotent on cancelling/cancelled. A batch in another final state: the error
  // message in `error`, nullopt returned; unknown id: nullopt with `error` empty.
  std::optional<boost::json::object> cancel_batch(const std::string& tenant, const std::string& id,
                                                  std::string& error);

  // Background jobs of one request: a chat completion (`endpoint` /v1/chat/completions) or a flow run
  // (/v1/flows/runs, job object "flow.run.job": its result goes under "run", not "completion").
  // `obj` is the job object (id, status queued, …); `body` the request.
  void create_chat_job(const std::string& tenant, const boost::json::object& obj, const std::string& body,
                       int priority, const std::string& endpoint = "/v1/chat/completions");
  std::optional<boost::json::object> chat_job(const std::string& tenant, const std::string& id);
  // queued/in_progress → cancelled (the line is dropped; a running worker sees it at its next chunk or
  // heartbeat). Final jobs are returned as they are.
  std::optional<boost::json::object> cancel_chat_job(const std::string& tenant, const std::string& id);
  // Chunks of a chat job, numbered from 1 across all its runs: a retried run never restarts the
  // numbering, so a reader resuming by Last-Event-ID after a worker crash misses nothing. Returns the
  // chunk's number. Any process on the store may append (one statement picks the next number).
  int64_t append_event(const std::string& job, std::string_view data);
  // A run of a chat job starts (`attempt` counts claims). When an earlier run left chunks, an event
  // {"object":"chat.completion.job.restart","attempt":N,…} follows them: a reader drops what it
  // assembled so far; the chunks after it are the whole new answer.
  void begin_run(const std::string& job, int attempt);
  std::vector<std::pair<int64_t, std::string>> events_after(const std::string& job, int64_t after, int limit);

  // Queue.
  std::optional<Item> claim(const std::string& owner, int64_t now_ms, int64_t lease_ms);
  // Up to `max` lines in one transaction (a worker pool keeps the extra ones for its next free workers).
  std::vector<Item> claim_many(const std::string& owner, int64_t now_ms, int64_t lease_ms, int max);
  // Extends every lease `owner` holds; returns the jobs among them that were cancelled meanwhile.
  std::vector<std::string> heartbeat(const std::string& owner, int64_t lease_until_ms);
  // Stores the first result of (job, line); false when the line was already completed or cancelled.
  // For a chat job the job becomes completed/failed (and its event is recorded) in the same transaction.
  bool complete(const Item& item, const Result& result);
  // Several lines' results in one transaction (group commit); per line, what complete() returns.
  std::vector<bool> complete_many(std::span<const std::pair<Item, Result>> done);
  // A line that ran out of attempts: completed with a 500 error naming the cause.
  bool give_up(const Item& item, const std::string& why);
  // Lines this owner holds go back to the queue now (graceful stop).
  void release(const std::string& owner);

  // RabbitMQ (jobs.queue amqp://…): the store stays the record of jobs and results, the broker hands
  // out the lines. Lines not yet in the broker (state queued), oldest first within a priority; after
  // the broker confirmed them, `mark_published` moves them to "published" (a crash in between only
  // publishes them again: at-least-once, completion stays exactly-once).
  std::vector<Item> unpublished(int limit);
  void mark_published(const std::vector<Item>& items);
  // A worker (through the broker) started a line: it counts as running (no lease: the broker
  // redelivers it when the worker dies); a chat job becomes in_progress. False when the line is
  // finished or cancelled.
  bool started(const std::string& job, int64_t line, const std::string& owner, int attempt);
  // Writes the output and error files and the final state of a batch with no line left to run;
  // false when lines remain or the batch is already final.
  bool finalize_if_done(const std::string& batch_id, int64_t now_s);
  // Batches whose lines are all done but are not final (a crash between the last line and
  // finalisation); and in_progress batches past expires_at, whose queued lines are dropped
  // (they finish as `expired` with the output they have).
  std::vector<std::string> batches_to_finalize();
  int expire_batches(int64_t now_s);
  // Deletes jobs, lines, events and files finished (or created, for files) before `cutoff_s`.
  int purge(int64_t cutoff_s);
  QueueCounts counts();

  // Webhook events recorded by final states, oldest first; `mark_event_sent` retires one.
  std::vector<JobEvent> pending_events(int limit);
  void mark_event_sent(const std::string& event_id);

  // Webhook deliveries (store_webhooks.cpp). An event becomes one delivery per endpoint that takes it
  // (`endpoints_for`), in the transaction that retires the event. A delivery is pending until a 2xx
  // (delivered), a 410 (its endpoint is disabled), a refusal (SSRF guard) or its horizon (failed).
  void fan_out_events(const std::function<std::vector<std::string>(const JobEvent&)>& endpoints_for);
  std::vector<Delivery> due_deliveries(int64_t now_ms, int limit);
  // After a try: `status` pending (then retried at next_ms), delivered, failed, refused or disabled.
  void record_delivery(const Delivery& d, const std::string& status, int64_t next_ms, int http_status,
                       const std::string& error);
  void disable_endpoint(const std::string& url);
  bool endpoint_disabled(const std::string& url);
  // The delivery log of one job: [{event_id, type, url, status, attempts, last_status, last_error}].
  std::vector<boost::json::object> deliveries_of(const std::string& tenant, const std::string& job);

 private:
  explicit Store(const std::string& path);
  // `job` is the job's object: its metadata.webhook_url, if any, also gets the event.
  void record_event(const std::string& tenant, const std::string& type, const boost::json::object& job);
  void add_live_counts(const std::string& id, boost::json::object& obj);
  // claim / complete of one line inside the caller's lock and transaction.
  std::optional<Item> claim_locked(const std::string& owner, int64_t now_ms, int64_t lease_ms);
  bool complete_locked(const Item& item, const Result& result);

  std::mutex mu_;
  Db db_;
};

// Unix time now, seconds / milliseconds.
int64_t now_s();
int64_t now_ms();

}  // namespace kuai::jobs
