// The schema subset that checks a step's `output: json` answer, and its place in the flow spec.
#include "flows/json_schema.h"
#include "flows/spec.h"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace kuai::flows {
namespace {

namespace json = boost::json;

const char* kParties = R"({"type": "array", "minItems": 1, "items": {"type": "object", "required": ["name", "role"],
  "additionalProperties": false, "properties": {"name": {"type": "string"}, "role": {"enum": ["buyer", "seller"]},
  "share": {"type": "number"}}}})";

std::optional<std::string> check(const char* value) { return schema_violation(json::parse(kParties), json::parse(value)); }

TEST(FlowJsonSchema, AcceptsWhatMatches) {
  EXPECT_EQ(check(R"([{"name": "Acme", "role": "buyer"}, {"name": "Bo", "role": "seller", "share": 3}])"), std::nullopt);
  EXPECT_EQ(check(R"([{"name": "Acme", "role": "buyer", "share": 0.5}])"), std::nullopt);  // integer or number
}

TEST(FlowJsonSchema, NamesTheFirstPlaceThatBreaks) {
  EXPECT_EQ(check(R"({"name": "Acme"})"), "$: expected array, got object");
  EXPECT_EQ(check("[]"), "$: fewer than 1 items");
  EXPECT_EQ(check(R"([{"name": "Acme", "role": "buyer"}, {"name": 7, "role": "seller"}])"),
            "$[1].name: expected string, got integer");
  EXPECT_EQ(check(R"([{"name": "Acme"}])"), "$[0]: missing 'role'");
  EXPECT_EQ(check(R"([{"name": "Acme", "role": "agent"}])"), R"($[0].role: "agent" is not one of ["buyer","seller"])");
  EXPECT_EQ(check(R"([{"name": "Acme", "role": "buyer", "age": 3}])"), "$[0]: unexpected 'age'");
}

TEST(FlowJsonSchema, KeywordsOutsideTheSubsetAreErrors) {
  EXPECT_EQ(schema_error(json::parse(kParties)), std::nullopt);
  EXPECT_EQ(schema_error(json::parse(R"({"type": "string", "pattern": "^a"})")), "unsupported schema keyword 'pattern'");
  EXPECT_EQ(schema_error(json::parse(R"({"properties": {"a": {"type": "text"}}})")),
            "properties.a: 'type' must be one of object, array, string, number, integer, boolean, null");
}

TEST(FlowJsonSchema, SchemaInTheSpecNeedsOutputJson) {
  auto bad = parse_flow("f", YAML::Load("steps:\n  s: {model: m, prompt: hi, schema: {type: array}}\n"), "flows.yaml", {});
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_NE(std::get<std::string>(bad).find("'schema' checks an 'output: json' answer"), std::string::npos)
      << std::get<std::string>(bad);
  auto wrong = parse_flow("f", YAML::Load("steps:\n  s: {model: m, prompt: hi, output: json, schema: {type: list}}\n"),
                          "flows.yaml", {});
  ASSERT_TRUE(std::holds_alternative<std::string>(wrong));
  EXPECT_NE(std::get<std::string>(wrong).find("flows.yaml:2"), std::string::npos) << std::get<std::string>(wrong);
  auto ok = parse_flow("f", YAML::Load("steps:\n  s: {model: m, prompt: hi, output: json, schema: {type: array, items: "
                                       "{type: string}}}\n"),
                       "flows.yaml", {});
  ASSERT_TRUE(std::holds_alternative<Flow>(ok)) << std::get<std::string>(ok);
  EXPECT_EQ(json::parse(std::get<Flow>(ok).find("s")->output_schema_json), json::parse(R"({"type":"array","items":{"type":"string"}})"));
}

}  // namespace
}  // namespace kuai::flows
