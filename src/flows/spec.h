// A flow: a task written as a DAG of steps (model calls, chunking, templates, JSON picks) whose
// edges come from `${steps.X…}` references in the step's text (docs/ARCHITECTURE.md, "Flows").
// Parsed from YAML (yaml-cpp), validated before anything runs: every error names the step, the file
// and the line. Pure data; any thread.
#pragma once

#include "flows/refs.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace YAML { class Node; }

namespace kuai::flows {

enum class StepKind { model, chunk, template_, json };
enum class OnError { fail, continue_, default_ };

const char* to_string(StepKind k);

struct MessageSpec {
  std::string role;
  Template content;
};

struct Step {
  std::string name;
  std::string file;   // where the step was written ("" for a string given in code)
  int line = 0;       // 1-based
  StepKind kind = StepKind::model;

  // model: `model` + `messages` (or `prompt`, one user message) + any other request field (YAML → JSON,
  // strings in it are not templated).
  std::string model;
  std::optional<Template> model_ref;  // a model name written with ${inputs.X}: rendered per run, not checked
  std::vector<MessageSpec> messages;
  std::string request_fields_json;  // a JSON object: temperature, max_tokens, …
  bool output_json = false;         // `output: json`: the answer must parse as JSON (one retry with the error)
  std::string output_schema_json;   // `schema:` (with output: json): the answer must match it (json_schema.h); "" = none

  // chunk / template / json: the text the step works on.
  Template text;
  int64_t chunk_tokens = 600;       // chunk: tokens per chunk (estimated, text::estimate_tokens)
  std::string pick;                 // json: a dotted path into the parsed value ("a.b.0"), "" = all

  // map: run the step once per item of a list (a JSON array, or the lines of a text); `${item}`.
  std::optional<Template> map;
  int max_parallel = 4;             // map: items running at once
  int max_items = 256;              // map: more items is an error of the step

  int retries = 0;                  // extra attempts of a failing call
  int64_t timeout_ms = 0;           // per attempt; 0 = none
  OnError on_error = OnError::fail;
  std::string default_value;        // on_error: default → the step's output
  std::optional<Template> when;     // false/empty/0/no/null → the step is skipped (output null)

  // Planned decomposition (a model step with `plan: {TOOL: step, …}`): the model writes a numbered plan,
  // one task a line, `N. TOOL(arg, "text", $K)`; each task runs the tool (a model or template step
  // whose `${item.0}`, `${item.1}`… are its arguments, `$K` the output of task K) as soon as its `$K`
  // have finished, while the plan still streams. The step's output is the last task's output.
  std::vector<Step> plan_tools;

  std::vector<std::string> deps;    // steps referenced anywhere in the step (sorted, unique)
};

struct Flow {
  std::string name;
  std::string file;
  int line = 0;
  std::string description;
  std::vector<std::string> inputs;                       // declared input names (in order)
  std::map<std::string, std::string> input_defaults;     // `inputs: {x: {default: "…"}}`: optional inputs
  std::vector<Step> steps;                               // in the order written
  std::vector<std::pair<std::string, Template>> outputs;  // name → template; none: every step's output
  // steps (and map items) running at once in a run; when the flow writes none, at least every map step's own
  int max_parallel = 16;
  std::map<std::string, int> max_parallel_per_model;     // of those, calls to one model at once (`{small: 4}`)

  const Step* find(std::string_view step) const;
  int index_of(std::string_view step) const;  // -1 when unknown
};

// Validation hook: whether a public model exists. Null: models are not checked.
using ModelExists = std::function<bool(std::string_view)>;

// Parses one flow from its node. `file` names where it came from, for messages. Errors come back as
// "FILE:LINE: flow 'NAME' step 'S': what is wrong (hint)".
std::variant<Flow, std::string> parse_flow(const std::string& name, const YAML::Node& node, const std::string& file,
                                           const ModelExists& has_model = {});
// A file holding one flow: either `{name, steps, …}` or a map `{NAME: {steps, …}}` of one flow.
std::variant<Flow, std::string> load_flow_file(const std::string& path, const ModelExists& has_model = {});

}  // namespace kuai::flows
