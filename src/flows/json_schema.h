// The JSON Schema subset a flow step's `schema:` may use to check an `output: json` answer: `type`
// (object, array, string, number, integer, boolean, null, or a list of them), `properties`,
// `required`, `additionalProperties: false`, `items`, `enum`, `minItems` / `maxItems`. Enough to say
// "a list of {name, role} objects"; a schema keyword outside the subset is an error when the flow
// loads, never silently ignored.
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>

namespace kuai::flows {

// Why `schema` is not a schema of the subset (the path inside it and the reason), or nullopt.
std::optional<std::string> schema_error(const boost::json::value& schema);

// The first place `v` breaks `schema` ("$.parties[1].name: expected string, got number"), or nullopt.
std::optional<std::string> schema_violation(const boost::json::value& schema, const boost::json::value& v);

}  // namespace kuai::flows
