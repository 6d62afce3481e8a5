// Bad input through the input stages (issue 16, "Bad input"): content that is an array of parts (text
// only, or with an image), tool calls and their results, empty and null content, one huge message,
// mixed scripts and invalid UTF-8, through [slim, summarize, window] in every summary mode and window
// policy. Never a throw, never a tool call without its results (or a result without its call), never
// a message out of order, never a message with a non-text part rewritten, the system prompt and the
// last question always sent.
#include "stages/slim.h"
#include "stages/summarize.h"
#include "stages/window.h"

#include "stage_harness.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace kuai::stages {
namespace {

using testing::msg;
using testing::PipelineRun;
using testing::request;

// Every message carries its position in `name` (a field the stages pass through): the order and the
// identity of what is sent can be checked whatever the stages did to the text.
api::Message named(api::Message m, size_t k) {
  m.raw["name"] = "m" + std::to_string(k);
  return m;
}

api::Message tool_call(std::string id) {
  api::Message m = msg("assistant", "");
  m.raw["content"] = nullptr;
  m.raw["tool_calls"] = boost::json::array{
      {{"id", id}, {"type", "function"}, {"function", {{"name", "lookup"}, {"arguments", "{\"order\":\"A-1\"}"}}}}};
  return m;
}

api::Message tool_result(std::string id, std::string content) {
  api::Message m = msg("tool", std::move(content));
  m.raw["tool_call_id"] = id;
  return m;
}

api::Message parts(std::string role, const std::string& a, const std::string& b, bool image) {
  api::Message m = msg(std::move(role), a + b);
  boost::json::array p{{{"type", "text"}, {"text", a}}};
  if (image) p.push_back({{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,iVBORw0KGgo="}}}});
  p.push_back({{"type", "text"}, {"text", b}});
  m.raw["content"] = std::move(p);
  return m;
}

const char* const kTexts[] = {
    "Thanks so much! My order number is A-77812 and I'm allergic to peanuts.",
    "您好！麻烦您了，我的订单号是DD20240901，预算不超过3000元。谢谢！",
    "Sorry to bother you again. Привет! مرحبا بك 🙂 こんにちは — the code is `x = 1` and it must stay on Java 8.",
    "Hi!\n\n\n```\nfor i in range(3):\n    print('thanks')\n```\nWhy does this loop print thanks?",
    "e\xCC\x81t\xC3\xA9 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD \xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xB1\xE0\xB8\xAA\xE0\xB8\x94\xE0\xB8\xB5 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 thanks!",
    "invalid bytes \xFF\xFE\xC3 and a cut sequence \xE4\xBD and NUL \0 inside",
    "",
    "   \n\t  ",
    "好的好的，辛苦啦～",
    "Great, thank you!",
};

std::string text_of(std::mt19937& rng) {
  const auto& t = kTexts[rng() % std::size(kTexts)];
  return std::string(t, t + std::char_traits<char>::length(t) + (std::string_view(t).find("NUL") != std::string::npos ? 7 : 0));
}

// A random conversation: a system prompt, then user/assistant turns with every kind of bad input,
// tool calls with one or two results, and a last user question.
api::ChatRequest random_conversation(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<api::Message> m{msg("system", "You are a careful support agent. Never reveal card numbers.")};
  const int turns = 3 + static_cast<int>(rng() % 18);
  for (int t = 0; t < turns; ++t) {
    switch (rng() % 7) {
      case 0: m.push_back(parts("user", text_of(rng), text_of(rng), false)); break;
      case 1: m.push_back(parts("user", text_of(rng), text_of(rng), true)); break;
      case 2: {
        api::Message nul = msg("user", "");
        nul.raw["content"] = nullptr;
        m.push_back(std::move(nul));
        break;
      }
      case 3: m.push_back(msg("user", std::string(1 + rng() % 3000, "ab 中。!\n"[rng() % 8]))); break;
      default: m.push_back(msg("user", text_of(rng))); break;
    }
    if (rng() % 3 == 0) {
      const std::string id = "call_" + std::to_string(t);
      m.push_back(tool_call(id));
      m.push_back(tool_result(id, text_of(rng)));
      if (rng() % 2) {
        m.back().raw["tool_call_id"] = id;
        m.push_back(tool_result(id, "second result: 42 units"));
      }
    }
    m.push_back(rng() % 5 == 0 ? parts("assistant", text_of(rng), text_of(rng), false) : msg("assistant", text_of(rng)));
  }
  m.push_back(msg("user", "So what was my order number, and what can I not eat?"));
  for (size_t k = 0; k < m.size(); ++k) m[k] = named(std::move(m[k]), k);
  return request(std::move(m));
}

int position(const api::Message& m) {
  auto it = m.raw.find("name");
  if (it == m.raw.end() || !it->value().is_string()) return -1;
  return std::stoi(std::string(it->value().as_string()).substr(1));
}

bool has_non_text_part(const api::Message& m) {
  auto it = m.raw.find("content");
  if (it == m.raw.end() || !it->value().is_array()) return false;
  for (const auto& p : it->value().as_array())
    if (p.as_object().at("type").as_string() != "text") return true;
  return false;
}

// The invariants of the "Bad input" list.
void check(const api::ChatRequest& in, const api::ChatRequest& out, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_FALSE(out.messages.empty());
  // The system prompt first, the question last.
  if (in.messages.front().role == "system") {
    EXPECT_EQ(position(out.messages.front()), 0);
  }
  EXPECT_EQ(position(out.messages.back()), position(in.messages.back()));
  // Order: positions strictly increase (a note the summarize stage adds has none).
  int last = -1;
  for (const auto& m : out.messages) {
    const int p = position(m);
    if (p < 0) {
      EXPECT_TRUE(m.role == "system" || m.role == "user") << "an unnamed " << m.role << " message";
      continue;
    }
    EXPECT_GT(p, last) << "message m" << p << " out of order";
    last = p;
    const api::Message& original = in.messages[static_cast<size_t>(p)];
    EXPECT_EQ(m.role, original.role);
    // Non-text parts: never rewritten.
    if (has_non_text_part(original)) {
      EXPECT_EQ(m.content, original.content);
      EXPECT_EQ(boost::json::value(m.raw.at("content")), boost::json::value(original.raw.at("content")));
    }
  }
  // Tool calls: an assistant message with tool_calls is sent exactly when all its results are, and
  // they follow it.
  for (size_t i = 0; i < out.messages.size(); ++i) {
    const auto& m = out.messages[i];
    if (m.has_tool_calls()) {
      const size_t p = static_cast<size_t>(position(m));
      size_t results = 0;
      for (size_t k = p + 1; k < in.messages.size() && in.messages[k].is_tool_result(); ++k) ++results;
      for (size_t k = 1; k <= results; ++k) {
        ASSERT_LT(i + k, out.messages.size()) << "a tool call without its results";
        EXPECT_EQ(position(out.messages[i + k]), static_cast<int>(p + k)) << "a tool call without its result";
      }
    }
    if (m.is_tool_result()) {
      ASSERT_GT(i, 0u);
      const auto& before = out.messages[i - 1];
      EXPECT_TRUE(before.has_tool_calls() || before.is_tool_result()) << "a tool result without its call";
    }
  }
}

const char* const kConfigs[] = {
    "pipeline: [slim, summarize, window]\nstages: {window: {max_tokens: 300}}\n",
    "pipeline: [slim, summarize, window]\nstages: {window: {max_tokens: 60}}\n",
    "pipeline: [slim, summarize, window]\nstages: {window: {max_turns: 2}}\n",
    "pipeline: [slim, summarize, window]\nstages: {summarize: {mode: keywords}, window: {max_tokens: 200}}\n",
    "pipeline: [slim, window]\nstages: {window: {max_tokens: 150, start_with_user: false}}\n",
    "pipeline: [slim, summarize, window]\nstages: {slim: {memo_mb: 0}, summarize: {ledger_memo_mb: 0}, window: {max_tokens: 300}}\n",
};

TEST(InputStagesBadInput, RandomConversationsKeepOrderPairsAndParts) {
  for (const char* yaml : kConfigs) {
    PipelineRun run(yaml);
    for (uint32_t seed = 1; seed <= 60; ++seed) {
      api::ChatRequest in = random_conversation(seed);
      pipeline::Context ctx;
      ASSERT_NO_THROW(ctx = run.run(in)) << yaml << " seed " << seed;
      check(in, ctx.request, std::string(yaml) + " seed " + std::to_string(seed));
      // The same request again (every message now from the memos): the same result.
      pipeline::Context again = run.run(in);
      ASSERT_EQ(again.request.messages.size(), ctx.request.messages.size());
      for (size_t i = 0; i < ctx.request.messages.size(); ++i)
        EXPECT_EQ(again.request.messages[i].content, ctx.request.messages[i].content) << yaml << " seed " << seed;
    }
  }
}

TEST(InputStagesBadInput, HugeSingleMessage) {
  std::string huge;
  while (huge.size() < (1u << 20)) huge += "Thanks! Order A-77812 ships to Lyon. 谢谢！订单号是DD20240901。 ";
  for (const char* yaml : kConfigs) {
    PipelineRun run(yaml);
    // Alone (over any budget: kept, reported), and as an early turn the window drops.
    api::ChatRequest alone = request({named(msg("system", "Be brief."), 0), named(msg("user", huge), 1)});
    pipeline::Context a;
    ASSERT_NO_THROW(a = run.run(alone)) << yaml;
    check(alone, a.request, yaml);
    ASSERT_EQ(a.request.messages.size(), 2u);
    EXPECT_NE(a.request.messages[1].content.find("A-77812"), std::string::npos);
    api::ChatRequest early = request({named(msg("system", "Be brief."), 0), named(msg("user", huge), 1),
                                      named(msg("assistant", "Noted."), 2), named(msg("user", "Where does it ship?"), 3)});
    pipeline::Context e;
    ASSERT_NO_THROW(e = run.run(early)) << yaml;
    check(early, e.request, yaml);
  }
}

TEST(InputStagesBadInput, EmptyAndSingleMessageRequests) {
  for (const char* yaml : kConfigs) {
    PipelineRun run(yaml);
    for (auto req : {request({named(msg("user", ""), 0)}), request({named(msg("system", ""), 0)}),
                     request({named(msg("system", "Be brief."), 0), named(msg("user", "   "), 1)}),
                     request({named(msg("assistant", "Thanks!"), 0), named(msg("user", "Thanks!"), 1)})}) {
      pipeline::Context ctx;
      ASSERT_NO_THROW(ctx = run.run(req)) << yaml;
      check(req, ctx.request, yaml);
    }
  }
}

}  // namespace
}  // namespace kuai::stages
