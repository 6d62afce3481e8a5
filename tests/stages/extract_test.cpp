// The extract stage: config checks and the no-model paths in process; the map/reduce end to end through
// `kuai serve` with a small `kuai fake-upstream` that condenses and a large one that echoes exactly
// what it received (--echo), extraction on vs off.
#include "stages/extract.h"

#include "api/error.h"
#include "pipeline/services.h"
#include "stages/two_model_gateway.h"
#include "text/estimate.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace kuai::stages::testing {
namespace {

std::unique_ptr<pipeline::Stage> build(const std::string& yaml, std::string& error) {
  pipeline::Services services;
  return make_extract_stage(YAML::Load(yaml), services, error);
}

TEST(ExtractConfig, ModelIsRequiredAndLimitsAreChecked) {
  std::string error;
  EXPECT_FALSE(build("{min_tokens: 100}", error));
  EXPECT_NE(error.find("stages.extract.model"), std::string::npos);
  EXPECT_TRUE(build("{enabled: false}", error));
  EXPECT_FALSE(build("{model: small, max_parallel: 0}", error));
  EXPECT_FALSE(build("{model: small, chunk_tokens: [1]}", error));
  auto ok = build("{model: small, min_tokens: 10, chunk_tokens: 64, max_parallel: 8}", error);
  ASSERT_TRUE(ok) << error;
  auto* stage = dynamic_cast<ExtractStage*>(ok.get());
  EXPECT_EQ(stage->config().max_parallel, 8);
  EXPECT_EQ(stage->config().chunk_tokens, 64);
}

pipeline::Verdict run(pipeline::Stage& stage, pipeline::Context& ctx) {
  boost::asio::io_context io;
  auto fut = boost::asio::co_spawn(io, stage.on_request(ctx), boost::asio::use_future);
  io.run();
  return fut.get();
}

pipeline::Context context(const std::string& user, boost::json::object raw_extra = {}) {
  pipeline::Context ctx;
  ctx.request.model = "large";
  api::Message m;
  m.role = "user";
  m.content = user;
  m.raw = {{"role", "user"}, {"content", user}};
  ctx.request.messages.push_back(m);
  ctx.request.raw = std::move(raw_extra);
  return ctx;
}

TEST(ExtractStage, SmallDocumentsFieldIsInlinedAndRemoved) {
  std::string error;
  auto stage = build("{model: small, min_tokens: 1000}", error);
  auto ctx = context("Who signed it?", {{"documents", boost::json::array{"The treaty was signed by Ann.",
                                                                         boost::json::object{{"title", "memo"}, {"text", "Bob agreed."}}}}});
  run(*stage, ctx);
  EXPECT_FALSE(ctx.request.raw.contains("documents"));
  EXPECT_EQ(ctx.request.messages[0].content, "[1]\nThe treaty was signed by Ann.\n\n[memo]\nBob agreed.\n\nWho signed it?");
  EXPECT_EQ(ctx.tokens_saved, 0);
}

TEST(ExtractStage, BadDocumentsFieldIsA400) {
  std::string error;
  auto stage = build("{model: small}", error);
  auto ctx = context("q", {{"documents", boost::json::array{42}}});
  try {
    run(*stage, ctx);
    FAIL() << "no error";
  } catch (const api::Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.param(), "documents");
  }
}

// A long report, English then Chinese, with one fact the question is about.
std::string long_document() {
  std::string doc;
  for (int p = 0; p < 12; ++p) {
    for (int s = 0; s < 6; ++s)
      doc += "In quarter " + std::to_string(p) + " the team reviewed item " + std::to_string(s) +
             " of the plan and found nothing unusual to report. ";
    doc += "\n\n";
    for (int s = 0; s < 4; ++s) doc += "第" + std::to_string(p) + "季度的第" + std::to_string(s) + "项检查没有发现问题。";
    doc += "\n\n";
  }
  return doc;
}

std::string echoed_user_content(const test::HttpResponse& r) {
  // The large fake echoes the JSON of the messages it received.
  auto msgs = boost::json::parse(answer_text(r)).as_array();
  return std::string(msgs.back().at("content").as_string());
}

