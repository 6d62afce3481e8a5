// The semantic cache's model verifier: how a reply is read, and through `kuai serve` with a scripted
// fake model as the verifier: "yes" serves a grey-zone candidate (refused only by the content guard),
// "no" leaves it refused, a verdict is remembered per pair, a verifier slower than the budget is a
// miss whose late verdict is still remembered, and a bad setting is a one-line config error.
#include "stages/cache_verifier.h"
#include "stages/semantic_cache.h"
#include "stages/two_model_gateway.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace kuai::stages {
namespace {

using testing::answer_text;
using testing::TwoModelGateway;

TEST(CacheVerifier, ReadsYesAndNoWhateverTheirCaseAndPunctuation) {
  EXPECT_EQ(CacheVerifier::parse("yes"), VerifyOutcome::Yes);
  EXPECT_EQ(CacheVerifier::parse(" Yes."), VerifyOutcome::Yes);
  EXPECT_EQ(CacheVerifier::parse("**NO**, they differ"), VerifyOutcome::No);
  EXPECT_EQ(CacheVerifier::parse("yesterday"), VerifyOutcome::Unclear);
  EXPECT_EQ(CacheVerifier::parse("maybe"), VerifyOutcome::Unclear);
  EXPECT_EQ(CacheVerifier::parse(""), VerifyOutcome::Unclear);
}

TEST(CacheVerifier, RequestHoldsBothQuestionsAndAsksForOneWord) {
  const api::ChatRequest r = CacheVerifier::request("small", "cached question", "new question");
  EXPECT_EQ(r.model, "small");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_NE(r.messages[0].content.find("yes or no"), std::string::npos);
  EXPECT_EQ(r.messages[1].content, "Question 1: cached question\nQuestion 2: new question");
  EXPECT_EQ(r.max_tokens.value_or(0), 3);
}

TEST(CacheVerifier, BadSettingsAreErrorsNamingTheKey) {
  CacheStageConfig c, d;
  auto err = read_cache_config(YAML::Load("{verifier_budget_ms: 0}"), c);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("verifier_budget_ms"), std::string::npos) << *err;
  err = read_cache_config(YAML::Load("{verifier_min_similarity: 1.5}"), d);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("verifier_min_similarity"), std::string::npos) << *err;
}

std::string script_file(const std::string& text) {
  const std::string path = ::testing::TempDir() + "kuai_verifier_script_" + std::to_string(::getpid()) + "_" +
                           std::to_string(std::hash<std::string>{}(text)) + ".txt";
  std::ofstream(path) << text;
  return path;
}

// Two queries the hash embedder puts close (cosine ~0.5) and the content guard refuses ("penalty" /
// "fine", "late" / "missing the deadline"): a paraphrase only a model can confirm.
constexpr const char* kTaxes = "What's the penalty for filing taxes late?";
constexpr const char* kTaxesParaphrase = "fine for missing the tax filing deadline";

TEST(CacheVerifierGateway, YesServesTheGreyCandidateNoLeavesItRefused) {
  const std::string script = script_file("fine for missing the tax filing deadline => yes\nrefreeze thawed bread => No.\n");
  TwoModelGateway gw({"--script", script}, {"--answer-tokens", "6"}, "stages:\n  cache: {verifier_model: small}\n");
  auto first = gw.chat(kTaxes);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("x-kuai-cache"), "miss");

  auto second = gw.chat(kTaxesParaphrase);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.header("x-kuai-cache"), "hit");
  EXPECT_EQ(second.header("x-kuai-cache-verifier"), "yes");
  EXPECT_EQ(answer_text(second), answer_text(first));
  EXPECT_EQ(gw.small.model_requests(), 1);

  auto again = gw.chat(kTaxesParaphrase);
  EXPECT_EQ(again.header("x-kuai-cache"), "hit");
  EXPECT_EQ(again.header("x-kuai-cache-verifier"), "yes; remembered");
  EXPECT_EQ(gw.small.model_requests(), 1) << "the pair's verdict is remembered";

  ASSERT_EQ(gw.chat("Is it okay to refreeze thawed meat?").status, 200);
  auto bread = gw.chat("Is it okay to refreeze thawed bread?");
  ASSERT_EQ(bread.status, 200) << bread.body;
  EXPECT_EQ(bread.header("x-kuai-cache"), "refused");
  EXPECT_EQ(bread.header("x-kuai-cache-guard"), "content");
  EXPECT_EQ(bread.header("x-kuai-cache-verifier"), "no");
  EXPECT_EQ(gw.small.model_requests(), 2);
}

