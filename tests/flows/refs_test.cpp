#include "flows/refs.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace kuai::flows {
namespace {

namespace json = boost::json;

TEST(FlowRefs, RendersInputsStepFieldsAndItems) {
  auto t = parse_template("Q: ${inputs.q} / ${steps.s.output.name} / ${steps.s.output.list.1} / ${item}!");
  ASSERT_TRUE(std::holds_alternative<Template>(t)) << std::get<std::string>(t);
  json::value q = "why?";
  json::value s = json::parse(R"({"name": "kuai", "list": [1, {"a": 2}]})");
  json::value item = "it";
  std::string out = render(std::get<Template>(t), [&](const Ref& r) -> const json::value* {
    if (r.kind == Ref::Kind::input) return walk(q, r.path);
    if (r.kind == Ref::Kind::item) return walk(item, r.path);
    return walk(s, r.path);
  });
  EXPECT_EQ(out, R"(Q: why? / kuai / {"a":2} / it!)");
}

TEST(FlowRefs, MissingFieldsRenderNothingAndBadRefsAreErrors) {
  json::value s = json::parse(R"({"a": [1]})");
  EXPECT_EQ(walk(s, {"b"}), nullptr);
  EXPECT_EQ(walk(s, {"a", "3"}), nullptr);
  EXPECT_EQ(walk(s, {"a", "x"}), nullptr);
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_template("${steps.x}")));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_template("${inputs}")));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_template("${steps..output}")));
  auto t = parse_template("${steps.x.output}");
  ASSERT_TRUE(std::holds_alternative<Template>(t));
  ASSERT_NE(std::get<Template>(t).sole_ref(), nullptr);
  EXPECT_EQ(std::get<Template>(t).sole_ref()->text(), "${steps.x.output}");
}

}  // namespace
}  // namespace kuai::flows
