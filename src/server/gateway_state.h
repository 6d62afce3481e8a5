// Internal to src/server: what the gateway's request handlers share. Built once by Gateway::create;
// read-only afterwards (the objects inside are thread-safe where noted in their headers).
#pragma once

#include "api/error.h"
#include "config/config.h"
#include "flows/library.h"
#include "flows/run_store.h"
#include "http/server.h"
#include "jobs/options.h"
#include "jobs/queue.h"
#include "jobs/store.h"
#include "jobs/webhooks.h"
#include "jobs/worker_pool.h"
#include "obs/metrics.h"
#include "pipeline/pipeline.h"
#include "server/dashboard.h"
#include "server/gateway.h"
#include "server/model_caller.h"
#include "server/request_metrics.h"
#include "server/tenants.h"
#include "upstream/dispatcher.h"

#include <atomic>
#include <memory>
#include <unordered_set>
#include <string>

namespace kuai::server {

struct Gateway::State {
  config::Config config;
  obs::Metrics metrics;
  std::unique_ptr<http::Server> server;  // first built, last destroyed: owns the io_context
  std::unique_ptr<upstream::Dispatcher> dispatcher;
  std::unique_ptr<DispatcherModelCaller> model_caller;  // services.models: stages call models through it
  std::unique_ptr<pipeline::Pipeline> pipeline;
  pipeline::Services services;
  std::unique_ptr<pipeline::TokenCounter> token_counter;  // services.tokens (wired by the app), may be null
  TenantTable tenants;
  std::unique_ptr<RequestMetrics> request_metrics;
  std::string fallback_model;  // server.fallback_model: serves requests naming an unknown model
  std::unordered_set<std::string> known_models;  // the dispatcher's public models (start-up)
  bool access_log = true;
  DashboardOptions dashboard;
  DashboardSessions dashboard_sessions;
  std::unique_ptr<RecentRequests> recent_requests;  // set when the dashboard is enabled
  std::atomic<bool> stopping{false};                 // a stop signal arrived: long streams end
  // Async jobs (jobs.*): absent when jobs.dir is empty (a `kuai worker` on RabbitMQ has no store).
  jobs::Options job_options;
  std::unique_ptr<jobs::Store> job_store;
  std::unique_ptr<jobs::Executor> job_executor;
  std::unique_ptr<jobs::Queue> workers;  // the embedded queue's WorkerPool or RabbitMQ (jobs.queue)
  std::unique_ptr<jobs::WebhookSender> webhooks;
  flows::FlowLibrary flows;    // flows.<name> and flows.dir, validated at start-up
  flows::RunStore flow_runs;   // finished runs for GET /v1/flows/runs/{id}
};

using State = Gateway::State;

// chat_flow.cpp
boost::asio::awaitable<int> handle_chat(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                        http::ResponseWriter& w);
boost::asio::awaitable<int> handle_completions(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                        http::ResponseWriter& w);
boost::asio::awaitable<void> handle_chat_websocket(State& s, http::Request& req, http::WebSocket& ws);
// One chat request (a legacy completion when `legacy`) run to its end without a client (batch lines,
// background jobs): the response body JSON, or api::Error as the live handler would answer. With
// `events` the request streams, each chunk going to `events`; the body is then the assembled completion.
boost::asio::awaitable<std::string> run_chat_offline(State& s, pipeline::Context& ctx, bool legacy,
                                                     jobs::EventSink* events);

// jobs_routes.cpp (404 while jobs.dir is empty)
boost::asio::awaitable<int> handle_background_chat(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                                   http::ResponseWriter& w);
boost::asio::awaitable<int> handle_files(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                         http::ResponseWriter& w);
boost::asio::awaitable<int> handle_batches(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                           http::ResponseWriter& w);
// GET {prefix}/{id}, …/events, POST …/cancel, GET …/webhook_deliveries: background chat jobs under
// /v1/chat/jobs, background flow runs under /v1/flows/jobs (one store, one shape).
boost::asio::awaitable<int> handle_chat_jobs(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                             http::ResponseWriter& w, std::string_view prefix = "/v1/chat/jobs");
// POST /v1/flows/{name}/runs (or /v1/flows/runs) with background: true: 202 with a flow.run.job.
// `request` is the validated run request (inputs, inline flow), without `background`.
boost::asio::awaitable<int> handle_background_flow(State& s, const pipeline::Tenant& tenant, const std::string& flow_name,
                                                   boost::json::object request, http::ResponseWriter& w);
// job_executor.cpp: runs job lines through the pipeline and dispatcher (jobs::Executor).
std::unique_ptr<jobs::Executor> make_job_executor(State& s);

// endpoints.cpp
boost::asio::awaitable<int> handle_embeddings(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                        http::ResponseWriter& w);
boost::asio::awaitable<int> handle_models(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                        http::ResponseWriter& w);
boost::asio::awaitable<int> handle_admin(State& s, http::Request& req, http::ResponseWriter& w);
// METHOD /v1/<stage>/<path> for a tenant (POST /v1/cache/feedback): the stage's on_client.
boost::asio::awaitable<int> handle_stage_client(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                                http::ResponseWriter& w);

// dashboard.cpp: /dashboard and everything under it.
boost::asio::awaitable<int> handle_dashboard(State& s, http::Request& req, http::ResponseWriter& w);
// flow_endpoints.cpp: a background flow run's job (`body` as handle_background_flow stored it): the run
// object, its step events sent to `events` (a cancelled job stops the run's calls).
boost::asio::awaitable<std::string> run_flow_job(State& s, const pipeline::Tenant& tenant, const std::string& body,
                                                 jobs::EventSink* events);
// flow_endpoints.cpp: GET /v1/flows, POST /v1/flows/{name}/runs, POST /v1/flows/runs, GET /v1/flows/runs/{id}.
boost::asio::awaitable<int> handle_flows(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                         http::ResponseWriter& w);

// Helpers shared by the handlers (endpoints.cpp).
// Throws 415 unless the Content-Type is JSON (a missing Content-Type is accepted).
void require_json(const http::Request& req);
// Throws 405 unless the method is `method`.
void require_method(const http::Request& req, std::string_view method);
// Adds what an error tells the client beyond its body: Retry-After (whole seconds, rounded up) and
// retry-after-ms when the error carries a delay (an upstream's 429/503, a tier's queue).
void add_error_headers(http::Headers& headers, const api::Error& e);
// The model to dispatch: `model` when known, else server.fallback_model when set, else `model`
// (the dispatcher then answers 404).
const std::string& dispatch_model(const State& s, const std::string& model);

}  // namespace kuai::server