TEST(CacheVerifierGateway, AVerifierSlowerThanTheBudgetIsAMissAndItsLateVerdictIsRemembered) {
  const std::string script = script_file("fine for missing the tax filing deadline => yes\n");
  // The large model fails the paraphrase, so its miss stores nothing and the pair is looked up again.
  const std::string large_script = script_file("fine for missing the tax filing deadline => !500 unavailable\n");
  TwoModelGateway gw({"--script", script, "--ttft-ms", "4000"}, {"--script", large_script, "--answer-tokens", "6"},
                     "stages:\n  cache: {verifier_model: small, verifier_budget_ms: 100}\n");
  auto first = gw.chat(kTaxes);
  ASSERT_EQ(first.status, 200) << first.body;
  const auto t0 = std::chrono::steady_clock::now();
  auto late = gw.chat(kTaxesParaphrase);
  const double waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(late.status, 200) << "the large model was scripted to fail this one";
  EXPECT_LT(waited_s, 3.0) << "the lookup waited past its budget for the verifier (4 s away)";
  std::this_thread::sleep_for(std::chrono::milliseconds(5500) - (std::chrono::steady_clock::now() - t0));  // the verdict arrives
  auto later = gw.chat(kTaxesParaphrase);
  ASSERT_EQ(later.status, 200) << later.body;
  EXPECT_EQ(later.header("x-kuai-cache"), "hit");
  EXPECT_EQ(later.header("x-kuai-cache-verifier"), "yes; remembered");
  EXPECT_EQ(answer_text(later), answer_text(first));
  EXPECT_EQ(gw.small.model_requests(), 1);
}

TEST(CacheVerifierGateway, LookupsOfAPairWhoseCallIsUnderWayShareIt) {
  const std::string script = script_file("fine for missing the tax filing deadline => yes\n");
  TwoModelGateway gw({"--script", script, "--ttft-ms", "800"}, {"--answer-tokens", "6"},
                     "stages:\n  cache: {verifier_model: small, verifier_budget_ms: 5000}\n");
  auto first = gw.chat(kTaxes);
  ASSERT_EQ(first.status, 200) << first.body;
  std::vector<test::HttpResponse> replies(4);
  std::vector<std::thread> clients;
  for (auto& r : replies) clients.emplace_back([&gw, &r] { r = gw.chat(kTaxesParaphrase); });
  for (auto& t : clients) t.join();
  for (const auto& r : replies) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-kuai-cache"), "hit");
    EXPECT_EQ(answer_text(r), answer_text(first));
  }
  EXPECT_EQ(gw.small.model_requests(), 1) << "four lookups of one pair at once: one verifier call";
}

TEST(CacheVerifierGateway, ExplainSaysWhenAVerifierWouldDecide) {
  auto explain = [](const std::string& a, const std::string& b) {
    return test::run_shell(test::kuai_bin() + " cache explain '" + a + "' '" + b + "'");
  };
  const auto grey = explain("What is the penalty for filing taxes late?", kTaxesParaphrase);
  ASSERT_EQ(grey.code, 0) << grey.out;
  EXPECT_NE(grey.out.find("grey zone"), std::string::npos) << grey.out;
  const auto negation = explain("Is it okay to refreeze thawed meat?", "Is it not okay to refreeze thawed meat?");
  ASSERT_EQ(negation.code, 0) << negation.out;
  EXPECT_NE(negation.out.find("refused by negation"), std::string::npos) << negation.out;
  EXPECT_EQ(negation.out.find("grey zone"), std::string::npos) << "a hard guard's refusal is final";
}

TEST(CacheVerifierGateway, AnUnknownVerifierModelStopsTheGatewayWithTheKeyNamed) {
  test::ChildProcess bad(test::kuai_bin(), {"serve", "--port", "0", "--upstream", "http://127.0.0.1:9", "--set",
                                            "stages.cache.verifier_model=nope"});
  auto rc = bad.wait_exit(test::Ms(10000));
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 0);
  EXPECT_NE(bad.output().find("verifier_model 'nope'"), std::string::npos) << bad.output();
}

}  // namespace
}  // namespace kuai::stages
