// Text with references: "${inputs.x}", "${steps.X.output}", "${steps.X.output.field.0}", "${item}",
// "${item.field}". A reference to a string renders the string; to null renders nothing; to a list of
// strings renders them as paragraphs (separated by a blank line); to anything else renders its JSON. Pure; any thread.
#pragma once

#include <boost/json/value.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kuai::flows {

struct Ref {
  enum class Kind { input, step, item };
  Kind kind = Kind::input;
  std::string name;               // input or step name; empty for item
  std::vector<std::string> path;  // fields / array indices after `output` (or `item`)
  std::string text() const;       // "${…}" as written
};

struct Template {
  // Literal text and references, in order.
  std::vector<std::variant<std::string, Ref>> parts;
  bool empty() const { return parts.empty(); }
  // The one reference when the text is exactly "${…}" (map sources keep the value's JSON type).
  const Ref* sole_ref() const;
};

// Parses "${…}" references; an unclosed or unknown reference is an error message naming it.
std::variant<Template, std::string> parse_template(std::string_view text);

// Follows `path` into a value (object fields; array indices). Null when a step of it is missing.
const boost::json::value* walk(const boost::json::value& v, const std::vector<std::string>& path);

// How a reference is resolved while running: null → renders as nothing.
using Resolver = std::function<const boost::json::value*(const Ref&)>;

std::string render(const Template& t, const Resolver& resolve);
// A value as text: a string as is, null as "", a list of strings as paragraphs, anything else as JSON.
std::string value_text(const boost::json::value& v);

}  // namespace kuai::flows