TEST(ExtractStage, OnVsOffThroughFakeSmallAndLargeModels) {
  const std::string question = "Which quarter had a problem, if any?";
  const std::string message = long_document() + "\n\n" + question;
  const int64_t chunk_tokens = 150;
  for (bool enabled : {false, true}) {
    TwoModelGateway gw({"--answer-tokens", "8"}, {"--echo"},
                       "pipeline: [extract]\nstages:\n  extract:\n    enabled: " + std::string(enabled ? "true" : "false") +
                           "\n    model: small\n    min_tokens: 400\n    chunk_tokens: " + std::to_string(chunk_tokens) +
                           "\n    max_parallel: 4\n");
    auto r = gw.chat(message);
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string seen = echoed_user_content(r);
    const int64_t prompt_tokens =
        boost::json::parse(r.body).at("usage").at("prompt_tokens").to_number<int64_t>();
    if (!enabled) {
      EXPECT_EQ(seen, message);
      EXPECT_EQ(gw.small.model_requests(), 0);
      EXPECT_TRUE(r.header("x-kuai-extract").empty());
      continue;
    }
    // The question reaches the large model verbatim, at the end; the document does not.
    ASSERT_GE(seen.size(), question.size());
    EXPECT_EQ(seen.substr(seen.size() - question.size()), question);
    EXPECT_EQ(seen.find("found nothing unusual to report"), std::string::npos);
    const int64_t doc_tokens = text::estimate_tokens(long_document());
    const int64_t chunks = gw.small.model_requests();
    EXPECT_GE(chunks, doc_tokens / chunk_tokens);
    EXPECT_NE(r.header("x-kuai-extract").find("chunks=" + std::to_string(chunks)), std::string::npos) << r.header("x-kuai-extract");
    EXPECT_LT(prompt_tokens * 2, text::estimate_tokens(message)) << "large model input did not shrink";
    // Each chunk was condensed against the question: the small model saw it.
    auto last = gw.small.stats();
    auto small_body = boost::json::parse(last.at("last_body").as_string()).as_object();
    EXPECT_NE(boost::json::serialize(small_body.at("messages")).find("Which quarter had a problem"), std::string::npos);
    // Condensing is bounded and greedy at the remote model too (the settings are in the body it gets).
    ASSERT_TRUE(small_body.contains("max_tokens")) << boost::json::serialize(small_body);
    EXPECT_EQ(small_body.at("max_tokens").to_number<int64_t>(), 160);
    ASSERT_TRUE(small_body.contains("temperature"));
    EXPECT_EQ(small_body.at("temperature").to_number<double>(), 0.0);
  }
}

// The fan-out's model calls are the request's: they count against its tenant's tier (issue 17). A
// free tenant limited to one call at a time never has two condensing calls at the small model, while a
// tenant without a limit has max_parallel of them.
TEST(ExtractStage, FanOutRespectsTheTenantsTier) {
  const std::string message = long_document() + "\n\nWhich quarter had a problem, if any?";
  TwoModelGateway gw({"--answer-tokens", "8", "--ttft-ms", "150"}, {"--echo"},
                     "tenants:\n  k-free: {name: f, tier: free}\n  k-pro: {name: p, tier: pro}\n"
                     "tiers:\n  free: {max_concurrency: 1}\n  pro: {max_concurrency: 0}\n"
                     "stages:\n  extract: {model: small, min_tokens: 400, chunk_tokens: 150, max_parallel: 4}\n");
  boost::json::object body{{"model", "large"},
                           {"messages", boost::json::array{boost::json::object{{"role", "user"}, {"content", message}}}}};
  auto in_flight_max = [&](const std::string& key) {
    test::HttpClient(gw.small.port).post("/stats/reset", "");
    test::HttpClient c(gw.gateway->port, test::Ms(30000));
    auto r = c.post("/v1/chat/completions", boost::json::serialize(body), {{"Authorization", "Bearer " + key}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_GE(gw.small.model_requests(), 3) << "the document was not split into chunks";
    return gw.small.stats().at("model_in_flight_max").to_number<int64_t>();
  };
  EXPECT_EQ(in_flight_max("k-free"), 1);
  EXPECT_GT(in_flight_max("k-pro"), 1);
}

TEST(ExtractStage, DocumentsFieldAboveMinIsCondensedAndFailedChunksKeepTheirText) {
  std::string doc = long_document();
  boost::json::object extra{{"documents", boost::json::array{boost::json::object{{"title", "report"}, {"text", doc}}}}};
  {
    TwoModelGateway gw({"--answer-tokens", "6"}, {"--echo"},
                       "pipeline: [extract]\nstages: {extract: {model: small, min_tokens: 300, chunk_tokens: 200}}\n");
    auto r = gw.chat("Summarise the report in one line.", "large", false, extra);
    ASSERT_EQ(r.status, 200) << r.body;
    std::string seen = echoed_user_content(r);
    EXPECT_EQ(seen.rfind("[report]\n", 0), 0u) << seen.substr(0, 200);
    EXPECT_NE(seen.find("Summarise the report in one line."), std::string::npos);
    EXPECT_LT(seen.size() * 3, doc.size());
    EXPECT_EQ(gw.large.stats().at("last_body").as_string().find("\"documents\""), std::string::npos);
  }
  {
    TwoModelGateway gw({"--garbage"}, {"--echo"},
                       "pipeline: [extract]\nstages: {extract: {model: small, min_tokens: 300, chunk_tokens: 200}}\n");
    auto r = gw.chat("Summarise the report in one line.", "large", false, extra);
    ASSERT_EQ(r.status, 200) << r.body;
    std::string seen = echoed_user_content(r);
    // Fail open: every chunk kept as it was, in order.
    EXPECT_NE(seen.find(doc.substr(0, 200)), std::string::npos);
    EXPECT_GE(seen.size(), doc.size() - 8);
  }
}

}  // namespace
}  // namespace kuai::stages::testing
