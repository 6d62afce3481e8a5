#include "flows/spec.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace kuai::flows {
namespace {

std::variant<Flow, std::string> parse(const std::string& yaml, ModelExists has_model = {}) {
  return parse_flow("f", YAML::Load(yaml), "flows.yaml", has_model);
}

std::string error_of(const std::string& yaml, ModelExists has_model = {}) {
  auto r = parse(yaml, std::move(has_model));
  if (auto* e = std::get_if<std::string>(&r)) return *e;
  return "";
}

TEST(FlowSpec, DependenciesComeFromReferences) {
  auto r = parse(R"(
inputs: {document: text, question: text}
steps:
  chunks: {chunk: "${inputs.document}", tokens: 50}
  facts: {map: "${steps.chunks.output}", model: small, max_parallel: 3,
          messages: [{role: user, content: "Extract: ${item}"}]}
  risks: {model: large, prompt: "${inputs.question} ${steps.facts.output}"}
  parties: {model: small, output: json, prompt: "Parties of ${inputs.document}"}
outputs: {risks: "${steps.risks.output}"}
)");
  ASSERT_TRUE(std::holds_alternative<Flow>(r)) << std::get<std::string>(r);
  const Flow& f = std::get<Flow>(r);
  ASSERT_EQ(f.steps.size(), 4u);
  EXPECT_TRUE(f.find("chunks")->deps.empty());
  EXPECT_EQ(f.find("facts")->deps, std::vector<std::string>{"chunks"});
  EXPECT_EQ(f.find("facts")->max_parallel, 3);
  EXPECT_TRUE(f.find("facts")->map.has_value());
  EXPECT_EQ(f.find("risks")->deps, std::vector<std::string>{"facts"});
  EXPECT_TRUE(f.find("parties")->deps.empty());
  EXPECT_TRUE(f.find("parties")->output_json);
  EXPECT_EQ(f.find("chunks")->kind, StepKind::chunk);
  EXPECT_EQ(f.find("chunks")->line, 4);
}

TEST(FlowSpec, ACycleIsAnErrorNamingTheStepAndLine) {
  std::string e = error_of(R"(
steps:
  a: {template: "x ${steps.c.output}"}
  b: {template: "${steps.a.output}"}
  c: {template: "${steps.b.output}"}
)");
  EXPECT_NE(e.find("cycle"), std::string::npos) << e;
  EXPECT_NE(e.find("flows.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("step '"), std::string::npos) << e;
  EXPECT_NE(e.find("a → "), std::string::npos) << e;
}

TEST(FlowSpec, UnknownReferencesAreErrorsWithFileAndLine) {
  std::string e = error_of("steps:\n  a: {template: \"x\"}\n  b: {template: \"${steps.nope.output}\"}\n");
  EXPECT_NE(e.find("flows.yaml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("step 'b'"), std::string::npos) << e;
  EXPECT_NE(e.find("nope"), std::string::npos) << e;

  e = error_of("inputs: [x]\nsteps:\n  a: {template: \"${inputs.y}\"}\n");
  EXPECT_NE(e.find("step 'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown input"), std::string::npos) << e;

  e = error_of("steps:\n  a: {template: \"${item}\"}\n");
  EXPECT_NE(e.find("only defined in a step with 'map'"), std::string::npos) << e;

  e = error_of("steps:\n  a: {template: \"${foo.bar}\"}\n");
  EXPECT_NE(e.find("unknown reference"), std::string::npos) << e;

  e = error_of("steps:\n  a: {template: \"${steps.a.output}\"}\n");
  EXPECT_NE(e.find("its own output"), std::string::npos) << e;
}

TEST(FlowSpec, UnknownModelsAndBadKindsAreErrors) {
  auto known = [](std::string_view m) { return m == "small"; };
  std::string e = error_of("steps:\n  a: {model: small, prompt: hi}\n  b: {model: huge, prompt: hi}\n", known);
  EXPECT_NE(e.find("flows.yaml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown model 'huge'"), std::string::npos) << e;

  e = error_of("steps:\n  a: {prompt: hi}\n");
  EXPECT_NE(e.find("bad kind"), std::string::npos) << e;
  e = error_of("steps:\n  a: {model: small, template: x, prompt: hi}\n");
  EXPECT_NE(e.find("bad kind"), std::string::npos) << e;
  e = error_of("steps:\n  a: {model: small, prompt: hi, max_paralel: 3}\n");
  EXPECT_NE(e.find("unknown key 'max_paralel'"), std::string::npos) << e;
  e = error_of("steps:\n  a: {model: small, prompt: hi, on_error: maybe}\n");
  EXPECT_NE(e.find("on_error"), std::string::npos) << e;
  e = error_of("steps:\n  a: {model: small, prompt: hi, on_error: default}\n");
  EXPECT_NE(e.find("needs a 'default'"), std::string::npos) << e;
  e = error_of("steps:\n  a: {model: small}\n");
  EXPECT_NE(e.find("needs 'messages' or 'prompt'"), std::string::npos) << e;
  e = error_of("steps:\n  a: {template: \"${inputs.x\"}\n");
  EXPECT_NE(e.find("unclosed"), std::string::npos) << e;
}

TEST(FlowSpec, PlanToolsAreModelOrTemplateSteps) {
  auto r = parse("steps:\n  p: {model: m, prompt: go, plan: {a: {model: m, prompt: \"${item.0}\"}, j: {template: \"${item.0}\"}}}\n");
  ASSERT_TRUE(std::holds_alternative<Flow>(r)) << std::get<std::string>(r);
  EXPECT_EQ(std::get<Flow>(r).steps[0].plan_tools.size(), 2u);
  std::string e = error_of("steps:\n  p: {model: m, prompt: go, plan: {c: {chunk: x}}}\n");
  EXPECT_NE(e.find("must be a model or template step"), std::string::npos) << e;
  e = error_of("steps:\n  p: {template: go, plan: {j: {template: x}}}\n");
  EXPECT_NE(e.find("'plan' belongs to a model step"), std::string::npos) << e;
}

TEST(FlowSpec, RequestFieldsPassThrough) {
  auto r = parse("steps:\n  a: {model: m, prompt: hi, temperature: 0.2, max_tokens: 30, stop: [\"\\n\"]}\n");
  ASSERT_TRUE(std::holds_alternative<Flow>(r)) << std::get<std::string>(r);
  const auto& f = std::get<Flow>(r).steps[0].request_fields_json;
  EXPECT_NE(f.find("\"temperature\":2E-1"), std::string::npos) << f;
  EXPECT_NE(f.find("\"max_tokens\":30"), std::string::npos) << f;
}

TEST(FlowSpec, TemplatedModelsAndInputDefaults) {
  auto r = parse("inputs: {model: {default: small}, q: text}\nsteps:\n  a: {model: \"${inputs.model}\", prompt: \"${inputs.q}\"}\n",
                 [](std::string_view) { return false; });
  ASSERT_TRUE(std::holds_alternative<Flow>(r)) << std::get<std::string>(r);
  const Flow& f = std::get<Flow>(r);
  EXPECT_TRUE(f.steps[0].model_ref.has_value());
  EXPECT_EQ(f.input_defaults.at("model"), "small");
}

}  // namespace
}  // namespace kuai::flows
